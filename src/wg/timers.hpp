#pragma once

// WireGuard's protocol constants (whitepaper section 6) and the per-peer
// timer bookkeeping. Timers are deadlines on the engine's monotonic clock;
// the engine fires the due ones from on_timer().

#include "wg/clock.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>

namespace overlayd::wg {

namespace limits {

using namespace std::chrono_literals;

inline constexpr uint64_t rekey_after_messages = uint64_t{1} << 60;
// 2^64 - 2^13 - 1: the window must never wrap past the counter space.
inline constexpr uint64_t reject_after_messages
  = std::numeric_limits<uint64_t>::max() - (uint64_t{1} << 13);
inline constexpr std::chrono::seconds rekey_after_time = 120s;
inline constexpr std::chrono::seconds reject_after_time = 180s;
inline constexpr std::chrono::seconds rekey_attempt_time = 90s;
inline constexpr std::chrono::seconds rekey_timeout = 5s;
inline constexpr std::chrono::seconds keepalive_timeout = 10s;
inline constexpr int max_timer_handshakes = 90 / 5;
inline constexpr uint32_t rekey_timeout_jitter_max_ms = 334;
inline constexpr std::size_t max_staged_packets = 128;

} // namespace limits

/// A point in time or none: std::optional's interface in 8 bytes instead
/// of 16 (a peer has six of these, and a device may have 65,536 peers).
/// time_point::min() stands for "none"; no clock reaches it.
class optional_time_point {
public:
  using time_point = clock::time_point;

  optional_time_point() = default;
  optional_time_point(std::nullopt_t) {
    // nop
  }
  optional_time_point(time_point t) : t_(t) {
    // nop
  }
  optional_time_point& operator=(time_point t) {
    t_ = t;
    return *this;
  }

  bool has_value() const { return t_ != none(); }
  explicit operator bool() const { return has_value(); }
  time_point operator*() const { return t_; }
  void reset() { t_ = none(); }
  operator std::optional<time_point>() const {
    return has_value() ? std::optional<time_point>{t_} : std::nullopt;
  }

private:
  static constexpr time_point none() { return time_point::min(); }
  time_point t_ = none();
};

/// Deadlines and counters of one peer (guarded by the peer lock). The
/// on_* methods are the events of wireguard-go's timers.go.
struct peer_timers {
  using time_point = clock::time_point;

  optional_time_point retransmit_handshake;
  optional_time_point send_keepalive;
  optional_time_point new_handshake;
  optional_time_point zero_key_material;
  optional_time_point persistent_keepalive;
  int handshake_attempts = 0;
  bool need_another_keepalive = false;
  bool sent_last_minute_handshake = false;
  optional_time_point last_sent_handshake;

  /// REKEY_TIMEOUT plus 0..333 ms of jitter, so peers that lost packets
  /// together do not retry in lockstep.
  static std::chrono::nanoseconds rekey_timeout_with_jitter();

  void on_data_sent(time_point now);
  void on_data_received(time_point now);
  void on_any_authenticated_packet_sent();
  void on_any_authenticated_packet_received();
  void on_any_authenticated_packet_traversal(time_point now,
                                             uint16_t keepalive_interval);
  void on_handshake_initiated(time_point now);
  void on_handshake_complete();
  void on_session_derived(time_point now);
  /// Earliest pending deadline.
  std::optional<time_point> earliest() const;
  void stop_all();
};

} // namespace overlayd::wg
