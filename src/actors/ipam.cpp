#include "actors/ipam.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "ipam/network_state.hpp"

namespace overlayd::actors {

namespace {

caf::error to_caf(const overlayd::ipam::error& e) {
  return e.kind == overlayd::ipam::wire_kind::overlay
           ? make_overlay_error(e.message)
           : make_other_error(e.message);
}

} // namespace

ipam_actor::behavior_type ipam(ipam_actor::stateful_pointer<ipam_state> self,
                               std::filesystem::path data_dir) {
  auto& st = self->state;
  st.data_dir = std::move(data_dir);
  // The reference reads the marker once at start and tolerates any
  // problem with it (a missing or broken file is the empty state).
  std::optional<overlayd::ipam::error> problem;
  auto marker = overlayd::ipam::load_marker(
    overlayd::ipam::marker_path(st.data_dir), &problem);
  if (problem)
    spdlog::warn("ignoring the network-state marker: {}", problem->message);
  auto ports = marker.dedicated_ports();
  st.ports = overlayd::ipam::dedicated_port_allocator{
    overlayd::ipam::default_wg_port, ports};
  return {
    [self](atom::allocate, const std::string& service,
           bool shared) -> caf::result<net::ip_address> {
      // Bridge pools join here with the bridge issue; until a bridge
      // exists every service draws from the node slice, as the
      // reference does.
      (void)service;
      (void)shared;
      auto ip = self->state.slice.allocate();
      if (!ip)
        return to_caf(ip.error());
      return *ip;
    },
    [self](atom::release, const net::ip_address& ip) {
      self->state.slice.release(ip);
    },
    [self](atom::rebind, const net::cidr& slice) -> net::ip_address {
      self->state.slice = overlayd::ipam::node_slice_allocator{slice};
      return self->state.slice.node_ip();
    },
  };
}

} // namespace overlayd::actors
