#include "ipam/bridge_pool.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <optional>
#include <set>
#include <string>

using namespace overlayd;
using namespace overlayd::ipam;

namespace {

bridge_pool pool(const char* text, std::string label = "pool") {
  auto p = bridge_pool::parse(text, std::move(label));
  REQUIRE(p);
  return *p;
}
net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

} // namespace

TEST_CASE("new pool and bad CIDR") {
  auto p = pool("10.200.0.0/24");
  CHECK(p.subnet().to_string() == "10.200.0.0/24");
  CHECK(p.allocated_count() == 0);

  auto bad = bridge_pool::parse("invalid");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_cidr);
  CHECK(bad.error().message
        == "Invalid CIDR notation: invalid: invalid IP address syntax");
  // ipnet requires the prefix.
  CHECK_FALSE(bridge_pool::parse("10.0.0.1"));
}

TEST_CASE("first usable IP is network + 1") {
  CHECK(first_usable_ip(*net::cidr::parse("10.200.187.128/26"))
        == ip("10.200.187.129"));
  CHECK(first_usable_ip(*net::cidr::parse("fd00:200::100/120"))
        == ip("fd00:200::101"));
}

TEST_CASE("sequential allocation then exhaustion, broadcast excluded") {
  auto p = pool("10.200.0.0/30");
  CHECK(*p.allocate() == ip("10.200.0.1"));
  CHECK(*p.allocate() == ip("10.200.0.2"));
  auto r = p.allocate();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::exhausted);
  CHECK_FALSE(p.is_allocated(ip("10.200.0.3")));
}

TEST_CASE("a /26 bridge with its gateway reserved runs .130 to .190") {
  auto p = pool("10.200.187.128/26", "service bridge zl-dep-i0-web-b");
  REQUIRE(p.allocate_specific(ip("10.200.187.129")));
  for (int host = 130; host <= 190; ++host) {
    auto a = p.allocate();
    REQUIRE(a);
    CHECK(*a == ip(("10.200.187." + std::to_string(host)).c_str()));
  }
  auto r = p.allocate();
  REQUIRE_FALSE(r);
  CHECK(r.error().message
        == "service bridge zl-dep-i0-web-b subnet 10.200.187.128/26 "
           "exhausted");
  CHECK(r.error().wire_message()
        == "overlay engine error: service bridge zl-dep-i0-web-b subnet "
           "10.200.187.128/26 exhausted");
  CHECK(p.available_count() == 0);
}

TEST_CASE("released addresses are reused lowest first") {
  auto p = pool("10.200.0.0/24");
  for (int i = 0; i < 6; ++i) {
    REQUIRE(p.allocate());
  }
  CHECK(p.release(ip("10.200.0.5")));
  CHECK(p.release(ip("10.200.0.2")));
  CHECK_FALSE(p.release(ip("10.200.0.2")));
  CHECK(*p.allocate() == ip("10.200.0.2"));
  CHECK(*p.allocate() == ip("10.200.0.5"));
  CHECK(*p.allocate() == ip("10.200.0.7"));
}

TEST_CASE("lowest free holds after any mix of operations") {
  // A slow, obviously correct model: the lowest host not taken.
  auto p = pool("10.9.0.0/27");
  std::set<net::ip_address> model;
  auto lowest_free = [&]() -> std::optional<net::ip_address> {
    for (std::uint32_t h = 1; h <= 30; ++h) {
      auto a = net::ip_address::v4(0x0a090000u + h);
      if (!model.contains(a)) {
        return a;
      }
    }
    return std::nullopt;
  };
  std::uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) % 32; // 0..31 covers network and broadcast too
  };
  for (int step = 0; step < 3000; ++step) {
    const auto a = net::ip_address::v4(0x0a090000u + next());
    switch (next() % 3) {
    case 0: {
      auto expect = lowest_free();
      auto got = p.allocate();
      REQUIRE(got.has_value() == expect.has_value());
      if (expect) {
        CHECK(*got == *expect);
        model.insert(*got);
      }
      break;
    }
    case 1:
      CHECK(p.release(a) == (model.erase(a) > 0));
      break;
    default:
      CHECK(p.allocate_specific(a).has_value() == model.insert(a).second);
      break;
    }
  }
}

TEST_CASE("allocate_specific conflicts") {
  auto p = pool("10.200.0.0/24");
  REQUIRE(p.allocate_specific(ip("10.200.0.50")));
  CHECK(p.is_allocated(ip("10.200.0.50")));

  auto again = p.allocate_specific(ip("10.200.0.50"));
  REQUIRE_FALSE(again);
  CHECK(again.error().code == errc::already_allocated);
  CHECK(again.error().message == "IP address 10.200.0.50 is already allocated");

  auto outside = p.allocate_specific(ip("192.168.1.1"));
  REQUIRE_FALSE(outside);
  CHECK(outside.error().code == errc::not_in_range);
  CHECK(outside.error().message
        == "IP address 192.168.1.1 is not within CIDR range 10.200.0.0/24");

  auto family = p.allocate_specific(ip("fd00::1"));
  REQUIRE_FALSE(family);
  CHECK(family.error().code == errc::not_in_range);

  // Network and broadcast are in range: the crate accepts them, and
  // allocate() still starts at the first host.
  REQUIRE(p.allocate_specific(ip("10.200.0.0")));
  CHECK(*p.allocate() == ip("10.200.0.1"));
}

TEST_CASE("allocate_first and mark_allocated") {
  auto p = pool("10.200.0.0/24");
  CHECK(*p.allocate_first() == ip("10.200.0.1"));
  auto r = p.allocate_first();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::already_allocated);

  REQUIRE(p.mark_allocated(ip("10.200.0.100")));
  REQUIRE(p.mark_allocated(ip("10.200.0.100"))); // idempotent
  CHECK(p.is_allocated(ip("10.200.0.100")));
  CHECK(p.allocated_count() == 2);
  CHECK_FALSE(p.mark_allocated(ip("10.201.0.1")));

  auto v6 = pool("fd00::/128");
  auto none = v6.allocate_first();
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "No available IP addresses in CIDR range");
}

TEST_CASE("contains, counts and accessors") {
  auto p = pool("10.200.0.0/24");
  CHECK(p.contains(ip("10.200.0.50")));
  CHECK_FALSE(p.contains(ip("10.201.0.50")));
  CHECK_FALSE(p.contains(ip("fd00::1")));
  CHECK(p.total_hosts() == 254);
  CHECK(p.network_addr() == ip("10.200.0.0"));
  CHECK(p.broadcast_addr() == ip("10.200.0.255"));
  CHECK(p.prefix_len() == 24);
  CHECK(p.host_prefix_len() == 32);

  auto small = pool("10.200.0.0/30");
  CHECK(small.total_hosts() == 2);
  CHECK(small.available_count() == 2);
  REQUIRE(small.allocate());
  CHECK(small.available_count() == 1);
  REQUIRE(small.allocate());
  CHECK(small.available_count() == 0);
  CHECK(small.allocated_ips()
        == std::vector<net::ip_address>{ip("10.200.0.1"), ip("10.200.0.2")});
}

TEST_CASE("/31 and /32 hand out every address though total_hosts is 0") {
  auto p31 = pool("10.0.0.0/31");
  CHECK(p31.total_hosts() == 0);
  CHECK(*p31.allocate() == ip("10.0.0.0"));
  CHECK(*p31.allocate() == ip("10.0.0.1"));
  CHECK_FALSE(p31.allocate());

  auto p32 = pool("10.0.0.7/32");
  CHECK(*p32.allocate() == ip("10.0.0.7"));
  CHECK_FALSE(p32.allocate());
}

TEST_CASE("IPv6 pools start at network + 1 and include the last address") {
  auto p = pool("fd00::/126");
  CHECK(p.total_hosts() == 3);
  CHECK(*p.allocate() == ip("fd00::1"));
  CHECK(*p.allocate() == ip("fd00::2"));
  CHECK(*p.allocate() == ip("fd00::3"));
  CHECK_FALSE(p.allocate());
  CHECK(p.available_count() == 0);
  CHECK(p.broadcast_addr() == ip("fd00::3"));
  CHECK(p.host_prefix_len() == 128);

  CHECK(pool("fd00::/127").total_hosts() == 1);
  CHECK(pool("fd00::/48").total_hosts()
        == std::numeric_limits<std::uint32_t>::max());
  CHECK(pool("::/0").total_hosts()
        == std::numeric_limits<std::uint32_t>::max());

  auto big = pool("fd00::/48");
  auto first = big.allocate();
  REQUIRE(first);
  CHECK(first->to_string() == "fd00::1");
  CHECK(big.release(*first));
  CHECK(*big.allocate() == *first);
}

TEST_CASE("the dedicated-service label") {
  auto p = pool("10.200.64.0/30", "dedicated service web");
  REQUIRE(p.allocate_specific(first_usable_ip(p.subnet())));
  REQUIRE(p.allocate());
  auto r = p.allocate();
  REQUIRE_FALSE(r);
  CHECK(r.error().message
        == "dedicated service web subnet 10.200.64.0/30 exhausted");
}
