#pragma once

#include <memory>
#include <string>

#include "drivers/host/host_driver.hpp"

namespace overlayd::drivers {

/// Where the real host driver acts.
struct real_host_options {
  /// The sysctl tree (`/proc/sys`); tests may redirect it.
  std::string sysctl_root = "/proc/sys";
  /// The root under which drop-ins are written (`/`).
  std::string config_root = "/";
  /// Skip the firewall and drop-ins (pasta provides egress). Defaults to
  /// whether `ZLAYER_ROOTLESS` is set.
  bool rootless;
  /// Ask networkd/NetworkManager to reload after a drop-in changed.
  bool reload_managers = true;

  real_host_options();
};

/// The production host driver: rtnetlink for links, files under
/// `sysctl_root`, `iptables -w`/`ip6tables -w` and drop-in files, all in
/// the calling thread's network namespace.
std::unique_ptr<host_driver>
make_real_host_driver(const real_host_options& options = {});

} // namespace overlayd::drivers
