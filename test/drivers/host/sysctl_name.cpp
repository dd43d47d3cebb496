#include "drivers/host/sysctl_name.hpp"

#include <doctest/doctest.h>

using namespace overlayd::drivers;

TEST_CASE("dotted sysctl keys map to paths under /proc/sys") {
  CHECK(*sysctl_key_to_path("net.ipv4.ip_forward") == "net/ipv4/ip_forward");
  CHECK(*sysctl_key_to_path("net.ipv6.conf.veth-42-s.forwarding")
        == "net/ipv6/conf/veth-42-s/forwarding");
}

TEST_CASE("a slash in a dotted key stands for a dot in a component") {
  CHECK(*sysctl_key_to_path("net.ipv6.conf.eth0/100.forwarding")
        == "net/ipv6/conf/eth0.100/forwarding");
  CHECK(ipv6_forwarding_key("eth0.100") == "net.ipv6.conf.eth0/100.forwarding");
  CHECK(*sysctl_key_to_path(ipv6_forwarding_key("a.b.c"))
        == "net/ipv6/conf/a.b.c/forwarding");
}

TEST_CASE("a key whose first separator is a slash is already a path") {
  CHECK(*sysctl_key_to_path("net/ipv4/ip_forward") == "net/ipv4/ip_forward");
  CHECK(*sysctl_key_to_path("net/ipv6/conf/eth0.100/forwarding")
        == "net/ipv6/conf/eth0.100/forwarding");
}

TEST_CASE("paths convert back to dotted keys") {
  CHECK(sysctl_path_to_key("net/ipv4/ip_forward") == "net.ipv4.ip_forward");
  CHECK(sysctl_path_to_key("net/ipv6/conf/eth0.100/forwarding")
        == "net.ipv6.conf.eth0/100.forwarding");
  for (auto key : {"net.ipv4.ip_forward", "net.ipv6.conf.a/b.forwarding"})
    CHECK(sysctl_path_to_key(*sysctl_key_to_path(key)) == key);
}

TEST_CASE("keys that would leave the sysctl root or are empty are refused") {
  for (auto bad :
       {"", ".", "net..ipv4", ".net.ipv4", "net.ipv4.", "net/../../etc/passwd",
        "net.ipv6.conf.../forwarding", "net/./x"}) {
    CAPTURE(bad);
    auto r = sysctl_key_to_path(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == error_kind::invalid_argument);
    CHECK(r.error().object() == bad);
  }
  auto nul = sysctl_key_to_path(std::string_view{"net\0x", 5});
  CHECK_FALSE(nul.has_value());
}

TEST_CASE("values lose the kernel's trailing newline only") {
  CHECK(trim_sysctl_value("1\n") == "1");
  CHECK(trim_sysctl_value("4096\t16384\t4194304\n") == "4096\t16384\t4194304");
  CHECK(trim_sysctl_value("") == "");
}
