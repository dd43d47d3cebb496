// Container attach/detach of every handle kind, isolation, ephemeral
// teardown, prune and the full revert on shutdown, on the twin.

#include <doctest/doctest.h>

#include "test/overlay/twin_fixture.hpp"
#include "wg/key.hpp"

using namespace overlayd;
using namespace overlayd::overlay;
using namespace overlayd::overlay::testing;
using ipc::overlay_mode;

namespace {

std::string ip_of(const ipc::response& r) {
  REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::attached>(r), error_of(r));
  return std::get<ipc::resp::attached>(r).ip.to_string();
}

std::unique_ptr<drivers::link_driver> inside(twin_engine& t, pid_t pid) {
  auto& l = t.twin.root().links();
  auto ns = l.pin_netns(drivers::netns_spec::of_pid(pid));
  REQUIRE(ns);
  auto in = l.enter_netns(*ns);
  REQUIRE(in);
  return std::move(*in);
}

std::string iptables(twin_engine& t) {
  return t.twin.iptables_runner().run({"iptables", "-w", "-S"})->out;
}

void ready(twin_engine& t) {
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  REQUIRE(std::holds_alternative<ipc::resp::service_overlay>(
    t.setup_service("web", overlay_mode::automatic)));
}

} // namespace

TEST_CASE("linux_pid: eth0 on the service bridge, eth1 on the global "
          "overlay, detach and shutdown revert everything") {
  twin_engine t;
  auto before = host_fingerprint(t.twin);
  ready(t);
  REQUIRE(t.twin.add_process(4242));
  CHECK(ip_of(t.attach_pid(4242, "web", true)) == "10.200.187.130");
  auto& l = t.twin.root().links();
  CHECK(l.get_link("veth-4242-s")->master == "zl-dep-i0-web-b");
  CHECK(l.get_link("veth-4242-s")->up);
  CHECK(*l.bridge_member_count("zl-dep-i0-web-b") == 1);
  auto c = inside(t, 4242);
  auto eth0 = c->get_link("eth0");
  REQUIRE(eth0);
  CHECK(eth0->up);
  CHECK(eth0->addresses.at(0).address.to_string() == "10.200.187.130");
  CHECK(int{eth0->addresses.at(0).prefix_len} == 26);
  auto eth1 = c->get_link("eth1");
  REQUIRE(eth1);
  CHECK(eth1->addresses.at(0).address.to_string() == "10.200.0.2");
  CHECK(int{eth1->addresses.at(0).prefix_len} == 24);
  bool default_via_gw = false;
  auto inner_routes = c->list_routes();
  REQUIRE(inner_routes);
  for (auto& r : *inner_routes)
    default_via_gw |= r.destination_len == 0 && r.gateway
                      && r.gateway->to_string() == "10.200.187.129";
  CHECK(default_via_gw);
  bool host_route = false;
  auto host_routes = l.list_routes();
  REQUIRE(host_routes);
  for (auto& r : *host_routes)
    host_route |= r.device == "veth-4242-g" && r.destination_len == 32
                  && r.destination.to_string() == "10.200.0.2";
  CHECK(host_route);
  CHECK(*t.twin.root().sysctls().read("net.ipv4.ip_forward") == "1");

  // Unknown service, and a second attach of a pid already attached.
  CHECK(error_of(t.attach_pid(4243, "nope"))
        == "no service bridge for service nope; call "
           "setup_service_overlay() first");

  CHECK(std::holds_alternative<ipc::resp::ok>(t.detach_pid(4242)));
  CHECK_FALSE(*l.link_exists("veth-4242-s"));
  CHECK_FALSE(*l.link_exists("veth-4242-g"));
  CHECK(*l.bridge_member_count("zl-dep-i0-web-b") == 0);
  // Detach is idempotent; released addresses come back.
  CHECK(std::holds_alternative<ipc::resp::ok>(t.detach_pid(4242)));
  CHECK(ip_of(t.attach_pid(4242, "web")) == "10.200.187.130");

  t.eng->shutdown();
  CHECK(host_fingerprint(t.twin) == before);
  CHECK(t.wg.device_names().empty());
}

TEST_CASE("a failed attach releases the address and removes the veths") {
  twin_engine t;
  ready(t);
  CHECK(
    error_of(t.attach_pid(999, "web"))
      .starts_with("overlay engine error: Failed to open /proc/999/ns/net"));
  REQUIRE(t.twin.add_process(4242));
  t.twin.inject("set_master", {std::chrono::milliseconds{0},
                               drivers::error{drivers::error_kind::kernel, 22,
                                              "set_master", "veth-4242-s"},
                               1, ""});
  CHECK(error_of(t.attach_pid(4242, "web"))
          .starts_with("overlay engine error: enslave veth-4242-s to bridge "
                       "zl-dep-i0-web-b: "));
  CHECK_FALSE(*t.twin.root().links().link_exists("veth-4242-s"));
  CHECK(ip_of(t.attach_pid(4242, "web")) == "10.200.187.130");
}

TEST_CASE("shared services attach to the shared bridge") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  CHECK(error_of(t.attach_pid(1, "api")).starts_with("no service bridge"));
  REQUIRE(std::holds_alternative<ipc::resp::service_overlay>(
    t.setup_service("api", overlay_mode::shared)));
  REQUIRE(t.twin.add_process(7));
  CHECK(ip_of(t.attach_pid(7, "api")) == "10.200.90.66");
  CHECK(t.twin.root().links().get_link("veth-7-s")->master
        == "zl-d3759c4d3-sh");
}

TEST_CASE("isolation: members fenced by address, rules leave with them") {
  twin_engine t;
  ready(t);
  REQUIRE(t.twin.add_process(11));
  REQUIRE(t.twin.add_process(12));
  ip_of(t.attach_pid(11, "web", false, false, "blue"));
  ip_of(t.attach_pid(12, "web", false, false, "blue"));
  auto rules = iptables(t);
  CHECK(rules.find("ZLAYER-OVERLAY-ISO") != std::string::npos);
  CHECK(rules.find("10.200.187.130") != std::string::npos);
  CHECK(rules.find("10.200.187.131") != std::string::npos);
  t.detach_pid(12);
  rules = iptables(t);
  CHECK(rules.find("10.200.187.131") == std::string::npos);
  CHECK(rules.find("10.200.187.130") != std::string::npos);
  t.detach_pid(11);
  CHECK(iptables(t).find("10.200.187.130") == std::string::npos);
}

TEST_CASE("ephemeral: the last leaver tears the service down") {
  twin_engine t;
  ready(t);
  REQUIRE(t.twin.add_process(21));
  REQUIRE(t.twin.add_process(22));
  ip_of(t.attach_pid(21, "web", false, true));
  ip_of(t.attach_pid(22, "web", false, true));
  t.detach_pid(21);
  CHECK(*t.twin.root().links().link_exists("zl-dep-i0-web-b"));
  t.detach_pid(22);
  CHECK_FALSE(*t.twin.root().links().link_exists("zl-dep-i0-web-b"));
  CHECK(error_of(t.attach_pid(21, "web")).starts_with("no service bridge"));
}

TEST_CASE("prune reclaims orphan bridges, never one with members") {
  twin_engine t;
  ready(t);
  REQUIRE(std::holds_alternative<ipc::resp::service_overlay>(
    t.setup_service("db", overlay_mode::dedicated)));
  REQUIRE(t.twin.add_process(31));
  ip_of(t.attach_pid(31, "web"));
  // Not live, but a member is attached: kept.
  auto r = std::get<ipc::resp::pruned_bridges>(
    t.eng->prune_orphan_bridges({"zl-dep-i0-db-b"}));
  CHECK(r.reclaimed.empty());
  t.detach_pid(31);
  r = std::get<ipc::resp::pruned_bridges>(
    t.eng->prune_orphan_bridges({"zl-dep-i0-db-b"}));
  CHECK(r.reclaimed == std::vector<std::string>{"zl-dep-i0-web-b"});
  auto& l = t.twin.root().links();
  CHECK_FALSE(*l.link_exists("zl-dep-i0-web-b"));
  // Protected: the global device, the dedicated device; live: db's bridge.
  CHECK(*l.link_exists("zl-dep-i0-g"));
  CHECK(*l.link_exists("zl-dep-i0-db-d"));
  CHECK(*l.link_exists("zl-dep-i0-db-b"));
  CHECK(error_of(t.attach_pid(31, "web")).starts_with("no service bridge"));
}

TEST_CASE("host_shared: a /32 alias on the global device") {
  twin_engine t;
  ipc::req::attach_container r;
  r.handle = ipc::host_shared_handle{"c1"};
  r.service = "web";
  CHECK(error_of(t.eng->attach_container(r))
        == "host-shared attach requires the global overlay to be set up "
           "first (no utun to alias the container /32 on)");
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  CHECK(ip_of(t.eng->attach_container(r)) == "10.200.0.2");
  auto g = t.twin.root().links().get_link("zl-dep-i0-g");
  bool alias = false;
  for (auto& a : g->addresses)
    alias |= a.address.to_string() == "10.200.0.2" && a.prefix_len == 32;
  CHECK(alias);
  t.eng->detach_container({ipc::host_shared_handle{"c1"}});
  CHECK(t.twin.root().links().get_link("zl-dep-i0-g")->addresses.size() == 1);
  CHECK(ip_of(t.eng->attach_container(r)) == "10.200.0.2");
}

TEST_CASE("guest_managed: keys, the node peer, the guest on the right "
          "scope") {
  twin_engine t;
  ipc::req::attach_container r;
  r.handle = ipc::guest_managed_handle{"vm1"};
  r.service = "x";
  CHECK(error_of(t.eng->attach_container(r))
        == "guest-managed attach requires the global overlay to be set up "
           "first (no node WireGuard public key)");
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  auto resp = t.eng->attach_container(r);
  REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::guest_config>(resp),
                  error_of(resp));
  auto cfg = std::get<ipc::resp::guest_config>(resp);
  CHECK(cfg.overlay_ip.to_string() == "10.200.0.2");
  CHECK(cfg.prefix_len == 28);
  CHECK(wg::key::from_base64(cfg.private_key)->public_from_private().to_base64()
        == cfg.public_key);
  CHECK(cfg.listen_port == 51820);
  REQUIRE(cfg.peers.size() == 1);
  CHECK(cfg.peers[0].public_key == t.wg.public_key("zl-dep-i0-g"));
  CHECK(cfg.peers[0].endpoint == "10.200.0.1:51820");
  CHECK(cfg.peers[0].allowed_ips == "10.200.0.0/16");
  CHECK(cfg.peers[0].persistent_keepalive_secs == 25);
  auto dev = t.wg.device("zl-dep-i0-g");
  REQUIRE(dev->peers.contains(cfg.public_key));
  CHECK(dev->peers.at(cfg.public_key).allowed_ips
        == std::vector<std::string>{"10.200.0.2/32"});

  // A dedicated service's guest goes on the dedicated device.
  REQUIRE(std::holds_alternative<ipc::resp::service_overlay>(
    t.setup_service("db", overlay_mode::dedicated)));
  r.handle = ipc::guest_managed_handle{"vm2"};
  r.service = "db";
  auto dcfg = std::get<ipc::resp::guest_config>(t.eng->attach_container(r));
  CHECK(dcfg.peers[0].public_key == t.wg.public_key("zl-dep-i0-db-d"));
  CHECK(dcfg.listen_port == 51421);
  CHECK(t.wg.device("zl-dep-i0-db-d")->peers.contains(dcfg.public_key));
  CHECK_FALSE(t.wg.device("zl-dep-i0-g")->peers.contains(dcfg.public_key));

  t.eng->detach_container({ipc::guest_managed_handle{"vm1"}});
  t.eng->detach_container({ipc::guest_managed_handle{"vm2"}});
  CHECK(t.wg.device("zl-dep-i0-g")->peers.empty());
  CHECK(t.wg.device("zl-dep-i0-db-d")->peers.empty());
  // Unknown guests detach fine.
  CHECK(std::holds_alternative<ipc::resp::ok>(
    t.eng->detach_container({ipc::guest_managed_handle{"nope"}})));
}

TEST_CASE("windows_container: a clear not-supported error") {
  twin_engine t;
  ready(t);
  ipc::req::attach_container r;
  r.handle = ipc::windows_container_handle{"abc", std::nullopt};
  r.service = "web";
  CHECK(error_of(t.eng->attach_container(r))
        == "WindowsContainer attach is only supported on Windows");
  CHECK(std::holds_alternative<ipc::resp::ok>(t.eng->detach_container(
    {ipc::windows_container_handle{"abc", std::nullopt}})));
}

TEST_CASE("shutdown with everything up returns the host to its start") {
  twin_engine t;
  auto before = host_fingerprint(t.twin);
  ready(t);
  REQUIRE(std::holds_alternative<ipc::resp::service_overlay>(
    t.setup_service("api", overlay_mode::shared)));
  REQUIRE(std::holds_alternative<ipc::resp::service_overlay>(
    t.setup_service("db", overlay_mode::dedicated)));
  for (pid_t pid : {41, 42, 43})
    REQUIRE(t.twin.add_process(pid));
  ip_of(t.attach_pid(41, "web", true, false, "blue"));
  ip_of(t.attach_pid(42, "api", true));
  ip_of(t.attach_pid(43, "db", false, false, "blue"));
  ipc::req::attach_container hs;
  hs.handle = ipc::host_shared_handle{"h"};
  hs.service = "web";
  ip_of(t.eng->attach_container(hs));
  CHECK(host_fingerprint(t.twin) != before);
  CHECK(std::holds_alternative<ipc::resp::ok>(t.eng->shutdown()));
  CHECK(host_fingerprint(t.twin) == before);
  CHECK(t.wg.device_names().empty());
}

TEST_CASE("crash mid-attach: a fresh engine sweeps the veths, prunes the "
          "bridge and leaves the host as found") {
  twin_engine t;
  auto before = host_fingerprint(t.twin);
  ready(t);
  REQUIRE(t.twin.add_process(31));
  // The daemon died right after creating the pair and enslaving the host
  // end, before the peer end moved into the container.
  auto& l = t.twin.root().links();
  REQUIRE(l.create_veth_pair("veth-31-s", "vc-31-s"));
  REQUIRE(l.set_master("veth-31-s", "zl-dep-i0-web-b"));
  t.twin.kill_process(31);
  t.restart();
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  REQUIRE(std::holds_alternative<ipc::resp::service_overlay>(
    t.setup_service("api", overlay_mode::automatic)));
  // Still a member: the zero-member guard keeps the bridge.
  auto r = std::get<ipc::resp::pruned_bridges>(
    t.eng->prune_orphan_bridges({"zl-dep-i0-api-b"}));
  CHECK(r.reclaimed.empty());
  // The next attach sweeps the dead pid's veths first.
  REQUIRE(t.twin.add_process(32));
  ip_of(t.attach_pid(32, "api"));
  CHECK_FALSE(*l.link_exists("veth-31-s"));
  CHECK_FALSE(*l.link_exists("vc-31-s"));
  r = std::get<ipc::resp::pruned_bridges>(
    t.eng->prune_orphan_bridges({"zl-dep-i0-api-b"}));
  CHECK(r.reclaimed == std::vector<std::string>{"zl-dep-i0-web-b"});
  t.detach_pid(32);
  t.eng->teardown_service_overlay("api");
  t.eng->shutdown();
  CHECK(host_fingerprint(t.twin) == before);
}

TEST_CASE("a crashed daemon's successor restores the host's own ip_forward") {
  twin_engine t;
  auto& sysctls = t.twin.root().sysctls();
  REQUIRE(sysctls.read("net.ipv4.ip_forward").value_or("?") == "0");
  ready(t);
  REQUIRE(t.twin.add_process(51));
  ip_of(t.attach_pid(51, "web"));
  CHECK(sysctls.read("net.ipv4.ip_forward").value_or("?") == "1");
  CHECK(std::filesystem::exists(t.dir.path() / "overlayd-forwarding"));
  // kill -9: nothing reverted, forwarding stays on.
  t.twin.kill_process(51);
  t.restart();
  ready(t);
  REQUIRE(t.twin.add_process(52));
  ip_of(t.attach_pid(52, "web"));
  t.detach_pid(52);
  CHECK(std::holds_alternative<ipc::resp::ok>(t.eng->shutdown()));
  // The value from before the first daemon, not the 1 the crash left.
  CHECK(sysctls.read("net.ipv4.ip_forward").value_or("?") == "0");
  CHECK_FALSE(std::filesystem::exists(t.dir.path() / "overlayd-forwarding"));
}
