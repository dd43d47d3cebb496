#include "wg/allowed_ips.hpp"

#include <doctest/doctest.h>

using namespace overlayd::wg;

namespace {

allowed_ip cidr(const char* text) {
  auto p = allowed_ip::parse(text);
  REQUIRE(p);
  return *p;
}

ip_address addr(const char* text) {
  auto a = ip_address::parse(text);
  REQUIRE(a);
  return *a;
}

} // namespace

TEST_CASE("allowed_ip parsing") {
  CHECK(cidr("10.1.2.3/8").masked().to_string() == "10.0.0.0/8");
  CHECK(cidr("10.1.2.3").cidr == 32);
  CHECK(cidr("fd00::1").cidr == 128);
  CHECK(cidr("fd00:1:2:3::1/48").masked().to_string() == "fd00:1:2::/48");
  CHECK_FALSE(allowed_ip::parse("10.0.0.0/33"));
  CHECK_FALSE(allowed_ip::parse("fd00::/129"));
  CHECK_FALSE(allowed_ip::parse("10.0.0.0/"));
  CHECK_FALSE(allowed_ip::parse("10.0.0/8"));
}

TEST_CASE("longest prefix match over IPv4 with overlapping prefixes") {
  allowed_ips_trie<int> t;
  t.insert(cidr("0.0.0.0/0"), 1);
  t.insert(cidr("10.0.0.0/8"), 2);
  t.insert(cidr("10.1.0.0/16"), 3);
  t.insert(cidr("10.1.2.3/32"), 4);
  t.insert(cidr("10.128.0.0/9"), 5);
  CHECK(t.size() == 5);
  CHECK(t.lookup(addr("192.168.1.1")) == 1);
  CHECK(t.lookup(addr("10.2.0.1")) == 2);
  CHECK(t.lookup(addr("10.1.9.9")) == 3);
  CHECK(t.lookup(addr("10.1.2.3")) == 4);
  CHECK(t.lookup(addr("10.1.2.4")) == 3);
  CHECK(t.lookup(addr("10.200.0.1")) == 5);
  CHECK(t.lookup(addr("10.127.255.255")) == 2);
  // Families are separate.
  CHECK_FALSE(t.lookup(addr("::1")));
}

TEST_CASE("longest prefix match over IPv6") {
  allowed_ips_trie<int> t;
  t.insert(cidr("fd00::/8"), 1);
  t.insert(cidr("fd00:1::/32"), 2);
  t.insert(cidr("fd00:1:0:1::/64"), 3);
  t.insert(cidr("fd00:1:0:1::42/128"), 4);
  CHECK(t.lookup(addr("fd12::1")) == 1);
  CHECK(t.lookup(addr("fd00:1:5::1")) == 2);
  CHECK(t.lookup(addr("fd00:1:0:1::1")) == 3);
  CHECK(t.lookup(addr("fd00:1:0:1::42")) == 4);
  CHECK_FALSE(t.lookup(addr("fe80::1")));
  CHECK_FALSE(t.lookup(addr("10.0.0.1")));
}

TEST_CASE("remove only removes the owner's exact prefix") {
  allowed_ips_trie<int> t;
  t.insert(cidr("10.0.0.0/8"), 1);
  t.insert(cidr("10.1.0.0/16"), 2);
  t.insert(cidr("10.1.2.0/24"), 1);
  CHECK_FALSE(t.remove(cidr("10.1.0.0/16"), 1)); // not owner
  CHECK_FALSE(t.remove(cidr("10.1.0.0/17"), 2)); // not present
  CHECK(t.lookup(addr("10.1.3.1")) == 2);
  CHECK(t.remove(cidr("10.1.0.0/16"), 2));
  CHECK(t.lookup(addr("10.1.3.1")) == 1);
  CHECK(t.lookup(addr("10.1.2.1")) == 1);
  CHECK(t.size() == 2);
  t.remove_all(1);
  CHECK(t.size() == 0);
  CHECK_FALSE(t.lookup(addr("10.1.2.1")));
}

TEST_CASE("re-adding a prefix moves it to the new peer") {
  allowed_ips_trie<int> t;
  t.insert(cidr("10.0.0.0/24"), 1);
  t.insert(cidr("10.0.1.0/24"), 1);
  t.insert(cidr("10.0.0.0/24"), 2);
  CHECK(t.size() == 2);
  CHECK(t.lookup(addr("10.0.0.9")) == 2);
  CHECK(t.prefixes_of(1).size() == 1);
  CHECK(t.prefixes_of(1)[0].to_string() == "10.0.1.0/24");
  REQUIRE(t.prefixes_of(2).size() == 1);
  CHECK(t.prefixes_of(2)[0].to_string() == "10.0.0.0/24");
  CHECK_FALSE(t.remove(cidr("10.0.0.0/24"), 1));
}

TEST_CASE("many host routes stay consistent through removals") {
  allowed_ips_trie<int> t;
  for (int i = 0; i < 256; ++i) {
    auto a = ip_address::v4({10, 0, static_cast<uint8_t>(i), 1});
    t.insert(allowed_ip{a, 32}, i);
  }
  for (int i = 0; i < 256; i += 2) {
    auto a = ip_address::v4({10, 0, static_cast<uint8_t>(i), 1});
    CHECK(t.remove(allowed_ip{a, 32}, i));
  }
  CHECK(t.size() == 128);
  for (int i = 0; i < 256; ++i) {
    auto a = ip_address::v4({10, 0, static_cast<uint8_t>(i), 1});
    if (i % 2 == 0)
      CHECK_FALSE(t.lookup(a));
    else
      CHECK(t.lookup(a) == i);
  }
}

TEST_CASE("insert reports the previous owner") {
  allowed_ips_trie<int> t;
  CHECK_FALSE(t.insert(cidr("10.0.0.0/8"), 1));
  CHECK(t.insert(cidr("10.0.0.0/8"), 2) == 1);
  CHECK(t.insert(cidr("10.9.9.9/8"), 2) == 2);  // host bits ignored
  CHECK_FALSE(t.insert(cidr("10.0.0.0/9"), 3)); // a different prefix
  CHECK(t.size() == 2);
}
