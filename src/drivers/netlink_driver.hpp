#pragma once

#include "drivers/link_driver.hpp"
#include "drivers/netlink_socket.hpp"

#include <memory>
#include <type_traits>

namespace overlayd::drivers {

/// The real backend: rtnetlink through libmnl, acting on the namespace of
/// the thread that makes each call. A default-constructed driver opens a fresh
/// socket per call (like the reference), which makes it safe to share between
/// threads and keeps a slow call from holding up others. Use it from threads
/// that stay in one namespace (the daemon never calls setns on its own
/// threads).
class netlink_driver : public link_driver {
public:
  netlink_driver() = default;

  /// A driver that uses `sock` for every call. `sock` is bound to the
  /// namespace it was opened in; the caller guarantees one thread at a time
  /// (the netns session does: all its calls run on its thread).
  explicit netlink_driver(std::unique_ptr<nl::socket> sock);

  ~netlink_driver() override;

  result<link_info> get_link(std::string_view name) override;
  result<bool> link_exists(std::string_view name) override;
  result<std::vector<link_info>> list_links() override;

  status create_bridge(std::string_view name) override;
  status set_bridge_stp(std::string_view name, bool on) override;
  status create_veth_pair(std::string_view host,
                          std::string_view peer) override;
  status delete_link(std::string_view name) override;
  status set_link_up(std::string_view name) override;
  status set_link_down(std::string_view name) override;
  status set_mtu(std::string_view name, std::uint32_t mtu) override;
  status set_master(std::string_view link, std::string_view bridge) override;
  result<std::size_t> bridge_member_count(std::string_view bridge) override;

  status add_address(std::string_view link, const ip_address& address,
                     std::uint8_t prefix_len) override;
  status delete_address(std::string_view link, const ip_address& address,
                        std::uint8_t prefix_len) override;
  status flush_addresses(std::string_view link) override;

  status add_default_route_via_gateway(const ip_address& gateway) override;
  status add_route_via_dev(const ip_address& destination,
                           std::uint8_t destination_len,
                           std::string_view device) override;
  status
  replace_route_via_dev(const ip_address& destination,
                        std::uint8_t destination_len, std::string_view device,
                        const std::optional<ip_address>& source) override;
  status delete_route_via_dev(const ip_address& destination,
                              std::uint8_t destination_len,
                              std::string_view device) override;
  result<std::vector<route_info>> list_routes() override;

  result<std::shared_ptr<netns_handle>>
  pin_netns(const netns_spec& spec) override;
  status move_link_to_netns(std::string_view link, const netns_handle& target,
                            std::string_view new_name) override;
  result<std::unique_ptr<link_driver>>
  enter_netns(std::shared_ptr<netns_handle> target) override;

private:
  /// The fixed socket, or a fresh one for this call (held in `scratch`).
  result<nl::socket*> socket_for(std::string_view op, std::string_view object,
                                 std::unique_ptr<nl::socket>& scratch);

  /// Runs `body(socket)` on the socket of this call: the start of every
  /// operation that talks to the kernel.
  template <class F>
  auto with_socket(std::string_view op, std::string_view object, F&& body)
    -> std::invoke_result_t<F&, nl::socket&> {
    std::unique_ptr<nl::socket> scratch;
    auto sock = socket_for(op, object, scratch);
    if (!sock)
      return sock.error();
    return body(**sock);
  }

  /// Runs `body(socket, link)` with link `name` looked up on the socket of
  /// this call: the start of every operation that needs a link's index.
  /// A lookup failure (not_found for a missing link) is returned as is.
  template <class F>
  auto with_link(std::string_view op, std::string_view object,
                 std::string_view name, F&& body)
    -> std::invoke_result_t<F&, nl::socket&, link_info&> {
    return with_socket(op, object,
                       [&](nl::socket& sock)
                         -> std::invoke_result_t<F&, nl::socket&, link_info&> {
                         auto link = lookup(sock, name, op);
                         if (!link)
                           return link.error();
                         return body(sock, *link);
                       });
  }

  /// Lookup by name on an already open socket.
  result<link_info> lookup(nl::socket& sock, std::string_view name,
                           std::string_view op);
  /// Dumps every link (without addresses) on an open socket.
  result<std::vector<link_info>> dump_links(nl::socket& sock,
                                            std::string_view op);
  /// Dumps the addresses of link `index` (every link for 0) on an open
  /// socket, as (link index, address) pairs.
  status dump_addresses(nl::socket& sock, std::string_view op, int index,
                        std::vector<std::pair<int, address_info>>& out);
  /// Sends one request that needs only an ack.
  status simple_request(nl::message msg, std::string_view op,
                        std::string_view object);
  /// Brings a link up or down: the shared body of set_link_up and
  /// set_link_down.
  status set_link_updown(std::string_view op, std::string_view name, bool up);
  /// Adds (or, with `replace`, replaces) a route to a prefix via a
  /// device, optionally preferring `source`: the shared body of
  /// add_route_via_dev and replace_route_via_dev.
  status route_via_dev(std::string_view op, const ip_address& destination,
                       std::uint8_t destination_len, std::string_view device,
                       const std::optional<ip_address>& source, bool replace);

  std::unique_ptr<nl::socket> fixed_;
};

} // namespace overlayd::drivers
