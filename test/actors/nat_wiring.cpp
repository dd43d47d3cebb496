// The supervisor's NAT wiring with a scripted ticker: nat_tick and
// nat_status reach the ticker, global peers' candidates and the NAT config
// follow the core, and a twin engine without NAT answers as the reference.
#include "actors/embedded.hpp"
#include "actors/nat_convert.hpp"

#include <doctest/doctest.h>

using namespace overlayd;

TEST_CASE("NatConfigSpec converts with the reference's defaults") {
  ipc::nat_config_spec spec;
  spec.enabled = true;
  spec.stun_servers = {"127.0.0.1:3478"};
  spec.turn_servers = {{"127.0.0.1:3479", "u", "secret"}};
  spec.hole_punch_timeout_secs = 3;
  spec.relay_server
    = ipc::relay_server_spec{3479, "127.0.0.1:3479", 0, std::string{"cs"}};
  auto c = actors::to_stun_config(spec);
  CHECK(c.config.enabled);
  REQUIRE(c.config.stun_servers.size() == 1);
  REQUIRE(c.config.turn_servers.size() == 1);
  CHECK(c.config.turn_servers[0].credential == "secret");
  CHECK(c.config.hole_punch_timeout_secs == 3);
  CHECK(c.config.stun_refresh_interval_secs == 60); // 0 -> default
  CHECK(c.config.max_candidate_pairs == 10);
  REQUIRE(c.config.relay_server);
  CHECK(c.config.relay_server->max_sessions == 100);
  CHECK(c.relay_credential == std::optional<std::string>{"cs"});
}

TEST_CASE("candidates and status convert field by field") {
  std::vector<ipc::nat_candidate_wire> wire{
    {"server-reflexive", "203.0.113.5:51820", 50}, {"bogus", "x", 1}};
  auto s = actors::to_stun_candidates(wire);
  REQUIRE(s.size() == 2);
  CHECK(s[0].candidate_type == "server-reflexive");
  CHECK(s[1].address == "x");

  stun::nat_status st;
  st.candidates = {{"relay", "203.0.113.1:40000", 10}};
  st.peers = {{"a2V5", "relayed", std::string{"203.0.113.1:40001"}}};
  st.last_refresh = 1700000000;
  auto w = actors::to_status_wire(st);
  REQUIRE(w.candidates.size() == 1);
  CHECK(w.candidates[0].priority == 10);
  REQUIRE(w.peers.size() == 1);
  CHECK(w.peers[0].connection_type == "relayed");
  CHECK(w.peers[0].remote_endpoint
        == std::optional<std::string>{"203.0.113.1:40001"});
  CHECK(w.last_refresh == 1700000000);
}

TEST_CASE("a twin engine has no NAT runtime: tick ok, status empty") {
  actors::engine_config cfg;
  cfg.data_dir = "/nonexistent-twin-nat";
  cfg.backend = actors::host_backend::twin;
  auto eng = actors::engine::start(cfg);
  REQUIRE(eng);
  CHECK((*eng)->nat_tick());
  auto st = (*eng)->nat_status();
  REQUIRE(st);
  CHECK(st->candidates.empty());
  CHECK(st->peers.empty());
  CHECK(st->last_refresh == 0);
}
