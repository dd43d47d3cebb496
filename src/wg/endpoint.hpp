#pragma once

#include <sys/socket.h>

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace overlayd::wg {

/// An IPv4 or IPv6 address. IPv4 addresses occupy the first 4 bytes.
class ip_address {
public:
  ip_address() = default; // 0.0.0.0

  static ip_address v4(const std::array<uint8_t, 4>& bytes);
  static ip_address v6(const std::array<uint8_t, 16>& bytes);
  /// Dotted quad or RFC 4291 text; no brackets, no zone.
  static std::optional<ip_address> parse(std::string_view text);
  /// 4 bytes give IPv4, 16 bytes IPv6, anything else nullopt.
  static std::optional<ip_address> from_bytes(std::span<const uint8_t> raw);

  bool is_v4() const { return !v6_; }
  bool is_v6() const { return v6_; }
  int family() const;             // AF_INET or AF_INET6
  std::size_t bit_length() const; // 32 or 128
  /// The 4 or 16 address bytes in network order.
  std::span<const uint8_t> bytes() const {
    return {bytes_.data(), v6_ ? 16u : 4u};
  }
  /// True for ::ffff:a.b.c.d.
  bool is_v4_mapped() const;
  /// ::ffff:a.b.c.d becomes a.b.c.d; anything else is returned unchanged.
  ip_address unmapped() const;
  std::string to_string() const;

  friend auto operator<=>(const ip_address&, const ip_address&) = default;

private:
  bool v6_ = false;
  std::array<uint8_t, 16> bytes_{};
};

/// A UDP peer address: IP plus port.
class endpoint {
public:
  endpoint() = default;
  endpoint(const ip_address& address, uint16_t port)
    : address_(address), port_(port) {
    // nop
  }

  /// "1.2.3.4:51820" or "[2001:db8::1]:51820".
  static std::optional<endpoint> parse(std::string_view text);
  /// Reads sockaddr_in / sockaddr_in6; v4-mapped IPv6 becomes IPv4 so an
  /// endpoint compares equal whichever socket family delivered it.
  static std::optional<endpoint> from_sockaddr(const sockaddr* sa,
                                               socklen_t len);

  const ip_address& address() const { return address_; }
  uint16_t port() const { return port_; }

  /// Writes a sockaddr for sendto(); with `v4_mapped` an IPv4 endpoint is
  /// written as ::ffff:a.b.c.d for a dual-stack IPv6 socket. Returns length.
  socklen_t to_sockaddr(sockaddr_storage& out, bool v4_mapped = false) const;
  /// Same text format parse() accepts.
  std::string to_string() const;

  friend auto operator<=>(const endpoint&, const endpoint&) = default;

private:
  ip_address address_;
  uint16_t port_ = 0;
};

} // namespace overlayd::wg

template <>
struct std::hash<overlayd::wg::ip_address> {
  std::size_t operator()(const overlayd::wg::ip_address& a) const noexcept;
};

template <>
struct std::hash<overlayd::wg::endpoint> {
  std::size_t operator()(const overlayd::wg::endpoint& e) const noexcept;
};
