#pragma once

// NAT_TICKER: the one owner of `stun::nat_engine` (NAT config, traversal
// state, local candidates, per-peer connection types). Everything the
// engine does that may block (STUN queries, relay start, WireGuard UAPI)
// runs inside this actor, so in the daemon it is spawned `caf::detached`:
// its own thread, never a scheduler thread (notes/style.md lesson 6).

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/atoms.hpp"
#include "stun/nat_engine.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::stun::converted_nat_config)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<overlayd::stun::candidate_wire>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::stun::nat_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::stun::status)

namespace overlayd::actors {

/// NAT_TICKER interface.
using nat_ticker_actor = caf::typed_actor<
  /// `setup_global_overlay`'s NAT part; takes effect on the first tick.
  caf::reacts_to<atom::nat_config, stun::converted_nat_config>,
  /// A peer's advertised candidates (public key, wire candidates).
  caf::reacts_to<atom::nat_cands, std::string,
                 std::vector<stun::candidate_wire>>,
  /// Forgets a peer's candidates, connection type and running attempt.
  caf::reacts_to<atom::nat_rmpeer, std::string>,
  /// One maintenance tick; answers once its STUN refresh is done, with the
  /// reference's error text as a value ("NAT maintenance tick failed: ...").
  caf::replies_to<atom::nat_tick>::with<stun::status>,
  /// `NatStatusWire` contents.
  caf::replies_to<atom::nat_status>::with<stun::nat_status>,
  /// Internal timers: the 1 s attempt poll and the standalone self-tick.
  caf::reacts_to<atom::nat_poll>, caf::reacts_to<atom::nat_self>>;

struct nat_ticker_options {
  std::uint16_t wg_port = 0;
  /// The blocking work (a `stun::nat_runtime`'s services, or fakes).
  stun::nat_services services;
  /// Keeps whatever backs `services` (e.g. the nat_runtime) alive.
  std::shared_ptr<void> services_owner;
  std::shared_ptr<stun::wg_control> wg;
  /// Applied before anything else (standalone mode's config file).
  std::optional<stun::converted_nat_config> initial_config;
  /// Standalone mode: tick at spawn, then every
  /// `stun_refresh_interval_secs` of the configured (or default) config.
  bool self_tick = false;
  /// Traversal's clock; empty = system clock + steady clock. Tests pass
  /// one derived from the deterministic scheduler's clock.
  std::function<stun::traversal_time()> clock;
  /// Told a peer's parsed candidates after each change (empty: forgotten),
  /// e.g. so the device's relay path carries the peer's relay addresses.
  std::function<void(const std::string&, const std::vector<stun::candidate>&)>
    peer_candidates_changed;
  /// Spawn on a private thread (the daemon). Tests with scripted,
  /// non-blocking services turn it off to use the testing scheduler.
  bool detached = true;
};

/// Spawns the ticker. Its own timers keep it alive, so its owner must link
/// to it or send it an exit; a tick occupies its mailbox until the STUN
/// refresh ends (at most about the STUN timeout), which is why it runs on
/// its own thread in the daemon.
nat_ticker_actor spawn_nat_ticker(caf::actor_system& sys,
                                  nat_ticker_options options);

} // namespace overlayd::actors
