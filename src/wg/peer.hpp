#pragma once

#include "wg/allowed_ips.hpp"
#include "wg/clock.hpp"
#include "wg/cookie.hpp"
#include "wg/endpoint.hpp"
#include "wg/key.hpp"
#include "wg/keypair.hpp"
#include "wg/noise.hpp"
#include "wg/timers.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

namespace overlayd::wg {

/// A peer's handshake machinery: the secrets derived from both static keys
/// (including the static-static DH), the handshake in progress and the
/// cookie state. Allocated on the peer's first handshake and kept from then
/// on (it carries the replay and flood state of initiations), so the many
/// configured peers that never talk cost ~450 bytes less each.
struct peer_handshake {
  explicit peer_handshake(const key& remote_static) {
    secrets.remote_static = remote_static;
    cookies.set_peer_key(remote_static);
  }

  noise::peer_secrets secrets;
  // False until the secrets match the device's current identity.
  bool secrets_current = false;
  noise::handshake handshake;
  cookie_generator cookies;
};

/// One configured peer. Everything but the byte counters is guarded by
/// `mu`; the engine takes its table lock before `mu`, and `mu` before its
/// index-table lock.
struct peer : std::enable_shared_from_this<peer> {
  explicit peer(const key& public_key) : public_key(public_key) {
    // nop
  }
  ~peer() { preshared.wipe(); }

  /// The handshake state for `self`, created (and the static-static DH
  /// computed) on first use. Caller holds `mu`.
  peer_handshake& handshake_for(const noise::identity& self) {
    if (!hs)
      hs = std::make_unique<peer_handshake>(public_key);
    if (!hs->secrets_current) {
      hs->secrets.recompute(self);
      hs->secrets_current = true;
    }
    hs->secrets.preshared = preshared;
    return *hs;
  }

  const key public_key;
  std::mutex mu;

  // This peer's allowed IPs, masked, in insertion order. Guarded by the
  // engine's table lock (like the trie), not by `mu`; kept so removing or
  // replacing them costs O(own prefixes), not a walk of the whole trie.
  std::vector<allowed_ip> prefixes;

  key preshared; // all zero when none is configured
  std::optional<wg::endpoint> endpoint;
  uint16_t persistent_keepalive = 0;

  // Null until the first handshake (see peer_handshake).
  std::unique_ptr<peer_handshake> hs;

  // previous: still accepted for receiving after a rotation; current: used
  // for sending; next: responder-side session awaiting key confirmation.
  std::shared_ptr<keypair> previous;
  std::shared_ptr<keypair> current;
  std::shared_ptr<keypair> next;

  peer_timers timers;
  // Packets waiting for a usable session, oldest first. A vector, not a
  // deque: an empty libstdc++ deque already allocates ~600 bytes, and with
  // 10,000 peers almost all queues are empty.
  std::vector<std::vector<uint8_t>> staged;
  std::optional<clock::wall_time_point> last_handshake;

  std::atomic<uint64_t> rx_bytes{0};
  std::atomic<uint64_t> tx_bytes{0};
};

} // namespace overlayd::wg
