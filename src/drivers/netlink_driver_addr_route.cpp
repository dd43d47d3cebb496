// netlink_driver: addresses and routes.

#include "drivers/netlink_driver.hpp"

#include "drivers/netlink_driver_detail.hpp"

#include <cerrno>
#include <linux/rtnetlink.h>
#include <unordered_map>

namespace overlayd::drivers {

using namespace detail;

// -- addresses ----------------------------------------------------------------

status netlink_driver::add_address(std::string_view link,
                                   const ip_address& address,
                                   std::uint8_t prefix_len) {
  constexpr std::string_view op = "add_address";
  if (auto st = validate_ifname(link, op); !st)
    return st;
  auto object = str(link) + " " + with_prefix(address, prefix_len);
  if (auto st = check_prefix(address, prefix_len, op, object); !st)
    return st;
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, object, scratch);
  if (!sock)
    return sock.error();
  auto found = lookup(**sock, link, op);
  if (!found)
    return found.error();
  auto msg = nl::add_address(found->index, address, prefix_len);
  auto st = (*sock)->request(msg, op, object);
  if (!st && is_no_device(st.error()))
    return link_not_found(op, link, st.error().ext_ack());
  return st;
}

status netlink_driver::delete_address(std::string_view link,
                                      const ip_address& address,
                                      std::uint8_t prefix_len) {
  constexpr std::string_view op = "delete_address";
  if (auto st = validate_ifname(link, op); !st)
    return st;
  auto object = str(link) + " " + with_prefix(address, prefix_len);
  if (auto st = check_prefix(address, prefix_len, op, object); !st)
    return st;
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, object, scratch);
  if (!sock)
    return sock.error();
  auto found = lookup(**sock, link, op);
  if (!found)
    return found.error().kind() == error_kind::not_found ? status{}
                                                         : found.error();
  auto msg = nl::delete_address(found->index, address, prefix_len);
  auto st = (*sock)->request(msg, op, object);
  // EADDRNOTAVAIL (not there) and ENODEV (link went away) are success.
  if (!st && st.error().kind() == error_kind::not_found)
    return {};
  return st;
}

status netlink_driver::flush_addresses(std::string_view link) {
  constexpr std::string_view op = "flush_addresses";
  if (auto st = validate_ifname(link, op); !st)
    return st;
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, link, scratch);
  if (!sock)
    return sock.error();
  auto found = lookup(**sock, link, op);
  if (!found)
    return found.error();
  std::vector<std::pair<int, address_info>> addresses;
  if (auto st = dump_addresses(**sock, op, found->index, addresses); !st)
    return st;
  for (auto& [index, info] : addresses) {
    if (index != found->index)
      continue;
    auto msg = nl::delete_address(index, info.address, info.prefix_len);
    auto st = (*sock)->request(
      msg, op, str(link) + " " + with_prefix(info.address, info.prefix_len));
    // Deleting a primary v4 address also removes its secondaries, so a later
    // delete may find its address gone already.
    if (!st && st.error().err_no() != EADDRNOTAVAIL)
      return st;
  }
  return {};
}

// -- routes -------------------------------------------------------------------

status
netlink_driver::add_default_route_via_gateway(const ip_address& gateway) {
  constexpr std::string_view op = "add_default_route_via_gateway";
  return simple_request(nl::add_default_route_via_gateway(gateway), op,
                        "default via " + gateway.to_string());
}

status netlink_driver::add_route_via_dev(const ip_address& destination,
                                         std::uint8_t destination_len,
                                         std::string_view device) {
  return route_via_dev("add_route_via_dev", destination, destination_len,
                       device, std::nullopt, false);
}

status netlink_driver::replace_route_via_dev(
  const ip_address& destination, std::uint8_t destination_len,
  std::string_view device, const std::optional<ip_address>& source) {
  return route_via_dev("replace_route_via_dev", destination, destination_len,
                       device, source, true);
}

status netlink_driver::route_via_dev(std::string_view op,
                                     const ip_address& destination,
                                     std::uint8_t destination_len,
                                     std::string_view device,
                                     const std::optional<ip_address>& source,
                                     bool replace) {
  auto object
    = with_prefix(destination, destination_len) + " dev " + str(device);
  if (source && source->family != destination.family)
    return error{error_kind::invalid_argument, 0, str(op), object,
                 "address family mismatch: dest=" + destination.to_string()
                   + " src=" + source->to_string()};
  if (auto st = validate_ifname(device, op); !st)
    return st;
  if (auto st = check_prefix(destination, destination_len, op, object); !st)
    return st;
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, object, scratch);
  if (!sock)
    return sock.error();
  auto dev = lookup(**sock, device, op);
  if (!dev)
    return dev.error();
  auto msg = nl::add_route_via_dev(destination, destination_len, dev->index,
                                   source, replace);
  return (*sock)->request(msg, op, object);
}

status netlink_driver::delete_route_via_dev(const ip_address& destination,
                                            std::uint8_t destination_len,
                                            std::string_view device) {
  constexpr std::string_view op = "delete_route_via_dev";
  if (auto st = validate_ifname(device, op); !st)
    return st;
  auto object
    = with_prefix(destination, destination_len) + " dev " + str(device);
  if (auto st = check_prefix(destination, destination_len, op, object); !st)
    return st;
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, object, scratch);
  if (!sock)
    return sock.error();
  auto dev = lookup(**sock, device, op);
  if (!dev) {
    // The route died with its device. Deleting without RTA_OIF could hit
    // another device's route to the same destination, so do nothing.
    if (dev.error().kind() == error_kind::not_found)
      return {};
    return dev.error();
  }
  auto msg = nl::delete_route_via_dev(destination, destination_len, dev->index);
  auto st = (*sock)->request(msg, op, object);
  // ESRCH (no such route), ENOENT and ENODEV all mean "already gone".
  if (!st && st.error().kind() == error_kind::not_found)
    return {};
  return st;
}

result<std::vector<route_info>> netlink_driver::list_routes() {
  constexpr std::string_view op = "list_routes";
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, "", scratch);
  if (!sock)
    return sock.error();
  auto links = dump_links(**sock, op);
  if (!links)
    return links.error();
  std::unordered_map<int, std::string> names;
  for (auto& link : *links)
    names.emplace(link.index, link.name);
  std::vector<nl::raw_route> raw;
  auto msg = nl::dump_routes();
  auto st = (*sock)->dump(
    msg, op,
    [&](const nlmsghdr* nlh) {
      if (auto route = nl::parse_route(nlh))
        raw.push_back(std::move(*route));
    },
    [&] { raw.clear(); });
  if (!st)
    return st.error();
  std::vector<route_info> out;
  for (auto& r : raw) {
    if (r.table != RT_TABLE_MAIN || r.type != RTN_UNICAST)
      continue;
    if (auto it = names.find(r.oif); it != names.end())
      r.route.device = it->second;
    out.push_back(std::move(r.route));
  }
  return out;
}

} // namespace overlayd::drivers
