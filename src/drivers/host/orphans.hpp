#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace overlayd::drivers {

/// The container PID encoded in a container veth name: `veth-<pid>-<tag>`
/// (host end) or `vc-<pid>-<tag>` (peer end before the move). Like the
/// reference, the PID is the text up to the next '-' (or the end) and must
/// be a decimal number; anything else is not a container veth.
std::optional<std::uint32_t> container_veth_pid(std::string_view name);

/// Whether a PID still exists, e.g. `/proc/<pid>` is present.
using pid_alive_fn = std::function<bool(std::uint32_t)>;

/// The real check: `/proc/<pid>` exists.
bool proc_pid_exists(std::uint32_t pid);

/// True iff `name` is a container veth whose owning PID is gone; those are
/// left behind by a daemon crash and reclaimed by the attach-time sweep.
bool is_orphan_veth(std::string_view name, const pid_alive_fn& pid_alive);

/// The names among `links` that `is_orphan_veth` selects, in input order.
std::vector<std::string>
select_orphan_veths(const std::vector<std::string>& links,
                    const pid_alive_fn& pid_alive);

/// The prune predicate of the reference: true iff `name` is one of our
/// per-service bridges (`zl-…-b`) or dedicated devices (`zl-…-d`) and is
/// neither in `live` (what the orchestrator says should exist) nor
/// `protected_names` (the global `-g` device, the shared `-sh` bridge and
/// live dedicated devices). Container veths and unrelated links never match.
bool is_orphan_service_bridge(
  std::string_view name, const std::set<std::string, std::less<>>& live,
  const std::set<std::string, std::less<>>& protected_names);

} // namespace overlayd::drivers
