#pragma once

// TRANSPORT: one WireGuard scope. The global transport exists from the
// start, before its device, because the reference accepts global peer
// operations without a device: it skips the device work, answers `ok` and
// still mirrors the peer so guest configs can reproduce the peer set.
// The userspace WireGuard device (src/wg) plugs in here with its issue.

#include <map>
#include <string>
#include <vector>

#include "actors/interfaces.hpp"

namespace overlayd::actors {

struct transport_state {
  explicit transport_state(
    transport_actor::stateful_pointer<transport_state> self)
    : self(self) {
    // nop
  }

  transport_actor::stateful_pointer<transport_state> self;
  /// Peers by public key, as last added (`global_peers`).
  std::map<std::string, ipc::peer_spec> peers;
  /// Usable NAT candidates by public key; keys without any are absent.
  std::map<std::string, std::vector<ipc::nat_candidate_wire>> candidates;

  static inline const char* name = "overlayd.transport";
};

/// The candidates of `spec` that the NAT code can use: a known type and a
/// literal socket address. The reference drops the others silently.
std::vector<ipc::nat_candidate_wire>
usable_candidates(const std::vector<ipc::nat_candidate_wire>& wire);

/// The global transport, still without a device.
transport_actor::behavior_type
transport(transport_actor::stateful_pointer<transport_state> self);

} // namespace overlayd::actors
