#include "net/ip.hpp"

#include "net/rust_addr_parser.hpp"

namespace overlayd::net {

namespace {

uint128 all_ones(unsigned bits) noexcept {
  return bits >= 128 ? ~uint128{0} : (uint128{1} << bits) - 1;
}

uint128 mask_bits(const ip_address& ip, unsigned prefix) noexcept {
  auto width = ip.bits();
  return all_ones(width) & ~all_ones(width - prefix);
}

// Rust `u8::from_str`: an optional '+', then at least one decimal digit.
std::optional<unsigned> parse_rust_u8(std::string_view s) {
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  if (s.empty())
    return std::nullopt;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<unsigned>(c - '0');
    if (v > 255)
      return std::nullopt;
  }
  return v;
}

// ipnetwork's `ipv4_mask_to_prefix`: the mask must be contiguous ones.
std::optional<unsigned> ipv4_mask_to_prefix(const ip_address& mask) {
  auto m = mask.to_v4_uint();
  unsigned prefix = 0;
  while (prefix < 32 && (m & (0x80000000u >> prefix)) != 0)
    ++prefix;
  if (prefix < 32 && (m << prefix) != 0)
    return std::nullopt;
  return prefix;
}

std::optional<cidr> parse_network_impl(std::string_view text) {
  std::string_view addr_text = text;
  std::optional<std::string_view> prefix_text;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr_text = text.substr(0, slash);
    prefix_text = text.substr(slash + 1);
    if (prefix_text->find('/') != std::string_view::npos)
      return std::nullopt;
  }
  // ipnetwork tries IPv4 first, then IPv6, with std's address grammar.
  if (auto v4 = ip_address::parse_v4(addr_text)) {
    unsigned prefix = 32;
    if (prefix_text) {
      if (auto mask = ip_address::parse_v4(*prefix_text)) {
        auto p = ipv4_mask_to_prefix(*mask);
        if (!p)
          return std::nullopt;
        prefix = *p;
      } else {
        auto p = parse_rust_u8(*prefix_text);
        if (!p || *p > 32)
          return std::nullopt;
        prefix = *p;
      }
    }
    return *cidr::make(*v4, prefix);
  }
  if (auto v6 = ip_address::parse_v6(addr_text)) {
    unsigned prefix = 128;
    if (prefix_text) {
      auto p = parse_rust_u8(*prefix_text);
      if (!p || *p > 128)
        return std::nullopt;
      prefix = *p;
    }
    return *cidr::make(*v6, prefix);
  }
  return std::nullopt;
}

} // namespace

expected<cidr> cidr::make(ip_address address, unsigned prefix) {
  if (prefix > address.bits())
    return unexpected{std::string{"invalid prefix"}};
  return cidr{address, prefix};
}

expected<cidr> cidr::parse(std::string_view text) {
  // ipnet: address, '/', then 1-2 (IPv4) or 1-3 (IPv6) decimal digits.
  for (bool v6 : {false, true}) {
    detail::rust_addr_parser p{text, /*ipnet_grammar=*/true};
    ip_address addr;
    if (!v6) {
      auto o = p.read_ipv4();
      if (!o)
        continue;
      addr = ip_address::v4((*o)[0], (*o)[1], (*o)[2], (*o)[3]);
    } else {
      auto g = p.read_ipv6();
      if (!g)
        continue;
      addr = ip_address::v6_segments(*g);
    }
    if (!p.read_char('/'))
      continue;
    auto len = p.read_number(10, v6 ? 3 : 2, true, v6 ? 128 : 32);
    if (len && p.at_end())
      return cidr{addr, static_cast<unsigned>(*len)};
  }
  return unexpected{std::string{"invalid IP address syntax"}};
}

expected<cidr> cidr::parse_network(std::string_view text) {
  if (auto net = parse_network_impl(text))
    return *net;
  return unexpected{"invalid address: " + std::string{text}};
}

ip_address cidr::netmask() const noexcept {
  return ip_address::from_uint(address_.fam(), mask_bits(address_, prefix_));
}

ip_address cidr::hostmask() const noexcept {
  return ip_address::from_uint(address_.fam(),
                               all_ones(address_.bits() - prefix_));
}

ip_address cidr::network() const noexcept {
  return ip_address::from_uint(
    address_.fam(), address_.to_uint() & mask_bits(address_, prefix_));
}

ip_address cidr::broadcast() const noexcept {
  return ip_address::from_uint(
    address_.fam(), address_.to_uint() | all_ones(address_.bits() - prefix_));
}

cidr cidr::trunc() const noexcept {
  return cidr{network(), prefix_};
}

bool cidr::contains(const ip_address& ip) const noexcept {
  if (ip.fam() != address_.fam())
    return false;
  auto m = mask_bits(address_, prefix_);
  return (ip.to_uint() & m) == (address_.to_uint() & m);
}

bool cidr::contains(const cidr& other) const noexcept {
  return other.prefix_ >= prefix_ && contains(other.address_);
}

uint128 cidr::size() const noexcept {
  auto host_bits = address_.bits() - prefix_;
  return host_bits >= 128 ? ~uint128{0} : uint128{1} << host_bits;
}

std::string cidr::to_string() const {
  return address_.to_string() + "/" + std::to_string(prefix_);
}

} // namespace overlayd::net
