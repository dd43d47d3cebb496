#pragma once

// The daemon's TOML configuration file (conf/overlayd.toml documents every
// key). Plain C++: parsing needs no actor system.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "net/expected.hpp"

namespace overlayd::app {

/// Settings read from the config file; empty strings mean "not set", so the
/// command line and the ZLayer path rules fill them in later.
struct daemon_config {
  /// `[daemon] data_dir`.
  std::string data_dir;
  /// `[daemon] socket`.
  std::string socket;
  /// `[daemon] workers`: scheduler threads, 0 = automatic.
  std::size_t workers = 0;
  /// `[engine] backend`: "real" (this machine) or "twin" (in-memory dry
  /// run, nothing on the machine changes).
  std::string backend = "real";
  /// `[engine] driver_workers`: threads for blocking host calls.
  std::size_t driver_workers = 3;
  /// `[engine] uapi_dir`: where WireGuard UAPI sockets go ("" = none).
  std::string uapi_dir = "/var/run/wireguard";
  /// `[engine] twin_processes`: pids that exist as container processes
  /// (each in a namespace of its own) on the twin backend, so that
  /// `linux_pid` attaches can be replayed against a twin daemon.
  std::vector<uint32_t> twin_processes;
  /// `[log] level`: an spdlog level name.
  std::string log_level = "info";
  /// `[replay] record`: append every IPC exchange to this file ("" = off).
  std::string record_file;
  /// `[replay] keep_secrets`: do not redact keys in the recording.
  bool record_secrets = false;
  /// `[nat] self_tick`: tick NAT traversal without `nat_tick` requests.
  bool nat_self_tick = false;
};

/// Whether `name` is a level `--log-level` and `[log] level` accept.
bool is_log_level(const std::string& name);

/// Reads `path`. Errors read `{path}:{line}:{column}: {what}` so that an
/// editor can jump to the spot; unknown keys and wrong types are errors
/// too, because a silently ignored typo is worse than a refusal.
net::expected<daemon_config>
load_daemon_config(const std::filesystem::path& path);

/// The same, for config text already in memory (`origin` names it in
/// messages).
net::expected<daemon_config> parse_daemon_config(const std::string& text,
                                                 const std::string& origin);

} // namespace overlayd::app
