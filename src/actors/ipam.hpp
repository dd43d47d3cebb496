#pragma once

// IPAM actor: owns every allocator of the node so that none needs a lock
// (design §3). It wraps the plain `overlayd::ipam` library; the supervisor
// is its only client.

#include <filesystem>
#include <optional>

#include "actors/interfaces.hpp"
#include "ipam/node_slice.hpp"
#include "ipam/port_allocator.hpp"

namespace overlayd::actors {

struct ipam_state {
  explicit ipam_state(ipam_actor::stateful_pointer<ipam_state> self)
    : self(self) {
    // nop
  }

  ipam_actor::stateful_pointer<ipam_state> self;
  /// `{data_dir}/agent_network.json` lives here.
  std::filesystem::path data_dir;
  /// Bound to 10.200.0.0/16 until `setup_global_overlay` brings a slice.
  ipam::node_slice_allocator slice;
  /// Seeded from the marker at start, so a dedicated service re-binds the
  /// port it had before a restart.
  ipam::dedicated_port_allocator ports;

  static inline const char* name = "overlayd.ipam";
};

/// @param data_dir Where the network-state marker is read from.
ipam_actor::behavior_type ipam(ipam_actor::stateful_pointer<ipam_state> self,
                               std::filesystem::path data_dir);

} // namespace overlayd::actors
