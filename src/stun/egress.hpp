#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stun/net_address.hpp"

namespace overlayd::stun {

// Loopback, mesh tunnels, our own overlay devices, bridges and veths: never
// the physical egress. Prefix match, as the reference does.
bool is_virtual_interface(std::string_view name);

// What the host drivers read over RTNETLINK, reduced to what egress
// detection needs.
struct route_entry {
  bool ipv6 = false;
  std::uint8_t dst_prefix_len = 0;
  std::uint32_t table = 254; // RTA_TABLE, or the header byte
  std::optional<std::uint32_t> oif;
  std::uint32_t metric = 0; // RTA_PRIORITY, 0 when absent
};
struct link_entry {
  std::uint32_t index = 0;
  std::string name;
  bool up = false;
};
struct address_entry {
  std::uint32_t ifindex = 0;
  ip_address ip;
  std::uint8_t scope = 0; // RT_SCOPE_UNIVERSE == 0 == "global"
};
// Routes must list IPv4 ones first, then IPv6 (the reference's dump order).
struct network_snapshot {
  std::vector<route_entry> routes;
  std::vector<link_entry> links;
  std::vector<address_entry> addresses;
};

struct physical_egress {
  std::string iface; // empty when only the UDP-connect trick answered
  ip_address ip;
};

// Steps 1-3 of §2.2 (the UDP-connect fallback is the caller's): default
// routes of the main table, stably sorted by metric, first non-virtual oif
// with a global address (IPv4 preferred); else the first UP non-virtual
// link with one. nullopt means "fall back to the UDP-connect trick".
std::optional<physical_egress>
detect_physical_egress(const network_snapshot& net);

// The UDP-connect trick: the source address the kernel picks towards
// 8.8.8.8:80 or [2001:4860:4860::8888]:80, optionally pinned to `iface`
// (best effort). Sends nothing.
std::optional<ip_address>
udp_connect_local_ip(ip_address::family_t family,
                     const std::optional<std::string>& iface = {});

// §2.2 step 1 in full: the route-based choice when the host drivers could
// read a snapshot, else the UDP-connect trick (IPv4, then IPv6) with no
// interface name. nullopt only on a host with no usable address at all.
std::optional<physical_egress>
resolve_physical_egress(const std::optional<network_snapshot>& net);

} // namespace overlayd::stun
