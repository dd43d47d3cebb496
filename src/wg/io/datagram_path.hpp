#pragma once

// overlayd::wg::datagram_path - a way other than the device's own UDP
// sockets to carry WireGuard datagrams to some endpoints.
//
// The device normally sends every datagram with sendmmsg on its sockets.
// A path installed with device::set_datagram_path() may claim endpoints
// (for example the address of a peer's relay allocation): datagrams to a
// claimed endpoint are handed to the path one at a time, never coalesced
// into a GSO super-datagram, and the path carries them however it likes.
// The way back in is device::inject_datagram(), which treats a datagram as
// if a socket had received it from the given endpoint (handshakes, roaming,
// TUN writes all behave the same).
//
// Nothing here knows about relays or STUN: src/stun implements the
// interface over its relay clients.

#include "wg/endpoint.hpp"

#include <cstdint>
#include <span>

namespace overlayd::wg {

/// One datagram for datagram_path::send_batch().
struct outgoing_datagram {
  endpoint to;
  std::span<const std::uint8_t> bytes;
};

/// A datagram some other path received, for device::inject_datagrams().
struct injected_datagram {
  endpoint from;
  std::span<const std::uint8_t> bytes;
};

class datagram_path {
public:
  virtual ~datagram_path() = default;

  /// True when datagrams to `to` must go through this path instead of the
  /// UDP sockets. Called from the device's data-path threads, concurrently
  /// and often (once per datagram to a claimed endpoint), so it must be
  /// cheap and must not block.
  virtual bool claims(const endpoint& to) = 0;

  /// Carries one datagram to `to` (an endpoint claims() accepted). Called
  /// from data-path threads, concurrently; the bytes are valid only during
  /// the call. Must not block for long; dropping is allowed (WireGuard
  /// recovers as from any loss).
  virtual void send(const endpoint& to, std::span<const std::uint8_t> datagram)
    = 0;

  /// What the device calls at each flush with every datagram the path
  /// claimed since the last one, in order; a path may override it to send
  /// them with fewer system calls. Same rules as send().
  virtual void send_batch(std::span<const outgoing_datagram> batch) {
    for (const auto& d : batch)
      send(d.to, d.bytes);
  }
};

} // namespace overlayd::wg
