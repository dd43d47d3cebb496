#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "stun/nat_config.hpp"
#include "stun/net_address.hpp"
#include "stun/result.hpp"

namespace overlayd::stun {

struct relay_server_options {
  relay_server_config config; // listen_port, external_addr, max_sessions
  std::string credential;     // cluster secret; "" is a valid credential
  // Lifetime advertised in AllocateResp (the reference always says 600).
  std::chrono::seconds lifetime{600};
  // Beyond the reference: an allocation not refreshed for its lifetime
  // plus this slack is reaped, so vanished clients stop holding sessions.
  // Rust clients refresh unreliably, hence the generous default.
  std::chrono::seconds expiry_slack{300};
  // Default: the main socket listens on the wildcard of external_addr's
  // family (as the reference) and replies from each request's destination
  // address; relay sockets bind external_addr's IP when it is local. Set
  // to bind both to one address instead.
  std::optional<ip_address> bind_ip;
  // SO_RCVBUF/SO_SNDBUF of every socket (0 = kernel default).
  int socket_buffer_bytes = 4 << 20;
  std::function<void(const std::string&)> log;
};

struct relay_server_stats {
  std::uint64_t to_peer_packets = 0, to_peer_bytes = 0;
  std::uint64_t to_client_packets = 0, to_client_bytes = 0;
  std::uint64_t dropped = 0, expired = 0;
  std::size_t sessions = 0;
};

// The ZLayer relay server (nat.md §5), byte-compatible with the reference's
// clients. One event-loop thread owns the main socket and one socket per
// allocation; the public methods are thread-safe.
class relay_server {
public:
  explicit relay_server(relay_server_options options);
  ~relay_server(); // stop()
  relay_server(const relay_server&) = delete;
  relay_server& operator=(const relay_server&) = delete;

  // Binds the main socket and starts the loop; returns the bound address
  // (the real port when listen_port is 0). Errors: "Invalid external addr:
  // ...", bind errors.
  result<udp_endpoint> start();
  // Stops the loop and closes every socket; idempotent.
  void stop();
  bool running() const noexcept { return running_.load(); }

  std::size_t session_count() const noexcept { return sessions_.load(); }
  relay_server_stats stats() const;

private:
  struct loop;
  relay_server_options options_;
  mutable std::mutex mu_; // guards loop_ and thread_ lifecycle
  std::unique_ptr<loop> loop_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<std::size_t> sessions_{0};
};

} // namespace overlayd::stun
