#include "stun/dns_resolver.hpp"

#include <cerrno>
#include <fstream>
#include <poll.h>
#include <sodium.h>
#include <sstream>
#include <sys/socket.h>

#include "stun/udp_socket.hpp"

namespace overlayd::stun {

namespace {

constexpr std::uint16_t type_a = 1;
constexpr std::uint16_t type_aaaa = 28;

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

// Skips a (possibly compressed) name; returns the offset after it or 0.
std::size_t skip_name(const std::uint8_t* d, std::size_t len, std::size_t off) {
  while (off < len) {
    std::uint8_t l = d[off];
    if (l == 0)
      return off + 1;
    if ((l & 0xC0) == 0xC0)
      return off + 2 <= len ? off + 2 : 0;
    if (l & 0xC0)
      return 0;
    off += 1 + l;
  }
  return 0;
}

} // namespace

std::vector<udp_endpoint>
resolv_conf_upstreams(const std::vector<std::string>& paths) {
  for (const auto& path : paths) {
    std::ifstream f(path);
    if (!f)
      continue;
    std::vector<udp_endpoint> out;
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream words(line);
      std::string key, value;
      if (!(words >> key >> value) || key != "nameserver")
        continue;
      // Drop a scope suffix (fe80::1%eth0): not carried by ip_address.
      value = value.substr(0, value.find('%'));
      auto ip = ip_address::parse(value);
      if (ip && !ip->is_loopback() && !ip->is_unspecified())
        out.push_back({*ip, 53});
    }
    if (!out.empty())
      return out;
  }
  return {};
}

std::vector<udp_endpoint> public_dns_fallback() {
  return {{ip_address::v4(1, 1, 1, 1), 53}, {ip_address::v4(8, 8, 8, 8), 53}};
}

std::vector<std::uint8_t> build_dns_query(std::uint16_t id,
                                          const std::string& name,
                                          std::uint16_t qtype) {
  std::vector<std::uint8_t> q = {static_cast<std::uint8_t>(id >> 8),
                                 static_cast<std::uint8_t>(id),
                                 0x01, // RD
                                 0x00,
                                 0x00,
                                 0x01,
                                 0x00,
                                 0x00,
                                 0x00,
                                 0x00,
                                 0x00,
                                 0x00};
  std::size_t start = 0;
  while (start <= name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos)
      dot = name.size();
    std::size_t n = dot - start;
    if (n > 0 && n < 64) {
      q.push_back(static_cast<std::uint8_t>(n));
      q.insert(q.end(), name.begin() + static_cast<long>(start),
               name.begin() + static_cast<long>(dot));
    }
    start = dot + 1;
  }
  q.push_back(0);
  q.push_back(static_cast<std::uint8_t>(qtype >> 8));
  q.push_back(static_cast<std::uint8_t>(qtype));
  q.push_back(0x00);
  q.push_back(0x01); // IN
  return q;
}

std::optional<ip_address> parse_dns_answer(const std::uint8_t* d,
                                           std::size_t len, std::uint16_t id,
                                           std::uint16_t qtype) {
  if (len < 12 || be16(d) != id || !(d[2] & 0x80) || (d[3] & 0x0F) != 0)
    return std::nullopt;
  std::size_t qd = be16(d + 4), an = be16(d + 6);
  std::size_t off = 12;
  for (std::size_t i = 0; i < qd; ++i) {
    off = skip_name(d, len, off);
    if (off == 0 || off + 4 > len)
      return std::nullopt;
    off += 4;
  }
  for (std::size_t i = 0; i < an; ++i) {
    off = skip_name(d, len, off);
    if (off == 0 || off + 10 > len)
      return std::nullopt;
    std::uint16_t type = be16(d + off), cls = be16(d + off + 2);
    std::size_t rdlen = be16(d + off + 8);
    off += 10;
    if (off + rdlen > len)
      return std::nullopt;
    if (cls == 1 && type == qtype && type == type_a && rdlen == 4)
      return ip_address::v4(d[off], d[off + 1], d[off + 2], d[off + 3]);
    if (cls == 1 && type == qtype && type == type_aaaa && rdlen == 16) {
      std::uint8_t b[16];
      std::copy(d + off, d + off + 16, b);
      return ip_address::v6(b);
    }
    off += rdlen; // CNAMEs and the like: the address records follow
  }
  return std::nullopt;
}

namespace {

// One query to one server. nullopt: no answer or no record; `answered`
// tells the two apart.
std::optional<ip_address> ask(const udp_endpoint& server,
                              const std::string& name, std::uint16_t qtype,
                              std::chrono::milliseconds timeout,
                              bool& answered) {
  answered = false;
  auto sock = udp_socket::bind(server.native_family(),
                               {ip_address::any(server.ip.family), 0});
  if (!sock)
    return std::nullopt;
  std::uint16_t id = static_cast<std::uint16_t>(randombytes_uniform(65536));
  auto q = build_dns_query(id, name, qtype);
  if (!sock->send_to(q, server))
    return std::nullopt;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::uint8_t buf[1500];
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return std::nullopt;
    pollfd p{sock->fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return std::nullopt;
    sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t n = ::recvfrom(sock->fd(), buf, sizeof buf, 0,
                           reinterpret_cast<sockaddr*>(&ss), &sl);
    if (n < 0)
      return std::nullopt;
    // Only the server we asked, with our id, may answer.
    if (udp_endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss)).unmapped()
        != server.unmapped())
      continue;
    if (n >= 2 && be16(buf) != id)
      continue;
    answered = true;
    return parse_dns_answer(buf, static_cast<std::size_t>(n), id, qtype);
  }
}

} // namespace

std::optional<ip_address>
dns_lookup_first(const std::string& name,
                 const std::vector<udp_endpoint>& servers,
                 std::chrono::milliseconds timeout) {
  // A server that did not answer the A query is not asked for AAAA: an
  // offline host would otherwise wait out every timeout twice.
  std::vector<bool> alive(servers.size(), true);
  for (auto qtype : {type_a, type_aaaa})
    for (std::size_t i = 0; i < servers.size(); ++i) {
      if (!alive[i])
        continue;
      bool answered = false;
      if (auto ip = ask(servers[i], name, qtype, timeout, answered))
        return ip;
      alive[i] = answered;
    }
  return std::nullopt;
}

resolver_fn bypass_resolver(std::vector<udp_endpoint> upstreams,
                            std::chrono::milliseconds timeout) {
  if (upstreams.empty())
    upstreams = resolv_conf_upstreams();
  if (upstreams.empty())
    upstreams = public_dns_fallback();
  auto system = system_resolver();
  return
    [upstreams, timeout, system](const std::string& host, std::uint16_t port) {
      if (auto ip = dns_lookup_first(host, upstreams, timeout))
        return ip;
      return system(host, port);
    };
}

} // namespace overlayd::stun
