#pragma once

// The actor-system settings every engine (and every actor test) uses.

#include <cstddef>

#include <caf/fwd.hpp>

namespace overlayd::actors {

/// Registers the type-ID block and the error renderer, and sets the
/// number of scheduler threads (0: the number of CPUs, at least 2).
void configure(caf::actor_system_config& cfg, std::size_t workers);

} // namespace overlayd::actors
