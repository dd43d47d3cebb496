#pragma once

// How the daemon gets its nat_ticker: the supervisor spawns it lazily (on
// the first `nat_tick`, or when the global overlay is set up in standalone
// self-tick mode) through a `nat_wiring`, so that the port and config the
// reference's first tick would see are the ones it starts with.
//
// What the real wiring puts together (design §3):
// - `stun::nat_runtime` does the blocking work (STUN, gathering, relay
//   clients and their refreshes) on the ticker's own thread (detached).
// - The relay SERVER is the `relay_server` actor's, not the runtime's
//   built-in one: the first tick asks the actor to start it, and the
//   actor owns its sockets and sessions until it exits (it is stopped
//   when the ticker goes). nat_runtime's own server is never started.
// - Traversal drives the global device through `nat_global_device`, which
//   finds the device by name (it may come and go with setup/teardown) and
//   attaches the relay path (stun::relay_path) to it as a device
//   attachment: the control closes it before the device stops, the ticker
//   before the runtime goes. Endpoint changes are punches: the peer is
//   re-created so that an initiation leaves for the candidate at once.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include <caf/actor_system.hpp>

#include "actors/nat_global_device.hpp"
#include "actors/nat_ticker.hpp"
#include "overlay/wg_control.hpp"

namespace overlayd::actors {

struct nat_wiring {
  /// Spawns a ticker for the global device on `wg_port`, configured with
  /// what `setup_global_overlay` recorded (nullopt: the Default config).
  /// Empty: NAT requests are answered by the core (no NAT runtime).
  std::function<nat_ticker_actor(std::uint16_t wg_port,
                                 std::optional<stun::converted_nat_config>)>
    spawn;
  /// The global device's name, kept current by the supervisor.
  std::shared_ptr<global_device_name> device_name
    = std::make_shared<global_device_name>();
  /// Standalone mode: tick every `stun_refresh_interval_secs` without
  /// being asked.
  bool self_tick = false;
};

/// The real thing: STUN over UDP and relay clients (stun::nat_runtime), the
/// relay server in a `relay_server` actor, traversal and the relay path on
/// the global device of `wg`. The ticker runs detached.
nat_wiring make_device_nat_wiring(caf::actor_system& sys,
                                  overlay::wg_control& wg, bool self_tick);

} // namespace overlayd::actors
