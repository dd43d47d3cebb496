#pragma once

#include <string>

#include "drivers/host/command_runner.hpp"
#include "drivers/host/dropins.hpp"
#include "drivers/host/network_manager_driver.hpp"

namespace overlayd::drivers {

/// Drop-in files under a root directory (`/` in production, a scratch tree
/// in tests). A file is written only where the manager's config directory
/// exists, atomically (temporary file + rename), and the manager is asked to
/// reload only when a file actually changed. Rootless mode does nothing.
class file_network_manager final : public network_manager_driver {
public:
  /// `reload_runner` runs the reload commands; nullptr skips reloading
  /// (tests must not poke the host's daemons). It must outlive this object.
  file_network_manager(std::string root, command_runner* reload_runner,
                       bool rootless);

  status mark_overlay_interfaces_unmanaged() override;
  status unmark_overlay_interfaces_unmanaged() override;

private:
  std::string absolute(const std::string& relative) const;
  void reload(const dropin_file& file);

  std::string root_;
  command_runner* reload_runner_;
  bool rootless_;
};

} // namespace overlayd::drivers
