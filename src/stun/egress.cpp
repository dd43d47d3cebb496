#include "stun/egress.hpp"

#include <algorithm>
#include <array>
#include <sys/socket.h>

#include "stun/udp_socket.hpp"

namespace overlayd::stun {

namespace {

constexpr std::uint32_t main_table = 254;

const link_entry* link_by_index(const network_snapshot& net,
                                std::uint32_t index) {
  for (const auto& l : net.links)
    if (l.index == index)
      return &l;
  return nullptr;
}

// Primary global address of a link, IPv4 preferred, else first IPv6.
std::optional<ip_address> primary_global_addr(const network_snapshot& net,
                                              std::uint32_t index) {
  std::optional<ip_address> v6;
  for (const auto& a : net.addresses) {
    if (a.ifindex != index || a.scope != 0)
      continue;
    if (a.ip.is_v4())
      return a.ip;
    if (!v6)
      v6 = a.ip;
  }
  return v6;
}

} // namespace

bool is_virtual_interface(std::string_view name) {
  static constexpr std::array<std::string_view, 11> prefixes
    = {"lo",  "wt",     "wg",  "zl-",  "utun", "tun",
       "tap", "docker", "br-", "veth", "nb"};
  return std::any_of(
    prefixes.begin(), prefixes.end(),
    [name](std::string_view p) { return name.starts_with(p); });
}

std::optional<physical_egress>
detect_physical_egress(const network_snapshot& net) {
  std::vector<route_entry> defaults;
  for (const auto& r : net.routes)
    if (r.dst_prefix_len == 0 && r.table == main_table && r.oif)
      defaults.push_back(r);
  std::stable_sort(defaults.begin(), defaults.end(),
                   [](const route_entry& a, const route_entry& b) {
                     return a.metric < b.metric;
                   });
  for (const auto& r : defaults) {
    const link_entry* link = link_by_index(net, *r.oif);
    if (!link || is_virtual_interface(link->name))
      continue;
    if (auto ip = primary_global_addr(net, link->index))
      return physical_egress{link->name, *ip};
  }
  for (const auto& link : net.links) {
    if (!link.up || is_virtual_interface(link.name))
      continue;
    if (auto ip = primary_global_addr(net, link.index))
      return physical_egress{link.name, *ip};
  }
  return std::nullopt;
}

std::optional<ip_address>
udp_connect_local_ip(ip_address::family_t family,
                     const std::optional<std::string>& iface) {
  bool v4 = family == ip_address::family_t::v4;
  auto sock
    = udp_socket::bind(v4 ? AF_INET : AF_INET6, {ip_address::any(family), 0});
  if (!sock)
    return std::nullopt;
  if (iface && !iface->empty())
    (void)sock->bind_to_device(*iface); // best effort, as the reference
  const std::uint8_t google6[16]
    = {0x20, 0x01, 0x48, 0x60, 0x48, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0x88, 0x88};
  udp_endpoint probe = v4 ? udp_endpoint{ip_address::v4(8, 8, 8, 8), 80}
                          : udp_endpoint{ip_address::v6(google6), 80};
  sockaddr_storage ss;
  socklen_t len = probe.to_sockaddr(ss, sock->family());
  if (::connect(sock->fd(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return std::nullopt;
  auto local = sock->local_endpoint();
  if (!local)
    return std::nullopt;
  return local->ip;
}

std::optional<physical_egress>
resolve_physical_egress(const std::optional<network_snapshot>& net) {
  if (net)
    if (auto e = detect_physical_egress(*net))
      return e;
  for (auto fam : {ip_address::family_t::v4, ip_address::family_t::v6})
    if (auto ip = udp_connect_local_ip(fam))
      return physical_egress{"", *ip};
  return std::nullopt;
}

} // namespace overlayd::stun
