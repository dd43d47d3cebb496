#pragma once

// WireGuard's DoS defence (whitepaper section 5.4.7): mac1 proves the
// sender knows our public key, mac2 proves it can receive at its source
// address (a cookie we handed out), and under load a per-source rate limit.

#include "wg/clock.hpp"
#include "wg/crypto.hpp"
#include "wg/endpoint.hpp"
#include "wg/key.hpp"

#include <array>
#include <cstdint>
#include <mutex>
#include <span>
#include <unordered_map>

namespace overlayd::wg {

inline constexpr auto cookie_refresh_time = std::chrono::seconds(120);

/// Offsets of mac1/mac2 in a handshake message: the last 32 bytes.
inline std::size_t mac1_offset(std::size_t message_size) {
  return message_size - 32;
}
inline std::size_t mac2_offset(std::size_t message_size) {
  return message_size - 16;
}

/// Responder side, for our own static key: verifies mac1/mac2 of incoming
/// handshake messages and builds cookie replies. Thread-safe.
class cookie_checker {
public:
  /// Derives the mac1 and cookie keys from our public key.
  void set_public_key(const key& our_public);
  bool check_mac1(std::span<const uint8_t> msg) const;
  /// True when mac2 carries the cookie we would give `source` now.
  bool check_mac2(std::span<const uint8_t> msg, const endpoint& source,
                  clock::time_point now);
  /// A 64-byte cookie reply to `msg` (which passed mac1) for `source`.
  std::array<uint8_t, 64> make_reply(std::span<const uint8_t> msg,
                                     const endpoint& source,
                                     clock::time_point now);

private:
  crypto::mac_tag cookie_for(const endpoint& source, clock::time_point now);

  crypto::digest mac1_key_{};
  crypto::digest cookie_key_{};
  std::mutex mu_; // guards the rotating secret
  crypto::digest secret_{};
  std::optional<clock::time_point> secret_set_;
};

/// Initiator side, for one peer's public key: stamps mac1/mac2 on outgoing
/// handshake messages and consumes that peer's cookie replies. Guarded by
/// the peer's lock.
class cookie_generator {
public:
  void set_peer_key(const key& peer_public);
  /// Fills mac1 and (with a fresh cookie) mac2 of `msg` in place.
  void add_macs(std::span<uint8_t> msg, clock::time_point now);
  /// Decrypts a cookie reply to our last message; false if it is not one.
  bool consume_reply(std::span<const uint8_t> reply, clock::time_point now);
  bool has_fresh_cookie(clock::time_point now) const;

private:
  crypto::digest mac1_key_{};
  crypto::digest cookie_key_{};
  std::optional<crypto::mac_tag> last_mac1_;
  crypto::mac_tag cookie_{};
  std::optional<clock::time_point> cookie_set_;
};

/// Token bucket per source address (IPv6 by /64): 20 packets per second
/// with a burst of 5, as the kernel and wireguard-go allow handshakes under
/// load. Thread-safe.
class rate_limiter {
public:
  static constexpr int packets_per_second = 20;
  static constexpr int packets_burstable = 5;

  bool allow(const ip_address& source, clock::time_point now);
  std::size_t tracked_sources() const;

private:
  struct bucket {
    int64_t tokens_ns = 0;
    clock::time_point last;
  };
  void collect_garbage(clock::time_point now);

  mutable std::mutex mu_;
  std::unordered_map<ip_address, bucket> buckets_;
  std::optional<clock::time_point> last_gc_;
};

} // namespace overlayd::wg
