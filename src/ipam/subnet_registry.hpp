#pragma once

// Per-service bridge subnets carved from the cluster CIDR (dataplane.md
// §6.4): a /26 (IPv4) or /120 (IPv6) per (service, node), placed by an
// FNV-1a hash of the key with linear probing, so a fresh registry gives the
// same answer as the reference for the same sequence of calls.

#include "ipam/error.hpp"
#include "net/ip.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace overlayd::ipam {

// Registry key of the node-wide shared bridge: never a DNS-label service
// name, so it cannot collide with a real service.
inline constexpr std::string_view shared_bridge_registry_key
  = "__zlayer_shared_bridge__";

// FNV-1a 64 over service bytes, a 0x1f separator, then node bytes.
std::uint64_t hash_service_node(std::string_view service,
                                std::string_view node) noexcept;

// The registry's persistable form. The JSON is the reference's serde shape,
// `{"cluster_cidr":"10.200.0.0/16","slice_prefix":26,
//   "assignments":[[["svc","0"],"10.200.187.128/26"],...]}`,
// with assignments sorted by (service, node) so the bytes are stable.
struct registry_snapshot {
  using key = std::pair<std::string, std::string>; // (service, node)

  net::cidr cluster_cidr;
  unsigned slice_prefix = 0;
  std::vector<std::pair<key, net::cidr>> assignments;

  std::string to_json() const;
  // Errors are `errc::corrupt` with the reason.
  static result<registry_snapshot> from_json(std::string_view text);

  bool operator==(const registry_snapshot&) const = default;
};

class service_subnet_registry {
public:
  using key = registry_snapshot::key;

  // Error `errc::invalid_cidr` ("Invalid CIDR notation: slice prefix /S
  // must be more specific than cluster prefix /C", or "... exceeds address
  // family max /M") unless cluster prefix < slice_prefix <= address width.
  static result<service_subnet_registry> make(net::cidr cluster,
                                              unsigned slice_prefix);
  // The prefix overlayd uses: 26 for IPv4, 120 for IPv6.
  static result<service_subnet_registry> for_cluster(net::cidr cluster);
  static unsigned default_slice_prefix(const net::cidr& cluster) noexcept {
    return cluster.is_v4() ? 26 : 120;
  }

  // The existing slice of (service, node), else the first slice from the
  // key's hash slot onwards that is neither assigned nor contains a
  // reserved IP. Error (`Overlay` on the wire, with the reference's
  // wording): "ServiceSubnetRegistry::assign(<service>, <node>) failed: No
  // available IP addresses in CIDR range".
  result<net::cidr> assign(std::string_view service, std::string_view node);
  // What `assign` would return, without recording it.
  std::optional<net::cidr> probe(std::string_view service,
                                 std::string_view node) const;
  // The freed slice, if the key had one.
  std::optional<net::cidr> release(std::string_view service,
                                   std::string_view node);
  std::optional<net::cidr> get(std::string_view service,
                               std::string_view node) const;
  // The key a slice is assigned to (e.g. to map an orphan back).
  std::optional<key> owner_of(const net::cidr& slice) const;

  // Keeps future assignments away from `ip` (the node IP: the overlay DNS
  // listens on it, and a bridge subnet containing it would black-hole DNS).
  // Existing assignments are not moved. Not part of the snapshot.
  void reserve_ip(const net::ip_address& ip) { reserved_.insert(ip); }
  bool is_reserved(const net::ip_address& ip) const {
    return reserved_.contains(ip);
  }

  std::size_t assigned_count() const noexcept { return by_key_.size(); }
  // Number of slices; u64 max when that does not fit.
  std::uint64_t capacity() const noexcept;
  const net::cidr& cluster_cidr() const noexcept { return cluster_; }
  unsigned slice_prefix() const noexcept { return slice_prefix_; }

  registry_snapshot snapshot() const;
  // Errors (`errc::invalid_cidr`): a bad prefix pair, a slice with another
  // prefix or outside the cluster, or one slice assigned twice.
  static result<service_subnet_registry> restore(const registry_snapshot& snap);

private:
  service_subnet_registry(net::cidr cluster, unsigned slice_prefix)
    : cluster_(cluster), slice_prefix_(slice_prefix) {}

  net::cidr slice_at(std::uint64_t index) const noexcept;
  bool usable(const net::cidr& slice) const;
  std::optional<net::cidr> first_free(std::string_view service,
                                      std::string_view node) const;

  net::cidr cluster_;
  unsigned slice_prefix_;
  std::map<key, net::cidr> by_key_;
  std::map<net::cidr, key> by_slice_;
  std::set<net::ip_address> reserved_;
};

} // namespace overlayd::ipam
