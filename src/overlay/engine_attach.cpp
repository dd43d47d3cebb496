// Container attach and detach (dataplane §5.4, §5.5) for every handle kind.
// Host work: run with host_mu_ held, on a driver worker.

#include "drivers/host/orphan_sweep.hpp"
#include "ipam/interface_name.hpp"
#include "overlay/convert.hpp"
#include "overlay/engine.hpp"

namespace overlayd::overlay {

ipc::response engine::attach_container(const ipc::req::attach_container& r) {
  std::lock_guard guard{host_mu_};
  if (r.dns_server)
    dns_server_ = r.dns_server;
  if (r.dns_domain)
    dns_domain_ = r.dns_domain;
  return std::visit(
    [&](const auto& h) -> ipc::response {
      using T = std::decay_t<decltype(h)>;
      if constexpr (std::is_same_v<T, ipc::linux_pid_handle>)
        return attach_linux(h.pid, r);
      else if constexpr (std::is_same_v<T, ipc::host_shared_handle>)
        return attach_host_shared(h.id, r);
      else if constexpr (std::is_same_v<T, ipc::guest_managed_handle>)
        return attach_guest(h.id, r);
      else
        return ipc::other_error(
          "WindowsContainer attach is only supported on Windows");
    },
    r.handle);
}

ipc::response engine::detach_container(const ipc::req::detach_container& r) {
  std::lock_guard guard{host_mu_};
  return std::visit(
    [&](const auto& h) -> ipc::response {
      using T = std::decay_t<decltype(h)>;
      if constexpr (std::is_same_v<T, ipc::linux_pid_handle>)
        return detach_linux(h.pid);
      else if constexpr (std::is_same_v<T, ipc::host_shared_handle>)
        return detach_host_shared(h.id);
      else if constexpr (std::is_same_v<T, ipc::guest_managed_handle>)
        return detach_guest(h.id);
      else
        return ipc::resp::ok{}; // the reference's non-Windows detach
    },
    r.handle);
}

// -- isolation
// ----------------------------------------------------------------------

void engine::join_isolation(const std::string& net, const net::ip_address& ip) {
  auto& members = network_members_[net];
  // Non-fatal like the reference: the member is recorded either way.
  (void)host_.firewall().ensure_member_isolation(
    net, to_driver(ip), to_driver(members), to_driver(node_ip_or_default()),
    cluster_or_default());
  members.insert(ip);
}

void engine::leave_isolation(const std::string& net,
                             const net::ip_address& ip) {
  auto i = network_members_.find(net);
  std::set<net::ip_address> remaining;
  if (i != network_members_.end()) {
    i->second.erase(ip);
    remaining = i->second;
  }
  (void)host_.firewall().remove_member_isolation(
    net, to_driver(ip), to_driver(remaining), to_driver(node_ip_or_default()),
    cluster_or_default());
  if (i != network_members_.end() && i->second.empty())
    network_members_.erase(i);
}

// -- linux_pid
// -----------------------------------------------------------------------

ipc::response engine::attach_linux(std::uint32_t pid,
                                   const ipc::req::attach_container& r) {
  bridge_record* bridge = nullptr;
  if (service_is_shared(r.service)) {
    if (!shared_bridge_)
      return ipc::other_error("no shared bridge for Shared-mode service "
                              + r.service
                              + "; call setup_service_overlay() first");
    bridge = &*shared_bridge_;
  } else {
    auto i = service_bridges_.find(r.service);
    if (i == service_bridges_.end())
      return ipc::other_error("no service bridge for service " + r.service
                              + "; call setup_service_overlay() first");
    bridge = &i->second;
  }
  auto ip = bridge->pool.allocate();
  if (!ip)
    return ipc::resp::err{ip.error().wire_message()};
  if (auto err = attach_to_interface(pid, *ip, "s", "eth0", bridge)) {
    bridge->pool.release(*ip);
    return *err;
  }
  std::optional<net::ip_address> global_ip;
  if (r.join_global && global_interface_) {
    auto g = slice_allocator_.allocate();
    if (!g)
      return ipc::resp::err{g.error().wire_message()};
    // As the reference, g is not given back when this fails.
    if (auto err = attach_to_interface(pid, *g, "g", "eth1", nullptr))
      return *err;
    global_ip = *g;
  }
  if (r.isolation_network)
    join_isolation(*r.isolation_network, *ip);
  attached_[pid] = attach_record{*ip, r.service, global_ip, r.ephemeral,
                                 r.isolation_network};
  return ipc::resp::attached{{*ip, std::nullopt}};
}

std::optional<ipc::resp::err>
engine::attach_to_interface(std::uint32_t pid, const net::ip_address& ip,
                            const std::string& tag, const std::string& ifname,
                            const bridge_record* bridge) {
  auto& links = host_.links();
  (void)drivers::sweep_orphan_veths(links, options_.pid_alive);
  std::uint8_t prefix = bridge != nullptr
                          ? static_cast<std::uint8_t>(bridge->subnet.prefix())
                          : (ip.is_v6() ? 64 : 24);
  std::uint8_t host_prefix = ip.is_v6() ? 128 : 32;
  auto veth_host = ipam::host_veth_name(pid, tag);
  auto veth_pending = ipam::peer_veth_name(pid, tag);
  auto ns
    = links.pin_netns(drivers::netns_spec::of_pid(static_cast<pid_t>(pid)));
  if (!ns)
    return ipc::overlay_error("Failed to open /proc/" + std::to_string(pid)
                              + "/ns/net: " + ns.error().what());
  if (auto st = links.delete_link(veth_host); !st)
    return ipc::overlay_error("pre-cleanup delete " + veth_host + ": "
                              + st.error().what());
  if (auto st = links.delete_link(veth_pending); !st)
    return ipc::overlay_error("pre-cleanup delete " + veth_pending + ": "
                              + st.error().what());
  auto steps = [&]() -> std::optional<ipc::resp::err> {
    if (auto st = links.create_veth_pair(veth_host, veth_pending); !st)
      return ipc::overlay_error("create veth pair: " + st.error().what());
    if (auto st = links.move_link_to_netns(veth_pending, **ns, ifname); !st)
      return ipc::overlay_error("move veth into netns: " + st.error().what());
    auto inside = drivers::with_netns(
      links, *ns, [&](drivers::link_driver& c) -> drivers::status {
        if (auto st = c.add_address(ifname, to_driver(ip), prefix); !st)
          return st;
        if (auto st = c.set_link_up(ifname); !st)
          return st;
        if (auto st = c.set_link_up("lo"); !st)
          return st;
        if (bridge != nullptr)
          return c.add_default_route_via_gateway(to_driver(bridge->gateway));
        return {};
      });
    if (!inside)
      return ipc::overlay_error("container netns ops: "
                                + inside.error().what());
    if (auto st = links.set_link_up(veth_host); !st)
      return ipc::overlay_error("set " + veth_host
                                + " up: " + st.error().what());
    if (bridge != nullptr) {
      if (auto st = links.set_master(veth_host, bridge->name); !st)
        return ipc::overlay_error("enslave " + veth_host + " to bridge "
                                  + bridge->name + ": " + st.error().what());
    } else {
      std::optional<drivers::ip_address> src;
      if (node_ip_)
        src = to_driver(*node_ip_);
      if (auto st = links.replace_route_via_dev(to_driver(ip), host_prefix,
                                                veth_host, src);
          !st)
        return ipc::overlay_error("host route for " + ip.to_string() + "/"
                                  + std::to_string(host_prefix) + ": "
                                  + st.error().what());
    }
    return std::nullopt;
  };
  if (auto err = steps()) {
    (void)links.delete_link(veth_host);
    (void)links.delete_link(veth_pending);
    return err;
  }
  std::optional<std::string_view> bridge_name;
  if (bridge != nullptr)
    bridge_name = bridge->name;
  if (!forwarding_.ipv4_snapshot())
    remember_forwarding_origin();
  forwarding_.enable_for_attach(host_.sysctls(), ip.is_v6(), veth_host,
                                bridge_name);
  created_veths_.insert(veth_host);
  if (bridge == nullptr)
    created_host_routes_.push_back({ip, host_prefix, veth_host});
  return std::nullopt;
}

ipc::response engine::detach_linux(std::uint32_t pid) {
  auto& links = host_.links();
  // Always, even without a record: deleting the host end removes the pair
  // and its routes (a crashed daemon's leftovers included).
  for (auto tag : {"s", "g"}) {
    auto name = ipam::host_veth_name(pid, tag);
    (void)links.delete_link(name);
    created_veths_.erase(name);
    std::erase_if(created_host_routes_,
                  [&](const host_route& r) { return r.device == name; });
  }
  auto i = attached_.find(pid);
  if (i == attached_.end())
    return ipc::resp::ok{};
  auto info = std::move(i->second);
  attached_.erase(i);
  if (shared_bridge_ && shared_bridge_->subnet.contains(info.service_ip)
      && shared_bridge_->pool.release(info.service_ip)) {
    // back in the shared pool
  } else if (info.service) {
    if (auto b = service_bridges_.find(*info.service);
        b != service_bridges_.end())
      b->second.pool.release(info.service_ip);
  } else {
    slice_allocator_.release(info.service_ip);
  }
  if (info.global_ip)
    slice_allocator_.release(*info.global_ip);
  if (info.isolation_network)
    leave_isolation(*info.isolation_network, info.service_ip);
  // Ephemeral last leaver: the service goes with it.
  if (info.ephemeral && info.service) {
    if (auto b = service_bridges_.find(*info.service);
        b != service_bridges_.end()
        && links.bridge_member_count(b->second.name).value_or(1) == 0) {
      teardown_service_locked(*info.service);
      publish_service_count();
    }
  }
  return ipc::resp::ok{};
}

// -- host_shared
// ----------------------------------------------------------------------

ipc::response engine::attach_host_shared(const std::string& id,
                                         const ipc::req::attach_container& r) {
  auto ip = slice_allocator_.allocate();
  if (!ip)
    return ipc::resp::err{ip.error().wire_message()};
  std::uint8_t prefix = ip->is_v6() ? 128 : 32;
  if (!global_interface_) {
    slice_allocator_.release(*ip);
    return ipc::other_error(
      "host-shared attach requires the global overlay to be set up first "
      "(no utun to alias the container /32 on)");
  }
  if (auto st
      = host_.links().add_address(*global_interface_, to_driver(*ip), prefix);
      !st) {
    slice_allocator_.release(*ip);
    return ipc::overlay_error(st.error().what());
  }
  if (r.isolation_network)
    join_isolation(*r.isolation_network, *ip);
  host_shared_[id] = attach_record{*ip, r.service, std::nullopt, r.ephemeral,
                                   r.isolation_network};
  return ipc::resp::attached{{*ip, std::nullopt}};
}

ipc::response engine::detach_host_shared(const std::string& id) {
  auto i = host_shared_.find(id);
  if (i == host_shared_.end())
    return ipc::resp::ok{};
  auto info = std::move(i->second);
  host_shared_.erase(i);
  if (info.isolation_network)
    leave_isolation(*info.isolation_network, info.service_ip);
  std::uint8_t prefix = info.service_ip.is_v6() ? 128 : 32;
  if (global_interface_)
    (void)host_.links().delete_address(*global_interface_,
                                       to_driver(info.service_ip), prefix);
  slice_allocator_.release(info.service_ip);
  return ipc::resp::ok{};
}

// -- guest_managed
// -------------------------------------------------------------------

void engine::release_into_pools(const net::ip_address& ip,
                                const std::optional<std::string>& service) {
  if (shared_bridge_ && shared_bridge_->subnet.contains(ip)) {
    shared_bridge_->pool.release(ip);
    return;
  }
  if (service)
    if (auto b = service_bridges_.find(*service); b != service_bridges_.end()) {
      b->second.pool.release(ip);
      return;
    }
  slice_allocator_.release(ip);
}

ipc::response engine::attach_guest(const std::string& id,
                                   const ipc::req::attach_container& r) {
  std::optional<std::string> node_public_key;
  {
    std::lock_guard scopes{scope_mu_};
    node_public_key = scopes_.public_key;
  }
  if (!node_public_key)
    return ipc::other_error(
      "guest-managed attach requires the global overlay to be set up first "
      "(no node WireGuard public key)");
  if (!global_interface_)
    return ipc::other_error(
      "guest-managed attach requires the global overlay to be set up first "
      "(no global transport)");
  // Dedicated services put the guest on their own device (design: "the
  // guest registered as a peer on the right scope"); the others on the
  // global device. Addresses come from the service's bridge when it has
  // one, else from the node slice.
  bool dedicated
    = service_is_dedicated(r.service) && dedicated_.contains(r.service);
  bridge_record* bridge = nullptr;
  if (service_is_shared(r.service)) {
    if (shared_bridge_)
      bridge = &*shared_bridge_;
  } else if (auto b = service_bridges_.find(r.service);
             b != service_bridges_.end()) {
    bridge = &b->second;
  }
  net::ip_address ip;
  std::uint8_t prefix_len = 0;
  std::optional<std::string> pool_service;
  if (bridge != nullptr) {
    auto a = bridge->pool.allocate();
    if (!a)
      return ipc::resp::err{a.error().wire_message()};
    ip = *a;
    prefix_len = static_cast<std::uint8_t>(bridge->subnet.prefix());
    pool_service = r.service;
  } else {
    auto a = slice_allocator_.allocate();
    if (!a)
      return ipc::resp::err{a.error().wire_message()};
    ip = *a;
    auto slice = slice_cidr_ ? slice_cidr_ : cluster_cidr_;
    prefix_len = static_cast<std::uint8_t>(slice ? slice->prefix()
                                                 : (ip.is_v6() ? 64 : 24));
  }
  auto [private_key, public_key] = generate_key_pair();
  std::string peer_key, peer_allowed, device;
  std::uint16_t peer_port = 0;
  if (dedicated) {
    auto& d = dedicated_.at(r.service);
    peer_key = d.public_key;
    peer_port = d.listen_port;
    peer_allowed = d.subnet.to_string();
    device = d.interface;
  } else {
    auto c = cluster_cidr_ ? cluster_cidr_ : slice_cidr_;
    peer_key = *node_public_key;
    peer_port = overlay_port_;
    peer_allowed = c ? c->to_string() : "0.0.0.0/0";
    device = *global_interface_;
  }
  auto node_ip = node_ip_.value_or(net::ip_address{});
  ipc::peer_spec node_peer{peer_key,
                           net::socket_address{node_ip, peer_port}.to_string(),
                           peer_allowed,
                           25,
                           {}};
  auto host_route = ip.to_string() + (ip.is_v6() ? "/128" : "/32");
  ipc::peer_spec guest_peer{public_key, "0.0.0.0:0", host_route, 0, {}};
  wg_peer wp{public_key, "0.0.0.0:0", {host_route}, 0};
  if (auto st = wg_.add_peer(device, wp); !st) {
    release_into_pools(ip, pool_service);
    return ipc::overlay_error("add_peer failed: " + st.error());
  }
  if (bridge != nullptr) {
    // An address from a bridge pool lies in a subnet the node routes to
    // that bridge, so the node's replies to the guest would go there and
    // be lost; a host route sends them into the guest's WireGuard device
    // instead (the global one, or the service's dedicated one). Slice
    // addresses need none: the global device's /16 route covers them.
    std::uint8_t host_prefix = ip.is_v6() ? 128 : 32;
    auto src
      = dedicated ? dedicated_.at(r.service).overlay_ip : node_ip_or_default();
    if (auto st = host_.links().replace_route_via_dev(
          to_driver(ip), host_prefix, device, to_driver(src));
        !st) {
      (void)wg_.remove_peer(device, public_key);
      release_into_pools(ip, pool_service);
      return ipc::overlay_error("route for guest " + ip.to_string() + " via "
                                + device + ": " + st.error().what());
    }
  }
  {
    std::lock_guard scopes{scope_mu_};
    scopes_.global_peers[public_key] = guest_peer;
  }
  if (r.isolation_network)
    join_isolation(*r.isolation_network, ip);
  guests_[id] = guest_record{ip, public_key, pool_service, r.isolation_network};
  ipc::resp::guest_config out;
  out.overlay_ip = ip;
  out.prefix_len = prefix_len;
  out.private_key = private_key;
  out.public_key = public_key;
  out.listen_port = peer_port;
  out.peers = {node_peer};
  out.dns_server = r.dns_server ? r.dns_server : dns_server_;
  out.dns_domain = r.dns_domain ? r.dns_domain : dns_domain_;
  return out;
}

ipc::response engine::detach_guest(const std::string& id) {
  auto i = guests_.find(id);
  if (i == guests_.end())
    return ipc::resp::ok{};
  auto info = std::move(i->second);
  guests_.erase(i);
  std::string device;
  if (info.service && service_is_dedicated(*info.service)
      && dedicated_.contains(*info.service))
    device = dedicated_.at(*info.service).interface;
  else if (global_interface_)
    device = *global_interface_;
  {
    std::lock_guard scopes{scope_mu_};
    scopes_.global_peers.erase(info.public_key);
  }
  if (!device.empty())
    (void)wg_.remove_peer(device, info.public_key);
  // A guest drawn from a bridge pool (it has a pool service) got a host
  // route at attach.
  if (!device.empty() && info.service)
    (void)host_.links().delete_route_via_dev(
      to_driver(info.overlay_ip), info.overlay_ip.is_v6() ? 128 : 32, device);
  if (info.isolation_network)
    leave_isolation(*info.isolation_network, info.overlay_ip);
  release_into_pools(info.overlay_ip, info.service);
  return ipc::resp::ok{};
}

} // namespace overlayd::overlay
