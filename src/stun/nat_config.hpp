#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "stun/result.hpp"
#include "stun/stun_client.hpp"

namespace overlayd::stun {

struct turn_server_config {
  std::string address; // literal socket address only
  std::string username;
  std::string credential; // shared secret the relay key derives from
  std::optional<std::string> region;
  friend bool operator==(const turn_server_config&, const turn_server_config&)
    = default;
};

inline constexpr std::size_t default_max_relay_sessions = 100;

struct relay_server_config {
  std::uint16_t listen_port = 0;
  std::string external_addr; // literal socket address
  std::size_t max_sessions = default_max_relay_sessions;
  friend bool operator==(const relay_server_config&, const relay_server_config&)
    = default;
};

std::vector<stun_server_config> default_stun_servers();

// The reference's NatConfig; the member initialisers are its Default impl
// (NAT enabled, two Google STUN servers, 15/60/10, no relay).
struct nat_config {
  bool enabled = true;
  std::vector<stun_server_config> stun_servers = default_stun_servers();
  std::vector<turn_server_config> turn_servers;
  std::uint64_t hole_punch_timeout_secs = 15;
  std::uint64_t stun_refresh_interval_secs = 60;
  std::size_t max_candidate_pairs = 10;
  std::optional<relay_server_config> relay_server;
  friend bool operator==(const nat_config&, const nat_config&) = default;
};

// The serde form (e.g. a config file). Quirk kept: a missing `enabled` is
// false here, unlike the Default impl; a missing `max_sessions` is 100.
result<nat_config> nat_config_from_json(const nlohmann::json& j);
nlohmann::json nat_config_to_json(const nat_config& c);

// IPC `NatConfigSpec` (ipc.md §3.6); all-zero/empty by default.
struct turn_server_spec {
  std::string addr, username, credential;
};
struct relay_server_spec {
  std::uint16_t listen_port = 0;
  std::string external_addr;
  std::size_t max_sessions = 0;
  std::optional<std::string> auth_credential;
};
struct nat_config_spec {
  bool enabled = false;
  std::vector<std::string> stun_servers;
  std::vector<turn_server_spec> turn_servers;
  std::uint64_t hole_punch_timeout_secs = 0;
  std::uint64_t stun_refresh_interval_secs = 0;
  std::size_t max_candidate_pairs = 0;
  std::optional<relay_server_spec> relay_server;
};

struct converted_nat_config {
  nat_config config;
  // `relay_server.auth_credential`, kept apart from the relay config: the
  // cluster-wide secret every node derives the relay key from.
  std::optional<std::string> relay_credential;
};

// `nat_config_spec_to_config`: zero/empty -> the Default value.
converted_nat_config nat_config_from_spec(const nat_config_spec& spec);

} // namespace overlayd::stun
