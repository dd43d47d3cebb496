#pragma once

#include "drivers/link_driver.hpp"
#include "drivers/netlink_driver.hpp"
#include "drivers/netns.hpp"

#include <memory>

namespace overlayd::drivers {

/// A link_driver bound to one pinned namespace. Every call runs on the
/// session's own thread (which entered the namespace once) over a netlink
/// socket opened on that thread, so the caller's thread never changes
/// namespace. Before each call the namespace's origin is checked: once the
/// process has exited or the name was removed, calls fail with
/// `namespace_gone` instead of acting on a namespace nobody will see again.
class netns_driver : public link_driver {
public:
  static result<std::unique_ptr<netns_driver>>
  start(std::shared_ptr<pinned_netns> ns);

  ~netns_driver() override;

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

  const pinned_netns& netns() const noexcept { return *ns_; }

private:
  netns_driver(std::shared_ptr<pinned_netns> ns,
               std::unique_ptr<netns_thread> thread,
               std::unique_ptr<netlink_driver> inner);

  /// Runs `work(inner)` on the namespace thread unless the namespace is gone.
  template <class F>
  auto guarded(std::string_view op, std::string_view object, F&& work)
    -> decltype(work(std::declval<netlink_driver&>()));

  std::shared_ptr<pinned_netns> ns_;
  std::unique_ptr<netns_thread> thread_;
  std::unique_ptr<netlink_driver> inner_;
};

} // namespace overlayd::drivers
