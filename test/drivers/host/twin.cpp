#include "drivers/host/twin.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <doctest/doctest.h>
#include <thread>

#include "drivers/host/forwarding.hpp"
#include "drivers/host/orphan_sweep.hpp"

using namespace overlayd::drivers;
using namespace std::chrono_literals;

namespace {

ip_address ip(std::string_view text) {
  return *ip_address::parse(text);
}

error_kind kind_of(const status& st) {
  REQUIRE_FALSE(st.has_value());
  return st.error().kind();
}

int errno_of(const status& st) {
  REQUIRE_FALSE(st.has_value());
  return st.error().err_no();
}

} // namespace

TEST_CASE("the twin starts like a fresh namespace: lo only, down") {
  twin_host twin;
  auto links = twin.root().links().list_links();
  REQUIRE(links);
  REQUIRE(links->size() == 1);
  CHECK((*links)[0].name == "lo");
  CHECK_FALSE((*links)[0].up);
  CHECK(twin.root().links().list_routes()->empty());
}

TEST_CASE("the twin follows the spec's idempotence table") {
  twin_host twin;
  auto& l = twin.root().links();
  CHECK(l.create_bridge("zl-a-b"));
  CHECK(l.create_bridge("zl-a-b")); // EEXIST is success
  CHECK(l.delete_link("zl-a-b"));
  CHECK(l.delete_link("zl-a-b")); // ENODEV is success
  CHECK(l.create_veth_pair("veth-1-s", "vc-1-s"));
  CHECK(errno_of(l.create_veth_pair("veth-1-s", "vc-1-s")) == EEXIST);
  CHECK(kind_of(l.create_veth_pair("veth-2-s", "vc-1-s"))
        == error_kind::already_exists);
  CHECK(errno_of(l.set_link_up("nope0")) == ENODEV);
  CHECK(kind_of(l.set_link_up("nope0")) == error_kind::not_found);
  CHECK(l.delete_route_via_dev(ip("10.0.0.5"), 32, "nope0"));
  CHECK(l.delete_route_via_dev(ip("10.0.0.5"), 32, "veth-1-s"));
  CHECK(*l.bridge_member_count("nope0") == 0);
}

TEST_CASE("veth pairs: peer up, host down; either end takes both") {
  twin_host twin;
  auto& l = twin.root().links();
  REQUIRE(l.create_veth_pair("veth-1-s", "vc-1-s"));
  CHECK(l.get_link("vc-1-s")->up);
  CHECK_FALSE(l.get_link("veth-1-s")->up);
  CHECK(l.get_link("veth-1-s")->kind == "veth");
  REQUIRE(l.delete_link("vc-1-s"));
  CHECK_FALSE(*l.link_exists("veth-1-s"));
}

TEST_CASE("names are checked like the kernel does") {
  twin_host twin;
  auto& l = twin.root().links();
  for (auto bad : {"", "zl-0123456789abc", "a/b", "a:b", ".", "..", "a b"}) {
    CAPTURE(bad);
    CHECK(kind_of(l.create_bridge(bad)) == error_kind::invalid_argument);
  }
  CHECK(l.create_bridge("zl-012345678abc")); // exactly 15 bytes
}

TEST_CASE("MTU bounds are the device's") {
  twin_host twin;
  auto& l = twin.root().links();
  REQUIRE(l.create_veth_pair("va", "vb"));
  CHECK(errno_of(l.set_mtu("va", 67)) == EINVAL);
  CHECK(errno_of(l.set_mtu("va", 65536)) == EINVAL);
  CHECK(l.set_mtu("va", 68));
  CHECK(l.set_mtu("va", 9000));
  CHECK(l.get_link("va")->mtu == 9000);
  CHECK(errno_of(l.set_mtu("nope0", 1500)) == ENODEV);
}

TEST_CASE("a bridge follows its smallest port until its MTU is set") {
  twin_host twin;
  auto& l = twin.root().links();
  REQUIRE(l.create_bridge("br0"));
  REQUIRE(l.create_veth_pair("va", "vb"));
  REQUIRE(l.set_mtu("va", 9000));
  REQUIRE(l.set_master("va", "br0"));
  CHECK(l.get_link("br0")->mtu == 9000);
  CHECK(l.get_link("va")->master == "br0");
  CHECK(*l.bridge_member_count("br0") == 1);
  REQUIRE(l.set_mtu("br0", 1400));
  REQUIRE(l.set_mtu("va", 8000));
  CHECK(l.get_link("br0")->mtu == 1400);
}

TEST_CASE("enslaving: missing ends, non-bridge masters, bridges in bridges") {
  twin_host twin;
  auto& l = twin.root().links();
  REQUIRE(l.create_bridge("br0"));
  REQUIRE(l.create_bridge("br1"));
  REQUIRE(l.create_veth_pair("va", "vb"));
  CHECK(errno_of(l.set_master("nope0", "br0")) == ENODEV);
  CHECK(errno_of(l.set_master("va", "nope0")) == ENODEV);
  CHECK(errno_of(l.set_master("va", "vb")) == EOPNOTSUPP);
  CHECK(errno_of(l.set_master("br1", "br0")) == ELOOP);
  REQUIRE(l.set_master("va", "br0"));
  REQUIRE(l.set_master("va", "br1")); // moves to the other bridge
  CHECK(*l.bridge_member_count("br0") == 0);
  CHECK(*l.bridge_member_count("br1") == 1);
  REQUIRE(l.delete_link("br1"));
  CHECK(l.get_link("va")->master.empty());
}

TEST_CASE("addresses: IPv4 duplicates per prefix, IPv6 per address") {
  twin_host twin;
  auto& l = twin.root().links();
  REQUIRE(l.create_bridge("br0"));
  CHECK(l.add_address("br0", ip("10.0.0.1"), 24));
  CHECK(errno_of(l.add_address("br0", ip("10.0.0.1"), 24)) == EEXIST);
  CHECK(l.add_address("br0", ip("10.0.0.1"), 16));
  CHECK(l.add_address("br0", ip("fd00::1"), 64));
  CHECK(errno_of(l.add_address("br0", ip("fd00::1"), 80)) == EEXIST);
  CHECK(errno_of(l.add_address("nope0", ip("10.0.0.1"), 24)) == ENODEV);
  CHECK(l.delete_address("br0", ip("10.0.0.9"), 24)); // missing: fine
  CHECK(l.flush_addresses("br0"));
  CHECK(l.get_link("br0")->addresses.empty());
  CHECK(errno_of(l.flush_addresses("nope0")) == ENODEV);
}

TEST_CASE("routes need an up device and an on-link gateway") {
  twin_host twin;
  auto& l = twin.root().links();
  REQUIRE(l.create_bridge("br0"));
  REQUIRE(l.add_address("br0", ip("10.0.0.1"), 24));
  CHECK(twin.root().links().list_routes()->empty()); // down: no prefix route
  CHECK(errno_of(l.add_route_via_dev(ip("10.1.0.0"), 16, "br0")) == ENETDOWN);
  REQUIRE(l.set_link_up("br0"));
  auto routes = *l.list_routes();
  REQUIRE(routes.size() == 1);
  CHECK(routes[0].destination == ip("10.0.0.0"));
  CHECK(routes[0].preferred_source == ip("10.0.0.1"));
  CHECK(l.add_route_via_dev(ip("10.1.0.0"), 16, "br0"));
  CHECK(errno_of(l.add_route_via_dev(ip("10.1.0.0"), 16, "br0")) == EEXIST);
  CHECK(errno_of(l.add_route_via_dev(ip("10.1.0.1"), 16, "br0")) == EINVAL);
  CHECK(l.replace_route_via_dev(ip("10.1.0.0"), 16, "br0", ip("10.0.0.1")));
  CHECK(
    kind_of(l.replace_route_via_dev(ip("10.2.0.0"), 16, "br0", ip("fd00::1")))
    == error_kind::invalid_argument);
  CHECK(errno_of(l.add_default_route_via_gateway(ip("10.9.9.9")))
        == ENETUNREACH);
  CHECK(l.add_default_route_via_gateway(ip("10.0.0.254")));
  CHECK(errno_of(l.add_default_route_via_gateway(ip("10.0.0.253"))) == EEXIST);
  // Down: the IPv4 routes through the device go.
  REQUIRE(l.set_link_down("br0"));
  CHECK(l.list_routes()->empty());
}

TEST_CASE("moving a veth end into a namespace renames it and takes it down") {
  twin_host twin;
  REQUIRE(twin.add_process(4242));
  auto& l = twin.root().links();
  REQUIRE(l.create_veth_pair("veth-4242-s", "vc-4242-s"));
  auto ns = l.pin_netns(netns_spec::of_pid(4242));
  REQUIRE(ns);
  REQUIRE(l.move_link_to_netns("vc-4242-s", **ns, "eth0"));
  CHECK_FALSE(*l.link_exists("vc-4242-s"));
  CHECK(errno_of(l.move_link_to_netns("vc-4242-s", **ns, "eth0")) == ENODEV);
  auto inside = l.enter_netns(*ns);
  REQUIRE(inside);
  auto eth0 = (*inside)->get_link("eth0");
  REQUIRE(eth0);
  CHECK_FALSE(eth0->up);
  REQUIRE((*inside)->add_address("eth0", ip("10.0.0.2"), 24));
  REQUIRE((*inside)->set_link_up("eth0"));
  REQUIRE((*inside)->set_link_up("lo"));
  CHECK((*inside)->add_default_route_via_gateway(ip("10.0.0.1")));
  CHECK(errno_of((*inside)->add_default_route_via_gateway(ip("10.0.0.1")))
        == EEXIST);
  // Name collisions in the target are refused.
  REQUIRE(l.create_veth_pair("veth-4242-g", "vc-4242-g"));
  CHECK(errno_of(l.move_link_to_netns("vc-4242-g", **ns, "eth0")) == EEXIST);
  // Bridges stay where they are.
  REQUIRE(l.create_bridge("br0"));
  CHECK(errno_of(l.move_link_to_netns("br0", **ns, "br0")) == EINVAL);
  // The host end takes the peer across namespaces with it.
  REQUIRE(l.delete_link("veth-4242-s"));
  CHECK_FALSE(*(*inside)->link_exists("eth0"));
}

TEST_CASE("a namespace that disappears fails every later call") {
  twin_host twin;
  REQUIRE(twin.add_process(77));
  auto& l = twin.root().links();
  auto ns = l.pin_netns(netns_spec::of_pid(77));
  REQUIRE(ns);
  auto inside = l.enter_netns(*ns);
  REQUIRE(inside);
  REQUIRE(l.create_veth_pair("veth-77-s", "vc-77-s"));
  REQUIRE(l.move_link_to_netns("vc-77-s", **ns, "eth0"));
  CHECK((*ns)->origin_alive());
  twin.kill_process(77);
  CHECK_FALSE(twin.pid_alive(77));
  CHECK_FALSE((*ns)->origin_alive());
  CHECK(kind_of(status{(*inside)->list_links().error()})
        == error_kind::namespace_gone);
  CHECK(kind_of(l.move_link_to_netns("veth-77-s", **ns, "eth1"))
        == error_kind::namespace_gone);
  CHECK(kind_of(status{l.pin_netns(netns_spec::of_pid(77)).error()})
        == error_kind::namespace_gone);
  CHECK(kind_of(status{l.enter_netns(*ns).error()})
        == error_kind::namespace_gone);
  // Once nothing pins the namespace any more it dies, and the kernel takes
  // the host end of the pair with it.
  inside->reset();
  ns->reset();
  CHECK_FALSE(*l.link_exists("veth-77-s"));
}

TEST_CASE("sysctls: per-namespace, per-device, parsed like the kernel") {
  twin_host twin;
  auto& s = twin.root().sysctls();
  CHECK(*s.read("net.ipv4.ip_forward") == "0");
  CHECK(s.write("net.ipv4.ip_forward", "1"));
  CHECK(*s.read("net/ipv4/ip_forward") == "1");
  CHECK(s.write("net.ipv4.ip_forward", " 0x2\n"));
  CHECK(*s.read("net.ipv4.ip_forward") == "2");
  CHECK(errno_of(s.write("net.ipv4.ip_forward", "abc")) == EINVAL);
  CHECK(kind_of(status{s.read("net.ipv6.conf.br0.forwarding").error()})
        == error_kind::not_found);
  REQUIRE(twin.root().links().create_bridge("br0"));
  CHECK(*s.read("net.ipv6.conf.br0.forwarding") == "0");
  CHECK(*s.read("net.ipv4.conf.br0.forwarding") == "2"); // from default
  REQUIRE(twin.root().links().create_bridge("br.1"));
  CHECK(s.write("net.ipv6.conf.br/1.forwarding", "1"));
  CHECK(*s.read("net/ipv6/conf/br.1/forwarding") == "1");
  CHECK(*s.read("net.ipv6.conf.all.forwarding") == "0");
  REQUIRE(twin.add_named_netns("/run/netns/x"));
  auto other = twin.host_in("/run/netns/x");
  REQUIRE(other);
  CHECK(*(*other)->sysctls().read("net.ipv4.ip_forward") == "0");
}

TEST_CASE("forwarding snapshot and restore touch exactly what they changed") {
  twin_host twin;
  auto& s = twin.root().sysctls();
  auto& l = twin.root().links();
  REQUIRE(l.create_bridge("zl-a-b"));
  REQUIRE(l.create_veth_pair("veth-1-s", "vc-1-s"));
  REQUIRE(l.create_veth_pair("veth-2-s", "vc-2-s"));
  forwarding_state fwd;
  fwd.enable_for_attach(s, false, "veth-1-s", std::string_view{"zl-a-b"});
  CHECK(fwd.ipv4_snapshot() == "0");
  CHECK(*s.read("net.ipv4.ip_forward") == "1");
  CHECK(*s.read("net.ipv6.conf.veth-1-s.forwarding") == "0"); // v4 attach
  fwd.enable_for_attach(s, true, "veth-2-s", std::string_view{"zl-a-b"});
  fwd.enable_for_attach(s, true, "gone0", std::nullopt); // write fails
  CHECK(fwd.ipv4_snapshot() == "0");                     // snapshot taken once
  CHECK(*s.read("net.ipv6.conf.veth-2-s.forwarding") == "1");
  CHECK(*s.read("net.ipv6.conf.zl-a-b.forwarding") == "1");
  CHECK(*s.read("net.ipv6.conf.all.forwarding") == "0"); // never conf.all
  CHECK(fwd.ipv6_devices() == std::set<std::string>{"veth-2-s", "zl-a-b"});
  REQUIRE(l.delete_link("veth-2-s"));
  fwd.revert(s);
  CHECK(*s.read("net.ipv4.ip_forward") == "0");
  CHECK(*s.read("net.ipv6.conf.zl-a-b.forwarding") == "0");
  CHECK_FALSE(fwd.ipv4_snapshot());
  CHECK(fwd.ipv6_devices().empty());
}

TEST_CASE("a pre-set ip_forward is restored as it was") {
  twin_host twin;
  auto& s = twin.root().sysctls();
  REQUIRE(s.write("net.ipv4.ip_forward", "1"));
  forwarding_state fwd;
  fwd.enable_for_attach(s, false, "veth-1-s", std::nullopt);
  fwd.revert(s);
  CHECK(*s.read("net.ipv4.ip_forward") == "1");
}

TEST_CASE("the orphan sweep deletes veths of dead pids only") {
  twin_host twin;
  auto& l = twin.root().links();
  REQUIRE(twin.add_process(100));
  REQUIRE(l.create_veth_pair("veth-100-s", "vc-100-s"));
  REQUIRE(l.create_veth_pair("veth-200-s", "vc-200-s"));
  REQUIRE(l.create_veth_pair("veth-300-g", "other0"));
  REQUIRE(l.create_bridge("zl-x-b"));
  auto report = sweep_orphan_veths(
    l, [&](std::uint32_t pid) { return twin.pid_alive(pid); });
  REQUIRE(report);
  CHECK(report->failures.empty());
  CHECK(*l.link_exists("veth-100-s"));
  CHECK_FALSE(*l.link_exists("veth-200-s"));
  CHECK_FALSE(*l.link_exists("vc-200-s"));
  CHECK_FALSE(*l.link_exists("veth-300-g"));
  CHECK(*l.link_exists("zl-x-b"));
}

TEST_CASE("the twin's firewall keeps the isolation jump above the allow "
          "jump and removes everything") {
  twin_host twin;
  auto& fw = twin.root().firewall();
  auto listing = [&] {
    return twin.iptables_runner().run({"iptables", "-w", "-S"})->out;
  };
  auto before = listing();
  REQUIRE(fw.ensure_member_isolation("n", ip("10.200.1.2"), {},
                                     ip("10.200.0.1"), "10.200.0.0/16"));
  REQUIRE(fw.ensure_overlay_subnet_rules("10.200.0.0/16"));
  REQUIRE(fw.ensure_overlay_subnet_rules("10.200.0.0/16"));
  auto text = listing();
  auto iso = text.find("-A FORWARD -j ZLAYER-OVERLAY-ISO");
  auto allow = text.find("-A FORWARD -j ZLAYER-OVERLAY\n");
  REQUIRE(iso != std::string::npos);
  REQUIRE(allow != std::string::npos);
  CHECK(iso < allow);
  CHECK(fw.remove_overlay_subnet_rules());
  CHECK(fw.remove_overlay_isolation());
  CHECK(listing() == before);
}

TEST_CASE("the twin's iptables answers like iptables") {
  twin_host twin;
  auto& run = twin.iptables_runner();
  CHECK(run.run({"iptables", "-w", "-N", "X"})->exit_code == 0);
  CHECK(run.run({"iptables", "-w", "-N", "X"})->exit_code == 1);
  CHECK(run.run({"iptables", "-w", "-C", "X", "-j", "ACCEPT"})->exit_code == 1);
  CHECK(
    run.run({"iptables", "-w", "-A", "X", "-s", "10.1.2.3/16", "-j", "ACCEPT"})
      ->exit_code
    == 0);
  CHECK(
    run.run({"iptables", "-w", "-C", "X", "-s", "10.1.0.0/16", "-j", "ACCEPT"})
      ->exit_code
    == 0);
  CHECK(run.run({"iptables", "-w", "-I", "X", "5", "-j", "DROP"})->exit_code
        == 1);
  CHECK(run.run({"iptables", "-w", "-A", "INPUT", "-j", "NOPE"})->exit_code
        == 2);
  CHECK(run.run({"iptables", "-w", "-X", "X"})->exit_code == 4); // not empty
  CHECK(run.run({"iptables", "-w", "-S", "X"})->out
        == "-N X\n-A X -s 10.1.0.0/16 -j ACCEPT\n");
  CHECK(run.run({"iptables", "-w", "-t", "bogus", "-S"})->exit_code == 3);
  CHECK(run.run({"ip6tables", "-w", "-S"})->out
        == "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n");
  auto missing = run.run({"nft", "list", "ruleset"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().err_no() == ENOENT);
}

TEST_CASE("drop-ins go only where a manager is installed") {
  twin_host twin;
  twin.set_manager_installed("NetworkManager", false);
  auto& nm = twin.root().network_manager();
  REQUIRE(nm.mark_overlay_interfaces_unmanaged());
  auto files = twin.dropin_files();
  REQUIRE(files.size() == 1);
  CHECK(files.begin()->first
        == "etc/systemd/network/00-zlayer-unmanaged.network");
  REQUIRE(nm.unmark_overlay_interfaces_unmanaged());
  REQUIRE(nm.unmark_overlay_interfaces_unmanaged());
  CHECK(twin.dropin_files().empty());
}

TEST_CASE("injected latency delays only the faulted operation") {
  twin_host twin;
  twin.inject("create_bridge", {500ms, std::nullopt, 1});
  auto& l = twin.root().links();
  std::atomic<bool> bridge_done{false};
  auto start = std::chrono::steady_clock::now();
  std::thread slow{[&] {
    CHECK(l.create_bridge("zl-slow-b"));
    bridge_done = true;
  }};
  std::this_thread::sleep_for(50ms);
  // Other calls go through while the bridge is being "created".
  CHECK(l.create_veth_pair("va", "vb"));
  CHECK_FALSE(bridge_done.load());
  slow.join();
  CHECK(std::chrono::steady_clock::now() - start >= 500ms);
  // times = 1: the next call is fast again.
  auto again = std::chrono::steady_clock::now();
  CHECK(l.create_bridge("zl-fast-b"));
  CHECK(std::chrono::steady_clock::now() - again < 200ms);
  CHECK(twin.call_count("create_bridge") == 2);
}

TEST_CASE("injected errors are returned until cleared") {
  twin_host twin;
  error boom{error_kind::permission_denied, EPERM, "create_veth_pair", "x"};
  twin.inject("create_veth_pair", {0ms, boom, -1});
  twin.inject("ensure_overlay_masquerade", {0ms, boom, -1});
  auto& l = twin.root().links();
  CHECK(errno_of(l.create_veth_pair("va", "vb")) == EPERM);
  CHECK(errno_of(l.create_veth_pair("va", "vb")) == EPERM);
  CHECK_FALSE(*l.link_exists("va"));
  CHECK(errno_of(twin.root().firewall().ensure_overlay_masquerade("10.0.0.0/8"))
        == EPERM);
  twin.clear_faults();
  CHECK(l.create_veth_pair("va", "vb"));
}

TEST_CASE("the twin is safe to use from many threads") {
  twin_host twin;
  auto& l = twin.root().links();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        auto host = "vh" + std::to_string(t) + "-" + std::to_string(i);
        auto peer = "vp" + std::to_string(t) + "-" + std::to_string(i);
        CHECK(l.create_veth_pair(host, peer));
        CHECK(l.set_link_up(host));
        CHECK(twin.root().sysctls().write(
          "net.ipv6.conf." + host + ".forwarding", "1"));
        CHECK(l.delete_link(host));
      }
    });
  }
  for (auto& th : threads)
    th.join();
  CHECK(l.list_links()->size() == 1);
}

TEST_CASE("an attach as the engine does it, on the twin") {
  // The flow of dataplane.md §5.4 with a TUN standing in for the global
  // device: bridged service side and bridgeless global side.
  twin_host twin;
  auto& l = twin.root().links();
  REQUIRE(twin.add_device("zl-dep-i0-g", "tun", true));
  REQUIRE(l.add_address("zl-dep-i0-g", ip("10.200.0.1"), 16));
  CHECK(errno_of(twin.add_device("zl-dep-i0-g", "tun", true)) == EEXIST);
  REQUIRE(l.create_bridge("zl-dep-i0-web-b"));
  REQUIRE(l.set_bridge_stp("zl-dep-i0-web-b", false));
  REQUIRE(l.flush_addresses("zl-dep-i0-web-b"));
  REQUIRE(l.add_address("zl-dep-i0-web-b", ip("10.200.187.129"), 26));
  REQUIRE(l.set_link_up("zl-dep-i0-web-b"));
  REQUIRE(twin.add_process(4242));
  auto ns = l.pin_netns(netns_spec::of_pid(4242));
  REQUIRE(ns);
  for (auto [tag, ifname] : {std::pair{"s", "eth0"}, std::pair{"g", "eth1"}}) {
    auto host = std::string{"veth-4242-"} + tag;
    auto peer = std::string{"vc-4242-"} + tag;
    REQUIRE(l.delete_link(host));
    REQUIRE(l.delete_link(peer));
    REQUIRE(l.create_veth_pair(host, peer));
    REQUIRE(l.move_link_to_netns(peer, **ns, ifname));
  }
  auto inside = l.enter_netns(*ns);
  REQUIRE(inside);
  REQUIRE((*inside)->add_address("eth0", ip("10.200.187.130"), 26));
  REQUIRE((*inside)->set_link_up("eth0"));
  REQUIRE((*inside)->set_link_up("lo"));
  REQUIRE((*inside)->add_default_route_via_gateway(ip("10.200.187.129")));
  REQUIRE((*inside)->add_address("eth1", ip("10.200.0.2"), 24));
  REQUIRE((*inside)->set_link_up("eth1"));
  REQUIRE(l.set_link_up("veth-4242-s"));
  REQUIRE(l.set_master("veth-4242-s", "zl-dep-i0-web-b"));
  REQUIRE(l.set_link_up("veth-4242-g"));
  REQUIRE(l.replace_route_via_dev(ip("10.200.0.2"), 32, "veth-4242-g",
                                  ip("10.200.0.1")));
  CHECK(*l.bridge_member_count("zl-dep-i0-web-b") == 1);
  // Detach: deleting the host ends removes the pairs and the host route.
  REQUIRE(l.delete_link("veth-4242-s"));
  REQUIRE(l.delete_link("veth-4242-g"));
  CHECK(*l.bridge_member_count("zl-dep-i0-web-b") == 0);
  CHECK((*inside)->list_links()->size() == 1); // lo only
  auto routes = l.list_routes();
  REQUIRE(routes);
  for (const auto& r : *routes)
    CHECK(r.device != "veth-4242-g");
}

TEST_CASE("a fault can target one object only") {
  twin_host twin;
  twin_fault fault;
  fault.fail
    = error{error_kind::namespace_gone, 0, "create_veth_pair", "veth-9-s"};
  fault.object = "veth-9-s";
  twin.inject("create_veth_pair", fault);
  auto& l = twin.root().links();
  CHECK(l.create_veth_pair("veth-8-s", "vc-8-s"));
  CHECK(kind_of(l.create_veth_pair("veth-9-s", "vc-9-s"))
        == error_kind::namespace_gone);
  twin_fault slow_key;
  slow_key.latency = std::chrono::milliseconds{300};
  slow_key.object = "net.ipv4.ip_forward";
  twin.inject("write_sysctl", slow_key);
  auto start = std::chrono::steady_clock::now();
  CHECK(twin.root().sysctls().write("net.ipv6.conf.veth-8-s.forwarding", "1"));
  CHECK(std::chrono::steady_clock::now() - start < 250ms);
  CHECK(twin.root().sysctls().write("net.ipv4.ip_forward", "1"));
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
}
