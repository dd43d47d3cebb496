#pragma once

// Container pids in a session are symbolic: the session header lists them
// (`processes`) and `linux_pid` handles name them. On the twin they are
// created as they are; on a real host each stands for a real process in a
// network namespace of its own, whose pid only exists at run time. A
// pid_map says which real pid replaces which symbolic one in the requests
// sent (answers never carry pids, so they are compared unchanged).

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include "net/expected.hpp"

namespace overlayd::replay {

/// Symbolic pid → pid of the process standing in for it.
using pid_map = std::map<std::uint32_t, std::uint32_t>;

/// Parses one `SYMBOLIC=REAL` mapping (both positive pids).
net::expected<std::pair<std::uint32_t, std::uint32_t>>
parse_pid_mapping(std::string_view text);

/// The request body with the pid of every `linux_pid` handle mapped; the
/// unchanged bytes when nothing maps (or the body is not JSON).
std::string substitute_pids(const std::string& request_body,
                            const pid_map& pids);

} // namespace overlayd::replay
