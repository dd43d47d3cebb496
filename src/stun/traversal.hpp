#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "stun/candidate.hpp"
#include "stun/net_address.hpp"
#include "stun/result.hpp"

namespace overlayd::stun {

// The WireGuard operations traversal needs (UAPI set/get in the reference).
// Keys are the peers' base64 public keys.
class wg_control {
public:
  virtual ~wg_control() = default;
  virtual status set_endpoint(const std::string& pubkey, const udp_endpoint& ep)
    = 0;
  virtual result<std::optional<udp_endpoint>>
  endpoint(const std::string& pubkey) = 0;
  // Unix seconds of the last completed handshake, 0 for none.
  virtual result<std::uint64_t> last_handshake(const std::string& pubkey) = 0;
};

// Time as traversal sees it: wall-clock seconds for comparing with
// WireGuard's handshake stamps, a monotonic clock for deadlines. Passed in,
// never read, so tests drive it.
struct traversal_time {
  std::uint64_t unix_secs = 0;
  std::chrono::milliseconds mono{0};
};

// `check_peer_handshake`: a handshake at or after `since` (whole seconds).
bool handshake_since(wg_control& wg, const std::string& pubkey,
                     std::uint64_t since);

inline constexpr std::chrono::seconds handshake_poll_interval{1};
inline constexpr std::uint64_t upgrade_timeout_secs = 5;

enum class attempt_kind {
  connect, // §7.2: every candidate, hole_punch_timeout each
  upgrade, // §7.3: host + srflx only, 5 s each, off a relayed path
};

// One peer's traversal attempt as a state machine: `step()` at start and
// then every `handshake_poll_interval` replaces the reference's blocking
// loop, so many peers can be tried at once without a thread each.
class peer_attempt {
public:
  enum class state { running, succeeded, failed };

  // Candidates are sorted by their (wire) priority, stably, and capped at
  // `max_pairs`. Relay candidates on a loopback address (what Rust nodes
  // advertise) are dropped: they can only waste a timeout. `restore_to`
  // is put back as the endpoint when every candidate fails.
  peer_attempt(std::string pubkey, std::vector<candidate> candidates,
               attempt_kind kind, std::uint64_t timeout_secs,
               std::size_t max_pairs, std::optional<udp_endpoint> restore_to);

  state step(const traversal_time& now, wg_control& wg);

  state current() const noexcept { return state_; }
  // The type of the candidate that got a handshake (after success).
  std::optional<connection_type> connection() const noexcept {
    return connection_;
  }
  std::optional<udp_endpoint> winner() const noexcept { return winner_; }
  const std::string& pubkey() const noexcept { return pubkey_; }
  attempt_kind kind() const noexcept { return kind_; }
  const std::vector<candidate>& candidates() const noexcept {
    return candidates_;
  }
  // Why candidates were skipped or the attempt failed (for logs).
  const std::vector<std::string>& notes() const noexcept { return notes_; }
  // "NAT traversal failed for peer <key>: exhausted all candidates".
  std::string failure_text() const;

private:
  bool begin_next(const traversal_time& now, wg_control& wg);

  std::string pubkey_;
  std::vector<candidate> candidates_;
  attempt_kind kind_;
  std::chrono::milliseconds timeout_;
  std::optional<udp_endpoint> restore_to_;
  std::size_t next_ = 0;
  bool in_flight_ = false;
  std::uint64_t since_ = 0;
  std::chrono::milliseconds deadline_{0};
  state state_ = state::running;
  std::optional<connection_type> connection_;
  std::optional<udp_endpoint> winner_;
  std::vector<std::string> notes_;
};

} // namespace overlayd::stun
