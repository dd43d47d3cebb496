#pragma once

// Helpers shared by the netlink_driver*.cpp files; not part of the API.

#include "drivers/error.hpp"
#include "drivers/link_driver.hpp"

#include <cerrno>
#include <string>
#include <string_view>

namespace overlayd::drivers::detail {

inline std::string str(std::string_view s) {
  return std::string{s};
}

/// Rewrites a kernel "no such device" into not_found with a readable detail.
inline error link_not_found(std::string_view op, std::string_view name,
                            std::string ext_ack = {}) {
  return error{error_kind::not_found,
               ENODEV,
               str(op),
               str(name),
               "link '" + str(name) + "' not found in current netns",
               std::move(ext_ack)};
}

inline bool is_no_device(const error& e) {
  return e.err_no() == ENODEV;
}

inline status map_missing_link(status st, std::string_view op,
                               std::string_view name) {
  if (!st && is_no_device(st.error()))
    return link_not_found(op, name, st.error().ext_ack());
  return st;
}

inline status check_prefix(const ip_address& address, std::uint8_t prefix_len,
                           std::string_view op, std::string_view object) {
  if (prefix_len > address.max_prefix())
    return error{error_kind::invalid_argument, 0, str(op), str(object),
                 "prefix length " + std::to_string(prefix_len)
                   + " is out of range for " + address.to_string()};
  return {};
}

/// "10.0.0.1/24".
inline std::string with_prefix(const ip_address& address,
                               std::uint8_t prefix_len) {
  return address.to_string() + "/" + std::to_string(prefix_len);
}

} // namespace overlayd::drivers::detail
