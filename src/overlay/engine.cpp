#include "overlay/engine.hpp"

#include <cstdlib>
#include <fstream>
#include <sys/stat.h>

#include "drivers/host/sysctl_name.hpp"

#include "ipam/interface_name.hpp"
#include "ipam/network_state.hpp"
#include "overlay/convert.hpp"

namespace overlayd::overlay {

namespace {

bool proc_exists(std::uint32_t pid) {
  struct stat st {};
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

// `{data_dir}/overlayd-forwarding`: one `key=value` line per forwarding
// sysctl, with the host's value from before the first overlayd changed it.
// Not in agent_network.json, whose format is shared with the Rust daemon.
std::filesystem::path forwarding_origin_path(const std::filesystem::path& d) {
  return d / "overlayd-forwarding";
}

std::optional<std::string>
read_forwarding_origin(const std::filesystem::path& p, std::string_view key) {
  std::ifstream in{p};
  std::string line;
  while (std::getline(in, line))
    if (line.size() > key.size() && line.starts_with(key)
        && line[key.size()] == '=')
      return line.substr(key.size() + 1);
  return std::nullopt;
}

} // namespace

engine_options::engine_options()
  : data_dir("/var/lib/zlayer"),
    rootless(std::getenv("ZLAYER_ROOTLESS") != nullptr),
    pid_alive(proc_exists) {
  // nop
}

engine::engine(drivers::host_driver& host, wg_control& wg,
               engine_options options)
  : host_(host), wg_(wg), options_(std::move(options)),
    // The reference starts from its default cluster CIDR, so a fresh
    // `status` already reports it (ipc.md §4.20).
    cluster_cidr_(ipam::node_slice_allocator::default_slice()) {
  scopes_.cluster_cidr = cluster_cidr_->to_string();
  // The reference seeds the dedicated-port band from the marker at
  // construction, so a restart hands the same ports to the same services.
  auto state = ipam::load_marker(marker());
  auto ports = state.dedicated_ports();
  dedicated_ports_
    = ipam::dedicated_port_allocator{ipam::default_wg_port, ports};
}

engine::~engine() = default;

std::filesystem::path engine::marker() const {
  return ipam::marker_path(options_.data_dir);
}

// Forwarding (dataplane §5.4 step 10) is snapshotted per process by
// forwarding_state, which is right only while the daemon never dies: after
// a kill -9 the host keeps ip_forward=1, and the next daemon would snapshot
// that 1 and "restore" it. So the first snapshot of all is also written to
// the data dir, a later daemon keeps the file as it finds it, and the
// teardown that reverts forwarding writes the file's value and removes it.
// Only net.ipv4.ip_forward needs this: the IPv6 forwarding the daemon
// turns on is per device, on veths and bridges that a restarted daemon's
// detach, prune or teardown deletes, and their sysctls go with them.
void engine::remember_forwarding_origin() {
  auto path = forwarding_origin_path(options_.data_dir);
  std::error_code ec;
  if (std::filesystem::exists(path, ec))
    return; // an earlier daemon's record of the host wins
  auto now = host_.sysctls().read(drivers::ipv4_forward_key);
  if (!now)
    return;
  std::filesystem::create_directories(options_.data_dir, ec);
  auto temp = path;
  temp += ".tmp";
  {
    std::ofstream out{temp, std::ios::trunc};
    out << drivers::ipv4_forward_key << '=' << *now << '\n';
    if (!out)
      return;
  }
  std::filesystem::rename(temp, path, ec);
}

void engine::restore_forwarding_origin() {
  auto path = forwarding_origin_path(options_.data_dir);
  auto origin = read_forwarding_origin(path, drivers::ipv4_forward_key);
  if (origin)
    (void)host_.sysctls().write(drivers::ipv4_forward_key, *origin);
  std::error_code ec;
  std::filesystem::remove(path, ec);
}

ipc::response engine::handle(const ipc::request& request) {
  return std::visit(
    [this](const auto& r) -> ipc::response {
      using T = std::decay_t<decltype(r)>;
      namespace q = ipc::req;
      if constexpr (std::is_same_v<T, q::set_local_node_id>)
        return set_local_node_id(r.node_id);
      else if constexpr (std::is_same_v<T, q::set_local_wg_pubkey>)
        return set_local_wg_pubkey(r.pubkey);
      else if constexpr (std::is_same_v<T, q::setup_global_overlay>)
        return setup_global_overlay(r);
      else if constexpr (std::is_same_v<T, q::teardown_global_overlay>)
        return teardown_global_overlay();
      else if constexpr (std::is_same_v<T, q::setup_service_overlay>)
        return setup_service_overlay(r);
      else if constexpr (std::is_same_v<T, q::teardown_service_overlay>)
        return teardown_service_overlay(r.service);
      else if constexpr (std::is_same_v<T, q::allocate_ip>)
        return allocate_ip(r);
      else if constexpr (std::is_same_v<T, q::release_ip>)
        return release_ip(r.ip);
      else if constexpr (std::is_same_v<T, q::attach_container>)
        return attach_container(r);
      else if constexpr (std::is_same_v<T, q::detach_container>)
        return detach_container(r);
      else if constexpr (std::is_same_v<T, q::add_peer>)
        return add_peer(r);
      else if constexpr (std::is_same_v<T, q::remove_peer>)
        return remove_peer(r);
      else if constexpr (std::is_same_v<T, q::add_allowed_ip>)
        return add_allowed_ip(r);
      else if constexpr (std::is_same_v<T, q::remove_allowed_ip>)
        return remove_allowed_ip(r);
      else if constexpr (
        std::is_same_v<
          T,
          q::
            write_scoped_resolver> || std::is_same_v<T, q::remove_scoped_resolver>)
        return ipc::overlay_error("scoped resolver is macOS-only");
      else if constexpr (std::is_same_v<T, q::prune_orphan_bridges>)
        return prune_orphan_bridges(r.live_bridge_names);
      else if constexpr (std::is_same_v<T, q::status>)
        return status();
      else if constexpr (std::is_same_v<T, q::shutdown>)
        return shutdown();
      else if constexpr (std::is_same_v<T, q::nat_status>)
        return ipc::resp::nat_status{};
      else if constexpr (std::is_same_v<T, q::register_dns>)
        return register_dns(r.name, r.ip);
      else if constexpr (std::is_same_v<T, q::unregister_dns>)
        return unregister_dns(r.name);
      else
        // The NAT tick belongs to the NAT runtime; without one it is a
        // no-op, as in the reference.
        return ipc::resp::ok{};
    },
    request);
}

// -- node identity -----------------------------------------------------------

ipc::response engine::set_local_node_id(std::uint64_t node_id) {
  std::lock_guard guard{host_mu_};
  local_node_id_ = node_id;
  return ipc::resp::ok{};
}

ipc::response engine::set_local_wg_pubkey(std::string pubkey) {
  std::lock_guard guard{host_mu_};
  local_wg_pubkey_ = std::move(pubkey);
  return ipc::resp::ok{};
}

net::ip_address engine::node_ip_or_default() const {
  return node_ip_.value_or(net::ip_address::v4(10, 200, 0, 1));
}

std::string engine::cluster_or_default() const {
  return cluster_cidr_ ? cluster_cidr_->to_string() : "10.200.0.0/16";
}

bool engine::service_is_shared(const std::string& service) const {
  auto i = service_modes_.find(service);
  return i != service_modes_.end() && ipc::uses_shared_bridge(i->second);
}

bool engine::service_is_dedicated(const std::string& service) const {
  auto i = service_modes_.find(service);
  return i != service_modes_.end() && ipc::uses_per_service_wg(i->second);
}

void engine::publish_service_count() {
  // service_interfaces plus dedicated devices not counted there (the
  // reference's `service_count`).
  std::size_t n = service_interfaces_.size();
  for (auto& [svc, d] : dedicated_)
    if (!service_interfaces_.contains(svc))
      ++n;
  std::lock_guard guard{scope_mu_};
  scopes_.service_count = n;
}

// -- global overlay -----------------------------------------------------------

ipc::response
engine::setup_global_overlay(const ipc::req::setup_global_overlay& r) {
  std::lock_guard guard{host_mu_};
  deployment_ = r.deployment;
  instance_id_ = r.instance_id;
  overlay_port_ = r.wg_port;
  auto cluster = net::cidr::parse_network(r.cluster_cidr);
  if (!cluster)
    return ipc::other_error("invalid cluster CIDR " + r.cluster_cidr + ": "
                            + cluster.error());
  cluster_cidr_ = *cluster;
  if (r.slice_cidr) {
    auto slice = net::cidr::parse_network(*r.slice_cidr);
    if (!slice)
      return ipc::other_error("invalid slice CIDR " + *r.slice_cidr + ": "
                              + slice.error());
    slice_cidr_ = *slice;
    slice_allocator_ = ipam::node_slice_allocator{*slice};
  }
  if (r.nat)
    nat_config_ = r.nat;
  {
    std::lock_guard scopes{scope_mu_};
    scopes_.cluster_cidr = cluster_cidr_->to_string();
    if (slice_cidr_)
      scopes_.slice_cidr = slice_cidr_->to_string();
  }
  if (global_interface_ && wg_.has_device(*global_interface_))
    return ipc::resp::bridge_name{*global_interface_};

  auto name = ipam::global_interface_name(deployment_, instance_id_);
  auto [private_key, public_key] = generate_key_pair();
  auto node_ip = slice_allocator_.node_ip();
  auto& links = host_.links();
  // A stale TUN of a previous instance has this (deterministic) name.
  (void)links.delete_link(name);
  auto created = wg_.create_device({name, private_key, overlay_port_, 1420});
  if (!created)
    return ipc::overlay_error("Failed to create global overlay: "
                              + created.error());
  auto fail_configure = [&](const std::string& what) -> ipc::response {
    wg_.destroy_device(name);
    return ipc::overlay_error("Failed to configure global overlay: " + what);
  };
  // configure_interface (dataplane §3.5): address node_ip/16 (hard-coded
  // 16, as the reference), MTU, up, route; EEXIST swallowed.
  auto dnode = to_driver(node_ip);
  if (auto st = links.add_address(name, dnode, 16);
      !st && st.error().kind() != drivers::error_kind::already_exists)
    return fail_configure("Failed to assign IP: " + st.error().what());
  (void)links.set_mtu(name, 1420);
  if (auto st = links.set_link_up(name); !st)
    return fail_configure("Failed to bring up interface: " + st.error().what());
  auto net16 = net::cidr::make(node_ip, 16)->network();
  if (auto st = links.add_route_via_dev(to_driver(net16), 16, name);
      !st && st.error().kind() != drivers::error_kind::already_exists)
    return fail_configure("Failed to add route: " + st.error().what());

  node_ip_ = node_ip;
  global_interface_ = name;
  if (registry_)
    registry_->reserve_ip(node_ip);
  {
    std::lock_guard scopes{scope_mu_};
    scopes_.global_interface = name;
    scopes_.public_key = public_key;
    scopes_.node_ip = node_ip;
  }
  if (!options_.rootless) {
    // Best-effort like the reference: a host without iptables or a
    // network manager still gets its overlay.
    (void)host_.network_manager().mark_overlay_interfaces_unmanaged();
    auto cidr = cluster_cidr_->to_string();
    (void)host_.firewall().ensure_overlay_subnet_rules(cidr);
    (void)host_.firewall().ensure_overlay_masquerade(cidr);
  }
  return ipc::resp::bridge_name{name};
}

ipc::response engine::teardown_global_overlay() {
  std::lock_guard guard{host_mu_};
  teardown_global_locked();
  return ipc::resp::ok{};
}

ipc::response engine::shutdown() {
  std::lock_guard guard{host_mu_};
  shutdown_requested_ = true;
  teardown_global_locked();
  // The reference's dedicated devices die with the process (their handles
  // drop); this engine may outlive the request, so stop them here. Their
  // marker entries stay: a restart reuses the identity. The routes of their
  // service-scope peers (see below) vanish with the devices.
  //
  // How a dedicated device gets its traffic, reviewed against the
  // reference. The reference gives the TUN overlay_ip/<subnet prefix>, so
  // the one route onto it is the connected route of this node's own
  // service subnet, which the bridge also carries (dataplane §5.3 quirk:
  // the TUN's copy wins, replies to local containers vanish). A remote
  // node's subnet for the same service is another /26 (the registry
  // hashes service and node id), so there it follows the cluster /16 onto
  // the global device, which has no peer for it: cross-node traffic of a
  // dedicated service never used the dedicated device unless both nodes
  // drew the same subnet (e.g. both left node id 0). Decision: the TUN
  // carries overlay_ip/32 only, the bridge alone routes the local subnet
  // (engine_services.cpp), and each allowed IP of a service-scope peer is
  // routed onto the dedicated device when the peer or the IP is added and
  // unrouted when removed (engine_peers.cpp), as wg-quick routes a
  // device's peers. A peer CIDR overlapping the local subnet is not
  // routed, so two nodes that drew the same subnet still cannot talk over
  // it; the registry makes that unlikely, and the overlap is the
  // reference's too.
  {
    std::lock_guard scopes{scope_mu_};
    scopes_.dedicated.clear();
  }
  for (auto& [svc, d] : dedicated_)
    wg_.destroy_device(d.interface);
  dedicated_.clear();
  return ipc::resp::ok{};
}

bool engine::shutdown_requested() const {
  std::lock_guard guard{host_mu_};
  return shutdown_requested_;
}

void engine::teardown_global_locked() {
  // Unpublish first: a peer call holds scope_mu_ for its whole device
  // call, so once this returns none can still be using the device.
  {
    std::lock_guard scopes{scope_mu_};
    scopes_.global_interface.reset();
    scopes_.public_key.reset();
  }
  if (global_interface_)
    wg_.destroy_device(*global_interface_);
  global_interface_.reset();
  forwarding_.revert(host_.sysctls());
  restore_forwarding_origin();
  if (!options_.rootless) {
    (void)host_.firewall().remove_overlay_masquerade();
    (void)host_.firewall().remove_overlay_subnet_rules();
    (void)host_.firewall().remove_overlay_isolation();
    (void)host_.network_manager().unmark_overlay_interfaces_unmanaged();
  }
  auto& links = host_.links();
  for (auto& r : created_host_routes_)
    (void)links.delete_route_via_dev(to_driver(r.destination), r.prefix_len,
                                     r.device);
  created_host_routes_.clear();
  for (auto& v : created_veths_)
    (void)links.delete_link(v);
  created_veths_.clear();
  for (auto& b : created_bridges_)
    (void)links.delete_link(b);
  created_bridges_.clear();
}

// -- status
// ---------------------------------------------------------------------

ipc::response engine::status() {
  std::lock_guard guard{scope_mu_};
  ipc::resp::status out;
  out.interface = scopes_.global_interface;
  out.node_ip = scopes_.node_ip;
  out.public_key = scopes_.public_key;
  out.overlay_cidr = scopes_.cluster_cidr;
  out.slice_cidr = scopes_.slice_cidr;
  if (scopes_.global_interface)
    if (auto peers = wg_.peers(*scopes_.global_interface))
      out.peers = std::move(*peers);
  out.peer_count = static_cast<std::uint32_t>(out.peers.size());
  out.service_count = static_cast<std::uint32_t>(scopes_.service_count);
  for (auto& [svc, d] : scopes_.dedicated) {
    ipc::dedicated_service_status st;
    st.service = svc;
    st.interface = d.interface;
    st.public_key = d.public_key;
    st.listen_port = d.listen_port;
    st.overlay_ip = d.overlay_ip;
    st.subnet = d.subnet.to_string();
    if (auto peers = wg_.peers(d.interface))
      st.peer_count = static_cast<std::uint32_t>(peers->size());
    out.dedicated_services.push_back(std::move(st));
  }
  return out;
}

ipc::response engine::register_dns(const std::string& name,
                                   const net::ip_address& ip) {
  std::lock_guard guard{scope_mu_};
  scopes_.dns_records[name] = ip;
  return ipc::resp::ok{};
}

ipc::response engine::unregister_dns(const std::string& name) {
  std::lock_guard guard{scope_mu_};
  scopes_.dns_records.erase(name);
  return ipc::resp::ok{};
}

std::map<std::string, net::ip_address> engine::dns_records() const {
  std::lock_guard guard{scope_mu_};
  return scopes_.dns_records;
}

std::map<std::string, std::vector<ipc::nat_candidate_wire>>
engine::peer_candidates() const {
  std::lock_guard guard{scope_mu_};
  return scopes_.candidates;
}

std::optional<ipc::nat_config_spec> engine::nat_config() const {
  std::lock_guard guard{host_mu_};
  return nat_config_;
}

} // namespace overlayd::overlay
