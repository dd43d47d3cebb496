#include "ipam/node_slice.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>

using namespace overlayd;
using namespace overlayd::ipam;

namespace {

net::cidr net_of(const char* text) {
  return *net::cidr::parse_network(text);
}
net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

} // namespace

TEST_CASE("the default slice is 10.200.0.0/16") {
  node_slice_allocator alloc;
  CHECK(alloc.slice().to_string() == "10.200.0.0/16");
  CHECK(alloc.node_ip() == ip("10.200.0.1"));
  CHECK(*alloc.allocate() == ip("10.200.0.2"));
}

TEST_CASE("node IP is the first usable host and is never handed out") {
  node_slice_allocator alloc(net_of("10.200.0.0/26"));
  const auto node = ip("10.200.0.1");
  CHECK(alloc.node_ip() == node);
  std::vector<net::ip_address> handed_out;
  for (int i = 0; i < 10; ++i) {
    auto a = alloc.allocate();
    REQUIRE(a);
    CHECK(*a != node);
    handed_out.push_back(*a);
  }
  CHECK(alloc.node_ip() == node);
  CHECK(handed_out.front() == ip("10.200.0.2"));
  // Releasing the node IP must not put it into the pool.
  CHECK_FALSE(alloc.release(node));
  auto next = alloc.allocate();
  REQUIRE(next);
  CHECK(*next != node);
}

TEST_CASE("IPv6 node IP is the first usable host") {
  node_slice_allocator alloc(net_of("fd00:200::/64"));
  CHECK(alloc.node_ip() == ip("fd00:200::1"));
  for (int i = 0; i < 5; ++i) {
    CHECK(*alloc.allocate() != alloc.node_ip());
  }
  CHECK(alloc.node_ip().to_string() == "fd00:200::1");
}

TEST_CASE("the node IP derives from the network address") {
  // A slice written with host bits keeps them for display only.
  node_slice_allocator alloc(net_of("10.200.5.7/28"));
  CHECK(alloc.node_ip() == ip("10.200.5.1"));
  CHECK(*alloc.allocate() == ip("10.200.5.2"));
}

TEST_CASE("released addresses come back LIFO before the counter moves") {
  node_slice_allocator alloc(net_of("10.200.0.0/28"));
  auto a = *alloc.allocate();
  auto b = *alloc.allocate();
  auto c = *alloc.allocate();
  CHECK(a == ip("10.200.0.2"));
  CHECK(b == ip("10.200.0.3"));
  CHECK(c == ip("10.200.0.4"));
  CHECK(alloc.release(a));
  CHECK(*alloc.allocate() == a); // the spec's a, b, release(a) -> a

  CHECK(alloc.release(a));
  CHECK(alloc.release(c));
  CHECK_FALSE(alloc.release(c)); // already released: no duplicate
  CHECK(alloc.released().size() == 2);
  CHECK(*alloc.allocate() == c); // most recent first
  CHECK(*alloc.allocate() == a);
  CHECK(*alloc.allocate() == ip("10.200.0.5"));
}

TEST_CASE("a /28 slice runs .2 to .14 and then is exhausted, broadcast "
          "excluded") {
  node_slice_allocator alloc(net_of("10.200.0.0/28"));
  std::set<net::ip_address> seen;
  for (int host = 2; host <= 14; ++host) {
    auto a = alloc.allocate();
    REQUIRE(a);
    CHECK(*a == ip(("10.200.0." + std::to_string(host)).c_str()));
    seen.insert(*a);
  }
  CHECK(seen.size() == 13);
  auto r = alloc.allocate();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::exhausted);
  CHECK(r.error().message
        == "IP allocator exhausted: next address 10.200.0.15 is outside "
           "slice 10.200.0.0/28");
  CHECK(r.error().wire_message()
        == "overlay engine error: IP allocator exhausted: next address "
           "10.200.0.15 is outside slice 10.200.0.0/28");
  // The counter keeps moving, as in the reference.
  auto r2 = alloc.allocate();
  REQUIRE_FALSE(r2);
  CHECK(r2.error().message.find("next address 10.200.0.16 ")
        != std::string::npos);

  // A release after exhaustion is reused.
  CHECK(alloc.release(ip("10.200.0.9")));
  CHECK(*alloc.allocate() == ip("10.200.0.9"));
  CHECK_FALSE(alloc.allocate());
}

TEST_CASE("the error names the slice as it was given") {
  // ipnetwork keeps host bits for display; the math uses the network .4.
  node_slice_allocator alloc(net_of("10.200.0.5/30"));
  CHECK(alloc.node_ip() == ip("10.200.0.5"));
  CHECK(*alloc.allocate() == ip("10.200.0.6"));
  auto r = alloc.allocate(); // .7 is the broadcast
  REQUIRE_FALSE(r);
  CHECK(r.error().message
        == "IP allocator exhausted: next address 10.200.0.7 is outside "
           "slice 10.200.0.5/30");
}

TEST_CASE("IPv6 slices have no broadcast: the last address is usable") {
  node_slice_allocator alloc(net_of("fd00::/126"));
  CHECK(*alloc.allocate() == ip("fd00::2"));
  CHECK(*alloc.allocate() == ip("fd00::3"));
  auto r = alloc.allocate();
  REQUIRE_FALSE(r);
  CHECK(r.error().message
        == "IP allocator exhausted: next address fd00::4 is outside slice "
           "fd00::/126");
}

TEST_CASE("release ignores addresses it never handed out") {
  node_slice_allocator alloc(net_of("10.200.0.0/28"));
  auto a = *alloc.allocate();                    // .2
  CHECK_FALSE(alloc.release(ip("10.201.0.2")));  // outside the slice
  CHECK_FALSE(alloc.release(ip("fd00::2")));     // other family
  CHECK_FALSE(alloc.release(ip("10.200.0.0")));  // network address
  CHECK_FALSE(alloc.release(ip("10.200.0.15"))); // broadcast
  CHECK_FALSE(alloc.release(ip("10.200.0.9")));  // not reached yet
  CHECK(alloc.released().empty());
  // So the counter never hands out an address twice.
  std::set<net::ip_address> seen{a};
  while (auto next = alloc.allocate()) {
    CHECK(seen.insert(*next).second);
  }
  CHECK(seen.size() == 13);
}
