#pragma once

// TRANSPORT: one WireGuard scope. The global transport exists from the
// start (the reference accepts global peer operations before the device
// exists and mirrors them for guest configs); each dedicated service gets
// its own once its setup succeeded.
//
// The devices themselves live behind the core's `wg_control`; a transport
// is the mailbox that serialises its scope's fast requests and keeps them
// off the driver workers, so a peer change never queues behind a slow
// bridge, veth or firewall call (design §3). Each request takes the core's
// scope lock only for its own device call.

#include <string>

#include "actors/interfaces.hpp"

namespace overlayd::overlay {
class engine;
} // namespace overlayd::overlay

namespace overlayd::actors {

struct transport_state {
  /// The orchestration core; outlives every actor (the embedding engine
  /// owns it and stops the actor system first).
  overlay::engine* core = nullptr;
  /// "global" or the service name, for logs.
  std::string scope;
  /// Requests this transport has answered.
  uint64_t handled = 0;

  static inline const char* name = "overlayd.transport";
};

/// A transport for `scope` over `core`.
transport_actor::behavior_type
transport(transport_actor::stateful_pointer<transport_state> self,
          overlay::engine* core, std::string scope);

} // namespace overlayd::actors
