// The supervisor's NAT wiring on the deterministic scheduler, with a
// ticker over scripted services: when the ticker is spawned and with what
// port and config, which candidates reach it, and how tick results and
// status come back over the IPC.
#include "actors/supervisor.hpp"
#include "actors/transport.hpp"

#include <caf/send.hpp>

#include <map>
#include <vector>

#include "deterministic.hpp"
#include "held_pool.hpp"

using namespace overlayd;

namespace {

// A device that knows nothing: no endpoints, no handshakes.
struct silent_wg : stun::wg_control {
  stun::status set_endpoint(const std::string&,
                            const stun::udp_endpoint&) override {
    return stun::status::success();
  }
  stun::result<std::optional<stun::udp_endpoint>>
  endpoint(const std::string&) override {
    return stun::result<std::optional<stun::udp_endpoint>>(std::nullopt);
  }
  stun::result<std::uint64_t> last_handshake(const std::string&) override {
    return stun::result<std::uint64_t>(0);
  }
};

struct spawned_ticker {
  std::uint16_t port = 0;
  std::optional<stun::converted_nat_config> config;
};

struct nat_fixture : test::deterministic_fixture {
  test::twin_core host;
  test::held_pool_actor pool
    = sys.spawn(test::held_pool, &host.twin.root(), std::set<std::string>{});
  actors::transport_actor transport
    = sys.spawn(actors::transport, host.core.get(), std::string{"global"});
  std::vector<spawned_ticker> spawns;
  // Candidates as the ticker passes them on (pubkey -> addresses).
  std::map<std::string, std::vector<std::string>> told;
  bool fail_discover = false;
  actors::supervisor_actor sup;

  nat_fixture() {
    actors::supervisor_children kids{host.core.get(), pool, transport, {}};
    kids.nat.spawn = [this](std::uint16_t port,
                            std::optional<stun::converted_nat_config> c) {
      spawns.push_back({port, c});
      actors::nat_ticker_options o;
      o.wg_port = port;
      o.services.gather = [](const stun::nat_config&) {
        stun::gathered_candidates g;
        g.candidates.push_back(stun::candidate::make(
          stun::candidate_type::host,
          *stun::udp_endpoint::parse("192.0.2.7:51999"), 1700000000));
        return stun::result<stun::gathered_candidates>(g);
      };
      o.services.discover = [this] {
        using r = stun::result<stun::stun_discovery, stun::stun_error>;
        if (fail_discover)
          return r::failure({stun::stun_error::kind::timeout, 0, 0, {}});
        stun::stun_discovery d;
        d.results.push_back(
          {*stun::udp_endpoint::parse("198.51.100.7:40000"), "fake"});
        return r(d);
      };
      o.wg = std::make_shared<silent_wg>();
      o.peer_candidates_changed =
        [this](const std::string& key, const std::vector<stun::candidate>& cs) {
          auto& v = told[key];
          v.clear();
          for (const auto& x : cs)
            v.push_back(x.address.to_string());
        };
      o.clock = [] { return stun::traversal_time{1700000000, {}}; };
      o.detached = false;
      return actors::spawn_nat_ticker(sys, std::move(o));
    };
    sup = sys.spawn(actors::supervisor, std::move(kids));
    run();
  }

  ~nat_fixture() {
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    run();
  }

  ipc::response call(ipc::request r) {
    return ask<actors::ipc_reply>(sup, actors::ipc_call{std::move(r)}).response;
  }

  static ipc::req::add_peer peer(std::string key, std::string cand) {
    ipc::req::add_peer a;
    a.peer.public_key = std::move(key);
    a.peer.endpoint = "0.0.0.0:0";
    a.peer.allowed_ips = "10.200.0.16/28";
    a.peer.candidates = {{"server-reflexive", std::move(cand), 50}};
    a.scope = ipc::peer_scope::global();
    return a;
  }
};

const std::string key_b = "WNpA3x8e9Ydq3W0nK0yjGo9pP0u/7bH4Yj1Xq2rMa2E=";

ipc::req::setup_global_overlay global_setup() {
  ipc::req::setup_global_overlay g;
  g.deployment = "d";
  g.instance_id = "i";
  g.cluster_cidr = "10.200.0.0/16";
  g.slice_cidr = "10.200.0.0/28";
  g.wg_port = 51999;
  ipc::nat_config_spec nat;
  nat.enabled = true;
  nat.stun_servers = {"127.0.0.1:3478"};
  nat.hole_punch_timeout_secs = 3;
  g.nat = nat;
  return g;
}

} // namespace

TEST_CASE_FIXTURE(nat_fixture, "nat_status before any tick: empty, no ticker") {
  auto r = call(ipc::req::nat_status{});
  auto* s = std::get_if<ipc::resp::nat_status>(&r);
  REQUIRE(s != nullptr);
  CHECK(s->candidates.empty());
  CHECK(s->last_refresh == 0);
  CHECK(spawns.empty());
}

TEST_CASE_FIXTURE(nat_fixture,
                  "first tick: ticker with the global port, config and peers") {
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(call(global_setup())));
  REQUIRE(std::holds_alternative<ipc::resp::ok>(
    call(peer(key_b, "203.0.113.9:51820"))));
  CHECK(spawns.empty()); // peers alone do not start NAT
  CHECK(std::holds_alternative<ipc::resp::ok>(call(ipc::req::nat_tick{})));
  REQUIRE(spawns.size() == 1);
  CHECK(spawns[0].port == 51999);
  REQUIRE(spawns[0].config);
  REQUIRE(spawns[0].config->config.stun_servers.size() == 1);
  CHECK(spawns[0].config->config.hole_punch_timeout_secs == 3);
  // The peer added before the ticker existed was handed over at spawn.
  CHECK(told[key_b] == std::vector<std::string>{"203.0.113.9:51820"});

  // Later changes follow the core: new candidates, then removal.
  REQUIRE(std::holds_alternative<ipc::resp::ok>(
    call(peer(key_b, "203.0.113.10:51820"))));
  CHECK(told[key_b] == std::vector<std::string>{"203.0.113.10:51820"});
  ipc::req::remove_peer rm;
  rm.pubkey = key_b;
  rm.scope = ipc::peer_scope::global();
  REQUIRE(std::holds_alternative<ipc::resp::ok>(call(rm)));
  CHECK(told[key_b].empty());

  auto r = call(ipc::req::nat_status{});
  auto* s = std::get_if<ipc::resp::nat_status>(&r);
  REQUIRE(s != nullptr);
  // The gathered host candidate, then the refresh's reflexive address with
  // the WireGuard port.
  REQUIRE(s->candidates.size() == 2);
  CHECK(s->candidates[0].address == "192.0.2.7:51999");
  CHECK(s->candidates[1].candidate_type == "server-reflexive");
  CHECK(s->candidates[1].address == "198.51.100.7:51999");
  CHECK(s->last_refresh == 1700000000);
  CHECK(std::holds_alternative<ipc::resp::ok>(call(ipc::req::nat_tick{})));
  CHECK(spawns.size() == 1); // one ticker for the daemon's life
}

TEST_CASE_FIXTURE(nat_fixture, "a failed refresh is the reference's error") {
  REQUIRE(std::holds_alternative<ipc::resp::ok>(call(ipc::req::nat_tick{})));
  CHECK(spawns.at(0).port == ipam::default_wg_port); // before global setup
  fail_discover = true;
  auto r = call(ipc::req::nat_tick{});
  auto* e = std::get_if<ipc::resp::err>(&r);
  REQUIRE(e != nullptr);
  CHECK(
    e->message.rfind("overlay engine error: NAT maintenance tick failed: ", 0)
    == 0);
}
