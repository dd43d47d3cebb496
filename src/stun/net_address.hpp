#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <sys/socket.h>

namespace overlayd::stun {

// An IPv4 or IPv6 address as plain bytes (IPv4 uses the first 4 bytes).
// Value type, comparable, hashable via `key()`.
struct ip_address {
  enum class family_t : std::uint8_t { v4 = 4, v6 = 6 };

  family_t family = family_t::v4;
  std::array<std::uint8_t, 16> bytes{};

  static ip_address v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                       std::uint8_t d);
  static ip_address v4_from_u32(std::uint32_t host_order);
  static ip_address v6(const std::uint8_t (&b)[16]);
  static ip_address any(family_t f) {
    ip_address ip;
    ip.family = f;
    return ip;
  }
  // Literal only ("1.2.3.4", "2001:db8::1"); no names, no scope ids.
  static std::optional<ip_address> parse(std::string_view text);

  bool is_v4() const noexcept { return family == family_t::v4; }
  bool is_v6() const noexcept { return family == family_t::v6; }
  bool is_unspecified() const noexcept;
  bool is_loopback() const noexcept;
  // ::ffff:a.b.c.d
  bool is_v4_mapped() const noexcept;
  // Maps ::ffff:a.b.c.d to a.b.c.d; returns other addresses unchanged.
  // Dual-stack sockets report IPv4 peers in mapped form, and the relay must
  // treat both spellings as one host.
  ip_address unmapped() const noexcept;
  // a.b.c.d as ::ffff:a.b.c.d (for sending from an AF_INET6 socket).
  ip_address mapped() const noexcept;
  std::uint32_t v4_u32() const noexcept;

  // Rust `IpAddr` Display: dotted quad or RFC 5952 lowercase.
  std::string to_string() const;

  friend bool operator==(const ip_address&, const ip_address&) = default;
  friend auto operator<=>(const ip_address&, const ip_address&) = default;
};

// An IP address plus UDP port (Rust `SocketAddr` without scope/flowinfo).
struct udp_endpoint {
  ip_address ip;
  std::uint16_t port = 0;

  // Rust `SocketAddr::from_str`: "a.b.c.d:p" or "[v6]:p", literals only.
  static std::optional<udp_endpoint> parse(std::string_view text);
  static udp_endpoint from_sockaddr(const sockaddr* sa);

  // Rust `SocketAddr` Display: "a.b.c.d:p" or "[v6]:p".
  std::string to_string() const;
  udp_endpoint unmapped() const noexcept { return {ip.unmapped(), port}; }

  // Fills `out` for a socket of `socket_family` (AF_INET or AF_INET6);
  // IPv4 endpoints are mapped when the socket is AF_INET6. Returns 0 when
  // the endpoint cannot be reached from such a socket (IPv6 on AF_INET).
  socklen_t to_sockaddr(sockaddr_storage& out, int socket_family) const;
  // AF_INET for IPv4, AF_INET6 for IPv6.
  int native_family() const noexcept { return ip.is_v4() ? AF_INET : AF_INET6; }

  friend bool operator==(const udp_endpoint&, const udp_endpoint&) = default;
  friend auto operator<=>(const udp_endpoint&, const udp_endpoint&) = default;
};

struct udp_endpoint_hash {
  std::size_t operator()(const udp_endpoint& e) const noexcept;
};

} // namespace overlayd::stun
