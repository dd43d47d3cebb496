#pragma once

#include "drivers/error.hpp"

namespace overlayd::drivers {

/// Keeps host network managers (systemd-networkd, NetworkManager) off the
/// overlay's links (`zl-*`, `veth-*`, `vc-*`): no bring-up, no DHCP. A
/// permissive default match was seen to make networkd abort on its watchdog.
class network_manager_driver {
public:
  virtual ~network_manager_driver() = default;

  /// Installs the "unmanaged" drop-ins for every manager whose config
  /// directory exists. Idempotent; returns the first failure after trying
  /// every manager.
  virtual status mark_overlay_interfaces_unmanaged() = 0;
  /// Removes the drop-ins again; a missing file is success.
  virtual status unmark_overlay_interfaces_unmanaged() = 0;
};

} // namespace overlayd::drivers
