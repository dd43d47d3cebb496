#pragma once

// Listen ports for dedicated per-service WireGuard devices (ipc.md §7.4):
// the lowest free port in base+1 ..= base+256, deterministic so a restart
// hands out the same ports again.

#include "ipam/error.hpp"

#include <cstdint>
#include <initializer_list>
#include <set>
#include <span>

namespace overlayd::ipam {

// Width of the dedicated-port band.
inline constexpr std::uint16_t dedicated_port_band = 256;
// zlayer-core's DEFAULT_WG_PORT; the reference builds the band on it even
// when SetupGlobalOverlay brings a different wg_port.
inline constexpr std::uint16_t default_wg_port = 51420;

class dedicated_port_allocator {
public:
  // `in_use` seeds the used set (the marker's recorded ports). Ports outside
  // the band stay in the set; they are harmless.
  explicit dedicated_port_allocator(std::uint16_t base = default_wg_port,
                                    std::span<const std::uint16_t> in_use = {});
  dedicated_port_allocator(std::uint16_t base,
                           std::initializer_list<std::uint16_t> in_use);

  // The lowest free port in the band, now marked used. Error (`Other` on the
  // wire): "dedicated-overlay port band exhausted (A..=B, 256 ports)".
  result<std::uint16_t> allocate();
  void release(std::uint16_t port) { used_.erase(port); }
  void reserve(std::uint16_t port) { used_.insert(port); }
  bool is_used(std::uint16_t port) const { return used_.contains(port); }

  // Both ends saturate at 65535, as in the reference.
  std::uint16_t band_start() const noexcept;
  std::uint16_t band_end() const noexcept;

private:
  std::uint16_t base_;
  std::set<std::uint16_t> used_;
};

} // namespace overlayd::ipam
