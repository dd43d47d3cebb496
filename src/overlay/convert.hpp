#pragma once

// Conversions between the address types of the modules the engine joins:
// `net` (the wire's Rust-formatted addresses) and `drivers` (netlink).

#include "drivers/link_driver.hpp"
#include <set>
#include <vector>

#include "net/ip.hpp"

namespace overlayd::overlay {

inline drivers::ip_address to_driver(const net::ip_address& ip) {
  drivers::ip_address out;
  out.family = ip.is_v6() ? drivers::ip_address::family_t::v6
                          : drivers::ip_address::family_t::v4;
  out.bytes = ip.bytes();
  return out;
}

inline std::vector<drivers::ip_address>
to_driver(const std::set<net::ip_address>& ips) {
  std::vector<drivers::ip_address> out;
  for (auto& ip : ips)
    out.push_back(to_driver(ip));
  return out;
}

} // namespace overlayd::overlay
