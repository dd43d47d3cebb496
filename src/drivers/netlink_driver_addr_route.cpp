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
  auto object = address_object(op, link, address, prefix_len);
  if (!object)
    return object.error();
  return with_link(op, *object, link, [&](nl::socket& sock, link_info& found) {
    auto msg = nl::add_address(found.index, address, prefix_len);
    return map_missing_link(sock.request(msg, op, *object), op, link);
  });
}

status netlink_driver::delete_address(std::string_view link,
                                      const ip_address& address,
                                      std::uint8_t prefix_len) {
  constexpr std::string_view op = "delete_address";
  auto object = address_object(op, link, address, prefix_len);
  if (!object)
    return object.error();
  // A missing link, EADDRNOTAVAIL (not there) and ENODEV (the link went
  // away meanwhile) all mean the address is gone.
  return gone_is_done(
    with_link(op, *object, link, [&](nl::socket& sock, link_info& found) {
      auto msg = nl::delete_address(found.index, address, prefix_len);
      return sock.request(msg, op, *object);
    }));
}

status netlink_driver::flush_addresses(std::string_view link) {
  constexpr std::string_view op = "flush_addresses";
  if (auto st = validate_ifname(link, op); !st)
    return st;
  return with_link(
    op, link, link, [&](nl::socket& sock, link_info& found) -> status {
      std::vector<std::pair<int, address_info>> addresses;
      if (auto st = dump_addresses(sock, op, found.index, addresses); !st)
        return st;
      for (auto& [index, info] : addresses) {
        if (index != found.index)
          continue;
        auto msg = nl::delete_address(index, info.address, info.prefix_len);
        auto st = sock.request(
          msg, op, address_text(link, info.address, info.prefix_len));
        // Deleting a primary v4 address also removes its secondaries, so a
        // later delete may find its address gone already.
        if (!st && st.error().err_no() != EADDRNOTAVAIL)
          return st;
      }
      return {};
    });
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
  auto object = route_object(op, destination, destination_len, device, source);
  if (!object)
    return object.error();
  return with_link(op, *object, device, [&](nl::socket& sock, link_info& dev) {
    auto msg = nl::add_route_via_dev(destination, destination_len, dev.index,
                                     source, replace);
    return sock.request(msg, op, *object);
  });
}

status netlink_driver::delete_route_via_dev(const ip_address& destination,
                                            std::uint8_t destination_len,
                                            std::string_view device) {
  constexpr std::string_view op = "delete_route_via_dev";
  auto object = route_object(op, destination, destination_len, device);
  if (!object)
    return object.error();
  // A missing device took the route with it: nothing is sent then, because
  // a delete without RTA_OIF could hit another device's route to the same
  // destination. ESRCH (no such route), ENOENT and ENODEV all mean "already
  // gone".
  return gone_is_done(
    with_link(op, *object, device, [&](nl::socket& sock, link_info& dev) {
      auto msg
        = nl::delete_route_via_dev(destination, destination_len, dev.index);
      return sock.request(msg, op, *object);
    }));
}

result<std::vector<route_info>> netlink_driver::list_routes() {
  constexpr std::string_view op = "list_routes";
  auto list = [&](nl::socket& sock) -> result<std::vector<route_info>> {
    auto links = dump_links(sock, op);
    if (!links)
      return links.error();
    std::unordered_map<int, std::string> names;
    for (auto& link : *links)
      names.emplace(link.index, link.name);
    std::vector<nl::raw_route> raw;
    if (auto st
        = collect_dump(sock, nl::dump_routes(), op, raw, nl::parse_route);
        !st)
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
  };
  return with_socket(op, "", list);
}

} // namespace overlayd::drivers
