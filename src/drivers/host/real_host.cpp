#include "drivers/host/real_host.hpp"

#include "drivers/host/command_runner.hpp"
#include "drivers/host/file_network_manager.hpp"
#include "drivers/host/iptables_firewall.hpp"
#include "drivers/host/proc_sysctl_driver.hpp"
#include "drivers/netlink_driver.hpp"

namespace overlayd::drivers {

namespace {

/// Owns the command runner the firewall and drop-in parts borrow.
class real_host final : public host_driver {
public:
  explicit real_host(const real_host_options& options)
    : sysctls_(options.sysctl_root), firewall_(runner_, options.rootless),
      network_manager_(options.config_root,
                       options.reload_managers ? &runner_ : nullptr,
                       options.rootless) {
    // nop
  }

  link_driver& links() override { return links_; }
  sysctl_driver& sysctls() override { return sysctls_; }
  firewall_driver& firewall() override { return firewall_; }
  network_manager_driver& network_manager() override {
    return network_manager_;
  }

private:
  exec_command_runner runner_;
  netlink_driver links_;
  proc_sysctl_driver sysctls_;
  iptables_firewall firewall_;
  file_network_manager network_manager_;
};

} // namespace

real_host_options::real_host_options()
  : rootless(iptables_firewall::rootless_from_env()) {
  // nop
}

std::unique_ptr<host_driver>
make_real_host_driver(const real_host_options& options) {
  return std::make_unique<real_host>(options);
}

} // namespace overlayd::drivers
