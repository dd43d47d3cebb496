#include "net/ip.hpp"

#include <cstdio>

#include "net/rust_addr_parser.hpp"

namespace overlayd::net {

using detail::rust_addr_parser;

// -- construction -------------------------------------------------------------

ip_address ip_address::v4(std::uint32_t host_order) noexcept {
  return v4(static_cast<std::uint8_t>(host_order >> 24),
            static_cast<std::uint8_t>(host_order >> 16),
            static_cast<std::uint8_t>(host_order >> 8),
            static_cast<std::uint8_t>(host_order));
}

ip_address ip_address::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                          std::uint8_t d) noexcept {
  ip_address r;
  r.family_ = family::v4;
  r.bytes_[0] = a;
  r.bytes_[1] = b;
  r.bytes_[2] = c;
  r.bytes_[3] = d;
  return r;
}

ip_address ip_address::v6(const std::array<std::uint8_t, 16>& bytes) noexcept {
  ip_address r;
  r.family_ = family::v6;
  r.bytes_ = bytes;
  return r;
}

ip_address
ip_address::v6_segments(const std::array<std::uint16_t, 8>& segments) noexcept {
  std::array<std::uint8_t, 16> b{};
  for (std::size_t i = 0; i < 8; ++i) {
    b[2 * i] = static_cast<std::uint8_t>(segments[i] >> 8);
    b[2 * i + 1] = static_cast<std::uint8_t>(segments[i]);
  }
  return v6(b);
}

ip_address ip_address::v6(uint128 value) noexcept {
  return from_uint(family::v6, value);
}

ip_address ip_address::unspecified(family f) noexcept {
  return f == family::v4 ? ip_address{} : v6(uint128{0});
}

ip_address ip_address::from_uint(family f, uint128 value) noexcept {
  if (f == family::v4)
    return v4(static_cast<std::uint32_t>(value));
  std::array<std::uint8_t, 16> b{};
  for (int i = 15; i >= 0; --i) {
    b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(value);
    value >>= 8;
  }
  return v6(b);
}

// -- parsing ------------------------------------------------------------------

namespace {

ip_address from_v4_octets(const std::array<std::uint8_t, 4>& o) {
  return ip_address::v4(o[0], o[1], o[2], o[3]);
}

} // namespace

expected<ip_address> ip_address::parse(std::string_view text) {
  rust_addr_parser p{text};
  if (auto v4 = p.read_ipv4(); v4 && p.at_end())
    return from_v4_octets(*v4);
  rust_addr_parser q{text};
  if (auto v6 = q.read_ipv6(); v6 && q.at_end())
    return v6_segments(*v6);
  return unexpected{std::string{"invalid IP address syntax"}};
}

expected<ip_address> ip_address::parse_v4(std::string_view text) {
  rust_addr_parser p{text};
  if (auto v4 = p.read_ipv4(); v4 && p.at_end())
    return from_v4_octets(*v4);
  return unexpected{std::string{"invalid IPv4 address syntax"}};
}

expected<ip_address> ip_address::parse_v6(std::string_view text) {
  rust_addr_parser p{text};
  if (auto v6 = p.read_ipv6(); v6 && p.at_end())
    return v6_segments(*v6);
  return unexpected{std::string{"invalid IPv6 address syntax"}};
}

// -- queries ------------------------------------------------------------------

std::uint32_t ip_address::to_v4_uint() const noexcept {
  return static_cast<std::uint32_t>(bytes_[0]) << 24
         | static_cast<std::uint32_t>(bytes_[1]) << 16
         | static_cast<std::uint32_t>(bytes_[2]) << 8
         | static_cast<std::uint32_t>(bytes_[3]);
}

uint128 ip_address::to_uint() const noexcept {
  if (is_v4())
    return to_v4_uint();
  uint128 v = 0;
  for (auto b : bytes_)
    v = v << 8 | b;
  return v;
}

bool ip_address::is_unspecified() const noexcept {
  return to_uint() == 0;
}

bool ip_address::is_loopback() const noexcept {
  return is_v4() ? bytes_[0] == 127 : to_uint() == 1;
}

std::optional<ip_address> ip_address::to_ipv4_mapped() const noexcept {
  if (!is_v4()) {
    for (std::size_t i = 0; i < 10; ++i)
      if (bytes_[i] != 0)
        return std::nullopt;
    if (bytes_[10] == 0xff && bytes_[11] == 0xff)
      return v4(bytes_[12], bytes_[13], bytes_[14], bytes_[15]);
  }
  return std::nullopt;
}

// -- formatting ---------------------------------------------------------------

std::string ip_address::to_string() const {
  char buf[64];
  if (is_v4()) {
    auto n = std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", bytes_[0],
                           bytes_[1], bytes_[2], bytes_[3]);
    return std::string(buf, static_cast<std::size_t>(n));
  }
  if (auto mapped = to_ipv4_mapped())
    return "::ffff:" + mapped->to_string();
  std::array<std::uint16_t, 8> seg{};
  for (std::size_t i = 0; i < 8; ++i)
    seg[i] = static_cast<std::uint16_t>(bytes_[2 * i] << 8 | bytes_[2 * i + 1]);
  // The longest run of zero groups; the first one wins a tie.
  std::size_t best_start = 0, best_len = 0, cur_start = 0, cur_len = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    if (seg[i] == 0) {
      if (cur_len == 0)
        cur_start = i;
      if (++cur_len > best_len) {
        best_len = cur_len;
        best_start = cur_start;
      }
    } else {
      cur_len = 0;
    }
  }
  std::string out;
  auto put_groups = [&](std::size_t from, std::size_t to) {
    for (std::size_t i = from; i < to; ++i) {
      if (i > from)
        out += ':';
      auto n = std::snprintf(buf, sizeof(buf), "%x", seg[i]);
      out.append(buf, static_cast<std::size_t>(n));
    }
  };
  // A single zero group is written out, never compressed.
  if (best_len > 1) {
    put_groups(0, best_start);
    out += "::";
    put_groups(best_start + best_len, 8);
  } else {
    put_groups(0, 8);
  }
  return out;
}

} // namespace overlayd::net
