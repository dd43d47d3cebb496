#include "wg/endpoint.hpp"
#include "wg/key.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>

#include <unordered_set>

using namespace overlayd::wg;

TEST_CASE("key round-trips through base64 and hex") {
  auto k = key::generate_private();
  auto b64 = k.to_base64();
  CHECK(b64.size() == 44);
  REQUIRE(key::from_base64(b64));
  CHECK(*key::from_base64(b64) == k);
  REQUIRE(key::from_hex(k.to_hex()));
  CHECK(*key::from_hex(k.to_hex()) == k);
  CHECK_FALSE(key::from_base64(b64.substr(0, 43)));
  CHECK_FALSE(key::from_base64("not base64 at all, not base64 at all, nope=="));
  CHECK_FALSE(key::from_hex(std::string(64, 'g')));
  CHECK_FALSE(key::from_hex("00"));
}

TEST_CASE("private keys are clamped and derive the RFC 7748 public key") {
  // RFC 7748 section 6.1 (Alice).
  auto priv = key::from_hex(
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  REQUIRE(priv);
  CHECK(priv->public_from_private().to_hex()
        == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  auto gen = key::generate_private();
  CHECK((gen.bytes()[0] & 7) == 0);
  CHECK((gen.bytes()[31] & 0xc0) == 0x40);
  CHECK_FALSE(gen.is_zero());
  CHECK(key{}.is_zero());
}

TEST_CASE("endpoints parse, format, compare and hash") {
  auto v4 = endpoint::parse("192.0.2.1:51820");
  REQUIRE(v4);
  CHECK(v4->port() == 51820);
  CHECK(v4->to_string() == "192.0.2.1:51820");
  auto v6 = endpoint::parse("[2001:db8::1]:443");
  REQUIRE(v6);
  CHECK(v6->address().is_v6());
  CHECK(v6->to_string() == "[2001:db8::1]:443");
  CHECK_FALSE(endpoint::parse("2001:db8::1:443"));
  CHECK_FALSE(endpoint::parse("192.0.2.1:65536"));
  CHECK_FALSE(endpoint::parse("192.0.2.1"));
  CHECK_FALSE(endpoint::parse("[192.0.2.1]:5"));
  CHECK(*v4 != *v6);
  std::unordered_set<endpoint> set{*v4, *v6, *v4};
  CHECK(set.size() == 2);

  sockaddr_storage ss;
  auto len = v4->to_sockaddr(ss, true);
  CHECK(ss.ss_family == AF_INET6);
  auto back = endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  REQUIRE(back);
  CHECK(*back == *v4); // v4-mapped comes back as IPv4
  len = v6->to_sockaddr(ss);
  CHECK(*endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len) == *v6);
}
