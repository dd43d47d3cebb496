#include "stun/net_address.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <netinet/in.h>

namespace overlayd::stun {

namespace {

// Digits only (Rust's socket-address parser takes no sign), at most u16.
std::optional<std::uint16_t> parse_port_digits(std::string_view s) {
  if (s.empty() || s.size() > 5)
    return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535)
    return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

} // namespace

ip_address ip_address::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                          std::uint8_t d) {
  ip_address ip;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

ip_address ip_address::v4_from_u32(std::uint32_t v) {
  return v4(static_cast<std::uint8_t>(v >> 24),
            static_cast<std::uint8_t>(v >> 16),
            static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v));
}

ip_address ip_address::v6(const std::uint8_t (&b)[16]) {
  ip_address ip;
  ip.family = family_t::v6;
  std::memcpy(ip.bytes.data(), b, 16);
  return ip;
}

std::optional<ip_address> ip_address::parse(std::string_view text) {
  if (text.empty() || text.size() > INET6_ADDRSTRLEN)
    return std::nullopt;
  std::string s(text);
  ip_address ip;
  if (s.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, s.c_str(), ip.bytes.data()) != 1)
      return std::nullopt;
    return ip;
  }
  ip.family = family_t::v6;
  if (inet_pton(AF_INET6, s.c_str(), ip.bytes.data()) != 1)
    return std::nullopt;
  return ip;
}

bool ip_address::is_unspecified() const noexcept {
  std::size_t n = is_v4() ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i)
    if (bytes[i] != 0)
      return false;
  return true;
}

bool ip_address::is_loopback() const noexcept {
  if (is_v4())
    return bytes[0] == 127;
  for (std::size_t i = 0; i < 15; ++i)
    if (bytes[i] != 0)
      return false;
  return bytes[15] == 1;
}

bool ip_address::is_v4_mapped() const noexcept {
  if (!is_v6())
    return false;
  for (std::size_t i = 0; i < 10; ++i)
    if (bytes[i] != 0)
      return false;
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

ip_address ip_address::unmapped() const noexcept {
  if (!is_v4_mapped())
    return *this;
  return v4(bytes[12], bytes[13], bytes[14], bytes[15]);
}

ip_address ip_address::mapped() const noexcept {
  if (!is_v4())
    return *this;
  ip_address m;
  m.family = family_t::v6;
  m.bytes[10] = 0xff;
  m.bytes[11] = 0xff;
  std::memcpy(m.bytes.data() + 12, bytes.data(), 4);
  return m;
}

std::uint32_t ip_address::v4_u32() const noexcept {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16)
         | (std::uint32_t{bytes[2]} << 8) | std::uint32_t{bytes[3]};
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<udp_endpoint> udp_endpoint::parse(std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size()
        || text[close + 1] != ':')
      return std::nullopt;
    auto ip = ip_address::parse(text.substr(1, close - 1));
    if (!ip || !ip->is_v6())
      return std::nullopt;
    auto port = parse_port_digits(text.substr(close + 2));
    if (!port)
      return std::nullopt;
    return udp_endpoint{*ip, *port};
  }
  auto colon = text.find(':');
  if (colon == std::string_view::npos
      || text.find(':', colon + 1) != std::string_view::npos)
    return std::nullopt;
  auto ip = ip_address::parse(text.substr(0, colon));
  if (!ip || !ip->is_v4())
    return std::nullopt;
  auto port = parse_port_digits(text.substr(colon + 1));
  if (!port)
    return std::nullopt;
  return udp_endpoint{*ip, *port};
}

udp_endpoint udp_endpoint::from_sockaddr(const sockaddr* sa) {
  udp_endpoint ep;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    std::memcpy(ep.ip.bytes.data(), &in->sin_addr, 4);
    ep.port = ntohs(in->sin_port);
  } else if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    ep.ip.family = ip_address::family_t::v6;
    std::memcpy(ep.ip.bytes.data(), &in6->sin6_addr, 16);
    ep.port = ntohs(in6->sin6_port);
  }
  return ep;
}

std::string udp_endpoint::to_string() const {
  if (ip.is_v4())
    return ip.to_string() + ":" + std::to_string(port);
  return "[" + ip.to_string() + "]:" + std::to_string(port);
}

socklen_t udp_endpoint::to_sockaddr(sockaddr_storage& out,
                                    int socket_family) const {
  std::memset(&out, 0, sizeof out);
  if (socket_family == AF_INET) {
    ip_address v4 = ip.unmapped();
    if (!v4.is_v4())
      return 0;
    auto* in = reinterpret_cast<sockaddr_in*>(&out);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, v4.bytes.data(), 4);
    return sizeof(sockaddr_in);
  }
  ip_address v6 = ip.mapped();
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&out);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  std::memcpy(&in6->sin6_addr, v6.bytes.data(), 16);
  return sizeof(sockaddr_in6);
}

std::size_t
udp_endpoint_hash::operator()(const udp_endpoint& e) const noexcept {
  // FNV-1a over the bytes that make an endpoint distinct.
  std::size_t h = 1469598103934665603ull;
  auto mix = [&h](std::uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  };
  mix(static_cast<std::uint8_t>(e.ip.family));
  for (auto b : e.ip.bytes)
    mix(b);
  mix(static_cast<std::uint8_t>(e.port >> 8));
  mix(static_cast<std::uint8_t>(e.port));
  return h;
}

} // namespace overlayd::stun
