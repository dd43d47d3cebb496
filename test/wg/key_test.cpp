#include "wg/endpoint.hpp"
#include "wg/key.hpp"

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sodium.h>

#include <algorithm>
#include <array>
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

TEST_CASE("key hashes spread keys that share their leading bytes") {
  // Peers whose keys agree on the first 8 bytes once all hashed alike, so a
  // table of 10,000 of them degraded to one long chain.
  constexpr std::size_t n = 10000;
  auto check_spread = [&](std::size_t varying_offset) {
    std::unordered_set<key> keys;
    std::unordered_set<std::size_t> hashes;
    for (std::size_t i = 0; i < n; ++i) {
      std::array<uint8_t, key::size> raw{};
      raw.fill(0xab);
      raw[varying_offset] = static_cast<uint8_t>(i);
      raw[varying_offset + 1] = static_cast<uint8_t>(i >> 8);
      key k{raw};
      keys.insert(k);
      hashes.insert(std::hash<key>{}(k));
    }
    REQUIRE(keys.size() == n);
    CHECK(hashes.size() == n);
    std::size_t longest = 0;
    std::size_t used = 0;
    for (std::size_t b = 0; b < keys.bucket_count(); ++b) {
      longest = std::max(longest, keys.bucket_size(b));
      used += keys.bucket_size(b) > 0;
    }
    // A uniform hash fills about 1 - 1/e of the buckets at load ~1 and its
    // longest chain stays in single digits.
    CHECK(longest <= 12);
    CHECK(used * 2 > std::min(n, keys.bucket_count()));
  };
  SUBCASE("varying in the middle") {
    check_spread(12);
  }
  SUBCASE("varying in the last bytes") {
    check_spread(30);
  }
  SUBCASE("varying in bytes 8 and 9") {
    check_spread(8);
  }
}

TEST_CASE("public keys match libsodium's X25519 base-point multiplication") {
  // public_from_private takes a faster route (Edwards fixed base, then the
  // birational map); it must agree bit for bit with the Montgomery ladder,
  // clamping included.
  REQUIRE(sodium_init() >= 0);
  auto check = [](const std::array<uint8_t, key::size>& raw) {
    key k{raw};
    std::array<uint8_t, key::size> expected{};
    REQUIRE(crypto_scalarmult_curve25519_base(expected.data(), raw.data())
            == 0);
    CHECK(k.public_from_private().bytes() == expected);
  };
  std::array<uint8_t, key::size> raw{};
  check(raw); // all zero, clamped to 2^254
  raw.fill(0xff);
  check(raw);
  raw.fill(0);
  raw[0] = 8;
  check(raw);
  for (int i = 0; i < 2000; ++i) {
    randombytes_buf(raw.data(), raw.size());
    check(raw);
  }
}
