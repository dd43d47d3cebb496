#pragma once

#include <string>
#include <vector>

#include "drivers/host/orphans.hpp"
#include "drivers/link_driver.hpp"

namespace overlayd::drivers {

/// What an orphan-veth sweep did.
struct orphan_sweep_report {
  std::vector<std::string> deleted;
  /// Links that matched but could not be deleted, with the reason.
  std::vector<error> failures;
};

/// Deletes every `veth-<pid>-*` / `vc-<pid>-*` link whose PID is gone (left
/// behind by a daemon crash). Best-effort: a listing failure is returned, a
/// deletion failure is recorded and the sweep continues.
result<orphan_sweep_report> sweep_orphan_veths(link_driver& links,
                                               const pid_alive_fn& pid_alive);

} // namespace overlayd::drivers
