#include "wg/clock.hpp"

namespace overlayd::wg {

// Starts at the real wall time so TAI64N stamps look plausible, but never
// moves unless advanced.
fake_clock::fake_clock()
  : mono_(std::chrono::steady_clock::time_point{} + std::chrono::hours(1)),
    wall_(std::chrono::system_clock::now()) {
  // nop
}

clock::time_point fake_clock::now() {
  std::lock_guard guard{mu_};
  return mono_;
}

clock::wall_time_point fake_clock::wall_now() {
  std::lock_guard guard{mu_};
  return wall_;
}

void fake_clock::advance(std::chrono::nanoseconds by) {
  std::lock_guard guard{mu_};
  mono_ += by;
  wall_ += std::chrono::duration_cast<std::chrono::system_clock::duration>(by);
}

} // namespace overlayd::wg
