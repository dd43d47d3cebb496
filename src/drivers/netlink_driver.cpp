#include "drivers/netlink_driver.hpp"

#include "drivers/netns.hpp"
#include "drivers/netns_driver.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <unistd.h>
#include <unordered_map>

namespace overlayd::drivers {

namespace {

std::string str(std::string_view s) {
  return std::string{s};
}

/// Rewrites a kernel "no such device" into not_found with a readable detail.
error link_not_found(std::string_view op, std::string_view name,
                     std::string ext_ack = {}) {
  return error{error_kind::not_found,
               ENODEV,
               str(op),
               str(name),
               "link '" + str(name) + "' not found in this namespace",
               std::move(ext_ack)};
}

bool is_no_device(const error& e) {
  return e.err_no() == ENODEV;
}

status check_prefix(const ip_address& address, std::uint8_t prefix_len,
                    std::string_view op, std::string_view object) {
  if (prefix_len > address.max_prefix())
    return error{error_kind::invalid_argument, 0, str(op), str(object),
                 "prefix length " + std::to_string(prefix_len)
                   + " is out of range for " + address.to_string()};
  return {};
}

std::string with_prefix(const ip_address& address, std::uint8_t prefix_len) {
  return address.to_string() + "/" + std::to_string(prefix_len);
}

} // namespace

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
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, object, scratch);
  if (!sock)
    return sock.error();
  return (*sock)->request(msg, op, object);
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
  auto msg = nl::dump_links();
  auto st = sock.dump(
    msg, op,
    [&](const nlmsghdr* nlh) {
      if (auto link = nl::parse_link(nlh))
        links.push_back(std::move(*link));
    },
    [&] { links.clear(); });
  if (!st)
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
netlink_driver::dump_addresses(nl::socket& sock, std::string_view op,
                               std::vector<std::pair<int, address_info>>& out) {
  auto msg = nl::dump_addresses();
  return sock.dump(
    msg, op,
    [&](const nlmsghdr* nlh) {
      if (auto parsed = nl::parse_address(nlh))
        out.emplace_back(parsed->index, parsed->address);
    },
    [&] { out.clear(); });
}

result<link_info> netlink_driver::get_link(std::string_view name) {
  constexpr std::string_view op = "get_link";
  if (auto st = validate_ifname(name, op); !st)
    return st.error();
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, name, scratch);
  if (!sock)
    return sock.error();
  auto link = lookup(**sock, name, op);
  if (!link)
    return link;
  if (link->master_index != 0) {
    auto msg = nl::get_link_by_index(link->master_index);
    // The master can vanish between the two requests; then there is none.
    (void)(*sock)->request(msg, op, name, [&](const nlmsghdr* nlh) {
      if (auto master = nl::parse_link(nlh))
        link->master = master->name;
    });
  }
  std::vector<std::pair<int, address_info>> addresses;
  if (auto st = dump_addresses(**sock, op, addresses); !st)
    return st.error();
  for (auto& [index, address] : addresses)
    if (index == link->index)
      link->addresses.push_back(address);
  std::sort(link->addresses.begin(), link->addresses.end());
  return link;
}

result<bool> netlink_driver::link_exists(std::string_view name) {
  constexpr std::string_view op = "link_exists";
  if (auto st = validate_ifname(name, op); !st)
    return st.error();
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, name, scratch);
  if (!sock)
    return sock.error();
  auto link = lookup(**sock, name, op);
  if (link)
    return true;
  if (link.error().kind() == error_kind::not_found)
    return false;
  return link.error();
}

result<std::vector<link_info>> netlink_driver::list_links() {
  constexpr std::string_view op = "list_links";
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, "", scratch);
  if (!sock)
    return sock.error();
  auto links = dump_links(**sock, op);
  if (!links)
    return links;
  std::vector<std::pair<int, address_info>> addresses;
  if (auto st = dump_addresses(**sock, op, addresses); !st)
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
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, name, scratch);
  if (!sock)
    return sock.error();
  auto link = lookup(**sock, name, op);
  if (!link)
    return link.error();
  if (link->kind != "bridge")
    return error{error_kind::invalid_argument, 0, str(op), str(name),
                 "not a bridge (kind '" + link->kind + "')"};
  auto msg = nl::set_bridge_stp(link->index, on);
  auto st = (*sock)->request(msg, op, name);
  if (!st && is_no_device(st.error()))
    return link_not_found(op, name, st.error().ext_ack());
  return st;
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

namespace {

status map_missing_link(status st, std::string_view op, std::string_view name) {
  if (!st && st.error().err_no() == ENODEV)
    return link_not_found(op, name, st.error().ext_ack());
  return st;
}

} // namespace

status netlink_driver::set_link_up(std::string_view name) {
  constexpr std::string_view op = "set_link_up";
  if (auto st = validate_ifname(name, op); !st)
    return st;
  return map_missing_link(
    simple_request(nl::set_link_updown(name, true), op, name), op, name);
}

status netlink_driver::set_link_down(std::string_view name) {
  constexpr std::string_view op = "set_link_down";
  if (auto st = validate_ifname(name, op); !st)
    return st;
  return map_missing_link(
    simple_request(nl::set_link_updown(name, false), op, name), op, name);
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
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, link, scratch);
  if (!sock)
    return sock.error();
  auto master = lookup(**sock, bridge, op);
  if (!master)
    return master.error();
  auto msg = nl::set_link_master(link, master->index);
  auto object = str(link) + "->" + str(bridge);
  auto st = (*sock)->request(msg, op, object);
  if (!st && is_no_device(st.error())) {
    // ENODEV names either end; say which one is gone.
    auto still = lookup(**sock, bridge, op);
    return link_not_found(op, still ? link : bridge, st.error().ext_ack());
  }
  return st;
}

result<std::size_t>
netlink_driver::bridge_member_count(std::string_view bridge) {
  constexpr std::string_view op = "bridge_member_count";
  if (auto st = validate_ifname(bridge, op); !st)
    return st.error();
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, bridge, scratch);
  if (!sock)
    return sock.error();
  auto links = dump_links(**sock, op);
  if (!links)
    return links.error();
  auto it = std::find_if(links->begin(), links->end(),
                         [&](const link_info& l) { return l.name == bridge; });
  if (it == links->end())
    return std::size_t{0};
  int index = it->index;
  return static_cast<std::size_t>(
    std::count_if(links->begin(), links->end(),
                  [&](const link_info& l) { return l.master_index == index; }));
}

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
  if (auto st = dump_addresses(**sock, op, addresses); !st)
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
  constexpr std::string_view op = "add_route_via_dev";
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
  if (!dev)
    return dev.error();
  auto msg = nl::add_route_via_dev(destination, destination_len, dev->index,
                                   std::nullopt, false);
  return (*sock)->request(msg, op, object);
}

status netlink_driver::replace_route_via_dev(
  const ip_address& destination, std::uint8_t destination_len,
  std::string_view device, const std::optional<ip_address>& source) {
  constexpr std::string_view op = "replace_route_via_dev";
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
                                   source, true);
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

// -- namespaces ---------------------------------------------------------------

result<std::shared_ptr<netns_handle>>
netlink_driver::pin_netns(const netns_spec& spec) {
  auto pinned = pinned_netns::open(spec);
  if (!pinned)
    return pinned.error();
  return std::shared_ptr<netns_handle>{std::move(*pinned)};
}

namespace {

/// Runs `work(socket&)` on a short-lived thread inside `ns`, over a socket
/// opened there.
template <class F>
status in_netns(const pinned_netns& ns, std::string_view op,
                std::string_view object, F&& work) {
  auto thread = netns_thread::start(
    std::const_pointer_cast<pinned_netns>(ns.shared_from_this()));
  if (!thread)
    return thread.error();
  return (*thread)->call([&]() -> status {
    auto sock = nl::socket::open(op, object);
    if (!sock)
      return sock.error();
    return work(**sock);
  });
}

} // namespace

status netlink_driver::move_link_to_netns(std::string_view link,
                                          const netns_handle& target,
                                          std::string_view new_name) {
  constexpr std::string_view op = "move_link_to_netns";
  if (auto st = validate_ifname(link, op); !st)
    return st;
  if (auto st = validate_ifname(new_name, op); !st)
    return st;
  auto object
    = str(link) + "->" + target.spec().describe() + ":" + str(new_name);
  auto* pinned = dynamic_cast<const pinned_netns*>(&target);
  if (pinned == nullptr)
    return error{error_kind::unsupported, 0, str(op), object,
                 "namespace handle does not come from the netlink driver"};
  // Moving into a namespace whose process is gone would silently destroy
  // the link with the namespace; report it instead.
  if (!pinned->origin_alive())
    return pinned->gone_error(op, object);
  auto taken = [&] {
    return error{error_kind::already_exists, EEXIST, str(op), object,
                 "'" + str(new_name) + "' already exists in "
                   + target.spec().describe()};
  };
  std::unique_ptr<nl::socket> scratch;
  auto sock = socket_for(op, object, scratch);
  if (!sock)
    return sock.error();
  auto found = lookup(**sock, link, op);
  if (!found)
    return found.error();

  // The kernel applies IFLA_IFNAME atomically only when the link's current
  // name is taken in the target. Otherwise it moves the link under its
  // current name and renames it afterwards; if `new_name` is taken there,
  // the rename fails with EEXIST *after* the move, leaving the link stranded
  // in the target under its old name. So check the target first, and undo
  // the move if a racing creation still makes the rename fail.
  bool new_name_taken = false;
  auto probe = in_netns(*pinned, op, object, [&](nl::socket& inside) {
    auto existing = lookup(inside, new_name, op);
    if (existing) {
      new_name_taken = true;
      return status{};
    }
    if (existing.error().kind() == error_kind::not_found)
      return status{};
    return status{existing.error()};
  });
  if (!probe)
    return probe;
  if (new_name_taken)
    return taken();

  // Our own namespace, to move the link back into if the rename fails.
  int home_fd = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home_fd < 0)
    return error{error_kind::system, errno, str(op), object,
                 "cannot open /proc/thread-self/ns/net"};
  auto msg = nl::move_link_to_netns(found->index, pinned->fd(), new_name);
  auto st = (*sock)->request(msg, op, object);
  if (st) {
    ::close(home_fd);
    return st;
  }
  auto still_home = lookup(**sock, link, op);
  if (!still_home || still_home->index != found->index) {
    // Moved but not renamed: bring it back under its own name.
    auto back = in_netns(*pinned, op, object, [&](nl::socket& inside) {
      auto moved = lookup(inside, link, op);
      if (!moved)
        return status{moved.error()};
      auto undo = nl::move_link_to_netns(moved->index, home_fd, link);
      return inside.request(undo, op, object);
    });
    if (!back) {
      ::close(home_fd);
      return error{st.error().kind(),
                   st.error().err_no(),
                   str(op),
                   object,
                   "rename in the target failed and moving the link back "
                   "failed too ("
                     + back.error().what() + ")",
                   st.error().ext_ack()};
    }
  }
  ::close(home_fd);
  if (st.error().kind() == error_kind::already_exists) {
    auto e = taken();
    return error{e.kind(),   e.err_no(), e.operation(),
                 e.object(), e.detail(), st.error().ext_ack()};
  }
  if (is_no_device(st.error()))
    return link_not_found(op, link, st.error().ext_ack());
  return st;
}

result<std::unique_ptr<link_driver>>
netlink_driver::enter_netns(std::shared_ptr<netns_handle> target) {
  constexpr std::string_view op = "enter_netns";
  auto pinned = std::dynamic_pointer_cast<pinned_netns>(target);
  if (!pinned)
    return error{error_kind::unsupported, 0, str(op),
                 target ? target->spec().describe() : "null",
                 "namespace handle does not come from the netlink driver"};
  auto session = netns_driver::start(std::move(pinned));
  if (!session)
    return session.error();
  return std::unique_ptr<link_driver>{std::move(*session)};
}

} // namespace overlayd::drivers
