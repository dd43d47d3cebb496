// Service overlays (dataplane §5.3), the bridge pools behind allocate_ip /
// release_ip (§6), and prune_orphan_bridges (§5.6). Host work: run with
// host_mu_ held, on a driver worker.

#include <unordered_set>

#include "ipam/interface_name.hpp"
#include "ipam/network_state.hpp"
#include "overlay/convert.hpp"
#include "overlay/engine.hpp"

namespace overlayd::overlay {

namespace {

ipc::resp::service_overlay plain_info(std::string name,
                                      ipc::overlay_mode mode) {
  ipc::resp::service_overlay info;
  info.name = std::move(name);
  info.mode = mode;
  return info;
}

} // namespace

std::optional<ipc::resp::err> engine::ensure_registry() {
  if (registry_)
    return std::nullopt;
  // Before SetupGlobalOverlay the reference's cluster CIDR is its default.
  auto cluster
    = cluster_cidr_.value_or(ipam::node_slice_allocator::default_slice());
  auto reg = ipam::service_subnet_registry::for_cluster(cluster);
  if (!reg)
    return ipc::other_error("failed to build ServiceSubnetRegistry: "
                            + reg.error().message);
  registry_ = std::move(*reg);
  if (node_ip_)
    registry_->reserve_ip(*node_ip_);
  return std::nullopt;
}

net::expected<std::string, ipc::resp::err>
engine::create_bridge(const std::string& name, const net::cidr& subnet) {
  auto& links = host_.links();
  if (auto st = links.create_bridge(name); !st)
    return net::unexpected{ipc::overlay_error(
      "create_bridge(" + name + ") failed: " + st.error().what())};
  (void)links.set_bridge_stp(name, false);
  auto gateway = ipam::first_usable_ip(subnet);
  // An old bridge surviving a restart keeps its addresses: flush them so
  // it never carries two subnets.
  (void)links.flush_addresses(name);
  auto prefix = static_cast<std::uint8_t>(subnet.prefix());
  if (auto st = links.add_address(name, to_driver(gateway), prefix); !st) {
    (void)links.delete_link(name);
    return net::unexpected{ipc::overlay_error(
      "add_address_to_link_by_name(" + name + ", " + gateway.to_string() + "/"
      + std::to_string(prefix) + ") failed: " + st.error().what())};
  }
  if (auto st = links.set_link_up(name); !st) {
    (void)links.delete_link(name);
    return net::unexpected{ipc::overlay_error(
      "set_link_up_by_name(" + name + ") failed: " + st.error().what())};
  }
  created_bridges_.insert(name);
  return name;
}

net::expected<std::string, ipc::resp::err>
engine::create_service_bridge(const std::string& service,
                              const net::cidr& subnet) {
  auto name = ipam::service_bridge_name(deployment_, instance_id_, service);
  auto made = create_bridge(name, subnet);
  if (!made)
    return made;
  auto gateway = ipam::first_usable_ip(subnet);
  bridge_record rec{name, subnet, gateway,
                    ipam::bridge_pool{subnet, "service bridge " + name}};
  (void)rec.pool.allocate_specific(gateway);
  service_bridges_.insert_or_assign(service, std::move(rec));
  service_interfaces_[service] = name;
  return name;
}

ipc::response
engine::setup_service_overlay(const ipc::req::setup_service_overlay& r) {
  std::lock_guard guard{host_mu_};
  service_modes_[r.service] = r.mode;
  ipc::response out;
  if (ipc::uses_shared_bridge(r.mode))
    out = setup_shared(r.service);
  else if (ipc::uses_per_service_wg(r.mode))
    out = setup_dedicated(r.service);
  else
    out = setup_auto(r.service);
  publish_service_count();
  return out;
}

ipc::response engine::setup_auto(const std::string& service) {
  if (auto i = service_bridges_.find(service); i != service_bridges_.end())
    return plain_info(i->second.name, ipc::overlay_mode::automatic);
  if (auto err = ensure_registry())
    return *err;
  auto subnet = registry_->assign(service, node_key());
  if (!subnet)
    return ipc::resp::err{subnet.error().wire_message()};
  auto name = create_service_bridge(service, *subnet);
  if (!name)
    return name.error();
  // Always fails on the local device (a node is never its own peer); the
  // real plumbing happens on remote nodes. Kept for parity, non-fatal.
  if (global_interface_ && local_wg_pubkey_)
    (void)wg_.add_allowed_ip(*global_interface_, *local_wg_pubkey_,
                             subnet->to_string());
  return plain_info(*name, ipc::overlay_mode::automatic);
}

net::expected<std::string, ipc::resp::err> engine::ensure_shared_bridge() {
  if (shared_bridge_)
    return shared_bridge_->name;
  if (auto err = ensure_registry())
    return net::unexpected{*err};
  auto subnet = registry_->assign(ipam::shared_bridge_registry_key, node_key());
  if (!subnet)
    return net::unexpected{ipc::resp::err{subnet.error().wire_message()}};
  auto name = ipam::shared_bridge_name(deployment_, instance_id_);
  auto made = create_bridge(name, *subnet);
  if (!made)
    return made;
  auto gateway = ipam::first_usable_ip(*subnet);
  bridge_record rec{name, *subnet, gateway,
                    ipam::bridge_pool{*subnet, "shared bridge " + name}};
  (void)rec.pool.allocate_specific(gateway);
  shared_bridge_ = std::move(rec);
  if (global_interface_ && local_wg_pubkey_)
    (void)wg_.add_allowed_ip(*global_interface_, *local_wg_pubkey_,
                             subnet->to_string());
  return name;
}

ipc::response engine::setup_shared(const std::string& service) {
  auto name = ensure_shared_bridge();
  if (!name)
    return name.error();
  service_interfaces_[service] = *name;
  return plain_info(*name, ipc::overlay_mode::shared);
}

ipc::response engine::setup_dedicated(const std::string& service) {
  auto dedicated_info = [](std::string name, const dedicated_record& d) {
    ipc::resp::service_overlay info;
    info.name = std::move(name);
    info.mode = ipc::overlay_mode::dedicated;
    info.wg_public_key = d.public_key;
    info.wg_port = d.listen_port;
    info.overlay_ip = d.overlay_ip;
    info.subnet = d.subnet.to_string();
    return info;
  };
  if (auto i = dedicated_.find(service); i != dedicated_.end())
    return dedicated_info(i->second.interface, i->second);

  // Identity reuse: a restart brings the same key, port and name back.
  auto state = ipam::load_marker(marker());
  std::string private_key, public_key, iface;
  std::uint16_t port = 0;
  auto* entry = state.get(ipam::owner_for_service(service));
  bool reused = entry != nullptr && entry->has_dedicated_identity();
  if (reused) {
    private_key = *entry->wg_private_key;
    public_key = *entry->wg_public_key;
    port = *entry->wg_port;
    iface = *entry->interface;
    dedicated_ports_.reserve(port);
  } else {
    auto p = dedicated_ports_.allocate();
    if (!p)
      return ipc::resp::err{p.error().wire_message()};
    port = *p;
    std::tie(private_key, public_key) = generate_key_pair();
    iface = ipam::dedicated_interface_name(deployment_, instance_id_, service);
  }
  auto give_back_port = [&] {
    if (!reused)
      dedicated_ports_.release(port);
  };
  if (auto err = ensure_registry()) {
    give_back_port();
    return *err;
  }
  auto subnet = registry_->assign(service, node_key());
  if (!subnet) {
    give_back_port();
    return ipc::resp::err{subnet.error().wire_message()};
  }
  auto overlay_ip = ipam::first_usable_ip(*subnet);
  auto created = wg_.create_device({iface, private_key, port, 1420});
  if (!created) {
    give_back_port();
    return ipc::overlay_error("Failed to create dedicated overlay for "
                              + service + ": " + created.error());
  }
  auto& links = host_.links();
  auto configure_failed = [&](const std::string& what) -> ipc::response {
    wg_.destroy_device(iface);
    give_back_port();
    return ipc::overlay_error("Failed to configure dedicated overlay for "
                              + service + ": " + what);
  };
  // The reference gives the TUN overlay_ip/prefix and routes the subnet
  // on it, and then gives the bridge the same gateway/prefix: two
  // connected routes for the subnet, the TUN's found first, so replies to
  // this node's own containers went into the TUN and were dropped (the
  // quirk of dataplane §5.3; a cross-node ping over the dedicated device
  // never came back). Here the TUN carries only overlay_ip/32 and the
  // bridge alone routes the local subnet; remote services' subnets are
  // routed onto the TUN by whoever adds their peers.
  std::uint8_t host_prefix = overlay_ip.is_v6() ? 128 : 32;
  if (auto st = links.add_address(iface, to_driver(overlay_ip), host_prefix);
      !st && st.error().kind() != drivers::error_kind::already_exists)
    return configure_failed("Failed to assign IP: " + st.error().what());
  (void)links.set_mtu(iface, 1420);
  if (auto st = links.set_link_up(iface); !st)
    return configure_failed("Failed to bring up interface: "
                            + st.error().what());

  state.upsert(ipam::dedicated_network_entry(service, iface, *subnet, port,
                                             private_key, public_key));
  // Non-fatal like the reference: the device is live either way.
  (void)ipam::save_marker(marker(), state);

  dedicated_record rec{iface, public_key, port, overlay_ip, *subnet};
  dedicated_[service] = rec;
  {
    std::lock_guard scopes{scope_mu_};
    scopes_.dedicated[service] = rec;
  }
  auto bridge = create_service_bridge(service, *subnet);
  if (!bridge)
    return bridge.error();
  if (local_wg_pubkey_)
    (void)wg_.add_allowed_ip(iface, *local_wg_pubkey_, subnet->to_string());
  return dedicated_info(*bridge, rec);
}

ipc::response engine::teardown_service_overlay(const std::string& service) {
  std::lock_guard guard{host_mu_};
  teardown_service_locked(service);
  publish_service_count();
  return ipc::resp::ok{};
}

void engine::teardown_service_locked(const std::string& service) {
  service_modes_.erase(service);
  std::optional<bridge_record> removed;
  if (auto i = service_bridges_.find(service); i != service_bridges_.end()) {
    removed = std::move(i->second);
    service_bridges_.erase(i);
  }
  service_interfaces_.erase(service);
  if (removed && global_interface_ && local_wg_pubkey_)
    (void)wg_.remove_allowed_ip(*global_interface_, *local_wg_pubkey_,
                                removed->subnet.to_string());
  // Memory of the service may be lost (restart): the name is deterministic.
  auto bridge
    = removed ? removed->name
              : ipam::service_bridge_name(deployment_, instance_id_, service);
  (void)host_.links().delete_link(bridge);
  created_bridges_.erase(bridge);
  if (registry_)
    (void)registry_->release(service, node_key());
  if (auto i = dedicated_.find(service); i != dedicated_.end()) {
    {
      std::lock_guard scopes{scope_mu_};
      scopes_.dedicated.erase(service);
    }
    wg_.destroy_device(i->second.interface);
    dedicated_ports_.release(i->second.listen_port);
    dedicated_.erase(i);
    auto state = ipam::load_marker(marker());
    if (state.remove(ipam::owner_for_service(service)))
      (void)ipam::save_marker(marker(), state);
  }
}

// -- address pools
// ---------------------------------------------------------------

ipc::response engine::allocate_ip(const ipc::req::allocate_ip& r) {
  std::lock_guard guard{host_mu_};
  if (service_is_shared(r.service)) {
    if (shared_bridge_) {
      auto ip = shared_bridge_->pool.allocate();
      if (!ip)
        return ipc::resp::err{ip.error().wire_message()};
      return ipc::resp::allocated_ip{*ip};
    }
  } else if (auto i = service_bridges_.find(r.service);
             i != service_bridges_.end()) {
    auto ip = i->second.pool.allocate();
    if (!ip)
      return ipc::resp::err{ip.error().wire_message()};
    return ipc::resp::allocated_ip{*ip};
  }
  auto ip = slice_allocator_.allocate();
  if (!ip)
    return ipc::resp::err{ip.error().wire_message()};
  return ipc::resp::allocated_ip{*ip};
}

ipc::response engine::release_ip(const net::ip_address& ip) {
  std::lock_guard guard{host_mu_};
  if (shared_bridge_ && shared_bridge_->subnet.contains(ip)) {
    shared_bridge_->pool.release(ip);
    return ipc::resp::ok{};
  }
  for (auto& [svc, b] : service_bridges_)
    if (b.subnet.contains(ip)) {
      b.pool.release(ip);
      return ipc::resp::ok{};
    }
  slice_allocator_.release(ip);
  return ipc::resp::ok{};
}

// -- prune
// -----------------------------------------------------------------------

ipc::response
engine::prune_orphan_bridges(const std::vector<std::string>& live_names) {
  std::lock_guard guard{host_mu_};
  ipc::resp::pruned_bridges out;
  auto& links = host_.links();
  auto all = links.list_links();
  if (!all)
    return out;
  std::unordered_set<std::string> live{live_names.begin(), live_names.end()};
  std::unordered_set<std::string> protected_names;
  if (global_interface_)
    protected_names.insert(*global_interface_);
  if (shared_bridge_)
    protected_names.insert(shared_bridge_->name);
  for (auto& [svc, d] : dedicated_)
    protected_names.insert(d.interface);
  // Map a -b / -d name back to its registry key by re-deriving it.
  std::map<std::string, std::pair<ipam::registry_snapshot::key, net::cidr>>
    by_name;
  if (registry_)
    for (auto& [key, subnet] : registry_->snapshot().assignments) {
      by_name.emplace(
        ipam::service_bridge_name(deployment_, instance_id_, key.first),
        std::pair{key, subnet});
      by_name.emplace(
        ipam::dedicated_interface_name(deployment_, instance_id_, key.first),
        std::pair{key, subnet});
    }
  for (auto& link : *all) {
    if (!ipam::is_orphan_service_bridge(link.name, live, protected_names))
      continue;
    // Zero-member guard: a bridge with an attached veth is in use even if
    // the caller's live list forgot it.
    if (links.bridge_member_count(link.name).value_or(0) > 0)
      continue;
    if (auto i = by_name.find(link.name); i != by_name.end()) {
      if (global_interface_ && local_wg_pubkey_)
        (void)wg_.remove_allowed_ip(*global_interface_, *local_wg_pubkey_,
                                    i->second.second.to_string());
      if (registry_)
        (void)registry_->release(i->second.first.first, i->second.first.second);
    }
    if (!links.delete_link(link.name))
      continue;
    created_bridges_.erase(link.name);
    std::erase_if(service_bridges_,
                  [&](auto& kv) { return kv.second.name == link.name; });
    std::erase_if(service_interfaces_,
                  [&](auto& kv) { return kv.second == link.name; });
    out.reclaimed.push_back(link.name);
  }
  publish_service_count();
  return out;
}

} // namespace overlayd::overlay
