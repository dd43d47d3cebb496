#include "drivers/host/forwarding.hpp"

#include "drivers/host/sysctl_name.hpp"

namespace overlayd::drivers {

void forwarding_state::enable_for_attach(
  sysctl_driver& sysctls, bool is_v6, std::string_view veth_host,
  std::optional<std::string_view> bridge) {
  if (!prev_ipv4_forward_) {
    auto prev = sysctls.read(ipv4_forward_key);
    prev_ipv4_forward_ = prev ? *prev : std::string{"0"};
  }
  (void)sysctls.write(ipv4_forward_key, "1");
  if (!is_v6)
    return;
  auto enable = [&](std::string_view dev) {
    if (sysctls.write(ipv6_forwarding_key(dev), "1"))
      ipv6_forward_ifaces_.emplace(dev);
  };
  enable(veth_host);
  if (bridge)
    enable(*bridge);
}

void forwarding_state::revert(sysctl_driver& sysctls) {
  if (prev_ipv4_forward_) {
    (void)sysctls.write(ipv4_forward_key, *prev_ipv4_forward_);
    prev_ipv4_forward_.reset();
  }
  for (const auto& dev : ipv6_forward_ifaces_)
    (void)sysctls.write(ipv6_forwarding_key(dev), "0");
  ipv6_forward_ifaces_.clear();
}

} // namespace overlayd::drivers
