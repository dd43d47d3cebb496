#pragma once

#include <cstdint>

namespace overlayd::wg {

/// Sliding anti-replay window over 64-bit transport counters (RFC 6479
/// style): a ring of 128 64-bit blocks, of which one block is always being
/// recycled, so the last 8128 counters are remembered, as in the kernel and
/// wireguard-go. Not synchronised; the keypair guards it.
class replay_window {
public:
  static constexpr uint64_t block_bits = 64;
  static constexpr uint64_t ring_blocks = 128;
  static constexpr uint64_t window_size = (ring_blocks - 1) * block_bits;

  /// False if `counter` is at or beyond `limit`, older than the window, or
  /// already seen. Read-only: use it to drop obvious replays before paying
  /// for decryption.
  bool may_accept(uint64_t counter, uint64_t limit) const;
  /// Same verdict as may_accept, and records the counter when it is fresh.
  /// Call only after the packet authenticated.
  bool accept(uint64_t counter, uint64_t limit);
  void reset();

private:
  uint64_t last_ = 0;
  uint64_t ring_[ring_blocks] = {};
};

} // namespace overlayd::wg
