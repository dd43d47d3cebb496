#pragma once

#include <chrono>
#include <mutex>

namespace overlayd::wg {

/// Time source of the engine. Protocol timers run on the monotonic clock;
/// the wall clock only stamps handshakes (TAI64N) and the "last handshake"
/// reported to users. Injectable so tests can drive every timer.
class clock {
public:
  using time_point = std::chrono::steady_clock::time_point;
  using wall_time_point = std::chrono::system_clock::time_point;

  virtual ~clock() = default;
  virtual time_point now() = 0;
  virtual wall_time_point wall_now() = 0;
};

/// The process clocks.
class real_clock final : public clock {
public:
  time_point now() override { return std::chrono::steady_clock::now(); }
  wall_time_point wall_now() override {
    return std::chrono::system_clock::now();
  }
};

/// A clock that only moves when told to; both readings advance together.
class fake_clock final : public clock {
public:
  fake_clock();
  time_point now() override;
  wall_time_point wall_now() override;
  void advance(std::chrono::nanoseconds by);

private:
  std::mutex mu_;
  time_point mono_;
  wall_time_point wall_;
};

} // namespace overlayd::wg
