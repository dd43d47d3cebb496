#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "stun/candidate.hpp"
#include "stun/egress.hpp"
#include "stun/gather.hpp"
#include "stun/pubkey.hpp"

using namespace overlayd::stun;

namespace {

udp_endpoint ep(const char* s) {
  return *udp_endpoint::parse(s);
}

std::vector<std::string> addrs(const std::vector<candidate>& cs) {
  std::vector<std::string> out;
  for (const auto& c : cs)
    out.push_back(std::string(wire_name(c.type)) + " " + c.address.to_string());
  return out;
}

} // namespace

TEST_CASE("socket address text is Rust's") {
  CHECK(ep("1.2.3.4:51820").to_string() == "1.2.3.4:51820");
  CHECK(ep("[2001:DB8:0:0::1]:3478").to_string() == "[2001:db8::1]:3478");
  CHECK(ep("[::ffff:1.2.3.4]:1").to_string() == "[::ffff:1.2.3.4]:1");
  for (const char* bad :
       {"1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "01.2.3.4:1", "[1.2.3.4]:1",
        "2001:db8::1:80", "host:80", "1.2.3.4:+80", "[::1]80", ""})
    CHECK_FALSE_MESSAGE(udp_endpoint::parse(bad).has_value(), bad);
  CHECK(ep("[::ffff:10.0.0.1]:5").unmapped() == ep("10.0.0.1:5"));
}

TEST_CASE("priorities are fixed per type, IPv6 included") {
  CHECK(candidate::make(candidate_type::host, ep("1.2.3.4:1"), 0).priority
        == 100);
  CHECK(
    candidate::make(candidate_type::server_reflexive, ep("[::1]:1"), 0).priority
    == 50);
  CHECK(
    candidate::make(candidate_type::relay, ep("[2001:db8::1]:1"), 0).priority
    == 10);
  CHECK(candidate_type::host < candidate_type::server_reflexive);
  CHECK(candidate_type::server_reflexive < candidate_type::relay);
}

TEST_CASE("the three spellings") {
  CHECK(display_name(connection_type::direct) == "direct");
  CHECK(display_name(connection_type::hole_punched) == "hole-punched");
  CHECK(display_name(connection_type::relayed) == "relayed");
  CHECK(serde_name(connection_type::hole_punched) == "HolePunched");
  CHECK(connection_type{} == connection_type::direct);
  CHECK(wire_name(candidate_type::server_reflexive) == "server-reflexive");
  CHECK(serde_name(candidate_type::server_reflexive) == "ServerReflexive");
  CHECK(connection_for(candidate_type::host) == connection_type::direct);
  CHECK(connection_for(candidate_type::server_reflexive)
        == connection_type::hole_punched);
  CHECK(connection_for(candidate_type::relay) == connection_type::relayed);
}

TEST_CASE("wire round trip keeps the sender's priority") {
  candidate_wire w{"server-reflexive", "203.0.113.5:51820", 50};
  auto c = from_wire(w, 1700000000);
  REQUIRE(c.has_value());
  CHECK(c->type == candidate_type::server_reflexive);
  CHECK(c->discovered_at == 1700000000);
  CHECK(to_wire(*c) == w);
  auto odd = from_wire({"host", "[2001:db8::1]:7", 77}, 0);
  REQUIRE(odd.has_value());
  CHECK(odd->priority == 77);
  CHECK_FALSE(from_wire({"host", "not-an-addr", 100}, 0).has_value());
  CHECK_FALSE(from_wire({"bogus", "1.2.3.4:1", 100}, 0).has_value());
  CHECK_FALSE(from_wire({"Host", "1.2.3.4:1", 100}, 0).has_value());
}

TEST_CASE("serde JSON form of a candidate") {
  auto c = candidate::make(candidate_type::host, ep("192.168.1.5:51820"),
                           1700000000);
  CHECK(to_serde_json(c).dump()
        == R"({"address":"192.168.1.5:51820","candidate_type":"Host",)"
           R"("discovered_at":1700000000,"priority":100})");
  auto back = candidate_from_serde_json(to_serde_json(c));
  REQUIRE(back.ok());
  CHECK(*back == c);
  auto no_ts = candidate_from_serde_json(nlohmann::json::parse(
    R"({"candidate_type":"Relay","address":"1.2.3.4:9","priority":10})"));
  REQUIRE(no_ts.ok());
  CHECK(no_ts->discovered_at == 0);
}

TEST_CASE("sorting mixed families orders by priority only, stably") {
  std::vector<candidate> cs = {
    candidate::make(candidate_type::relay, ep("9.9.9.9:1"), 0),
    candidate::make(candidate_type::server_reflexive, ep("[2001:db8::5]:1"), 0),
    candidate::make(candidate_type::host, ep("[2001:db8::1]:1"), 0),
    candidate::make(candidate_type::server_reflexive, ep("5.5.5.5:1"), 0),
    candidate::make(candidate_type::host, ep("10.0.0.1:1"), 0),
  };
  sort_by_priority(cs);
  CHECK(addrs(cs)
        == std::vector<std::string>{"host [2001:db8::1]:1", "host 10.0.0.1:1",
                                    "server-reflexive [2001:db8::5]:1",
                                    "server-reflexive 5.5.5.5:1",
                                    "relay 9.9.9.9:1"});
}

TEST_CASE("dedup removes only consecutive identical addresses") {
  std::vector<candidate> cs = {
    candidate::make(candidate_type::host, ep("1.2.3.4:51820"), 0),
    candidate::make(candidate_type::server_reflexive, ep("1.2.3.4:51820"), 0),
    candidate::make(candidate_type::host, ep("[::1]:51820"), 0),
    candidate::make(candidate_type::host, ep("1.2.3.4:51820"), 0),
  };
  dedup_consecutive_by_address(cs);
  CHECK(addrs(cs)
        == std::vector<std::string>{"host 1.2.3.4:51820", "host [::1]:51820",
                                    "host 1.2.3.4:51820"});
}

TEST_CASE("pubkey_b64_to_hex") {
  // 32 bytes 0x00..0x1f
  CHECK(pubkey_b64_to_hex("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
        == "000102030405060708090a0b0c0d0e0f"
           "101112131415161718191a1b1c1d1e1f");
  CHECK(
    pubkey_b64_to_hex("//////////////////////////////////////////8=")->size()
    == 64);
  CHECK_FALSE(pubkey_b64_to_hex("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
                .has_value()); // no padding
  CHECK_FALSE(pubkey_b64_to_hex("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=")
                .has_value()); // non-canonical trailing bits
  CHECK_FALSE(pubkey_b64_to_hex("AAEC").has_value());
  CHECK_FALSE(pubkey_b64_to_hex("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=")
                .has_value());
  CHECK_FALSE(pubkey_b64_to_hex("").has_value());
}

TEST_CASE("virtual interfaces") {
  for (const char* v : {"lo", "lo0", "wt0", "wg0", "zl-abc", "utun3", "tun0",
                        "tap1", "docker0", "br-1", "veth9a", "nb-wt"})
    CHECK_MESSAGE(is_virtual_interface(v), v);
  for (const char* p : {"eth0", "en0", "enp3s0", "wlan0", "wlp2s0", "bond0"})
    CHECK_FALSE_MESSAGE(is_virtual_interface(p), p);
}

TEST_CASE("egress: default routes by metric, virtual skipped") {
  network_snapshot net;
  net.links = {
    {1, "lo", true}, {2, "eth0", true}, {3, "wg0", true}, {4, "wlan0", true}};
  net.addresses = {{1, *ip_address::parse("127.0.0.1"), 254},
                   {2, *ip_address::parse("2001:db8::2"), 0},
                   {2, *ip_address::parse("fe80::2"), 253},
                   {2, *ip_address::parse("192.168.1.2"), 0},
                   {3, *ip_address::parse("10.99.0.1"), 0},
                   {4, *ip_address::parse("172.16.0.4"), 0}};
  // v4 routes first, then v6; the mesh has the cheapest metric.
  net.routes = {{false, 0, 254, 3u, 0},   {false, 0, 254, 4u, 600},
                {false, 0, 254, 2u, 100}, {false, 24, 254, 2u, 0},
                {false, 0, 100, 2u, 0},   {true, 0, 254, 2u, 50}};
  auto e = detect_physical_egress(net);
  REQUIRE(e.has_value());
  CHECK(e->iface == "eth0");
  CHECK(e->ip.to_string() == "192.168.1.2"); // IPv4 preferred on the link

  // Only IPv6 on eth0: the first global IPv6 address.
  std::erase_if(net.addresses,
                [](const address_entry& a) { return a.ip.is_v4(); });
  e = detect_physical_egress(net);
  REQUIRE(e.has_value());
  CHECK(e->ip.to_string() == "2001:db8::2");

  // All default routes virtual: first UP non-virtual link with an address.
  network_snapshot mesh;
  mesh.links = {{1, "wg0", true}, {2, "eth1", false}, {3, "eth2", true}};
  mesh.addresses = {{1, *ip_address::parse("10.99.0.1"), 0},
                    {2, *ip_address::parse("192.0.2.2"), 0},
                    {3, *ip_address::parse("192.0.2.3"), 0}};
  mesh.routes = {{false, 0, 254, 1u, 0}};
  e = detect_physical_egress(mesh);
  REQUIRE(e.has_value());
  CHECK(e->iface == "eth2");

  // Nothing usable: the caller falls back to the UDP-connect trick.
  network_snapshot nothing;
  nothing.links = {{1, "lo", true}};
  CHECK_FALSE(detect_physical_egress(nothing).has_value());
}

TEST_CASE("gathering follows the reference's order") {
  gather_sources src;
  src.wg_port = 51820;
  src.now_unix = 1700000000;
  src.egress = physical_egress{"eth0", *ip_address::parse("192.168.1.2")};
  std::vector<std::string> order;
  src.local_ip
    = [&](ip_address::family_t f, const std::optional<std::string>& iface) {
        order.push_back("local-ip " + iface.value_or(""));
        REQUIRE(f == ip_address::family_t::v6); // v4 came from the egress
        return ip_address::parse("2001:db8::2");
      };
  src.stun = [&]() -> result<stun_discovery, stun_error> {
    order.push_back("stun");
    stun_discovery d;
    d.results = {{ep("203.0.113.5:40000"), "a"},
                 {ep("203.0.113.5:40001"), "b"},
                 {ep("198.51.100.7:1"), "c"}};
    d.behavior = nat_behavior::symmetric;
    return d;
  };
  src.relays = [&] {
    order.push_back("relays");
    return std::vector<udp_endpoint>{ep("192.0.2.9:40000")};
  };
  auto g = gather_candidates(src);
  REQUIRE(g.ok());
  CHECK(order == std::vector<std::string>{"local-ip eth0", "stun", "relays"});
  // srflx uses the observed IP with the WireGuard port; the two equal
  // consecutive ones collapse.
  CHECK(addrs(g->candidates)
        == std::vector<std::string>{
          "host 192.168.1.2:51820", "host [2001:db8::2]:51820",
          "server-reflexive 203.0.113.5:51820",
          "server-reflexive 198.51.100.7:51820", "relay 192.0.2.9:40000"});
  CHECK(g->reflexive.size() == 3);
  CHECK(g->behavior == nat_behavior::symmetric);
  CHECK(g->candidates[0].discovered_at == 1700000000);
}

TEST_CASE("gathering: no NAT, no IPv6 => host and srflx collapse") {
  gather_sources src;
  src.wg_port = 51820;
  src.local_ip = [](ip_address::family_t f, const std::optional<std::string>&) {
    return f == ip_address::family_t::v4 ? ip_address::parse("203.0.113.5")
                                         : std::nullopt;
  };
  src.stun = []() -> result<stun_discovery, stun_error> {
    stun_discovery d;
    d.results = {{ep("203.0.113.5:999"), "a"}};
    return d;
  };
  auto g = gather_candidates(src);
  REQUIRE(g.ok());
  CHECK(addrs(g->candidates)
        == std::vector<std::string>{"host 203.0.113.5:51820"});
}

TEST_CASE("gathering failures") {
  std::vector<std::string> warnings;
  gather_sources src;
  src.warn = [&](const std::string& w) { warnings.push_back(w); };
  src.stun = []() -> result<stun_discovery, stun_error> {
    return result<stun_discovery, stun_error>::failure(
      {stun_error::kind::timeout, 0, 0, {}});
  };
  auto g = gather_candidates(src);
  REQUIRE_FALSE(g.ok());
  CHECK(g.error()
        == "STUN discovery failed: No candidates gathered (local IP "
           "discovery and STUN both failed)");
  CHECK(warnings.size() == 2); // no IPv4, STUN failed

  // STUN failure alone is not fatal.
  src.local_ip = [](ip_address::family_t f, const std::optional<std::string>&) {
    return f == ip_address::family_t::v4 ? ip_address::parse("10.0.0.2")
                                         : std::nullopt;
  };
  auto h = gather_candidates(src);
  REQUIRE(h.ok());
  CHECK(h->candidates.size() == 1);
}

TEST_CASE("refresh: changed by count or IP set, rebuilds in order") {
  std::vector<candidate> cur = {
    candidate::make(candidate_type::host, ep("10.0.0.2:51820"), 1),
    candidate::make(candidate_type::server_reflexive, ep("1.1.1.1:51820"), 1),
    candidate::make(candidate_type::relay, ep("9.9.9.9:4000"), 1)};
  std::vector<reflexive_address> old = {{ep("1.1.1.1:1000"), "a"}};
  auto same
    = refresh_candidates(cur, old, {{ep("1.1.1.1:2000"), "a"}}, 51820, 5);
  CHECK_FALSE(same.changed);
  CHECK(same.candidates == cur);
  auto moved
    = refresh_candidates(cur, old, {{ep("2.2.2.2:1000"), "a"}}, 51820, 5);
  CHECK(moved.changed);
  CHECK(addrs(moved.candidates)
        == std::vector<std::string>{"host 10.0.0.2:51820",
                                    "server-reflexive 2.2.2.2:51820",
                                    "relay 9.9.9.9:4000"});
  CHECK(moved.candidates[0].discovered_at == 1); // host kept as is
  CHECK(moved.candidates[1].discovered_at == 5);
  auto more = refresh_candidates(
    cur, old, {{ep("1.1.1.1:1000"), "a"}, {ep("1.1.1.1:1001"), "b"}}, 51820, 5);
  CHECK(more.changed);
  CHECK(more.candidates.size() == 3); // consecutive srflx duplicates merged
  auto first
    = refresh_candidates(cur, {}, {{ep("1.1.1.1:1000"), "a"}}, 51820, 5);
  CHECK(first.changed);
}

TEST_CASE("egress falls back to the UDP-connect trick") {
  // With a snapshot that names an egress, no socket is needed.
  network_snapshot net;
  net.links = {{2, "eth0", true}};
  net.addresses = {{2, *ip_address::parse("192.0.2.5"), 0}};
  auto e = resolve_physical_egress(net);
  REQUIRE(e.has_value());
  CHECK(e->iface == "eth0");
  // Without one, the kernel's source address toward the default route (if
  // this host has a route at all) comes back with no interface name.
  auto f = resolve_physical_egress(std::nullopt);
  if (f) {
    CHECK(f->iface.empty());
    CHECK_FALSE(f->ip.is_unspecified());
  }
}
