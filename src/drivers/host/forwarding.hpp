#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "drivers/host/sysctl_driver.hpp"

namespace overlayd::drivers {

/// Forwarding sysctls the daemon changed, so teardown restores exactly
/// those. IPv4 forwarding is global (`net.ipv4.ip_forward`): its prior value
/// is snapshotted on the first attach and written back on revert. IPv6
/// forwarding is switched per device (`net.ipv6.conf.<dev>.forwarding`) and
/// never through `conf.all`, because `all.forwarding=1` forces `accept_ra=0`
/// on every interface and drops the RA default route of the public NIC.
class forwarding_state {
public:
  /// Enables forwarding for one container attach: snapshots
  /// `net.ipv4.ip_forward` once (falling back to "0" when unreadable), always
  /// sets it to 1 (also for IPv6 attaches, as the reference does) and, for
  /// IPv6, sets forwarding on `veth_host` and on `bridge` if given.
  /// Best-effort like the reference: failures are not returned, a device is
  /// only remembered when its write succeeded.
  void enable_for_attach(sysctl_driver& sysctls, bool is_v6,
                         std::string_view veth_host,
                         std::optional<std::string_view> bridge);

  /// Writes the snapshot back to `net.ipv4.ip_forward` and 0 to every
  /// remembered IPv6 device, then forgets all of it. Best-effort: a device
  /// that is gone is skipped silently.
  void revert(sysctl_driver& sysctls);

  /// The IPv4 value seen before the first attach, if one happened.
  const std::optional<std::string>& ipv4_snapshot() const noexcept {
    return prev_ipv4_forward_;
  }

  /// Devices whose IPv6 forwarding this state switched on.
  const std::set<std::string>& ipv6_devices() const noexcept {
    return ipv6_forward_ifaces_;
  }

private:
  std::optional<std::string> prev_ipv4_forward_;
  std::set<std::string> ipv6_forward_ifaces_;
};

} // namespace overlayd::drivers
