#pragma once

// The twin's sysctl, iptables and network-manager parts (internal).

#include <memory>

#include "drivers/host/command_runner.hpp"
#include "drivers/host/firewall_driver.hpp"
#include "drivers/host/network_manager_driver.hpp"
#include "drivers/host/sysctl_driver.hpp"
#include "drivers/host/twin_state.hpp"

namespace overlayd::drivers::twin_detail {

/// Sysctls of one twin namespace, with the kernel's value parsing and the
/// propagation of the "all" forwarding switches.
std::unique_ptr<sysctl_driver> make_twin_sysctls(std::shared_ptr<core> c,
                                                 std::shared_ptr<netns> ns);

/// A command runner that answers `iptables`/`ip6tables` argv (the subset
/// overlayd uses: -w, -t, -N, -X, -F, -S, -C, -A, -I, -D) from the tables
/// of one twin namespace, with iptables' exit codes and messages. Any other
/// program cannot be started (ENOENT).
std::unique_ptr<command_runner> make_twin_iptables(std::shared_ptr<core> c,
                                                   std::shared_ptr<netns> ns);

/// The real `iptables_firewall` logic over `make_twin_iptables`, with fault
/// injection per operation.
std::unique_ptr<firewall_driver> make_twin_firewall(std::shared_ptr<core> c,
                                                    std::shared_ptr<netns> ns);

/// Drop-in files kept in the core, written where a manager is installed.
std::unique_ptr<network_manager_driver>
make_twin_network_manager(std::shared_ptr<core> c);

} // namespace overlayd::drivers::twin_detail
