#pragma once

#include <string>

#include "drivers/host/sysctl_driver.hpp"

namespace overlayd::drivers {

/// Sysctls through files under a root directory, `/proc/sys` by default.
/// The root is injectable so tests and the twin can redirect it to a
/// scratch tree. `net.*` files resolve in the network namespace of the
/// thread that opens them.
class proc_sysctl_driver final : public sysctl_driver {
public:
  explicit proc_sysctl_driver(std::string root = "/proc/sys");

  result<std::string> read(std::string_view key) override;
  status write(std::string_view key, std::string_view value) override;

  const std::string& root() const noexcept { return root_; }

private:
  std::string root_;
};

} // namespace overlayd::drivers
