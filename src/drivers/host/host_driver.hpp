#pragma once

#include <memory>

#include "drivers/host/firewall_driver.hpp"
#include "drivers/host/network_manager_driver.hpp"
#include "drivers/host/sysctl_driver.hpp"
#include "drivers/link_driver.hpp"

namespace overlayd::drivers {

/// Everything overlayd does to a host, in one place: links, addresses,
/// routes and namespaces; sysctls; the firewall; network-manager drop-ins.
/// The engine talks to this; the real backend and the in-memory twin both
/// provide it.
class host_driver {
public:
  virtual ~host_driver() = default;

  virtual link_driver& links() = 0;
  virtual sysctl_driver& sysctls() = 0;
  virtual firewall_driver& firewall() = 0;
  virtual network_manager_driver& network_manager() = 0;
};

/// A host driver assembled from four owned parts.
class composed_host_driver final : public host_driver {
public:
  composed_host_driver(std::unique_ptr<link_driver> links,
                       std::unique_ptr<sysctl_driver> sysctls,
                       std::unique_ptr<firewall_driver> firewall,
                       std::unique_ptr<network_manager_driver> network_manager)
    : links_(std::move(links)), sysctls_(std::move(sysctls)),
      firewall_(std::move(firewall)),
      network_manager_(std::move(network_manager)) {
    // nop
  }

  link_driver& links() override { return *links_; }
  sysctl_driver& sysctls() override { return *sysctls_; }
  firewall_driver& firewall() override { return *firewall_; }
  network_manager_driver& network_manager() override {
    return *network_manager_;
  }

private:
  std::unique_ptr<link_driver> links_;
  std::unique_ptr<sysctl_driver> sysctls_;
  std::unique_ptr<firewall_driver> firewall_;
  std::unique_ptr<network_manager_driver> network_manager_;
};

} // namespace overlayd::drivers
