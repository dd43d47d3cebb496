#pragma once

// SUPERVISOR: routes every IPC request to the actor that owns its resource
// and never blocks (design §3). Per-connection response order is the
// `ipc_server`'s job; the supervisor keeps the other three rules with a
// `request_gate`: same resource in arrival order, different resources
// concurrently, global operations as barriers.
//
// How later issues plug in (nothing here ever blocks):
// - a request's resource comes from `resource_of` (request_resource.hpp);
// - its handler in supervisor.cpp's `dispatcher` either answers at once or
//   sends to a child with `request(...).then(...)` and calls `finish` from
//   the reply handlers; the gate keeps the resource held until then, so a
//   multi-step flow (ipam -> driver worker -> transport) is one job;
// - the global transport gets its `wg::device` (the WireGuard issue);
//   dedicated transports go into `dedicated`, one actor per service;
// - the NAT ticker joins `supervisor_children` and serves `nat_tick` /
//   `nat_status` (the NAT issue);
// - blocking host calls (netlink, setns, sysctl, firewall execs) go to a
//   small pool of `driver_worker` actors spawned `caf::detached`, so a slow
//   bridge or veth never stalls a scheduler thread (the drivers issue);
// - `shutdown`'s teardown runs in the barrier, in reverse order of setup.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>

#include <caf/typed_response_promise.hpp>

#include "actors/interfaces.hpp"
#include "actors/request_gate.hpp"
#include "ipc/messages.hpp"

namespace overlayd::actors {

/// The actors the supervisor delegates to. Tests pass mocks.
struct supervisor_children {
  ipam_actor ipam;
  /// The cluster-wide scope; exists even before the device does, because
  /// the reference mirrors global peers without a device.
  transport_actor global_transport;
};

/// What `setup_global_overlay` configured; `status` reports it.
struct global_overlay_state {
  std::string deployment;
  std::string instance_id;
  /// The reference starts with 10.200.0.0/16, so a fresh `status` already
  /// reports it.
  std::string cluster_cidr = "10.200.0.0/16";
  std::optional<std::string> slice_cidr;
  std::optional<net::ip_address> node_ip;
  /// The device's name and key, once a device exists.
  std::optional<std::string> interface;
  std::optional<std::string> public_key;
};

struct supervisor_state {
  explicit supervisor_state(
    supervisor_actor::stateful_pointer<supervisor_state> self)
    : self(self) {
    // nop
  }

  supervisor_actor::stateful_pointer<supervisor_state> self;
  supervisor_children kids;

  // -- node identity (set_local_node_id / set_local_wg_pubkey) --------------

  uint64_t local_node_id = 0;
  std::optional<std::string> local_wg_pubkey;

  // -- engine state that is not owned by a child ----------------------------

  global_overlay_state global;
  /// Recorded by `setup_service_overlay`; unknown services count as Auto.
  std::map<std::string, ipc::overlay_mode> service_modes;
  /// Dedicated transports by service (none until the WireGuard issue).
  std::map<std::string, transport_actor> dedicated;
  /// `register_dns` records (the reference serves no DNS from them).
  std::map<std::string, net::ip_address> dns_records;

  // -- ordering -------------------------------------------------------------

  struct job {
    ipc::request request;
    caf::typed_response_promise<ipc_reply> promise;
  };

  request_gate gate;
  std::unordered_map<request_gate::ticket, job> jobs;
  /// Set once `shutdown` has been answered; later requests are refused.
  bool shutting_down = false;

  static inline const char* name = "overlayd.supervisor";

  /// Registers a request and starts it if its resource is free.
  void submit(ipc::request request,
              caf::typed_response_promise<ipc_reply> promise);

  /// Answers job `id` and starts whatever its completion unblocks.
  void finish(request_gate::ticket id, ipc::response response);

private:
  void run(request_gate::ticket id);
};

/// Spawned with its children already running; links to them so that they
/// share its fate.
supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           supervisor_children kids);

} // namespace overlayd::actors
