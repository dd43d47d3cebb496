#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace overlayd::wg {

/// 12-byte TAI64N label: big-endian (2^62 + 10 + unix seconds) then
/// big-endian nanoseconds, so byte-wise comparison orders them in time.
using tai64n = std::array<uint8_t, 12>;

/// Stamps `when`. Nanoseconds are rounded down to 2^24 ns (~16.8 ms) so the
/// handshake does not leak fine-grained timing of the sender's clock.
tai64n make_tai64n(std::chrono::system_clock::time_point when);

/// True when `a` is strictly later than `b`.
bool tai64n_after(const tai64n& a, const tai64n& b);

} // namespace overlayd::wg
