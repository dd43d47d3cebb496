#include "wg/allowed_ips.hpp"

#include <charconv>

namespace overlayd::wg {

std::optional<allowed_ip> allowed_ip::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = ip_address::parse(text.substr(0, slash));
  if (!addr)
    return std::nullopt;
  auto max_bits = static_cast<unsigned>(addr->bit_length());
  unsigned cidr = max_bits;
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec]
      = std::from_chars(digits.data(), digits.data() + digits.size(), cidr);
    if (digits.empty() || ec != std::errc{}
        || end != digits.data() + digits.size() || cidr > max_bits)
      return std::nullopt;
  }
  return allowed_ip{*addr, static_cast<uint8_t>(cidr)};
}

allowed_ip allowed_ip::masked() const {
  auto bits = detail::mask_bits(detail::address_bits(address), cidr);
  auto addr = *ip_address::from_bytes(
    std::span<const uint8_t>(bits.data(), address.is_v4() ? 4 : 16));
  return allowed_ip{addr, cidr};
}

std::string allowed_ip::to_string() const {
  return address.to_string() + "/" + std::to_string(cidr);
}

} // namespace overlayd::wg
