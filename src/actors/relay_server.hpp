#pragma once

// RELAY_SERVER: owns the built-in relay server (nat.md §5). The server runs
// its own epoll thread, so no handler here blocks for longer than a bind
// or a thread join.

#include <optional>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/atoms.hpp"
#include "stun/relay_server.hpp"

namespace overlayd::actors {

/// The answer to a start request: the bound address, or why it failed.
struct relay_started {
  std::optional<stun::udp_endpoint> address;
  std::string error;
};

} // namespace overlayd::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::relay_started)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::stun::relay_server_stats)

namespace overlayd::actors {

/// RELAY_SERVER interface.
using relay_server_actor = caf::typed_actor<
  /// Starts the relay with the spawn options on the first request; later
  /// requests answer the same address. After a failure (or a stop) the
  /// next request tries again.
  caf::replies_to<atom::relay_up>::with<relay_started>,
  /// Counters and live sessions (zeros when not running).
  caf::replies_to<atom::relay_stat>::with<stun::relay_server_stats>,
  /// Stops the relay and closes every socket; idempotent. Exiting the
  /// actor does the same.
  caf::replies_to<atom::relay_down>::with<bool>>;

relay_server_actor spawn_relay_server(caf::actor_system& sys,
                                      stun::relay_server_options options);

} // namespace overlayd::actors
