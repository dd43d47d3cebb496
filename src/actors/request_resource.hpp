#pragma once

// Which resource each IPC request holds while it runs (design §3): the
// supervisor's `request_gate` orders requests by it.

#include "actors/request_gate.hpp"
#include "ipc/messages.hpp"

namespace overlayd::actors {

/// - setup/teardown of the global overlay, `shutdown` and
///   `prune_orphan_bridges` (which looks at every bridge) are barriers;
/// - service setup/teardown, `allocate_ip` and service-scoped peer
///   operations hold `service:<name>`, so a peer added right after a
///   dedicated setup sees its device;
/// - global-scope peer operations hold `peer:<public key>`;
/// - attach/detach hold the container handle, `release_ip` the address,
///   DNS records their name, the node identity `node`, a NAT tick `nat`;
/// - `status`, `nat_status` and the scoped-resolver calls hold nothing.
resource resource_of(const ipc::request& request);

} // namespace overlayd::actors
