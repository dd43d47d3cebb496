#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "stun/nat_config.hpp"

using namespace overlayd::stun;
using nlohmann::json;

TEST_CASE("defaults: enabled, two Google STUN servers, 15/60/10, no relay") {
  nat_config c;
  CHECK(c.enabled);
  REQUIRE(c.stun_servers.size() == 2);
  CHECK(c.stun_servers[0].address == "stun.l.google.com:19302");
  CHECK(c.stun_servers[0].label == "Google STUN 1");
  CHECK(c.stun_servers[1].address == "stun1.l.google.com:19302");
  CHECK(c.stun_servers[1].label == "Google STUN 2");
  CHECK(c.turn_servers.empty());
  CHECK(c.hole_punch_timeout_secs == 15);
  CHECK(c.stun_refresh_interval_secs == 60);
  CHECK(c.max_candidate_pairs == 10);
  CHECK_FALSE(c.relay_server.has_value());
}

TEST_CASE("serde JSON fills defaults; enabled defaults to false there") {
  auto c = nat_config_from_json(json::parse(R"({"enabled":true})"));
  REQUIRE(c.ok());
  CHECK(*c == nat_config{});

  auto empty = nat_config_from_json(json::object());
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->enabled);
  CHECK(empty->stun_servers.size() == 2);

  auto relay = nat_config_from_json(json::parse(
    R"({"enabled":true,"relay_server":{"listen_port":3478,
        "external_addr":"1.2.3.4:3478"}})"));
  REQUIRE(relay.ok());
  REQUIRE(relay->relay_server.has_value());
  CHECK(relay->relay_server->max_sessions == 100);

  auto full = nat_config_from_json(json::parse(R"({
    "enabled": true,
    "stun_servers": [{"address": "203.0.113.5:3478"}],
    "turn_servers": [{"address": "1.2.3.4:3478", "username": "u",
                      "credential": "c", "region": "eu"}],
    "hole_punch_timeout_secs": 3, "stun_refresh_interval_secs": 9,
    "max_candidate_pairs": 2})"));
  REQUIRE(full.ok());
  REQUIRE(full->stun_servers.size() == 1);
  CHECK_FALSE(full->stun_servers[0].label.has_value());
  CHECK(full->stun_servers[0].name() == "203.0.113.5:3478");
  CHECK(full->turn_servers[0].region == "eu");
  CHECK(full->hole_punch_timeout_secs == 3);
  // Round trip through our own serialisation.
  auto again = nat_config_from_json(nat_config_to_json(*full));
  REQUIRE(again.ok());
  CHECK(*again == *full);
}

TEST_CASE("serde JSON errors name the field") {
  auto bad = nat_config_from_json(json::parse(R"({"enabled":"yes"})"));
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().find("enabled") != std::string::npos);
  auto turn = nat_config_from_json(
    json::parse(R"({"turn_servers":[{"address":"1.2.3.4:1"}]})"));
  REQUIRE_FALSE(turn.ok());
  CHECK(turn.error().find("username") != std::string::npos);
  CHECK_FALSE(nat_config_from_json(json::array()).ok());
}

TEST_CASE("spec conversion fills defaults and copies (reference test)") {
  auto empty = nat_config_from_spec(nat_config_spec{});
  const nat_config d;
  CHECK_FALSE(empty.config.enabled); // copied verbatim
  CHECK(empty.config.stun_servers == d.stun_servers);
  CHECK(empty.config.hole_punch_timeout_secs == 15);
  CHECK(empty.config.stun_refresh_interval_secs == 60);
  CHECK(empty.config.max_candidate_pairs == 10);
  CHECK_FALSE(empty.config.relay_server.has_value());
  CHECK_FALSE(empty.relay_credential.has_value());

  nat_config_spec spec;
  spec.enabled = true;
  spec.stun_servers = {"stun.example:3478"};
  spec.turn_servers = {{"turn.example:3478", "u", "p"}};
  spec.hole_punch_timeout_secs = 9;
  spec.stun_refresh_interval_secs = 40;
  spec.max_candidate_pairs = 3;
  spec.relay_server
    = relay_server_spec{3478, "1.2.3.4:3478", 7, std::string("cluster-secret")};
  auto c = nat_config_from_spec(spec);
  CHECK(c.config.enabled);
  REQUIRE(c.config.stun_servers.size() == 1);
  CHECK(c.config.stun_servers[0].address == "stun.example:3478");
  CHECK_FALSE(c.config.stun_servers[0].label.has_value());
  REQUIRE(c.config.turn_servers.size() == 1);
  CHECK(c.config.turn_servers[0]
        == turn_server_config{"turn.example:3478", "u", "p", std::nullopt});
  CHECK(c.config.hole_punch_timeout_secs == 9);
  CHECK(c.config.stun_refresh_interval_secs == 40);
  CHECK(c.config.max_candidate_pairs == 3);
  REQUIRE(c.config.relay_server.has_value());
  CHECK(c.config.relay_server->listen_port == 3478);
  CHECK(c.config.relay_server->external_addr == "1.2.3.4:3478");
  CHECK(c.config.relay_server->max_sessions == 7);
  CHECK(c.relay_credential == "cluster-secret");

  spec.relay_server->max_sessions = 0;
  spec.relay_server->auth_credential.reset();
  auto z = nat_config_from_spec(spec);
  CHECK(z.config.relay_server->max_sessions == 100);
  CHECK_FALSE(z.relay_credential.has_value());
}
