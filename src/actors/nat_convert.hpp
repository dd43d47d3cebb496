#pragma once

// Between the IPC's NAT types (ipc/messages.hpp) and the NAT engine's
// (src/stun): the same fields under two spellings, kept apart so that
// neither module depends on the other.

#include <vector>

#include "ipc/messages.hpp"
#include "stun/candidate.hpp"
#include "stun/nat_config.hpp"
#include "stun/nat_engine.hpp"

namespace overlayd::actors {

/// `NatConfigSpec` -> the engine's config (zero/empty fields take the
/// reference's defaults; the relay credential kept apart).
stun::converted_nat_config to_stun_config(const ipc::nat_config_spec& spec);

/// A peer's advertised candidates, unparsed (the engine drops what does
/// not parse, as the reference's `wire_to_candidate`).
std::vector<stun::candidate_wire>
to_stun_candidates(const std::vector<ipc::nat_candidate_wire>& wire);

/// The engine's snapshot as `NatStatusWire`.
ipc::nat_status_wire to_status_wire(const stun::nat_status& status);

} // namespace overlayd::actors
