#include "ipam/ipam.hpp" // also checks the umbrella header compiles

#include <doctest/doctest.h>

#include <vector>

using namespace overlayd::ipam;

TEST_CASE("ports are handed out lowest first and ascending") {
  dedicated_port_allocator alloc(51820);
  CHECK(*alloc.allocate() == 51821);
  CHECK(*alloc.allocate() == 51822);
  CHECK(*alloc.allocate() == 51823);
}

TEST_CASE("the default band is 51421..=51676") {
  dedicated_port_allocator alloc;
  CHECK(alloc.band_start() == 51421);
  CHECK(alloc.band_end() == 51676);
  CHECK(*alloc.allocate() == 51421);
}

TEST_CASE("a released port is reused first") {
  dedicated_port_allocator alloc(51820);
  auto a = *alloc.allocate();
  auto b = *alloc.allocate();
  CHECK(a == 51821);
  CHECK(b == 51822);
  alloc.release(a);
  CHECK_FALSE(alloc.is_used(a));
  CHECK(*alloc.allocate() == 51821);
}

TEST_CASE("seeded and reserved ports are skipped") {
  dedicated_port_allocator alloc(51820, {51821});
  CHECK(alloc.is_used(51821));
  CHECK(*alloc.allocate() == 51822);
  alloc.reserve(51823);
  CHECK(*alloc.allocate() == 51824);
}

TEST_CASE("out-of-band seeds are kept but harmless") {
  dedicated_port_allocator alloc(51820, {80, 60000});
  CHECK(alloc.is_used(80));
  CHECK(*alloc.allocate() == 51821);
}

TEST_CASE("an exhausted band is an error naming the band") {
  std::vector<std::uint16_t> full;
  for (std::uint32_t p = 51421; p <= 51676; ++p) {
    full.push_back(static_cast<std::uint16_t>(p));
  }
  dedicated_port_allocator alloc(51420, full);
  auto r = alloc.allocate();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::exhausted);
  CHECK(r.error().message
        == "dedicated-overlay port band exhausted (51421..=51676, 256 ports)");
  // `Other` on the wire: no prefix.
  CHECK(r.error().wire_message() == r.error().message);

  // Releasing one port makes exactly that one available again.
  alloc.release(51500);
  CHECK(*alloc.allocate() == 51500);
  CHECK_FALSE(alloc.allocate());
}

TEST_CASE("the band saturates at 65535") {
  dedicated_port_allocator alloc(65500);
  CHECK(alloc.band_start() == 65501);
  CHECK(alloc.band_end() == 65535);
  for (std::uint32_t p = 65501; p <= 65535; ++p) {
    CHECK(*alloc.allocate() == p);
  }
  auto r = alloc.allocate();
  REQUIRE_FALSE(r);
  CHECK(r.error().message
        == "dedicated-overlay port band exhausted (65501..=65535, 256 ports)");

  dedicated_port_allocator top(65535);
  CHECK(top.band_start() == 65535);
  CHECK(*top.allocate() == 65535);
  CHECK_FALSE(top.allocate());
}
