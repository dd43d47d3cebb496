#pragma once

// IP addresses, CIDR blocks and socket addresses with the exact parse and
// print rules of Rust's std::net (and the two CIDR crates the reference
// uses), because every address crosses the IPC wire as a Rust-formatted
// string and ZLayer compares some of them byte for byte.

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "net/expected.hpp"

struct sockaddr;
struct sockaddr_storage;

namespace overlayd::net {

__extension__ using uint128 = unsigned __int128;

/// An IPv4 or IPv6 address (Rust `IpAddr`).
///
/// `parse` accepts exactly what Rust's `IpAddr::from_str` accepts: dotted
/// quads without leading zeros, RFC 4291 IPv6 text (with `::` and an
/// embedded trailing dotted quad), no zone ids, no brackets, no port.
/// `to_string` prints like Rust's `Display`: IPv6 in lowercase with the
/// longest run (first on ties) of two or more zero groups compressed, and
/// IPv4-mapped addresses as `::ffff:a.b.c.d`. IPv4-compatible addresses
/// (`::a.b.c.d`) print in plain hex (`::102:304`), as modern Rust does.
class ip_address {
public:
  enum class family : std::uint8_t { v4, v6 };

  /// The IPv4 unspecified address `0.0.0.0`.
  constexpr ip_address() noexcept = default;

  /// IPv4 from a host-order integer (`10.0.0.1` is `0x0a000001`).
  static ip_address v4(std::uint32_t host_order) noexcept;
  static ip_address v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                       std::uint8_t d) noexcept;
  /// IPv6 from its 16 network-order bytes.
  static ip_address v6(const std::array<std::uint8_t, 16>& bytes) noexcept;
  /// IPv6 from its eight 16-bit groups.
  static ip_address
  v6_segments(const std::array<std::uint16_t, 8>& segments) noexcept;
  /// IPv6 from a 128-bit integer (Rust `Ipv6Addr::from(u128)`).
  static ip_address v6(uint128 value) noexcept;
  /// Unspecified address of the given family (`0.0.0.0` or `::`).
  static ip_address unspecified(family f) noexcept;

  /// Rust `IpAddr::from_str`. Error text: `invalid IP address syntax`.
  static expected<ip_address> parse(std::string_view text);
  /// Rust `Ipv4Addr::from_str`. Error: `invalid IPv4 address syntax`.
  static expected<ip_address> parse_v4(std::string_view text);
  /// Rust `Ipv6Addr::from_str`. Error: `invalid IPv6 address syntax`.
  static expected<ip_address> parse_v6(std::string_view text);

  family fam() const noexcept { return family_; }
  bool is_v4() const noexcept { return family_ == family::v4; }
  bool is_v6() const noexcept { return family_ == family::v6; }
  /// Address length in bits: 32 or 128.
  unsigned bits() const noexcept { return is_v4() ? 32 : 128; }

  /// Network-order bytes; only the first 4 are meaningful for IPv4.
  const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }
  /// IPv4 as a host-order integer. Precondition: `is_v4()`.
  std::uint32_t to_v4_uint() const noexcept;
  /// The address as an unsigned integer (IPv4 uses the low 32 bits).
  uint128 to_uint() const noexcept;
  /// Builds an address of family `f` from an integer (truncated to the
  /// family's width, i.e. wrapping like the reference's arithmetic).
  static ip_address from_uint(family f, uint128 value) noexcept;

  bool is_unspecified() const noexcept;
  bool is_loopback() const noexcept;
  /// `a.b.c.d` for `::ffff:a.b.c.d`, else nullopt (Rust `to_ipv4_mapped`).
  std::optional<ip_address> to_ipv4_mapped() const noexcept;

  /// Rust `Display`.
  std::string to_string() const;

  friend bool operator==(const ip_address&, const ip_address&) = default;
  /// Orders IPv4 before IPv6, then numerically (Rust `IpAddr: Ord`).
  friend std::strong_ordering operator<=>(const ip_address&, const ip_address&)
    = default;

private:
  // Declaration order matters for the defaulted comparison.
  family family_ = family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

/// An address with a prefix length. The address is kept *as given*, host
/// bits included, like both Rust CIDR crates the reference uses
/// (`ipnet::IpNet` and `ipnetwork::IpNetwork`); `network()` and `trunc()`
/// clear the host bits.
class cidr {
public:
  /// `0.0.0.0/0`.
  cidr() noexcept = default;

  /// Error `invalid prefix` when `prefix` exceeds the family's width.
  static expected<cidr> make(ip_address address, unsigned prefix);

  /// `ipnet::IpNet::from_str` (used for `add_allowed_ip` and the bridge
  /// subnets): `addr/len` with the prefix required, 1-2 digits for IPv4
  /// and 1-3 for IPv6. Error text: `invalid IP address syntax`.
  static expected<cidr> parse(std::string_view text);

  /// `ipnetwork::IpNetwork::from_str` (used for the cluster and slice
  /// CIDRs): the prefix may be omitted (a host route) and an IPv4 prefix
  /// may be written as a netmask. Error text: `invalid address: {text}`.
  static expected<cidr> parse_network(std::string_view text);

  const ip_address& address() const noexcept { return address_; }
  unsigned prefix() const noexcept { return prefix_; }
  bool is_v4() const noexcept { return address_.is_v4(); }
  bool is_v6() const noexcept { return address_.is_v6(); }

  /// Host bits cleared.
  ip_address network() const noexcept;
  /// Host bits set (the IPv4 broadcast; for IPv6 the last address).
  ip_address broadcast() const noexcept;
  ip_address netmask() const noexcept;
  ip_address hostmask() const noexcept;
  /// Same network with the host bits cleared (`ipnet::trunc`).
  cidr trunc() const noexcept;
  /// Same family and same network bits.
  bool contains(const ip_address& ip) const noexcept;
  /// Whether `other` lies completely inside this block.
  bool contains(const cidr& other) const noexcept;
  /// Number of addresses, saturated at `uint128` max for `::/0`.
  uint128 size() const noexcept;

  /// `address/prefix` with the address as given (both crates print so).
  std::string to_string() const;

  friend bool operator==(const cidr&, const cidr&) = default;
  friend std::strong_ordering operator<=>(const cidr&, const cidr&) = default;

private:
  cidr(ip_address address, unsigned prefix) noexcept
    : address_(address), prefix_(static_cast<std::uint8_t>(prefix)) {
    // nop
  }

  ip_address address_;
  std::uint8_t prefix_ = 0;
};

/// An IP address with a port (Rust `SocketAddr`), plus the IPv6 scope id
/// Rust keeps for `[fe80::1%2]:5`.
class socket_address {
public:
  socket_address() noexcept = default;
  socket_address(ip_address ip, std::uint16_t port,
                 std::uint32_t scope_id = 0) noexcept
    : ip_(ip), port_(port), scope_id_(scope_id) {
    // nop
  }

  /// Rust `SocketAddr::from_str`: `a.b.c.d:port` or `[v6]:port` or
  /// `[v6%scope]:port`; no hostnames. Error: `invalid socket address
  /// syntax`.
  static expected<socket_address> parse(std::string_view text);

  /// Converts from a kernel socket address (AF_INET / AF_INET6 only).
  static expected<socket_address> from_sockaddr(const sockaddr* sa);

  const ip_address& ip() const noexcept { return ip_; }
  std::uint16_t port() const noexcept { return port_; }
  std::uint32_t scope_id() const noexcept { return scope_id_; }

  /// Fills `out` and returns the length to pass to bind/connect/sendto.
  unsigned to_sockaddr(sockaddr_storage& out) const noexcept;

  /// Rust `Display`: `1.2.3.4:5`, `[::1]:5`, `[fe80::1%2]:5`.
  std::string to_string() const;

  friend bool operator==(const socket_address&, const socket_address&)
    = default;
  friend std::strong_ordering operator<=>(const socket_address&,
                                          const socket_address&)
    = default;

private:
  ip_address ip_;
  std::uint16_t port_ = 0;
  std::uint32_t scope_id_ = 0;
};

} // namespace overlayd::net

// Hashing, so the types can key unordered containers.

template <>
struct std::hash<overlayd::net::ip_address> {
  std::size_t operator()(const overlayd::net::ip_address& ip) const noexcept {
    // FNV-1a over family and bytes: cheap and good enough for table keys.
    std::uint64_t h = 0xcbf29ce484222325ull ^ static_cast<unsigned>(ip.fam());
    for (auto b : ip.bytes())
      h = (h ^ b) * 0x100000001b3ull;
    return static_cast<std::size_t>(h);
  }
};

template <>
struct std::hash<overlayd::net::cidr> {
  std::size_t operator()(const overlayd::net::cidr& c) const noexcept {
    return std::hash<overlayd::net::ip_address>{}(c.address()) * 31
           + c.prefix();
  }
};

template <>
struct std::hash<overlayd::net::socket_address> {
  std::size_t
  operator()(const overlayd::net::socket_address& a) const noexcept {
    return (std::hash<overlayd::net::ip_address>{}(a.ip()) * 31 + a.port()) * 31
           + a.scope_id();
  }
};
