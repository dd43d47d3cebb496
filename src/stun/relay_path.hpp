#pragma once

// stun::relay_path - the relay as a path of the WireGuard device itself.
//
// Design. Node A holds an allocation on relay server R whose relay address
// is RA (R's per-allocation socket, R's external IP); node B holds RB. Each
// advertises its relay address as a `relay` candidate (priority 10). To
// reach B over the relay, A points B's WireGuard endpoint at RB. A's device
// asks its datagram_path whether RB is "claimed": it is, because RB was
// registered as a peer relay address (add_peer_relay / add_peer_candidates)
// or because DATA from RB already arrived. So instead of a UDP send the
// datagram leaves as relay DATA to R with peer = RB, on the relay client's
// socket. R forwards it from RA to RB; B's relay client receives DATA with
// peer = RA and injects the datagram into B's device as if a socket had
// received it from RA. WireGuard roaming on B sets A's endpoint to RA, and
// B's replies to RA go back the same way through B's allocation.
//
// The relay delivers only from permitted IPs, in both directions, so every
// registered peer relay address gets a permission on one of our
// allocations (one on the same relay if we have it) at once, in the
// background: B can hear A before B itself sends anything. Datagrams to an
// address whose permission is still being created wait in a short queue;
// a failed permission is retried later and its datagrams are dropped
// meanwhile (WireGuard retransmits handshakes). When the runtime replaces
// its allocations (a new gather), every permission is created again.
//
// Only explicitly registered addresses are claimed, never "anything on the
// relay's IP": the relay's host may itself be a mesh member whose direct
// WireGuard endpoint shares that IP.
//
// Nothing here is a loopback proxy: no extra socket, no extra copy through
// the kernel, the relay client's own socket carries WireGuard datagrams.
//
// Plugging it in (the daemon's wiring):
//   stun::nat_runtime runtime(...);            // owns the relay clients
//   auto dev = wg::device::create(...);         // the WireGuard device
//   auto path = stun::make_relay_path(runtime, *dev);
//   ...
//   path->add_peer_candidates(cands);           // on add_peer with candidates
//   ...                                         // traversal sets endpoints
//   path.reset();                               // before runtime and device go
// The path takes nat_runtime's relay batch sink (DATA then no longer
// reaches on_relay_data). Destroy it before the
// runtime and the device; after its destructor neither is touched again.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stun/candidate.hpp"
#include "stun/nat_runtime.hpp"
#include "stun/net_address.hpp"
#include "wg/endpoint.hpp"

namespace overlayd::wg {
class device;
}

namespace overlayd::stun {

struct relay_path_options {
  // A failed permission is tried again after this long.
  std::chrono::milliseconds permission_retry{5000};
  // Datagrams kept per address while its permission is being created.
  std::size_t max_waiting = 16;
  std::function<void(const std::string&)> log;
};

struct relay_path_counters {
  std::uint64_t sent = 0;     // datagrams handed to the relay as DATA
  std::uint64_t received = 0; // DATA payloads injected into the device
  std::uint64_t dropped = 0;  // claimed datagrams that could not be sent
  std::uint64_t permissions = 0;
  std::uint64_t permission_failures = 0;
};

class relay_path {
public:
  // Installs the path on `device` and the sink on `runtime`.
  relay_path(nat_runtime& runtime, wg::device& device,
             relay_path_options options = {});
  // Uninstalls both and stops the permission worker.
  ~relay_path();
  relay_path(const relay_path&) = delete;
  relay_path& operator=(const relay_path&) = delete;

  // Registers a remote node's relay address: datagrams to it go over our
  // relay from now on, and its permission is requested in the background.
  // A loopback address is refused (false) unless it is on the same IP as
  // one of our own relay addresses: a remote node's loopback means nothing
  // here (what the reference's nodes advertise).
  bool add_peer_relay(const udp_endpoint& peer_relay);
  // The relay candidates among a peer's candidates, through
  // add_peer_relay; returns how many were taken.
  std::size_t add_peer_candidates(const std::vector<candidate>& candidates);
  // Stops claiming the address (the permission itself cannot be revoked).
  void remove_peer_relay(const udp_endpoint& peer_relay);

  // Whether datagrams to `ep` currently go over the relay.
  bool claims(const udp_endpoint& ep) const;
  // Whether `ep` has its permission and sends go straight out.
  bool ready(const udp_endpoint& ep) const;
  relay_path_counters counters() const;

  class impl;

private:
  std::shared_ptr<impl> impl_;
  nat_runtime* runtime_ = nullptr;
  wg::device* device_ = nullptr;
};

// The same as constructing one; for call sites that keep a unique_ptr.
std::unique_ptr<relay_path> make_relay_path(nat_runtime& runtime,
                                            wg::device& device,
                                            relay_path_options options = {});

// Conversions between the two address types (same bytes, no text).
udp_endpoint to_udp_endpoint(const wg::endpoint& ep);
wg::endpoint to_wg_endpoint(const udp_endpoint& ep);

} // namespace overlayd::stun
