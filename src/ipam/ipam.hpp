#pragma once

// Everything the ipam module offers, for callers that want it all (the
// ipam actor). Each header stands alone as well.

#include "ipam/bridge_pool.hpp"     // per-bridge and dedicated pools
#include "ipam/error.hpp"           // ipam::error, ipam::result<T>
#include "ipam/interface_name.hpp"  // make_interface_name, veth names
#include "ipam/network_state.hpp"   // agent_network.json marker
#include "ipam/node_slice.hpp"      // the node's slice of the overlay
#include "ipam/port_allocator.hpp"  // dedicated WireGuard ports
#include "ipam/siphash.hpp"         // Rust DefaultHasher
#include "ipam/subnet_registry.hpp" // per-service subnets
