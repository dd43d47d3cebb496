#include "ipam/port_allocator.hpp"

#include <algorithm>
#include <string>

namespace overlayd::ipam {
namespace {

std::uint16_t saturating_add(std::uint16_t a, std::uint32_t b) {
  return static_cast<std::uint16_t>(std::min<std::uint32_t>(a + b, 0xffff));
}

} // namespace

dedicated_port_allocator::dedicated_port_allocator(
  std::uint16_t base, std::span<const std::uint16_t> in_use)
  : base_(base), used_(in_use.begin(), in_use.end()) {}

dedicated_port_allocator::dedicated_port_allocator(
  std::uint16_t base, std::initializer_list<std::uint16_t> in_use)
  : base_(base), used_(in_use) {}

std::uint16_t dedicated_port_allocator::band_start() const noexcept {
  return saturating_add(base_, 1);
}

std::uint16_t dedicated_port_allocator::band_end() const noexcept {
  return saturating_add(base_, dedicated_port_band);
}

result<std::uint16_t> dedicated_port_allocator::allocate() {
  // A 32-bit counter so a band ending at 65535 still terminates.
  for (std::uint32_t port = band_start(); port <= band_end(); ++port) {
    const auto p = static_cast<std::uint16_t>(port);
    if (used_.insert(p).second) {
      return p;
    }
  }
  return make_error(errc::exhausted,
                    "dedicated-overlay port band exhausted ("
                      + std::to_string(band_start())
                      + "..=" + std::to_string(band_end()) + ", "
                      + std::to_string(dedicated_port_band) + " ports)");
}

} // namespace overlayd::ipam
