#pragma once

#include <string>
#include <string_view>

#include "drivers/error.hpp"

namespace overlayd::drivers {

/// Reads and writes kernel parameters of the caller's network namespace
/// (`net.*` sysctls are per namespace). Keys follow sysctl(8), see
/// `sysctl_key_to_path`.
class sysctl_driver {
public:
  virtual ~sysctl_driver() = default;

  /// The current value with the trailing newline trimmed. A missing key is
  /// `not_found` (ENOENT).
  virtual result<std::string> read(std::string_view key) = 0;

  /// Writes `value` verbatim (no newline added). A missing key is
  /// `not_found`; a value the kernel rejects is `invalid_argument`.
  virtual status write(std::string_view key, std::string_view value) = 0;
};

} // namespace overlayd::drivers
