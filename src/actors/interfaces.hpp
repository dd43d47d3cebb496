#pragma once

// Every typed actor interface of the engine, in one place, so that each
// actor can talk to the others without including their implementations
// (notes/style.md lesson 1). Roles in CAPS in the comments.

#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/atoms.hpp"
#include "actors/driver_job.hpp"

namespace overlayd::actors {

/// SUPERVISOR: the engine's front door. Routes each IPC request to the
/// actor owning its resource and keeps the ordering rules of design §3.
using supervisor_actor = caf::typed_actor<
  /// Runs one request. Never fails at the CAF level: engine errors come
  /// back as an `err` response with the reference's message.
  caf::replies_to<ipc_call>::with<ipc_reply>>;

/// IPC_SERVER: connections of the listening socket and the order in which
/// their responses leave.
using ipc_server_actor = caf::typed_actor<
  /// Input from one connection, in the order it was read.
  caf::reacts_to<atom::inbound, conn_id, inbound>,
  /// Input from several connections, each in the order it was read.
  caf::reacts_to<atom::inbound, inbound_batch>,
  /// The connection is closed; drop its state.
  caf::reacts_to<atom::gone, conn_id>>;

/// TRANSPORT: one WireGuard scope (the global device, or one dedicated
/// service device). It runs the scope's fast requests (peer operations,
/// `status`, DNS records) against the orchestration core; they take only
/// the core's scope lock, so they never wait behind host work.
using transport_actor = caf::typed_actor<
  /// Runs one fast request; engine errors are `err` responses.
  caf::replies_to<atom::scope_run, ipc_call>::with<ipc_reply>>;

/// DRIVER_WORKER: runs blocking host-driver calls on its own thread
/// (spawned `caf::detached`), one job at a time.
using driver_worker_actor = caf::typed_actor<
  /// Runs the job; a driver failure is a value in the outcome.
  caf::replies_to<atom::drv_run, driver_job>::with<driver_outcome>,
  /// This worker's counters.
  caf::replies_to<atom::drv_stats>::with<driver_worker_stats>>;

/// DRIVER_POOL: the front of a few driver workers. Jobs on the same
/// resource run in arrival order, others in parallel (design §3).
using driver_pool_actor = caf::typed_actor<
  /// Queues the job behind earlier jobs on its resource and answers with
  /// its outcome once a worker has run it.
  caf::replies_to<atom::drv_run, driver_job>::with<driver_outcome>,
  /// Every worker's counters and the pool's queue.
  caf::replies_to<atom::drv_stats>::with<driver_pool_stats>>;

} // namespace overlayd::actors
