// Host suite: real sysctls inside a throwaway namespace.

#include <doctest/doctest.h>

#include "drivers/host/forwarding.hpp"
#include "drivers/netns_driver.hpp"
#include "host_support.hpp"

using namespace overlayd::drivers;

TEST_CASE("sysctls act on the namespace of the thread, never the host's") {
  auto root_before = odh::root_snapshot();
  {
    odh::scratch_netns ns{"sysctl"};
    REQUIRE(ns.ok());
    auto thread = odh::thread_in(ns.path());
    REQUIRE(thread);
    auto pinned = pinned_netns::open(netns_spec::at_path(ns.path()));
    REQUIRE(pinned);
    auto links = netns_driver::start(*pinned);
    REQUIRE(links);
    odh::in_netns_sysctls s{*thread};

    // A fresh namespace starts with forwarding off, whatever the host has.
    CHECK(*s.read("net.ipv4.ip_forward") == "0");
    REQUIRE(s.write("net.ipv4.ip_forward", "1"));
    CHECK(*s.read("net/ipv4/ip_forward") == "1");
    auto bad = s.write("net.ipv4.ip_forward", "abc");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().err_no() == EINVAL);
    CHECK(*s.read("net.ipv4.ip_forward") == "1");

    auto missing = s.read("net.ipv6.conf.odh-nope.forwarding");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind() == error_kind::not_found);
    CHECK(missing.error().err_no() == ENOENT);

    // An interface name with a dot: '/' in the dotted key.
    REQUIRE((*links)->create_bridge("odh.br1"));
    REQUIRE(s.write("net.ipv6.conf.odh/br1.forwarding", "1"));
    CHECK(*s.read("net/ipv6/conf/odh.br1/forwarding") == "1");
    CHECK(*s.read("net.ipv6.conf.all.forwarding") == "0");
    REQUIRE(s.write("net.ipv4.ip_forward", "0"));
  }
  CHECK(odh::root_snapshot() == root_before);
}

TEST_CASE("forwarding is enabled per attach and reverted exactly") {
  auto root_before = odh::root_snapshot();
  {
    odh::scratch_netns ns{"fwd"};
    REQUIRE(ns.ok());
    auto thread = odh::thread_in(ns.path());
    REQUIRE(thread);
    auto pinned = pinned_netns::open(netns_spec::at_path(ns.path()));
    REQUIRE(pinned);
    auto links = netns_driver::start(*pinned);
    REQUIRE(links);
    auto& l = **links;
    odh::in_netns_sysctls s{*thread};
    REQUIRE(l.create_bridge("zl-odh-b"));
    REQUIRE(l.create_veth_pair("veth-1-s", "vc-1-s"));
    forwarding_state fwd;
    fwd.enable_for_attach(s, true, "veth-1-s", std::string_view{"zl-odh-b"});
    CHECK(fwd.ipv4_snapshot() == "0");
    CHECK(*s.read("net.ipv4.ip_forward") == "1");
    CHECK(*s.read("net.ipv6.conf.veth-1-s.forwarding") == "1");
    CHECK(*s.read("net.ipv6.conf.zl-odh-b.forwarding") == "1");
    CHECK(*s.read("net.ipv6.conf.all.forwarding") == "0");
    fwd.revert(s);
    CHECK(*s.read("net.ipv4.ip_forward") == "0");
    CHECK(*s.read("net.ipv6.conf.veth-1-s.forwarding") == "0");
    CHECK(*s.read("net.ipv6.conf.zl-odh-b.forwarding") == "0");
  }
  CHECK(odh::root_snapshot() == root_before);
}
