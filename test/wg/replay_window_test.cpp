#include "wg/replay_window.hpp"
#include "wg/timers.hpp"

#include <doctest/doctest.h>

using namespace overlayd::wg;

namespace {
constexpr uint64_t limit = limits::reject_after_messages;
}

TEST_CASE("replay window: in order, duplicates, reordering") {
  replay_window w;
  for (uint64_t i = 0; i < 100; ++i)
    CHECK(w.accept(i, limit));
  for (uint64_t i = 0; i < 100; ++i)
    CHECK_FALSE(w.accept(i, limit));
  CHECK(w.accept(200, limit));
  CHECK(w.accept(150, limit)); // late but inside the window
  CHECK_FALSE(w.accept(150, limit));
  CHECK(w.may_accept(151, limit));
  CHECK_FALSE(w.may_accept(150, limit));
}

TEST_CASE("replay window: the window edge is 8128 counters") {
  CHECK(replay_window::window_size == 8128);
  replay_window w;
  CHECK(w.accept(10000, limit));
  CHECK(w.accept(10000 - 8128, limit)); // exactly at the edge
  CHECK_FALSE(w.accept(10000 - 8129, limit));
  CHECK_FALSE(w.may_accept(10000 - 8129, limit));
  // Every counter inside the window is accepted exactly once.
  int accepted = 0;
  for (uint64_t c = 10000 - 8127; c < 10000; ++c)
    accepted += w.accept(c, limit);
  CHECK(accepted == 8127);
  for (uint64_t c = 10000 - 8128; c <= 10000; ++c)
    CHECK_FALSE(w.may_accept(c, limit));
}

TEST_CASE("replay window: a far jump forgets the old window") {
  replay_window w;
  for (uint64_t i = 0; i < 64; ++i)
    CHECK(w.accept(i, limit));
  CHECK(w.accept(1'000'000, limit));
  CHECK_FALSE(w.accept(5, limit)); // far too old now
  CHECK(w.accept(999'999, limit));
  CHECK(w.accept(1'000'000 - 8000, limit)); // stale bits were cleared
  CHECK_FALSE(w.accept(1'000'000, limit));
  // Bits of recycled blocks do not leak into new counters.
  replay_window v;
  CHECK(v.accept(64 * 3 + 1, limit));
  CHECK(v.accept(64 * 3 + 1 + 128 * 64, limit));
  CHECK(v.accept(64 * 3 + 1 + 64 * 64, limit));
}

TEST_CASE("replay window: counters at or beyond REJECT_AFTER_MESSAGES") {
  replay_window w;
  CHECK_FALSE(w.accept(limit, limit));
  CHECK_FALSE(w.accept(~uint64_t{0}, limit));
  CHECK_FALSE(w.may_accept(limit, limit));
  CHECK(w.accept(limit - 1, limit));
  CHECK_FALSE(w.accept(limit - 1, limit));
  CHECK(w.accept(limit - 2, limit));
  w.reset();
  CHECK(w.accept(0, limit));
}
