#pragma once

// Helpers shared by the netlink_driver*.cpp files; not part of the API.

#include "drivers/error.hpp"
#include "drivers/link_driver.hpp"
#include "drivers/netlink_socket.hpp"

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

/// How address operations name their object: "eth0 10.0.0.1/24".
inline std::string address_text(std::string_view link,
                                const ip_address& address,
                                std::uint8_t prefix_len) {
  return str(link) + " " + with_prefix(address, prefix_len);
}

/// How route operations name their object: "10.0.0.0/24 dev eth0".
inline std::string route_text(const ip_address& destination,
                              std::uint8_t destination_len,
                              std::string_view device) {
  return with_prefix(destination, destination_len) + " dev " + str(device);
}

/// Checks the arguments of an address operation and names its object.
inline result<std::string> address_object(std::string_view op,
                                          std::string_view link,
                                          const ip_address& address,
                                          std::uint8_t prefix_len) {
  if (auto st = validate_ifname(link, op); !st)
    return st.error();
  auto object = address_text(link, address, prefix_len);
  if (auto st = check_prefix(address, prefix_len, op, object); !st)
    return st.error();
  return object;
}

/// Checks the arguments of a route operation and names its object. A
/// preferred `source` must be of the destination's family.
inline result<std::string>
route_object(std::string_view op, const ip_address& destination,
             std::uint8_t destination_len, std::string_view device,
             const std::optional<ip_address>& source = std::nullopt) {
  auto object = route_text(destination, destination_len, device);
  if (source && source->family != destination.family)
    return error{error_kind::invalid_argument, 0, str(op), object,
                 "address family mismatch: dest=" + destination.to_string()
                   + " src=" + source->to_string()};
  if (auto st = validate_ifname(device, op); !st)
    return st.error();
  if (auto st = check_prefix(destination, destination_len, op, object); !st)
    return st.error();
  return object;
}

/// For removals: an object that is not there (or went away meanwhile) is
/// already removed.
inline status gone_is_done(status st) {
  if (!st && st.error().kind() == error_kind::not_found)
    return {};
  return st;
}

/// Runs dump `msg` and appends to `out` every reply that `parse` turns into
/// a value (it returns an optional). A dump the kernel restarts starts
/// over with `out` emptied, so nothing is collected twice.
template <class T, class Parse>
status collect_dump(nl::socket& sock, nl::message msg, std::string_view op,
                    std::vector<T>& out, Parse&& parse) {
  return sock.dump(
    msg, op,
    [&](const nlmsghdr* nlh) {
      if (auto item = parse(nlh))
        out.push_back(std::move(*item));
    },
    [&] { out.clear(); });
}

} // namespace overlayd::drivers::detail
