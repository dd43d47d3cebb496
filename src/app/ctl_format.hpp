#pragma once

// Human-readable tables for `overlayctl status` and `nat-status`.

#include <cstdint>
#include <string>

#include "ipc/messages.hpp"

namespace overlayd::app {

/// Key/value lines for the node, then a peer table and a dedicated-service
/// table when there are any. Absent values print as "-".
std::string format_status(const ipc::status_snapshot& s);

/// Last refresh (with its age relative to `now_unix`), local candidates
/// and per-peer connection types.
std::string format_nat_status(const ipc::nat_status_wire& s, int64_t now_unix);

/// A table with left-aligned columns separated by two spaces.
std::string format_table(const std::vector<std::vector<std::string>>& rows);

} // namespace overlayd::app
