// Global overlay, peers and status on the twin (issue 5 unit list).

#include <doctest/doctest.h>

#include "test/overlay/twin_fixture.hpp"
#include "wg/key.hpp"

using namespace overlayd;
using namespace overlayd::overlay;
using namespace overlayd::overlay::testing;

namespace {

std::string a_key() {
  return wg::key::generate_private().public_from_private().to_base64();
}

} // namespace

TEST_CASE("global setup brings up the device and the host rules, "
          "teardown reverts them") {
  twin_engine t;
  auto before = host_fingerprint(t.twin);
  auto r = t.setup_global();
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(r));
  CHECK(std::get<ipc::resp::bridge_name>(r).name == "zl-dep-i0-g");
  auto link = t.twin.root().links().get_link("zl-dep-i0-g");
  REQUIRE(link);
  CHECK(link->up);
  CHECK(link->mtu == 1420);
  REQUIRE(link->addresses.size() == 1);
  CHECK(link->addresses[0].address.to_string() == "10.200.0.1");
  CHECK(int{link->addresses[0].prefix_len} == 16);
  auto dev = t.wg.device("zl-dep-i0-g");
  REQUIRE(dev);
  CHECK(dev->spec.listen_port == 51820);
  auto after = host_fingerprint(t.twin);
  CHECK(after.find("ZLAYER-OVERLAY") != std::string::npos);
  CHECK(after.find("MASQUERADE") != std::string::npos);
  CHECK(after.find("dropin") != std::string::npos);

  // Idempotent: the same name, no second device.
  auto again = t.setup_global();
  CHECK(std::get<ipc::resp::bridge_name>(again).name == "zl-dep-i0-g");
  auto calls = t.wg.calls();
  CHECK(std::count_if(calls.begin(), calls.end(),
                      [](auto& c) { return c.starts_with("create"); })
        == 1);

  auto st = std::get<ipc::resp::status>(t.eng->status());
  CHECK(st.interface == "zl-dep-i0-g");
  CHECK(st.node_ip == net::ip_address::v4(10, 200, 0, 1));
  CHECK(st.public_key == dev->public_key);
  CHECK(st.overlay_cidr == "10.200.0.0/16");
  CHECK(st.slice_cidr == "10.200.0.0/28");

  CHECK(
    std::holds_alternative<ipc::resp::ok>(t.eng->teardown_global_overlay()));
  CHECK_FALSE(t.wg.has_device("zl-dep-i0-g"));
  CHECK(host_fingerprint(t.twin) == before);
}

TEST_CASE("a stale -g link of a previous instance is replaced") {
  twin_engine t;
  REQUIRE(t.twin.add_device("zl-dep-i0-g", "tun", true));
  auto r = t.setup_global();
  CHECK(std::holds_alternative<ipc::resp::bridge_name>(r));
  CHECK(t.twin.root().links().get_link("zl-dep-i0-g")->up);
}

TEST_CASE("rootless: no firewall rules and no drop-ins") {
  twin_engine t{true};
  auto before = host_fingerprint(t.twin);
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  auto after = host_fingerprint(t.twin);
  CHECK(after.find("ZLAYER-OVERLAY") == std::string::npos);
  CHECK(after.find("dropin") == std::string::npos);
  t.eng->shutdown();
  CHECK(host_fingerprint(t.twin) == before);
}

TEST_CASE("global setup errors as the reference words them") {
  twin_engine t;
  ipc::req::setup_global_overlay r;
  r.deployment = "dep";
  r.instance_id = "i0";
  r.cluster_cidr = "nope";
  CHECK(error_of(t.eng->setup_global_overlay(r))
        == "invalid cluster CIDR nope: invalid address: nope");
  t.wg.fail_next_create("TUN refused");
  CHECK(error_of(t.setup_global())
        == "overlay engine error: Failed to create global overlay: "
           "TUN refused");
}

TEST_CASE("peers: scopes, errors, mirror, candidates and status") {
  twin_engine t;
  auto key = a_key();
  ipc::req::add_peer add{{key, "192.0.2.7:51820", "10.200.1.0/28", 25, {}},
                         ipc::peer_scope::global()};
  add.peer.candidates
    = {{"host", "192.0.2.7:51820", 100}, {"bogus", "nope", 1}};
  // Before setup the global scope only mirrors (VM-only overlay rule).
  CHECK(std::holds_alternative<ipc::resp::ok>(t.eng->add_peer(add)));
  CHECK(error_of(t.eng->add_peer({add.peer, ipc::peer_scope::of_service("db")}))
        == "no dedicated overlay for service db");
  auto bad = add;
  bad.peer.endpoint = "bogus";
  CHECK(error_of(t.eng->add_peer(bad))
        == "invalid peer endpoint bogus: invalid socket address syntax");

  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  CHECK(std::holds_alternative<ipc::resp::ok>(t.eng->add_peer(add)));
  auto cands = t.eng->peer_candidates();
  REQUIRE(cands.contains(key));
  CHECK(cands[key].size() == 1);
  CHECK(std::holds_alternative<ipc::resp::ok>(
    t.eng->add_allowed_ip({key, "10.200.9.0/26", ipc::peer_scope::global()})));
  CHECK(error_of(
          t.eng->add_allowed_ip({key, "10.200.9.0", ipc::peer_scope::global()}))
        == "invalid CIDR 10.200.9.0: invalid IP address syntax");

  auto st = std::get<ipc::resp::status>(t.eng->status());
  REQUIRE(st.peers.size() == 1);
  CHECK(st.peer_count == 1);
  CHECK(st.peers[0].public_key == wg::key::from_base64(key)->to_hex());
  CHECK(st.peers[0].endpoint == "192.0.2.7:51820");
  CHECK(st.peers[0].allowed_ips == "10.200.1.0/28,10.200.9.0/26");

  CHECK(std::holds_alternative<ipc::resp::ok>(t.eng->remove_allowed_ip(
    {key, "10.200.9.0/26", ipc::peer_scope::global()})));
  CHECK(std::holds_alternative<ipc::resp::ok>(
    t.eng->remove_peer({key, ipc::peer_scope::global()})));
  CHECK(std::get<ipc::resp::status>(t.eng->status()).peers.empty());
  CHECK(t.eng->peer_candidates().empty());
}

TEST_CASE("requests outside the core answer like the reference on Linux") {
  twin_engine t;
  CHECK(error_of(t.eng->handle(ipc::req::write_scoped_resolver{}))
        == "overlay engine error: scoped resolver is macOS-only");
  CHECK(std::holds_alternative<ipc::resp::ok>(
    t.eng->handle(ipc::req::set_local_node_id{3})));
  CHECK(
    std::holds_alternative<ipc::resp::ok>(t.eng->handle(ipc::req::shutdown{})));
  CHECK(t.eng->shutdown_requested());
}

TEST_CASE("register_dns and unregister_dns keep the name-to-address map") {
  twin_engine t;
  auto ip = [](const char* text) { return *net::ip_address::parse(text); };
  CHECK(std::holds_alternative<ipc::resp::ok>(
    t.eng->handle(ipc::req::register_dns{"web", ip("10.200.0.5")})));
  t.eng->handle(ipc::req::register_dns{"db", ip("fd00::7")});
  // Registering again replaces the address.
  t.eng->handle(ipc::req::register_dns{"web", ip("10.200.0.6")});
  auto records = t.eng->dns_records();
  REQUIRE(records.size() == 2);
  CHECK(records.at("web").to_string() == "10.200.0.6");
  CHECK(records.at("db").to_string() == "fd00::7");
  CHECK(std::holds_alternative<ipc::resp::ok>(
    t.eng->handle(ipc::req::unregister_dns{"web"})));
  // Unknown names are fine.
  CHECK(std::holds_alternative<ipc::resp::ok>(
    t.eng->handle(ipc::req::unregister_dns{"nope"})));
  records = t.eng->dns_records();
  CHECK(records.size() == 1);
  CHECK(records.contains("db"));
}
