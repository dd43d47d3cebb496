#pragma once

// The project's single CAF type-ID block (CAF 0.17.6 forward-compatible
// API, see notes/style.md lesson 2) and the message types that travel
// between actors. Atom texts are unique and at most 10 characters so that
// none collides with one of CAF's own atoms. The message types stay out of
// the block: they never leave the process, so they need no serialization
// and are only whitelisted below.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/type_id.hpp>

#include "actors/socket_server.hpp"
#include "ipc/messages.hpp"
#include "net/ip.hpp"

namespace overlayd::actors {

/// One IPC request travelling to the supervisor.
struct ipc_call {
  ipc::request request;
};

/// The supervisor's answer: always a wire response (errors are `err`).
struct ipc_reply {
  ipc::response response;
};

/// A request frame that decoded, with its wire id.
struct inbound_request {
  uint64_t id = 0;
  ipc::request request;
};

/// A request frame that did not decode but whose id is certain: it is
/// answered `err` under that id (ipc.md §1.8).
struct inbound_reject {
  uint64_t id = 0;
  std::string message;
};

/// The connection will deliver nothing more; once every earlier response
/// has left it is closed. `reason` is empty for a clean end of stream.
struct inbound_end {
  std::string reason;
};

/// What the I/O thread hands the `ipc_server` actor for one connection.
using inbound = std::variant<inbound_request, inbound_reject, inbound_end>;

/// Input from one connection, inside a batch.
struct inbound_item {
  conn_id conn = 0;
  inbound input;
};

/// Everything one wake-up of the I/O thread read, in reading order: one
/// mailbox hand-off (and at most one worker wake-up) for all of it.
struct inbound_batch {
  std::vector<inbound_item> items;
};

} // namespace overlayd::actors

// These types live only inside this process; they never need CAF's
// serialization, and `std::variant` has no 0.17 `inspect`.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::ipc_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::ipc_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::inbound)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::inbound_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::ipc::peer_spec)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::net::ip_address)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::net::cidr)

CAF_BEGIN_TYPE_ID_BLOCK(overlayd, caf::first_custom_type_id)

  // -- supervisor and IPC ----------------------------------------------------

  /// A decoded frame (or the end of the stream) from one connection.
  CAF_ADD_ATOM(overlayd, overlayd::atom, inbound, "ov_inbound")
  /// A connection is gone; forget its state.
  CAF_ADD_ATOM(overlayd, overlayd::atom, gone, "ov_gone")

  // -- scopes ----------------------------------------------------------------

  /// Run a fast request (peers, status, DNS) in a WireGuard scope's actor.
  CAF_ADD_ATOM(overlayd, overlayd::atom, scope_run, "ov_scope")
  /// Let go of work a test double holds back (deterministic tests).
  CAF_ADD_ATOM(overlayd, overlayd::atom, release, "ov_release")

  // -- driver workers --------------------------------------------------------

  /// Run a `driver_job` (on a pool: in its resource's order).
  CAF_ADD_ATOM(overlayd, overlayd::atom, drv_run, "ov_drvrun")
  /// A worker's or a pool's counters.
  CAF_ADD_ATOM(overlayd, overlayd::atom, drv_stats, "ov_drvstat")

  // -- NAT traversal and relay -----------------------------------------------

  /// Configure NAT traversal (`setup_global_overlay`'s `nat`).
  CAF_ADD_ATOM(overlayd, overlayd::atom, nat_config, "ov_natcfg")
  /// Replace a peer's NAT candidates.
  CAF_ADD_ATOM(overlayd, overlayd::atom, nat_cands, "ov_natcand")
  /// Forget a peer's NAT state.
  CAF_ADD_ATOM(overlayd, overlayd::atom, nat_rmpeer, "ov_natrm")
  /// One NAT maintenance tick.
  CAF_ADD_ATOM(overlayd, overlayd::atom, nat_tick, "ov_nattick")
  /// NAT status snapshot.
  CAF_ADD_ATOM(overlayd, overlayd::atom, nat_status, "ov_natstat")
  /// The ticker's 1 s attempt poll.
  CAF_ADD_ATOM(overlayd, overlayd::atom, nat_poll, "ov_natpoll")
  /// The ticker's standalone self-tick.
  CAF_ADD_ATOM(overlayd, overlayd::atom, nat_self, "ov_natself")
  /// Start the built-in relay server (first request binds).
  CAF_ADD_ATOM(overlayd, overlayd::atom, relay_up, "ov_relayup")
  /// The relay server's counters.
  CAF_ADD_ATOM(overlayd, overlayd::atom, relay_stat, "ov_relayst")
  /// Stop the relay server and close its sockets.
  CAF_ADD_ATOM(overlayd, overlayd::atom, relay_down, "ov_relaydn")

  // -- queries ---------------------------------------------------------------

  /// Read-only snapshot of an actor's state (tests, status).
  CAF_ADD_ATOM(overlayd, overlayd::atom, snapshot, "ov_snap")

CAF_END_TYPE_ID_BLOCK(overlayd)
