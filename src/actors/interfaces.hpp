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

/// IPAM: the node-slice allocator, bridge pools, the service-subnet
/// registry, dedicated ports and the marker file.
using ipam_actor = caf::typed_actor<
  /// Hands out an address for `service`. The flag says the service runs in
  /// Shared mode (draws from the shared bridge when there is one).
  caf::replies_to<atom::allocate, std::string, bool>::with<net::ip_address>,
  /// Returns an address to the first pool containing it (always succeeds).
  caf::reacts_to<atom::release, net::ip_address>,
  /// Rebinds the node-slice allocator to a slice, resetting its state;
  /// answers the node IP (network + 1).
  caf::replies_to<atom::rebind, net::cidr>::with<net::ip_address>>;

/// TRANSPORT: one WireGuard scope (the global device, or one dedicated
/// service device): its peers, their allowed IPs and NAT candidates.
using transport_actor = caf::typed_actor<
  /// Adds or updates a peer.
  caf::reacts_to<atom::add_peer, ipc::peer_spec>,
  /// Removes a peer by its base64 public key.
  caf::reacts_to<atom::remove_peer, std::string>,
  /// Adds a CIDR to a peer's allowed IPs (public key, CIDR text).
  caf::reacts_to<atom::add_allowed, std::string, std::string>,
  /// Removes a CIDR from a peer's allowed IPs (public key, CIDR text).
  caf::reacts_to<atom::rm_allowed, std::string, std::string>,
  /// What the transport holds now.
  caf::replies_to<atom::snapshot>::with<transport_snapshot>>;

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
