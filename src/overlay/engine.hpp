#pragma once

// The orchestration core: what the reference engine does for each IPC
// request (spec ipc.md §4, dataplane.md §5), as plain C++ over the host
// driver interfaces and the WireGuard control interface, so the actors can
// run it on driver-worker threads and the unit tests on the in-memory twin.
//
// Threads (design §3, "slow host calls never block peer work"): the engine
// has two locks.
// - `host_mu_` serialises the host operations (setup/teardown, attach/
//   detach, allocate/release, prune, shutdown): they touch links, sysctls
//   and the firewall and may be slow. Run them on a driver worker.
// - `scope_mu_` guards only the WireGuard scopes (which devices exist, the
//   mirrored global peers and NAT candidates). The peer operations take
//   only this lock and talk only to `wg_control`, so they are answered while
//   a host operation is in flight. Host operations take it briefly (after
//   `host_mu_`, never the other way round) to publish a device.
//   Service-scope peers also get their allowed IPs routed onto their
//   dedicated device: one netlink route call per CIDR, not a slow step.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "drivers/host/forwarding.hpp"
#include "drivers/host/host_driver.hpp"
#include "ipam/bridge_pool.hpp"
#include "ipam/node_slice.hpp"
#include "ipam/port_allocator.hpp"
#include "ipam/subnet_registry.hpp"
#include "ipc/messages.hpp"
#include "overlay/wg_control.hpp"

namespace overlayd::overlay {

struct engine_options {
  /// Where `agent_network.json` lives.
  std::filesystem::path data_dir;
  /// Skip firewall rules and drop-ins (`ZLAYER_ROOTLESS`); defaults to
  /// whether that variable is set.
  bool rootless;
  /// Whether a process still exists (the orphan-veth sweep); defaults to
  /// `/proc/<pid>` existing.
  std::function<bool(std::uint32_t)> pid_alive;
  engine_options();
};

class engine {
public:
  engine(drivers::host_driver& host, wg_control& wg, engine_options options);
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Runs any request (dispatch as the reference's `handle`). Requests
  /// this core does not own (DNS, scoped resolver, NAT) answer as the
  /// reference does on Linux without a NAT runtime.
  ipc::response handle(const ipc::request& request);

  // -- fast: WireGuard scopes only ----------------------------------------
  ipc::response add_peer(const ipc::req::add_peer& r);
  ipc::response remove_peer(const ipc::req::remove_peer& r);
  ipc::response add_allowed_ip(const ipc::req::add_allowed_ip& r);
  ipc::response remove_allowed_ip(const ipc::req::remove_allowed_ip& r);
  ipc::response status();
  /// The reference's DNS bookkeeping: a name-to-address map that only
  /// these two requests change (nothing in the daemon serves it; spec
  /// dataplane §9). Registering a name again replaces its address.
  ipc::response register_dns(const std::string& name,
                             const net::ip_address& ip);
  ipc::response unregister_dns(const std::string& name);
  std::map<std::string, net::ip_address> dns_records() const;

  // -- slow: host work ------------------------------------------------------
  ipc::response set_local_node_id(std::uint64_t node_id);
  ipc::response set_local_wg_pubkey(std::string pubkey);
  ipc::response setup_global_overlay(const ipc::req::setup_global_overlay& r);
  ipc::response teardown_global_overlay();
  ipc::response setup_service_overlay(const ipc::req::setup_service_overlay& r);
  ipc::response teardown_service_overlay(const std::string& service);
  ipc::response allocate_ip(const ipc::req::allocate_ip& r);
  ipc::response release_ip(const net::ip_address& ip);
  ipc::response attach_container(const ipc::req::attach_container& r);
  ipc::response detach_container(const ipc::req::detach_container& r);
  ipc::response prune_orphan_bridges(const std::vector<std::string>& live);
  /// Global teardown, and the flag the daemon's main loop exits on.
  ipc::response shutdown();
  bool shutdown_requested() const;

  /// Candidates recorded per peer (base64 key) for the NAT runtime.
  std::map<std::string, std::vector<ipc::nat_candidate_wire>>
  peer_candidates() const;
  /// The NAT config given to `setup_global_overlay`, if any.
  std::optional<ipc::nat_config_spec> nat_config() const;

private:
  struct bridge_record {
    std::string name;
    net::cidr subnet;
    net::ip_address gateway;
    ipam::bridge_pool pool;
  };
  struct dedicated_record {
    std::string interface;
    std::string public_key;
    std::uint16_t listen_port = 0;
    net::ip_address overlay_ip;
    net::cidr subnet;
    /// Routes onto this device for its service-scope peers' allowed IPs
    /// (as wg-quick routes a device's peers), by peer key; only in the
    /// `scopes_` copy. Remote subnets otherwise follow the cluster route
    /// onto the global device, which has no peer for them.
    std::map<std::string, std::set<std::string>> peer_routes;
  };
  struct attach_record {
    net::ip_address service_ip;
    std::optional<std::string> service;
    std::optional<net::ip_address> global_ip;
    bool ephemeral = false;
    std::optional<std::string> isolation_network;
  };
  struct guest_record {
    net::ip_address overlay_ip;
    std::string public_key;
    std::optional<std::string> service;
    std::optional<std::string> isolation_network;
  };
  struct host_route {
    net::ip_address destination;
    std::uint8_t prefix_len = 0;
    std::string device;
  };
  /// What `status` and the peer operations see (under `scope_mu_`).
  struct scope_state {
    std::optional<std::string> global_interface;
    std::optional<std::string> public_key;
    std::optional<net::ip_address> node_ip;
    std::optional<std::string> cluster_cidr;
    std::optional<std::string> slice_cidr;
    std::size_t service_count = 0;
    std::map<std::string, dedicated_record> dedicated;
    std::map<std::string, ipc::peer_spec> global_peers;
    std::map<std::string, std::vector<ipc::nat_candidate_wire>> candidates;
    std::map<std::string, net::ip_address> dns_records;
  };

  // Service-scope peers (engine_peers.cpp), with `scope_mu_` held: route a
  // peer's allowed IPs onto the dedicated device / take those routes back
  // (all of the peer's, or one CIDR). One netlink call per CIDR.
  std::optional<std::string> route_peer(dedicated_record& d,
                                        const std::string& key,
                                        const std::vector<std::string>& cidrs);
  void unroute_peer(dedicated_record& d, const std::string& key,
                    const std::optional<std::string>& only = std::nullopt);

  // Everything below `host_mu_` is called with it held.
  ipc::response setup_auto(const std::string& service);
  ipc::response setup_shared(const std::string& service);
  ipc::response setup_dedicated(const std::string& service);
  net::expected<std::string, ipc::resp::err> ensure_shared_bridge();
  net::expected<std::string, ipc::resp::err>
  create_service_bridge(const std::string& service, const net::cidr& subnet);
  net::expected<std::string, ipc::resp::err>
  create_bridge(const std::string& name, const net::cidr& subnet);
  std::optional<ipc::resp::err> ensure_registry();
  void teardown_service_locked(const std::string& service);
  void teardown_global_locked();
  ipc::response attach_linux(std::uint32_t pid,
                             const ipc::req::attach_container& r);
  std::optional<ipc::resp::err>
  attach_to_interface(std::uint32_t pid, const net::ip_address& ip,
                      const std::string& tag, const std::string& ifname,
                      const bridge_record* bridge);
  ipc::response detach_linux(std::uint32_t pid);
  ipc::response attach_host_shared(const std::string& id,
                                   const ipc::req::attach_container& r);
  ipc::response detach_host_shared(const std::string& id);
  ipc::response attach_guest(const std::string& id,
                             const ipc::req::attach_container& r);
  ipc::response detach_guest(const std::string& id);
  void join_isolation(const std::string& net, const net::ip_address& ip);
  void leave_isolation(const std::string& net, const net::ip_address& ip);
  void release_into_pools(const net::ip_address& ip,
                          const std::optional<std::string>& service);
  bool service_is_shared(const std::string& service) const;
  bool service_is_dedicated(const std::string& service) const;
  net::ip_address node_ip_or_default() const;
  std::string cluster_or_default() const;
  std::string node_key() const { return std::to_string(local_node_id_); }
  void publish_service_count();
  std::filesystem::path marker() const;
  /// The host's forwarding value from before any overlayd flipped it, kept
  /// in the data dir so a daemon restarted after a crash restores that
  /// one, not the value the crashed daemon left (engine.cpp).
  void remember_forwarding_origin();
  void restore_forwarding_origin();

  drivers::host_driver& host_;
  wg_control& wg_;
  engine_options options_;

  mutable std::mutex host_mu_;
  std::string deployment_;
  std::string instance_id_;
  std::uint16_t overlay_port_ = 0;
  std::uint64_t local_node_id_ = 0;
  std::optional<std::string> local_wg_pubkey_;
  std::optional<net::cidr> cluster_cidr_;
  std::optional<net::cidr> slice_cidr_;
  std::optional<net::ip_address> node_ip_;
  std::optional<ipc::nat_config_spec> nat_config_;
  std::optional<std::string> global_interface_;
  ipam::node_slice_allocator slice_allocator_;
  std::optional<ipam::service_subnet_registry> registry_;
  ipam::dedicated_port_allocator dedicated_ports_;
  std::map<std::string, ipc::overlay_mode> service_modes_;
  std::map<std::string, std::string> service_interfaces_;
  std::map<std::string, bridge_record> service_bridges_;
  std::optional<bridge_record> shared_bridge_;
  std::map<std::string, dedicated_record> dedicated_;
  std::map<std::uint32_t, attach_record> attached_;
  std::map<std::string, attach_record> host_shared_;
  std::map<std::string, guest_record> guests_;
  std::map<std::string, std::set<net::ip_address>> network_members_;
  drivers::forwarding_state forwarding_;
  std::set<std::string> created_veths_;
  std::set<std::string> created_bridges_;
  std::vector<host_route> created_host_routes_;
  std::optional<net::ip_address> dns_server_;
  std::optional<std::string> dns_domain_;
  bool shutdown_requested_ = false;

  mutable std::mutex scope_mu_;
  scope_state scopes_;
};

} // namespace overlayd::overlay
