#pragma once

// Address pool of one bridge or dedicated subnet: the reference's
// `zlayer_overlay::allocator::IpAllocator` (dataplane.md §6.1). It always
// hands out the lowest free host, so released addresses come back
// lowest-first. Not persisted.

#include "ipam/error.hpp"
#include "net/ip.hpp"

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace overlayd::ipam {

// network + 1: the gateway of a bridge subnet, the address of a dedicated
// device (ipc.md §10.2). Wraps like the reference.
net::ip_address first_usable_ip(const net::cidr& subnet) noexcept;

class bridge_pool {
public:
  // `label` names the pool in the exhaustion error. The reference's
  // messages use "service bridge <name>", "shared bridge <name>" and
  // "dedicated service <service>".
  explicit bridge_pool(net::cidr subnet, std::string label = "pool");

  // `IpAllocator::new(text)`: error "Invalid CIDR notation: <text>: <why>".
  static result<bridge_pool> parse(std::string_view cidr_text,
                                   std::string label = "pool");

  // The lowest free host (IPv4: `hosts()`, which skips the network and
  // broadcast addresses below /31; IPv6: network+1 up to the last
  // address). Error (`Overlay` on the wire):
  // "<label> subnet <cidr> exhausted".
  result<net::ip_address> allocate();

  // Claims `ip`. Errors: "IP address <ip> is not within CIDR range <cidr>",
  // "IP address <ip> is already allocated".
  result<void> allocate_specific(const net::ip_address& ip);
  // Claims the first host. Errors: already allocated, or "No available IP
  // addresses in CIDR range" for a block without hosts.
  result<net::ip_address> allocate_first();
  // Claims `ip` even if already claimed; error only when out of range.
  result<void> mark_allocated(const net::ip_address& ip);
  // True if `ip` was allocated.
  bool release(const net::ip_address& ip);

  bool is_allocated(const net::ip_address& ip) const {
    return allocated_.contains(ip);
  }
  bool contains(const net::ip_address& ip) const {
    return subnet_.contains(ip);
  }
  std::size_t allocated_count() const noexcept { return allocated_.size(); }
  // IPv4 2^h - 2 (0 for /31 and /32), IPv6 2^h - 1, saturated at u32 max.
  std::uint32_t total_hosts() const noexcept;
  std::uint32_t available_count() const noexcept;

  const net::cidr& subnet() const noexcept { return subnet_; }
  const std::string& label() const noexcept { return label_; }
  net::ip_address network_addr() const noexcept { return subnet_.network(); }
  net::ip_address broadcast_addr() const noexcept {
    return subnet_.broadcast();
  }
  unsigned prefix_len() const noexcept { return subnet_.prefix(); }
  unsigned host_prefix_len() const noexcept { return subnet_.address().bits(); }
  // Ascending.
  std::vector<net::ip_address> allocated_ips() const {
    return {allocated_.begin(), allocated_.end()};
  }

private:
  // First and last address `allocate()` may hand out; nullopt if none.
  std::optional<std::pair<net::ip_address, net::ip_address>>
  host_range() const noexcept;

  net::cidr subnet_;
  std::string label_;
  std::set<net::ip_address> allocated_;
  // Every host below this one is allocated, so the search for the lowest
  // free host starts here instead of at the first host: filling a pool
  // costs O(n log n) instead of O(n^2).
  std::optional<net::ip_address> scan_from_;
};

} // namespace overlayd::ipam
