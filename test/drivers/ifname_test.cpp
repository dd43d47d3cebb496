#include "drivers/link_driver.hpp"

#include <doctest/doctest.h>

using namespace overlayd::drivers;

TEST_CASE("interface names the kernel accepts pass") {
  for (auto name : {"eth0", "lo", "zl-dep-i0-web-b", "veth-4194304-s", "a",
                    "vc-1-g", "x.y"})
    CHECK_MESSAGE(validate_ifname(name, "test"), name);
}

TEST_CASE("interface names the kernel refuses fail before any call") {
  for (auto name : {"", "zl-dep-i0-web-bb", ".", "..", "a/b", "a:b", "a b",
                    "tab\tx", "eth%d", "nb\xa0sp", "bell\x07"}) {
    auto st = validate_ifname(name, "create_bridge");
    REQUIRE_FALSE(st);
    CHECK(st.error().kind() == error_kind::invalid_argument);
    CHECK(st.error().operation() == "create_bridge");
    CHECK(st.error().what().find("invalid interface name")
          != std::string::npos);
  }
  auto st = validate_ifname("abcdefghijklmnop", "op");
  REQUIRE_FALSE(st);
  CHECK(st.error().what().find("16 bytes exceeds the 15 character limit")
        != std::string::npos);
  st = validate_ifname(std::string_view{"a\0b", 3}, "op");
  CHECK_FALSE(st);
  st = validate_ifname("a b", "op");
  REQUIRE_FALSE(st);
  CHECK(st.error().what()
        == "op(a b): invalid interface name: character ' ' "
           "is not allowed");
  // The kernel accepts any other byte, UTF-8 included.
  CHECK(validate_ifname("br-\xc3\xa9", "op"));
}

TEST_CASE("ip addresses parse and print canonically") {
  auto v4 = ip_address::parse("10.200.0.1");
  REQUIRE(v4);
  CHECK_FALSE(v4->is_v6());
  CHECK(*v4 == ip_address::v4(10, 200, 0, 1));
  CHECK(v4->to_string() == "10.200.0.1");
  auto v6 = ip_address::parse("fd00:200:0::1");
  REQUIRE(v6);
  CHECK(v6->is_v6());
  CHECK(v6->to_string() == "fd00:200::1");
  CHECK_FALSE(ip_address::parse("10.0.0.1/24"));
  CHECK_FALSE(ip_address::parse("10.0.0"));
  CHECK_FALSE(ip_address::parse(""));
}
