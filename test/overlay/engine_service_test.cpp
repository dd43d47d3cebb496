// Service overlays, pools, prune and the dedicated identity on the twin.

#include <chrono>
#include <doctest/doctest.h>

#include <future>
#include <set>

#include "ipam/bridge_pool.hpp"
#include "ipam/network_state.hpp"
#include "test/overlay/twin_fixture.hpp"
#include "wg/key.hpp"

using namespace overlayd;
using namespace overlayd::overlay;
using namespace overlayd::overlay::testing;
using namespace std::chrono_literals;
using ipc::overlay_mode;

namespace {

ipc::resp::service_overlay info_of(const ipc::response& r) {
  REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::service_overlay>(r),
                  error_of(r));
  return std::get<ipc::resp::service_overlay>(r);
}

std::string addresses_of(drivers::twin_host& twin, const std::string& link) {
  auto l = twin.root().links().get_link(link);
  if (!l)
    return "missing";
  std::string out;
  for (auto& a : l->addresses)
    out += a.address.to_string() + "/" + std::to_string(a.prefix_len) + " ";
  return out;
}

} // namespace

TEST_CASE("auto: a per-service bridge from the registry, idempotent") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  auto info = info_of(t.setup_service("web", overlay_mode::automatic));
  CHECK(info.name == "zl-dep-i0-web-b");
  CHECK(info.mode == overlay_mode::automatic);
  CHECK_FALSE(info.wg_public_key);
  CHECK(addresses_of(t.twin, "zl-dep-i0-web-b") == "10.200.187.129/26 ");
  CHECK(t.twin.root().links().get_link("zl-dep-i0-web-b")->up);
  CHECK(info_of(t.setup_service("web", overlay_mode::automatic)).name
        == "zl-dep-i0-web-b");
  CHECK(std::get<ipc::resp::status>(t.eng->status()).service_count == 1);
  // Pools: the gateway is taken, the next host comes first, lowest-first.
  auto ip = t.eng->allocate_ip({"web", false});
  CHECK(std::get<ipc::resp::allocated_ip>(ip).ip.to_string()
        == "10.200.187.130");
  t.eng->release_ip(std::get<ipc::resp::allocated_ip>(ip).ip);
  CHECK(std::get<ipc::resp::allocated_ip>(t.eng->allocate_ip({"web", false}))
          .ip.to_string()
        == "10.200.187.130");
  // No bridge: the node slice (offset 2 onwards).
  CHECK(std::get<ipc::resp::allocated_ip>(t.eng->allocate_ip({"x", false}))
          .ip.to_string()
        == "10.200.0.2");

  t.eng->teardown_service_overlay("web");
  CHECK_FALSE(*t.twin.root().links().link_exists("zl-dep-i0-web-b"));
  CHECK(std::get<ipc::resp::status>(t.eng->status()).service_count == 0);
}

TEST_CASE("shared: one node-wide bridge for every shared service") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  auto a = info_of(t.setup_service("api", overlay_mode::shared));
  auto b = info_of(t.setup_service("web", overlay_mode::shared));
  CHECK(a.name == "zl-d3759c4d3-sh");
  CHECK(b.name == a.name);
  CHECK(a.mode == overlay_mode::shared);
  CHECK(addresses_of(t.twin, a.name) == "10.200.90.65/26 ");
  auto ip = t.eng->allocate_ip({"web", false});
  CHECK(std::get<ipc::resp::allocated_ip>(ip).ip.to_string() == "10.200.90.66");
  // The shared bridge outlives its services; only teardown removes it.
  t.eng->teardown_service_overlay("api");
  CHECK(*t.twin.root().links().link_exists(a.name));
  t.eng->teardown_global_overlay();
  CHECK_FALSE(*t.twin.root().links().link_exists(a.name));
}

TEST_CASE("dedicated: its own device and bridge; identity kept across a "
          "restart") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  auto info = info_of(t.setup_service("db", overlay_mode::dedicated));
  CHECK(info.mode == overlay_mode::dedicated);
  CHECK(info.name == "zl-dep-i0-db-b");
  REQUIRE(info.wg_port);
  CHECK(*info.wg_port == 51421);
  REQUIRE(info.overlay_ip);
  REQUIRE(info.subnet);
  auto subnet = net::cidr::parse(*info.subnet);
  REQUIRE(subnet);
  CHECK(subnet->prefix() == 26);
  CHECK(*info.overlay_ip == ipam::first_usable_ip(*subnet));
  auto dev = t.wg.device("zl-dep-i0-db-d");
  REQUIRE(dev);
  CHECK(dev->public_key == *info.wg_public_key);
  CHECK(dev->spec.listen_port == 51421);
  CHECK(t.twin.root().links().get_link("zl-dep-i0-db-d")->up);
  auto global_key = t.wg.public_key("zl-dep-i0-g");
  CHECK(global_key != *info.wg_public_key);
  auto st = std::get<ipc::resp::status>(t.eng->status());
  REQUIRE(st.dedicated_services.size() == 1);
  CHECK(st.dedicated_services[0].interface == "zl-dep-i0-db-d");
  CHECK(st.dedicated_services[0].listen_port == 51421);

  // A peer on the service scope lands on the dedicated device only.
  auto peer = wg::key::generate_private().public_from_private().to_base64();
  CHECK(std::holds_alternative<ipc::resp::ok>(
    t.eng->add_peer({{peer, "192.0.2.9:51421", "10.200.50.0/26", 0, {}},
                     ipc::peer_scope::of_service("db")})));
  CHECK(t.wg.device("zl-dep-i0-db-d")->peers.contains(peer));
  CHECK_FALSE(t.wg.device("zl-dep-i0-g")->peers.contains(peer));
  CHECK(std::get<ipc::resp::status>(t.eng->status())
          .dedicated_services[0]
          .peer_count
        == 1);

  // The marker holds the identity.
  auto marker = ipam::load_marker(ipam::marker_path(t.dir.path()));
  auto* entry = marker.get("service:db");
  REQUIRE(entry);
  CHECK(entry->wg_public_key == info.wg_public_key);

  // Restart: shutdown (devices go), a new engine on the same data dir.
  t.eng->shutdown();
  CHECK(t.wg.device_names().empty());
  t.restart();
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  // A second dedicated service must not take the first one's port.
  auto other = info_of(t.setup_service("cache", overlay_mode::dedicated));
  CHECK(*other.wg_port == 51422);
  auto again = info_of(t.setup_service("db", overlay_mode::dedicated));
  CHECK(again.wg_public_key == info.wg_public_key);
  CHECK(again.wg_port == info.wg_port);
  CHECK(t.wg.device("zl-dep-i0-db-d")->spec.private_key
        == *entry->wg_private_key);

  // Teardown forgets the identity.
  t.eng->teardown_service_overlay("db");
  CHECK_FALSE(t.wg.has_device("zl-dep-i0-db-d"));
  CHECK_FALSE(*t.twin.root().links().link_exists("zl-dep-i0-db-b"));
  CHECK(ipam::load_marker(ipam::marker_path(t.dir.path())).get("service:db")
        == nullptr);
  CHECK(error_of(t.eng->add_peer({{peer, "192.0.2.9:51421", "", 0, {}},
                                  ipc::peer_scope::of_service("db")}))
        == "no dedicated overlay for service db");
}

TEST_CASE("teardown by deterministic name after the memory was lost") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  info_of(t.setup_service("web", overlay_mode::automatic));
  t.restart(); // the bridge stays on the host, the engine forgot it
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  CHECK(*t.twin.root().links().link_exists("zl-dep-i0-web-b"));
  t.eng->teardown_service_overlay("web");
  CHECK_FALSE(*t.twin.root().links().link_exists("zl-dep-i0-web-b"));
}

TEST_CASE("bridge creation errors name the bridge and leave nothing") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  t.twin.inject(
    "set_link_up",
    {0ms, drivers::error{drivers::error_kind::kernel, 5, "set_link_up", "x"}, 1,
     "zl-dep-i0-web-b"});
  auto r = t.setup_service("web", overlay_mode::automatic);
  CHECK(error_of(r).starts_with(
    "overlay engine error: set_link_up_by_name(zl-dep-i0-web-b) failed: "));
  CHECK_FALSE(*t.twin.root().links().link_exists("zl-dep-i0-web-b"));
}

TEST_CASE("a slow bridge creation does not delay peer work") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  t.twin.inject("create_bridge", {500ms, std::nullopt, 1, ""});
  auto slow = std::async(std::launch::async, [&] {
    return t.setup_service("web", overlay_mode::automatic);
  });
  std::this_thread::sleep_for(50ms); // the setup is inside create_bridge
  auto peer = wg::key::generate_private().public_from_private().to_base64();
  auto start = std::chrono::steady_clock::now();
  auto r = t.eng->add_peer({{peer, "192.0.2.7:51820", "10.200.1.0/28", 0, {}},
                            ipc::peer_scope::global()});
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(std::holds_alternative<ipc::resp::ok>(r));
  CHECK(took < 200ms);
  CHECK(slow.wait_for(0s) != std::future_status::ready);
  CHECK(info_of(slow.get()).name == "zl-dep-i0-web-b");
}

TEST_CASE("dedicated: the bridge alone routes the local subnet; a dedicated "
          "guest is routed onto the dedicated device") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  auto info = info_of(t.setup_service("db", overlay_mode::dedicated));
  auto& l = t.twin.root().links();
  auto dev = l.get_link("zl-dep-i0-db-d");
  REQUIRE(dev);
  REQUIRE(dev->addresses.size() == 1);
  CHECK(dev->addresses[0].address.to_string() == info.overlay_ip->to_string());
  CHECK(int{dev->addresses[0].prefix_len} == 32);
  auto routes_on = [&](const std::string& device) {
    std::vector<std::string> out;
    auto routes = l.list_routes();
    REQUIRE(routes);
    for (auto& r : *routes)
      if (r.device == device)
        out.push_back(r.destination.to_string() + "/"
                      + std::to_string(int{r.destination_len}));
    return out;
  };
  // Before: a second connected route on the TUN steered replies to local
  // containers into it.
  CHECK(routes_on("zl-dep-i0-db-d").empty());
  CHECK(routes_on("zl-dep-i0-db-b") == std::vector<std::string>{*info.subnet});

  ipc::req::attach_container r;
  r.handle = ipc::guest_managed_handle{"vm"};
  r.service = "db";
  auto cfg = std::get<ipc::resp::guest_config>(t.eng->attach_container(r));
  CHECK(routes_on("zl-dep-i0-db-d")
        == std::vector<std::string>{cfg.overlay_ip.to_string() + "/32"});
  t.eng->detach_container({ipc::guest_managed_handle{"vm"}});
  CHECK(routes_on("zl-dep-i0-db-d").empty());
}

TEST_CASE("dedicated: a service peer's allowed IPs are routed onto the "
          "dedicated device, never the node's own subnet") {
  twin_engine t;
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(t.setup_global()));
  auto info = info_of(t.setup_service("db", overlay_mode::dedicated));
  REQUIRE(info.subnet);
  auto routes_on_device = [&t] {
    std::set<std::string> out;
    auto routes = t.twin.root().links().list_routes();
    REQUIRE(routes);
    for (auto& r : *routes)
      if (r.device == "zl-dep-i0-db-d")
        out.insert(r.destination.to_string() + "/"
                   + std::to_string(int{r.destination_len}));
    return out;
  };
  auto before = routes_on_device();
  auto scope = ipc::peer_scope::of_service("db");
  auto a = wg::key::generate_private().public_from_private().to_base64();
  auto b = wg::key::generate_private().public_from_private().to_base64();
  // Own subnet, a default route and the other family are never routed.
  REQUIRE(std::holds_alternative<ipc::resp::ok>(
    t.eng->add_peer({{a,
                      "192.0.2.9:51421",
                      "10.200.50.0/26," + *info.subnet + ",0.0.0.0/0,fd00::/64",
                      0,
                      {}},
                     scope})));
  auto with_a = routes_on_device();
  CHECK(with_a.size() == before.size() + 1);
  CHECK(with_a.contains("10.200.50.0/26"));
  // Two peers may claim one CIDR: it stays until the last one goes.
  REQUIRE(std::holds_alternative<ipc::resp::ok>(t.eng->add_peer(
    {{b, "192.0.2.10:51421", "10.200.50.0/26", 0, {}}, scope})));
  REQUIRE(std::holds_alternative<ipc::resp::ok>(
    t.eng->add_allowed_ip({b, "10.200.60.0/26", scope})));
  CHECK(routes_on_device().contains("10.200.60.0/26"));
  REQUIRE(
    std::holds_alternative<ipc::resp::ok>(t.eng->remove_peer({a, scope})));
  CHECK(routes_on_device().contains("10.200.50.0/26"));
  REQUIRE(std::holds_alternative<ipc::resp::ok>(
    t.eng->remove_allowed_ip({b, "10.200.60.0/26", scope})));
  CHECK_FALSE(routes_on_device().contains("10.200.60.0/26"));
  REQUIRE(
    std::holds_alternative<ipc::resp::ok>(t.eng->remove_peer({b, scope})));
  CHECK(routes_on_device() == before);
}
