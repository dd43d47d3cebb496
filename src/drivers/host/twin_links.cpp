#include "drivers/host/twin_links.hpp"

#include <algorithm>
#include <cerrno>
#include <linux/if.h>

#include "drivers/host/firewall_rules.hpp"

namespace overlayd::drivers::twin_detail {

namespace {

constexpr std::uint8_t scope_universe = 0;
constexpr std::uint8_t scope_link = 253;
constexpr std::uint8_t proto_kernel = 2;
constexpr std::uint8_t proto_static = 4;
constexpr std::uint32_t v6_kernel_metric = 256;
constexpr std::uint32_t v6_static_metric = 1024;

error kernel_error(int err_no, std::string_view op, std::string_view object) {
  return error::from_errno(err_no, std::string{op}, std::string{object});
}

ip_address masked(ip_address a, unsigned len) {
  return ip_network::parse(a.to_string() + "/" + std::to_string(len))->network;
}

bool contains(const ip_address& net, unsigned len, const ip_address& a) {
  return net.family == a.family && masked(a, len) == net;
}

/// The kernel's connected routes of `ns`: IPv4 prefix routes of up links
/// (one per prefix and device, from the first address), IPv6 prefix routes
/// of up links.
std::vector<route> connected_routes(const netns& ns) {
  std::vector<route> out;
  for (const auto& [index, l] : ns.links) {
    if (!l.up)
      continue;
    if (l.loopback)
      continue; // ::1 and 127/8 live in the local table only
    for (const auto& a : l.addresses) {
      if (a.prefix_len == a.address.max_prefix())
        continue;
      route r;
      r.oif = index;
      r.info.destination = masked(a.address, a.prefix_len);
      r.info.destination_len = a.prefix_len;
      r.info.device = l.name;
      r.info.protocol = proto_kernel;
      if (a.address.is_v6()) {
        r.info.scope = scope_universe;
        r.info.metric = v6_kernel_metric;
      } else {
        r.info.scope = scope_link;
        r.info.preferred_source = a.address;
      }
      bool dup = std::any_of(out.begin(), out.end(), [&](const route& o) {
        return o.oif == r.oif && o.info.destination == r.info.destination
               && o.info.destination_len == r.info.destination_len;
      });
      if (!dup)
        out.push_back(std::move(r));
    }
  }
  return out;
}

std::vector<route> all_routes(const netns& ns) {
  auto out = connected_routes(ns);
  out.insert(out.end(), ns.routes.begin(), ns.routes.end());
  return out;
}

/// True iff `a` is an address of an up link in `ns` (the kernel's local
/// table).
bool is_local_address(const netns& ns, const ip_address& a) {
  for (const auto& [index, l] : ns.links)
    if (l.up)
      for (const auto& have : l.addresses)
        if (have.address == a)
          return true;
  return false;
}

/// Same key as far as NLM_F_EXCL/REPLACE is concerned: IPv4 matches on
/// prefix and priority (whatever the device), IPv6 on prefix and metric.
bool same_route_key(const route_info& a, const route_info& b) {
  return a.destination == b.destination
         && a.destination_len == b.destination_len && a.metric == b.metric;
}

void bridge_mtu_auto_adjust(netns& ns, link& br) {
  if (br.kind != "bridge" || br.mtu_set_by_user)
    return;
  std::optional<std::uint32_t> lowest;
  for (const auto& [index, l] : ns.links)
    if (l.master == br.index)
      lowest = std::min(lowest.value_or(l.mtu), l.mtu);
  if (lowest)
    br.mtu = *lowest;
}

/// What the kernel does when a device goes down: IPv4 routes through it go,
/// IPv6 routes and global addresses go (keep_addr_on_down=0).
void on_down(netns& ns, link& l) {
  std::erase_if(ns.routes, [&](const route& r) { return r.oif == l.index; });
  if (!l.loopback)
    std::erase_if(l.addresses,
                  [](const address_info& a) { return a.address.is_v6(); });
}

/// After an IPv4 address left a device: routes preferring it as source go,
/// and with no IPv4 address left every IPv4 route through the device goes.
void on_v4_address_removed(netns& ns, link& l, const ip_address& gone) {
  // Routes preferring the address go only once it is no longer local
  // anywhere (the same address may remain under another prefix).
  bool still_local = false;
  for (const auto& [index, other] : ns.links)
    for (const auto& a : other.addresses)
      still_local = still_local || a.address == gone;
  if (!still_local)
    std::erase_if(ns.routes, [&](const route& r) {
      return r.info.preferred_source && *r.info.preferred_source == gone;
    });
  bool any_v4
    = std::any_of(l.addresses.begin(), l.addresses.end(),
                  [](const address_info& a) { return !a.address.is_v6(); });
  if (!any_v4)
    std::erase_if(ns.routes, [&](const route& r) {
      return r.oif == l.index && !r.info.destination.is_v6();
    });
}

link_info to_info(const netns& ns, const link& l) {
  link_info out;
  out.name = l.name;
  out.index = l.index;
  out.kind = l.kind;
  out.mtu = l.mtu;
  out.up = l.up;
  out.flags = (l.up ? IFF_UP | IFF_RUNNING | IFF_LOWER_UP : 0u)
              | (l.loopback ? IFF_LOOPBACK : IFF_BROADCAST | IFF_MULTICAST);
  out.master_index = l.master;
  if (l.master != 0) {
    auto it = ns.links.find(l.master);
    if (it != ns.links.end())
      out.master = it->second.name;
  }
  out.addresses = l.addresses;
  std::sort(out.addresses.begin(), out.addresses.end());
  return out;
}

class twin_link_driver final : public link_driver {
public:
  twin_link_driver(std::shared_ptr<core> c, std::shared_ptr<netns> ns,
                   std::shared_ptr<twin_netns_handle> origin)
    : core_(std::move(c)), ns_(std::move(ns)), origin_(std::move(origin)) {
    // nop
  }

  result<link_info> get_link(std::string_view name) override {
    return with<link_info>(
      "get_link", name, [&](netns& ns) -> result<link_info> {
        if (auto st = validate_ifname(name, "get_link"); !st)
          return st.error();
        auto* l = find_link(ns, name);
        if (l == nullptr)
          return kernel_error(ENODEV, "get_link", name);
        return to_info(ns, *l);
      });
  }

  result<bool> link_exists(std::string_view name) override {
    return with<bool>("link_exists", name, [&](netns& ns) -> result<bool> {
      if (auto st = validate_ifname(name, "link_exists"); !st)
        return st.error();
      return find_link(ns, name) != nullptr;
    });
  }

  result<std::vector<link_info>> list_links() override {
    using links_t = std::vector<link_info>;
    return with<links_t>("list_links", "", [&](netns& ns) -> result<links_t> {
      links_t out;
      for (const auto& [index, l] : ns.links)
        out.push_back(to_info(ns, l));
      return out;
    });
  }

  status create_bridge(std::string_view name) override {
    return with_status("create_bridge", name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(name, "create_bridge"); !st)
        return st;
      if (find_link(ns, name) != nullptr)
        return {}; // EEXIST is success; the kind is not checked
      link br;
      br.name = name;
      br.kind = "bridge";
      add_link(ns, std::move(br));
      return {};
    });
  }

  status set_bridge_stp(std::string_view name, bool on) override {
    return with_status("set_bridge_stp", name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(name, "set_bridge_stp"); !st)
        return st;
      auto* l = find_link(ns, name);
      if (l == nullptr)
        return kernel_error(ENODEV, "set_bridge_stp", name);
      if (l->kind != "bridge")
        return error{error_kind::invalid_argument, 0, "set_bridge_stp",
                     std::string{name}, "not a bridge"};
      l->stp = on;
      return {};
    });
  }

  status create_veth_pair(std::string_view host,
                          std::string_view peer) override {
    return with_status("create_veth_pair", host, [&](netns& ns) -> status {
      if (auto st = validate_ifname(host, "create_veth_pair"); !st)
        return st;
      if (auto st = validate_ifname(peer, "create_veth_pair"); !st)
        return st;
      if (find_link(ns, host) != nullptr || find_link(ns, peer) != nullptr
          || host == peer)
        return kernel_error(EEXIST, "create_veth_pair", host);
      // The kernel registers the peer first; it is created up (the
      // reference sets IFF_UP on the outer message), the host end down.
      link p;
      p.name = peer;
      p.kind = "veth";
      p.up = true;
      auto& pl = add_link(ns, std::move(p));
      int peer_index = pl.index;
      link h;
      h.name = host;
      h.kind = "veth";
      h.peer_ns = ns_;
      h.peer_index = peer_index;
      auto& hl = add_link(ns, std::move(h));
      ns.links[peer_index].peer_ns = ns_;
      ns.links[peer_index].peer_index = hl.index;
      return {};
    });
  }

  status delete_link(std::string_view name) override {
    return with_status("delete_link", name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(name, "delete_link"); !st)
        return st;
      auto* l = find_link(ns, name);
      if (l == nullptr)
        return {};
      if (l->loopback)
        return kernel_error(EOPNOTSUPP, "delete_link", name);
      auto master = l->master;
      remove_link(ns, l->index);
      if (auto* br = find_link(ns, master))
        bridge_mtu_auto_adjust(ns, *br);
      return {};
    });
  }

  status set_link_up(std::string_view name) override {
    return set_up("set_link_up", name, true);
  }

  status set_link_down(std::string_view name) override {
    return set_up("set_link_down", name, false);
  }

  status set_mtu(std::string_view name, std::uint32_t mtu) override {
    return with_status("set_mtu", name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(name, "set_mtu"); !st)
        return st;
      auto* l = find_link(ns, name);
      if (l == nullptr)
        return kernel_error(ENODEV, "set_mtu", name);
      if (mtu < l->min_mtu || mtu > l->max_mtu)
        return kernel_error(EINVAL, "set_mtu", name);
      l->mtu = mtu;
      if (l->kind == "bridge")
        l->mtu_set_by_user = true;
      if (auto* br = find_link(ns, l->master))
        bridge_mtu_auto_adjust(ns, *br);
      return {};
    });
  }

  status set_master(std::string_view link_name,
                    std::string_view bridge) override {
    return with_status("set_master", link_name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(link_name, "set_master"); !st)
        return st;
      if (auto st = validate_ifname(bridge, "set_master"); !st)
        return st;
      auto* l = find_link(ns, link_name);
      if (l == nullptr)
        return kernel_error(ENODEV, "set_master", link_name);
      auto* br = find_link(ns, bridge);
      if (br == nullptr)
        return kernel_error(ENODEV, "set_master", bridge);
      if (br->kind != "bridge")
        return kernel_error(EOPNOTSUPP, "set_master", bridge);
      if (l == br)
        return kernel_error(EINVAL, "set_master", link_name);
      if (l->kind == "bridge")
        return kernel_error(ELOOP, "set_master", link_name);
      if (l->loopback)
        return kernel_error(EINVAL, "set_master", link_name);
      if (l->master == br->index)
        return {};
      auto old = l->master;
      l->master = br->index;
      if (auto* old_br = find_link(ns, old))
        bridge_mtu_auto_adjust(ns, *old_br);
      bridge_mtu_auto_adjust(ns, *br);
      return {};
    });
  }

  result<std::size_t> bridge_member_count(std::string_view bridge) override {
    return with<std::size_t>(
      "bridge_member_count", bridge, [&](netns& ns) -> result<std::size_t> {
        if (auto st = validate_ifname(bridge, "bridge_member_count"); !st)
          return st.error();
        auto* br = find_link(ns, bridge);
        if (br == nullptr)
          return std::size_t{0};
        return static_cast<std::size_t>(
          std::count_if(ns.links.begin(), ns.links.end(), [&](const auto& kv) {
            return kv.second.master == br->index;
          }));
      });
  }

  status add_address(std::string_view link_name, const ip_address& address,
                     std::uint8_t prefix_len) override {
    return with_status("add_address", link_name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(link_name, "add_address"); !st)
        return st;
      if (prefix_len > address.max_prefix())
        return error{error_kind::invalid_argument, 0, "add_address",
                     std::string{link_name}, "prefix length out of range"};
      auto* l = find_link(ns, link_name);
      if (l == nullptr)
        return kernel_error(ENODEV, "add_address", link_name);
      for (const auto& have : l->addresses) {
        // IPv4 allows one address under several prefixes; IPv6 does not.
        if (have.address == address
            && (address.is_v6() || have.prefix_len == prefix_len))
          return kernel_error(EEXIST, "add_address", link_name);
      }
      l->addresses.push_back({address, prefix_len});
      return {};
    });
  }

  status delete_address(std::string_view link_name, const ip_address& address,
                        std::uint8_t prefix_len) override {
    return with_status("delete_address", link_name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(link_name, "delete_address"); !st)
        return st;
      auto* l = find_link(ns, link_name);
      if (l == nullptr)
        return {};
      auto it = std::find(l->addresses.begin(), l->addresses.end(),
                          address_info{address, prefix_len});
      if (it == l->addresses.end())
        return {};
      if (address.is_v6()) {
        l->addresses.erase(it);
        return {};
      }
      // Deleting a primary IPv4 address deletes its secondaries (the
      // later addresses of the same subnet), as promote_secondaries=0.
      auto subnet = masked(address, prefix_len);
      bool primary = std::none_of(l->addresses.begin(), it, [&](auto& a) {
        return !a.address.is_v6() && a.prefix_len == prefix_len
               && masked(a.address, prefix_len) == subnet;
      });
      std::vector<ip_address> gone{address};
      auto pos = static_cast<std::size_t>(it - l->addresses.begin());
      l->addresses.erase(it);
      if (primary) {
        for (auto j = l->addresses.begin() + static_cast<long>(pos);
             j != l->addresses.end();) {
          if (!j->address.is_v6() && j->prefix_len == prefix_len
              && masked(j->address, prefix_len) == subnet) {
            gone.push_back(j->address);
            j = l->addresses.erase(j);
          } else {
            ++j;
          }
        }
      }
      for (const auto& a : gone)
        on_v4_address_removed(ns, *l, a);
      return {};
    });
  }

  status flush_addresses(std::string_view link_name) override {
    return with_status("flush_addresses", link_name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(link_name, "flush_addresses"); !st)
        return st;
      auto* l = find_link(ns, link_name);
      if (l == nullptr)
        return kernel_error(ENODEV, "flush_addresses", link_name);
      auto gone = std::move(l->addresses);
      l->addresses.clear();
      for (const auto& a : gone)
        if (!a.address.is_v6())
          on_v4_address_removed(ns, *l, a.address);
      return {};
    });
  }

  status add_default_route_via_gateway(const ip_address& gateway) override {
    auto object = gateway.to_string();
    return with_status("add_default_route", object, [&](netns& ns) -> status {
      constexpr std::string_view op = "add_default_route";
      route r;
      r.info.destination.family = gateway.family;
      r.info.destination_len = 0;
      r.info.gateway = gateway;
      r.info.scope = scope_universe;
      r.info.protocol = proto_static;
      r.info.metric = gateway.is_v6() ? v6_static_metric : 0;
      // The gateway must be on-link: one of our own addresses (the kernel
      // accepts a local gateway) or reachable through a route without a
      // gateway of its own (longest prefix wins).
      for (const auto& [index, l] : ns.links) {
        if (!l.up)
          continue;
        for (const auto& have : l.addresses) {
          if (have.address == gateway) {
            r.oif = index;
            r.info.device = l.name;
            return insert_default(ns, std::move(r), op, object);
          }
        }
      }
      const auto routes = all_routes(ns);
      const route* via = nullptr;
      for (const auto& have : routes) {
        if (have.info.gateway
            || !contains(have.info.destination, have.info.destination_len,
                         gateway))
          continue;
        if (via == nullptr
            || have.info.destination_len > via->info.destination_len)
          via = &have;
      }
      if (via == nullptr)
        return kernel_error(gateway.is_v6() ? EHOSTUNREACH : ENETUNREACH, op,
                            object);
      r.oif = via->oif;
      r.info.device = via->info.device;
      return insert_default(ns, std::move(r), op, object);
    });
  }

  status add_route_via_dev(const ip_address& destination,
                           std::uint8_t destination_len,
                           std::string_view device) override {
    return put_route("add_route_via_dev", destination, destination_len, device,
                     std::nullopt, false);
  }

  status
  replace_route_via_dev(const ip_address& destination,
                        std::uint8_t destination_len, std::string_view device,
                        const std::optional<ip_address>& source) override {
    if (source && source->family != destination.family)
      return error{error_kind::invalid_argument, 0, "replace_route_via_dev",
                   destination.to_string(),
                   "address family mismatch: dest=" + destination.to_string()
                     + " src=" + source->to_string()};
    return put_route("replace_route_via_dev", destination, destination_len,
                     device, source, true);
  }

  status delete_route_via_dev(const ip_address& destination,
                              std::uint8_t destination_len,
                              std::string_view device) override {
    return with_status(
      "delete_route_via_dev", device, [&](netns& ns) -> status {
        if (auto st = validate_ifname(device, "delete_route_via_dev"); !st)
          return st;
        auto* l = find_link(ns, device);
        if (l == nullptr)
          return {};
        auto dst = masked(destination, destination_len);
        auto it = std::find_if(
          ns.routes.begin(), ns.routes.end(), [&](const route& r) {
            return r.oif == l->index && r.info.destination == dst
                   && r.info.destination_len == destination_len;
          });
        if (it != ns.routes.end())
          ns.routes.erase(it);
        return {};
      });
  }

  result<std::vector<route_info>> list_routes() override {
    using routes_t = std::vector<route_info>;
    return with<routes_t>("list_routes", "",
                          [&](netns& ns) -> result<routes_t> {
                            routes_t out;
                            for (const auto& r : all_routes(ns))
                              out.push_back(r.info);
                            return out;
                          });
  }

  result<std::shared_ptr<netns_handle>>
  pin_netns(const netns_spec& spec) override {
    using handle_t = std::shared_ptr<netns_handle>;
    if (auto f = core_->enter("pin_netns"))
      return *f;
    std::lock_guard<std::mutex> guard{core_->mtx};
    std::shared_ptr<netns> target;
    if (auto* pid = std::get_if<pid_t>(&spec.where)) {
      if (*pid <= 0)
        return error{error_kind::invalid_argument, EINVAL, "pin_netns",
                     spec.describe(), "pid must be positive"};
      auto it = core_->processes.find(*pid);
      if (it != core_->processes.end())
        target = it->second;
    } else {
      auto it = core_->named.find(std::get<std::string>(spec.where));
      if (it != core_->named.end())
        target = it->second;
    }
    if (!target)
      return error{error_kind::namespace_gone, ENOENT, "pin_netns",
                   spec.describe(), "no such namespace"};
    return handle_t{
      std::make_shared<twin_netns_handle>(core_, spec, std::move(target))};
  }

  status move_link_to_netns(std::string_view link_name,
                            const netns_handle& target,
                            std::string_view new_name) override {
    auto* handle = dynamic_cast<const twin_netns_handle*>(&target);
    if (handle == nullptr)
      return error{error_kind::unsupported, 0, "move_link_to_netns",
                   std::string{link_name},
                   "namespace handle of another driver"};
    return with_status(
      "move_link_to_netns", link_name, [&](netns& ns) -> status {
        constexpr std::string_view op = "move_link_to_netns";
        if (auto st = validate_ifname(link_name, op); !st)
          return st;
        if (auto st = validate_ifname(new_name, op); !st)
          return st;
        if (!handle->origin_alive_locked())
          return error{error_kind::namespace_gone, 0, std::string{op},
                       target.spec().describe(), "namespace origin is gone"};
        auto* l = find_link(ns, link_name);
        if (l == nullptr)
          return kernel_error(ENODEV, op, link_name);
        // Bridges and loopback are NETIF_F_NETNS_LOCAL.
        if (l->kind == "bridge" || l->loopback)
          return kernel_error(EINVAL, op, link_name);
        auto& dst = *handle->ns();
        if (&dst == &ns) {
          auto* other = find_link(ns, new_name);
          if (other != nullptr && other != l)
            return kernel_error(EEXIST, op, new_name);
          l->name = new_name;
          return {};
        }
        if (find_link(dst, new_name) != nullptr)
          return kernel_error(EEXIST, op, new_name);
        link moved = *l;
        auto old_index = moved.index;
        auto old_master = moved.master;
        // Detach from the source without touching the peer, which stays.
        moved.peer_ns = l->peer_ns;
        ns.links.erase(old_index);
        std::erase_if(ns.routes,
                      [&](const route& r) { return r.oif == old_index; });
        if (auto* br = find_link(ns, old_master))
          bridge_mtu_auto_adjust(ns, *br);
        moved.name = new_name;
        moved.up = false;
        moved.master = 0;
        moved.addresses.clear();
        moved.conf.clear();
        auto& placed = add_link(dst, std::move(moved));
        if (auto peer_ns = placed.peer_ns.lock()) {
          if (auto* peer = find_link(*peer_ns, placed.peer_index)) {
            peer->peer_ns = handle->ns();
            peer->peer_index = placed.index;
          }
        }
        return {};
      });
  }

  result<std::unique_ptr<link_driver>>
  enter_netns(std::shared_ptr<netns_handle> target) override {
    using driver_t = std::unique_ptr<link_driver>;
    auto handle = std::dynamic_pointer_cast<twin_netns_handle>(target);
    if (!handle)
      return error{error_kind::unsupported, 0, "enter_netns",
                   target ? target->spec().describe() : "",
                   "namespace handle of another driver"};
    if (auto f = core_->enter("enter_netns"))
      return *f;
    std::lock_guard<std::mutex> guard{core_->mtx};
    if (!handle->origin_alive_locked())
      return error{error_kind::namespace_gone, 0, "enter_netns",
                   handle->spec().describe(), "namespace origin is gone"};
    return driver_t{
      std::make_unique<twin_link_driver>(core_, handle->ns(), handle)};
  }

private:
  /// Fault injection, the lock, the entered-namespace check and reaping of
  /// veths whose peer died, then `body`.
  template <class T, class F>
  result<T> with(std::string_view op, std::string_view object, F&& body) {
    if (auto f = core_->enter(op, object))
      return *f;
    std::lock_guard<std::mutex> guard{core_->mtx};
    if (origin_ && !origin_->origin_alive_locked())
      return error{error_kind::namespace_gone, 0, std::string{op},
                   std::string{object},
                   origin_->spec().describe() + " is gone"};
    reap_dead_peers(*ns_);
    return body(*ns_);
  }

  template <class F>
  status with_status(std::string_view op, std::string_view object, F&& body) {
    auto r = with<bool>(op, object, [&](netns& ns) -> result<bool> {
      auto st = body(ns);
      if (!st)
        return st.error();
      return true;
    });
    if (!r)
      return r.error();
    return {};
  }

  status set_up(std::string_view op, std::string_view name, bool up) {
    return with_status(op, name, [&](netns& ns) -> status {
      if (auto st = validate_ifname(name, op); !st)
        return st;
      auto* l = find_link(ns, name);
      if (l == nullptr)
        return kernel_error(ENODEV, op, name);
      if (l->up && !up)
        on_down(ns, *l);
      if (!l->up && up && l->loopback) {
        // Bringing lo up gives it its well-known addresses.
        for (auto text : {"127.0.0.1", "::1"}) {
          auto a = *ip_address::parse(text);
          address_info want{a, static_cast<std::uint8_t>(a.is_v6() ? 128 : 8)};
          if (std::find(l->addresses.begin(), l->addresses.end(), want)
              == l->addresses.end())
            l->addresses.push_back(want);
        }
      }
      l->up = up;
      return {};
    });
  }

  /// The kernel validates the next hop first, then refuses a duplicate.
  static status insert_default(netns& ns, route r, std::string_view op,
                               std::string_view object) {
    for (const auto& have : all_routes(ns))
      if (same_route_key(have.info, r.info))
        return kernel_error(EEXIST, op, object);
    ns.routes.push_back(std::move(r));
    return {};
  }

  status put_route(std::string_view op, const ip_address& destination,
                   std::uint8_t destination_len, std::string_view device,
                   const std::optional<ip_address>& source, bool replace) {
    return with_status(op, device, [&](netns& ns) -> status {
      if (auto st = validate_ifname(device, op); !st)
        return st;
      if (destination_len > destination.max_prefix())
        return error{error_kind::invalid_argument, 0, std::string{op},
                     destination.to_string(), "prefix length out of range"};
      auto* l = find_link(ns, device);
      if (l == nullptr)
        return kernel_error(ENODEV, op, device);
      auto dst = masked(destination, destination_len);
      // IPv4 refuses host bits under the prefix; IPv6 clears them.
      if (!destination.is_v6() && dst != destination)
        return kernel_error(EINVAL, op, destination.to_string());
      if (!l->up)
        return kernel_error(ENETDOWN, op, device);
      if (source && !is_local_address(ns, *source))
        return kernel_error(EINVAL, op, source->to_string());
      route r;
      r.oif = l->index;
      r.info.destination = dst;
      r.info.destination_len = destination_len;
      r.info.device = l->name;
      r.info.preferred_source = source;
      r.info.scope = destination.is_v6() ? scope_universe : scope_link;
      r.info.protocol = proto_static;
      r.info.metric = destination.is_v6() ? v6_static_metric : 0;
      auto clash = std::find_if(
        ns.routes.begin(), ns.routes.end(),
        [&](const route& have) { return same_route_key(have.info, r.info); });
      auto connected = connected_routes(ns);
      bool clash_connected = std::any_of(
        connected.begin(), connected.end(),
        [&](const route& have) { return same_route_key(have.info, r.info); });
      if (clash != ns.routes.end()) {
        if (!replace)
          return kernel_error(EEXIST, op, destination.to_string());
        *clash = std::move(r);
        return {};
      }
      if (clash_connected && !replace)
        return kernel_error(EEXIST, op, destination.to_string());
      ns.routes.push_back(std::move(r));
      return {};
    });
  }

  std::shared_ptr<core> core_;
  std::shared_ptr<netns> ns_;
  std::shared_ptr<twin_netns_handle> origin_;
};

} // namespace

bool twin_netns_handle::origin_alive() const {
  std::lock_guard<std::mutex> guard{core_->mtx};
  return origin_alive_locked();
}

bool twin_netns_handle::origin_alive_locked() const {
  if (auto* pid = std::get_if<pid_t>(&spec_.where)) {
    auto it = core_->processes.find(*pid);
    return it != core_->processes.end() && it->second == ns_;
  }
  auto it = core_->named.find(std::get<std::string>(spec_.where));
  return it != core_->named.end() && it->second == ns_;
}

std::unique_ptr<link_driver>
make_twin_link_driver(std::shared_ptr<core> c, std::shared_ptr<netns> ns,
                      std::shared_ptr<twin_netns_handle> origin) {
  return std::make_unique<twin_link_driver>(std::move(c), std::move(ns),
                                            std::move(origin));
}

} // namespace overlayd::drivers::twin_detail
