#include "wg/tai64n.hpp"

#include <cstring>

namespace overlayd::wg {

tai64n make_tai64n(std::chrono::system_clock::time_point when) {
  using namespace std::chrono;
  auto since_epoch = when.time_since_epoch();
  auto secs = duration_cast<seconds>(since_epoch);
  if (since_epoch < secs)
    secs -= seconds(1);
  auto nanos = static_cast<uint32_t>(
    duration_cast<nanoseconds>(since_epoch - secs).count());
  nanos &= ~static_cast<uint32_t>(0xffffff);
  uint64_t label
    = (uint64_t{1} << 62) + 10 + static_cast<uint64_t>(secs.count());
  tai64n out;
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<uint8_t>(label >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i)
    out[8 + i] = static_cast<uint8_t>(nanos >> (24 - 8 * i));
  return out;
}

bool tai64n_after(const tai64n& a, const tai64n& b) {
  return std::memcmp(a.data(), b.data(), a.size()) > 0;
}

} // namespace overlayd::wg
