#include "drivers/netlink_driver.hpp"

#include "drivers/netlink_driver_detail.hpp"

#include <algorithm>
#include <cerrno>
#include <unordered_map>

namespace overlayd::drivers {

using namespace detail;

netlink_driver::netlink_driver(std::unique_ptr<nl::socket> sock)
  : fixed_(std::move(sock)) {
  // nop
}

netlink_driver::~netlink_driver() = default;

result<nl::socket*>
netlink_driver::socket_for(std::string_view op, std::string_view object,
                           std::unique_ptr<nl::socket>& scratch) {
  if (fixed_)
    return fixed_.get();
  auto opened = nl::socket::open(op, object);
  if (!opened)
    return opened.error();
  scratch = std::move(*opened);
  return scratch.get();
}

status netlink_driver::simple_request(nl::message msg, std::string_view op,
                                      std::string_view object) {
  return with_socket(op, object, [&](nl::socket& sock) {
    return sock.request(msg, op, object);
  });
}

// -- lookups ------------------------------------------------------------------

result<link_info> netlink_driver::lookup(nl::socket& sock,
                                         std::string_view name,
                                         std::string_view op) {
  auto msg = nl::get_link_by_name(name);
  std::optional<link_info> found;
  auto st = sock.request(msg, op, name, [&](const nlmsghdr* nlh) {
    if (auto link = nl::parse_link(nlh))
      found = std::move(link);
  });
  if (!st) {
    if (is_no_device(st.error()))
      return link_not_found(op, name, st.error().ext_ack());
    return st.error();
  }
  if (!found)
    return error{error_kind::kernel, EPROTO, str(op), str(name),
                 "the kernel acknowledged the lookup without a link"};
  return *found;
}

result<std::vector<link_info>> netlink_driver::dump_links(nl::socket& sock,
                                                          std::string_view op) {
  std::vector<link_info> links;
  if (auto st = collect_dump(sock, nl::dump_links(), op, links, nl::parse_link);
      !st)
    return st.error();
  std::sort(
    links.begin(), links.end(),
    [](const link_info& a, const link_info& b) { return a.index < b.index; });
  std::unordered_map<int, std::string> names;
  for (auto& link : links)
    names.emplace(link.index, link.name);
  for (auto& link : links)
    if (auto it = names.find(link.master_index); it != names.end())
      link.master = it->second;
  return links;
}

status
netlink_driver::dump_addresses(nl::socket& sock, std::string_view op, int index,
                               std::vector<std::pair<int, address_info>>& out) {
  return collect_dump(
    sock, nl::dump_addresses(index), op, out,
    [&](const nlmsghdr* nlh) -> std::optional<std::pair<int, address_info>> {
      // Kernels without strict checking ignore the filter; apply it here.
      auto parsed = nl::parse_address(nlh);
      if (!parsed || (index != 0 && parsed->index != index))
        return std::nullopt;
      return std::pair{parsed->index, parsed->address};
    });
}

result<link_info> netlink_driver::get_link(std::string_view name) {
  constexpr std::string_view op = "get_link";
  if (auto st = validate_ifname(name, op); !st)
    return st.error();
  return with_link(
    op, name, name,
    [&](nl::socket& sock, link_info& link) -> result<link_info> {
      if (link.master_index != 0) {
        auto msg = nl::get_link_by_index(link.master_index);
        // The master can vanish between the two requests; then there is none.
        (void)sock.request(msg, op, name, [&](const nlmsghdr* nlh) {
          if (auto master = nl::parse_link(nlh))
            link.master = master->name;
        });
      }
      std::vector<std::pair<int, address_info>> addresses;
      if (auto st = dump_addresses(sock, op, link.index, addresses); !st)
        return st.error();
      for (auto& [index, address] : addresses)
        if (index == link.index)
          link.addresses.push_back(address);
      std::sort(link.addresses.begin(), link.addresses.end());
      return std::move(link);
    });
}

result<bool> netlink_driver::link_exists(std::string_view name) {
  constexpr std::string_view op = "link_exists";
  if (auto st = validate_ifname(name, op); !st)
    return st.error();
  auto found = with_link(
    op, name, name, [](nl::socket&, link_info&) { return result<bool>{true}; });
  // Opening the socket never fails with not_found; only the lookup does.
  if (!found && found.error().kind() == error_kind::not_found)
    return false;
  return found;
}

result<std::vector<link_info>> netlink_driver::list_links() {
  constexpr std::string_view op = "list_links";
  return with_socket(
    op, "", [&](nl::socket& sock) -> result<std::vector<link_info>> {
      auto links = dump_links(sock, op);
      if (!links)
        return links;
      std::vector<std::pair<int, address_info>> addresses;
      if (auto st = dump_addresses(sock, op, 0, addresses); !st)
        return st.error();
      std::unordered_map<int, link_info*> by_index;
      for (auto& link : *links)
        by_index.emplace(link.index, &link);
      for (auto& [index, address] : addresses)
        if (auto it = by_index.find(index); it != by_index.end())
          it->second->addresses.push_back(address);
      for (auto& link : *links)
        std::sort(link.addresses.begin(), link.addresses.end());
      return links;
    });
}

// -- links --------------------------------------------------------------------

status netlink_driver::create_bridge(std::string_view name) {
  constexpr std::string_view op = "create_bridge";
  if (auto st = validate_ifname(name, op); !st)
    return st;
  auto st = simple_request(nl::create_bridge(name), op, name);
  // As the reference: an existing link of that name is success, whatever
  // its type.
  if (!st && st.error().kind() == error_kind::already_exists)
    return {};
  return st;
}

status netlink_driver::set_bridge_stp(std::string_view name, bool on) {
  constexpr std::string_view op = "set_bridge_stp";
  if (auto st = validate_ifname(name, op); !st)
    return st;
  return with_link(
    op, name, name, [&](nl::socket& sock, link_info& link) -> status {
      if (link.kind != "bridge")
        return error{error_kind::invalid_argument, 0, str(op), str(name),
                     "not a bridge (kind '" + link.kind + "')"};
      auto msg = nl::set_bridge_stp(link.index, on);
      return map_missing_link(sock.request(msg, op, name), op, name);
    });
}

status netlink_driver::create_veth_pair(std::string_view host,
                                        std::string_view peer) {
  constexpr std::string_view op = "create_veth_pair";
  if (auto st = validate_ifname(host, op); !st)
    return st;
  if (auto st = validate_ifname(peer, op); !st)
    return st;
  auto object = str(host) + "," + str(peer);
  if (host == peer)
    return error{error_kind::invalid_argument, 0, str(op), object,
                 "both ends have the same name"};
  auto st = simple_request(nl::create_veth_pair(host, peer), op, object);
  if (!st && st.error().kind() == error_kind::already_exists)
    return error{error_kind::already_exists,
                 EEXIST,
                 str(op),
                 object,
                 "veth pair already exists: host=" + str(host)
                   + " peer=" + str(peer),
                 st.error().ext_ack()};
  return st;
}

status netlink_driver::delete_link(std::string_view name) {
  constexpr std::string_view op = "delete_link";
  if (auto st = validate_ifname(name, op); !st)
    return st;
  auto st = simple_request(nl::delete_link_by_name(name), op, name);
  // Missing is success, including a race where the link went away between
  // our decision and the kernel's.
  if (!st && is_no_device(st.error()))
    return {};
  return st;
}

status netlink_driver::set_link_up(std::string_view name) {
  return set_link_updown("set_link_up", name, true);
}

status netlink_driver::set_link_down(std::string_view name) {
  return set_link_updown("set_link_down", name, false);
}

status netlink_driver::set_link_updown(std::string_view op,
                                       std::string_view name, bool up) {
  if (auto st = validate_ifname(name, op); !st)
    return st;
  return map_missing_link(
    simple_request(nl::set_link_updown(name, up), op, name), op, name);
}

status netlink_driver::set_mtu(std::string_view name, std::uint32_t mtu) {
  constexpr std::string_view op = "set_mtu";
  if (auto st = validate_ifname(name, op); !st)
    return st;
  return map_missing_link(simple_request(nl::set_link_mtu(name, mtu), op, name),
                          op, name);
}

status netlink_driver::set_master(std::string_view link,
                                  std::string_view bridge) {
  constexpr std::string_view op = "set_master";
  if (auto st = validate_ifname(link, op); !st)
    return st;
  if (auto st = validate_ifname(bridge, op); !st)
    return st;
  return with_link(
    op, link, bridge, [&](nl::socket& sock, link_info& master) -> status {
      auto msg = nl::set_link_master(link, master.index);
      auto object = str(link) + "->" + str(bridge);
      auto st = sock.request(msg, op, object);
      if (!st && is_no_device(st.error())) {
        // ENODEV names either end; say which one is gone.
        auto still = lookup(sock, bridge, op);
        return link_not_found(op, still ? link : bridge, st.error().ext_ack());
      }
      return st;
    });
}

result<std::size_t>
netlink_driver::bridge_member_count(std::string_view bridge) {
  constexpr std::string_view op = "bridge_member_count";
  if (auto st = validate_ifname(bridge, op); !st)
    return st.error();
  return with_socket(op, bridge, [&](nl::socket& sock) -> result<std::size_t> {
    auto links = dump_links(sock, op);
    if (!links)
      return links.error();
    auto it
      = std::find_if(links->begin(), links->end(),
                     [&](const link_info& l) { return l.name == bridge; });
    if (it == links->end())
      return std::size_t{0};
    int index = it->index;
    return static_cast<std::size_t>(
      std::count_if(links->begin(), links->end(), [&](const link_info& l) {
        return l.master_index == index;
      }));
  });
}

} // namespace overlayd::drivers
