#pragma once

// SUPERVISOR: routes every IPC request to the actor that owns its work and
// never blocks (design §3). Per-connection response order is the
// `ipc_server`'s job; the supervisor keeps the other three rules with a
// `request_gate`: same resource in arrival order, different resources
// concurrently, global operations as barriers.
//
// Where each request goes:
// - host work (node identity, global and service setup/teardown, address
//   allocation, attach/detach, prune, shutdown) runs the orchestration
//   core on the `driver_pool`, whose workers are detached threads, so a
//   slow netlink, setns, sysctl or iptables call never stalls a scheduler
//   thread;
// - peer operations go to their scope's `transport`: the global one, or
//   the dedicated service's own transport once its setup succeeded;
// - `status`, DNS records and the scoped-resolver calls go to the global
//   transport (they read the scopes, never the host);
// - `nat_tick` and `nat_status` go to the `nat_ticker` (its own thread),
//   which also hears of the NAT config and of global peers' candidates
//   once the core has accepted them.
// The core's own locks keep host work and scope work apart, so a peer
// change is answered while a bridge is still being created.

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

#include <caf/typed_response_promise.hpp>

#include "actors/interfaces.hpp"
#include "actors/nat_wiring.hpp"
#include "actors/request_gate.hpp"
#include "ipam/port_allocator.hpp"
#include "ipc/messages.hpp"

namespace overlayd::overlay {
class engine;
} // namespace overlayd::overlay

namespace overlayd::actors {

/// The actors and the core the supervisor delegates to. Tests pass doubles
/// for the actors.
struct supervisor_children {
  /// The orchestration core; outlives the actor system.
  overlay::engine* core = nullptr;
  /// Runs host work on detached worker threads.
  driver_pool_actor drivers;
  /// The cluster-wide scope; exists before its device does.
  transport_actor global_transport;
  /// How to start NAT traversal; without it the core answers `nat_tick`
  /// and `nat_status` as the reference without a NAT runtime.
  nat_wiring nat;
};

struct supervisor_state {
  explicit supervisor_state(
    supervisor_actor::stateful_pointer<supervisor_state> self)
    : self(self) {
    // nop
  }

  supervisor_actor::stateful_pointer<supervisor_state> self;
  supervisor_children kids;
  /// One transport per dedicated service whose setup succeeded. Dropping a
  /// handle ends the actor once its mailbox is empty.
  std::map<std::string, transport_actor> dedicated;

  // -- ordering -------------------------------------------------------------

  struct job {
    ipc::request request;
    caf::typed_response_promise<ipc_reply> promise;
  };

  request_gate gate;
  std::unordered_map<request_gate::ticket, job> jobs;
  /// Set once `shutdown` has been answered; later requests are refused.
  bool shutting_down = false;

  // -- NAT -------------------------------------------------------------------

  /// Spawned on the first `nat_tick` (or, self-ticking, with the global
  /// overlay); linked, so it ends with the supervisor.
  nat_ticker_actor nat_ticker;
  /// The WireGuard port the first tick gathers with: the last one
  /// `setup_global_overlay` asked for (the reference's DEFAULT_WG_PORT
  /// before that).
  std::uint16_t overlay_port = ipam::default_wg_port;

  static inline const char* name = "overlayd.supervisor";

  /// Registers a request and starts it if its resource is free.
  void submit(ipc::request request,
              caf::typed_response_promise<ipc_reply> promise);

  /// Answers job `id` and starts whatever its completion unblocks.
  void finish(request_gate::ticket id, ipc::response response);

private:
  void run(request_gate::ticket id);
};

/// The NAT ticker, spawned (configured with the core's NAT config and fed
/// every known peer's candidates) if it does not exist yet.
const nat_ticker_actor&
ensure_nat_ticker(supervisor_actor::stateful_pointer<supervisor_state> self);

/// Spawned with its children already running; links to them so that they
/// share its fate.
supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           supervisor_children kids);

} // namespace overlayd::actors
