#include "wg/replay_window.hpp"

#include <algorithm>
#include <iterator>

namespace overlayd::wg {

namespace {

constexpr uint64_t block_shift = 6; // log2(block_bits)

} // namespace

bool replay_window::may_accept(uint64_t counter, uint64_t limit) const {
  if (counter >= limit)
    return false;
  if (counter > last_)
    return true;
  if (last_ - counter > window_size)
    return false;
  uint64_t block = (counter >> block_shift) % ring_blocks;
  uint64_t bit = uint64_t{1} << (counter & (block_bits - 1));
  return (ring_[block] & bit) == 0;
}

bool replay_window::accept(uint64_t counter, uint64_t limit) {
  if (counter >= limit)
    return false;
  uint64_t index = counter >> block_shift;
  if (counter > last_) {
    // Moving forward: clear the blocks between the old and the new head,
    // at most the whole ring for a far jump.
    uint64_t current = last_ >> block_shift;
    uint64_t diff = std::min(index - current, ring_blocks);
    for (uint64_t i = current + 1; i <= current + diff; ++i)
      ring_[i % ring_blocks] = 0;
    last_ = counter;
  } else if (last_ - counter > window_size) {
    return false;
  }
  uint64_t block = index % ring_blocks;
  uint64_t bit = uint64_t{1} << (counter & (block_bits - 1));
  uint64_t old = ring_[block];
  ring_[block] = old | bit;
  return old != ring_[block];
}

void replay_window::reset() {
  last_ = 0;
  std::fill(std::begin(ring_), std::end(ring_), 0);
}

} // namespace overlayd::wg
