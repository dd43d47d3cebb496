#include "drivers/netns_driver.hpp"

#include "drivers/netlink_driver_detail.hpp"

namespace overlayd::drivers {

using namespace detail;

result<std::unique_ptr<netns_driver>>
netns_driver::start(std::shared_ptr<pinned_netns> ns) {
  constexpr std::string_view op = "enter_netns";
  if (!ns->origin_alive())
    return ns->gone_error(op, ns->spec().describe());
  auto thread = netns_thread::start(ns);
  if (!thread)
    return thread.error();
  // The socket must be created by the thread that entered the namespace: a
  // netlink socket stays bound to its creator's namespace.
  auto sock = (*thread)->call(
    [&] { return nl::socket::open(op, ns->spec().describe()); });
  if (!sock)
    return sock.error();
  auto inner = std::make_unique<netlink_driver>(std::move(*sock));
  return std::unique_ptr<netns_driver>{
    new netns_driver{std::move(ns), std::move(*thread), std::move(inner)}};
}

netns_driver::netns_driver(std::shared_ptr<pinned_netns> ns,
                           std::unique_ptr<netns_thread> thread,
                           std::unique_ptr<netlink_driver> inner)
  : ns_(std::move(ns)), thread_(std::move(thread)), inner_(std::move(inner)) {
  // nop
}

netns_driver::~netns_driver() {
  // Close the socket on the namespace thread before the thread goes away;
  // closing elsewhere would also work, but keeps the ownership obvious.
  thread_->run([this] { inner_.reset(); });
}

template <class F>
auto netns_driver::guarded(std::string_view op, std::string_view object,
                           F&& work)
  -> decltype(work(std::declval<netlink_driver&>())) {
  if (!ns_->origin_alive())
    return ns_->gone_error(op, object);
  return thread_->call([&] { return work(*inner_); });
}

result<link_info> netns_driver::get_link(std::string_view name) {
  return guarded("get_link", name,
                 [&](netlink_driver& d) { return d.get_link(name); });
}

result<bool> netns_driver::link_exists(std::string_view name) {
  return guarded("link_exists", name,
                 [&](netlink_driver& d) { return d.link_exists(name); });
}

result<std::vector<link_info>> netns_driver::list_links() {
  return guarded("list_links", "",
                 [&](netlink_driver& d) { return d.list_links(); });
}

status netns_driver::create_bridge(std::string_view name) {
  return guarded("create_bridge", name,
                 [&](netlink_driver& d) { return d.create_bridge(name); });
}

status netns_driver::set_bridge_stp(std::string_view name, bool on) {
  return guarded("set_bridge_stp", name,
                 [&](netlink_driver& d) { return d.set_bridge_stp(name, on); });
}

status netns_driver::create_veth_pair(std::string_view host,
                                      std::string_view peer) {
  return guarded(
    "create_veth_pair", str(host) + "," + str(peer),
    [&](netlink_driver& d) { return d.create_veth_pair(host, peer); });
}

status netns_driver::delete_link(std::string_view name) {
  return guarded("delete_link", name,
                 [&](netlink_driver& d) { return d.delete_link(name); });
}

status netns_driver::set_link_up(std::string_view name) {
  return guarded("set_link_up", name,
                 [&](netlink_driver& d) { return d.set_link_up(name); });
}

status netns_driver::set_link_down(std::string_view name) {
  return guarded("set_link_down", name,
                 [&](netlink_driver& d) { return d.set_link_down(name); });
}

status netns_driver::set_mtu(std::string_view name, std::uint32_t mtu) {
  return guarded("set_mtu", name,
                 [&](netlink_driver& d) { return d.set_mtu(name, mtu); });
}

status netns_driver::set_master(std::string_view link,
                                std::string_view bridge) {
  return guarded("set_master", str(link) + "->" + str(bridge),
                 [&](netlink_driver& d) { return d.set_master(link, bridge); });
}

result<std::size_t> netns_driver::bridge_member_count(std::string_view bridge) {
  return guarded("bridge_member_count", bridge, [&](netlink_driver& d) {
    return d.bridge_member_count(bridge);
  });
}

status netns_driver::add_address(std::string_view link,
                                 const ip_address& address,
                                 std::uint8_t prefix_len) {
  return guarded("add_address", address_text(link, address, prefix_len),
                 [&](netlink_driver& d) {
                   return d.add_address(link, address, prefix_len);
                 });
}

status netns_driver::delete_address(std::string_view link,
                                    const ip_address& address,
                                    std::uint8_t prefix_len) {
  return guarded("delete_address", address_text(link, address, prefix_len),
                 [&](netlink_driver& d) {
                   return d.delete_address(link, address, prefix_len);
                 });
}

status netns_driver::flush_addresses(std::string_view link) {
  return guarded("flush_addresses", link,
                 [&](netlink_driver& d) { return d.flush_addresses(link); });
}

status netns_driver::add_default_route_via_gateway(const ip_address& gateway) {
  return guarded("add_default_route_via_gateway",
                 "default via " + gateway.to_string(), [&](netlink_driver& d) {
                   return d.add_default_route_via_gateway(gateway);
                 });
}

status netns_driver::add_route_via_dev(const ip_address& destination,
                                       std::uint8_t destination_len,
                                       std::string_view device) {
  return guarded(
    "add_route_via_dev", route_text(destination, destination_len, device),
    [&](netlink_driver& d) {
      return d.add_route_via_dev(destination, destination_len, device);
    });
}

status netns_driver::replace_route_via_dev(
  const ip_address& destination, std::uint8_t destination_len,
  std::string_view device, const std::optional<ip_address>& source) {
  return guarded("replace_route_via_dev",
                 route_text(destination, destination_len, device),
                 [&](netlink_driver& d) {
                   return d.replace_route_via_dev(destination, destination_len,
                                                  device, source);
                 });
}

status netns_driver::delete_route_via_dev(const ip_address& destination,
                                          std::uint8_t destination_len,
                                          std::string_view device) {
  return guarded(
    "delete_route_via_dev", route_text(destination, destination_len, device),
    [&](netlink_driver& d) {
      return d.delete_route_via_dev(destination, destination_len, device);
    });
}

result<std::vector<route_info>> netns_driver::list_routes() {
  return guarded("list_routes", "",
                 [&](netlink_driver& d) { return d.list_routes(); });
}

result<std::shared_ptr<netns_handle>>
netns_driver::pin_netns(const netns_spec& spec) {
  // Opening a namespace file does not depend on the current namespace.
  auto pinned = pinned_netns::open(spec);
  if (!pinned)
    return pinned.error();
  return std::shared_ptr<netns_handle>{std::move(*pinned)};
}

status netns_driver::move_link_to_netns(std::string_view link,
                                        const netns_handle& target,
                                        std::string_view new_name) {
  return guarded("move_link_to_netns", str(link) + "->" + str(new_name),
                 [&](netlink_driver& d) {
                   return d.move_link_to_netns(link, target, new_name);
                 });
}

result<std::unique_ptr<link_driver>>
netns_driver::enter_netns(std::shared_ptr<netns_handle> target) {
  // A nested session gets its own thread; ours stays where it is.
  netlink_driver plain;
  return plain.enter_netns(std::move(target));
}

} // namespace overlayd::drivers
