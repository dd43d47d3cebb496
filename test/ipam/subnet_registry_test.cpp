#include "ipam/subnet_registry.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <set>
#include <string>

using namespace overlayd;
using namespace overlayd::ipam;

namespace {

net::cidr net_of(const char* text) {
  return *net::cidr::parse(text);
}
net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

service_subnet_registry registry(const char* cluster, unsigned prefix) {
  auto r = service_subnet_registry::make(net_of(cluster), prefix);
  REQUIRE(r);
  return *r;
}

std::string assigned(service_subnet_registry& reg, const char* svc,
                     const char* node) {
  auto r = reg.assign(svc, node);
  REQUIRE(r);
  return r->to_string();
}

} // namespace

TEST_CASE("FNV-1a hash vectors") {
  CHECK(hash_service_node("web", "0") == 0x66accd2e098fe2eeULL);
  CHECK(hash_service_node(shared_bridge_registry_key, "0")
        == 0x68ee1706fca26d69ULL);
  CHECK(hash_service_node("web", "1") == 0x66acce2e098fe4a1ULL);
  CHECK(hash_service_node("svc-a", "node-1") == 0x3e1b7c2951973672ULL);
  // The separator keeps shifted splits apart.
  CHECK(hash_service_node("ab", "c") != hash_service_node("a", "bc"));
}

TEST_CASE("assignment vectors of a fresh registry") {
  auto reg = registry("10.200.0.0/16", 26);
  CHECK(hash_service_node("web", "0") % reg.capacity() == 750);
  CHECK(assigned(reg, "web", "0") == "10.200.187.128/26");
  CHECK(assigned(reg, "__zlayer_shared_bridge__", "0") == "10.200.90.64/26");
  CHECK(assigned(reg, "web", "1") == "10.200.40.64/26");

  auto small = registry("10.200.0.0/16", 28);
  CHECK(hash_service_node("svc-a", "node-1") % small.capacity() == 1650);
  CHECK(assigned(small, "svc-a", "node-1") == "10.200.103.32/28");

  auto v6 = service_subnet_registry::for_cluster(net_of("fd00:200::/48"));
  REQUIRE(v6);
  CHECK(v6->slice_prefix() == 120);
  CHECK(v6->capacity() == std::numeric_limits<std::uint64_t>::max());
  CHECK(assigned(*v6, "web", "0") == "fd00:200:0:66:accd:2e09:8fe2:ee00/120");
}

TEST_CASE("for_cluster uses /26 for IPv4") {
  auto reg = service_subnet_registry::for_cluster(net_of("10.200.0.0/16"));
  REQUIRE(reg);
  CHECK(reg->slice_prefix() == 26);
  CHECK(reg->capacity() == 1024);
  CHECK(reg->cluster_cidr().to_string() == "10.200.0.0/16");
}

TEST_CASE("invalid prefixes are rejected with the reason") {
  auto equal = service_subnet_registry::make(net_of("10.200.0.0/16"), 16);
  REQUIRE_FALSE(equal);
  CHECK(equal.error().code == errc::invalid_cidr);
  CHECK(equal.error().message
        == "Invalid CIDR notation: slice prefix /16 must be more specific "
           "than cluster prefix /16");
  CHECK_FALSE(service_subnet_registry::make(net_of("10.200.0.0/16"), 8));
  auto over = service_subnet_registry::make(net_of("10.200.0.0/16"), 33);
  REQUIRE_FALSE(over);
  CHECK(over.error().message
        == "Invalid CIDR notation: slice prefix /33 exceeds address family "
           "max /32");
  CHECK_FALSE(service_subnet_registry::make(net_of("fd00::/48"), 129));
}

TEST_CASE("assign is idempotent and keys get distinct slices") {
  auto reg = registry("10.200.0.0/16", 26);
  auto a = assigned(reg, "web", "0");
  CHECK(assigned(reg, "web", "0") == a);
  CHECK(reg.assigned_count() == 1);
  std::set<std::string> slices{a};
  for (const char* svc : {"api", "db", "cache", "queue"}) {
    CHECK(slices.insert(assigned(reg, svc, "0")).second);
  }
  CHECK(reg.assigned_count() == 5);
}

TEST_CASE("slices lie inside the cluster with the configured prefix") {
  auto reg = registry("10.200.0.0/16", 26);
  const auto cluster = net_of("10.200.0.0/16");
  for (int i = 0; i < 50; ++i) {
    auto s = reg.assign("svc-" + std::to_string(i), "7");
    REQUIRE(s);
    CHECK(s->prefix() == 26);
    CHECK(cluster.contains(*s));
    CHECK(s->address() == s->network());
  }
}

TEST_CASE("collisions probe forward and a full cluster is exhausted") {
  auto reg = registry("10.200.0.0/28", 30);
  CHECK(reg.capacity() == 4);
  std::set<std::string> slices;
  for (const char* id : {"a", "b", "c", "d"}) {
    CHECK(slices.insert(assigned(reg, id, "0")).second);
  }
  auto r = reg.assign("e", "0");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::exhausted);
  CHECK(r.error().wire_message()
        == "overlay engine error: ServiceSubnetRegistry::assign(e, 0) failed: "
           "No available IP addresses in CIDR range");
  CHECK_FALSE(reg.probe("e", "0"));
  // The failed call recorded nothing.
  CHECK(reg.assigned_count() == 4);
}

TEST_CASE("all 1024 /26 slices of a /16 can be assigned") {
  auto reg = registry("10.200.0.0/16", 26);
  std::set<net::cidr> slices;
  for (int i = 0; i < 1024; ++i) {
    auto s = reg.assign("svc-" + std::to_string(i), "0");
    REQUIRE(s);
    slices.insert(*s);
  }
  CHECK(slices.size() == 1024);
  CHECK_FALSE(reg.assign("one-more", "0"));
}

TEST_CASE("release frees the slot and re-assign lands on it again") {
  auto reg = registry("10.200.0.0/16", 26);
  auto web = assigned(reg, "web", "0");
  auto released = reg.release("web", "0");
  REQUIRE(released);
  CHECK(released->to_string() == web);
  CHECK_FALSE(reg.get("web", "0"));
  CHECK_FALSE(reg.release("web", "0"));
  CHECK(reg.assigned_count() == 0);
  CHECK(assigned(reg, "web", "0") == web);
}

TEST_CASE("probe tells what assign would do without doing it") {
  auto reg = registry("10.200.0.0/16", 26);
  auto probed = reg.probe("web", "0");
  REQUIRE(probed);
  CHECK(probed->to_string() == "10.200.187.128/26");
  CHECK(reg.assigned_count() == 0);
  CHECK_FALSE(reg.get("web", "0"));
  CHECK(assigned(reg, "web", "0") == probed->to_string());
  // A taken slot moves the probe of another key with the same start.
  CHECK(*reg.probe("web", "0") == *probed);
}

TEST_CASE("a reserved IP keeps its slice out of assignment") {
  auto reg = registry("10.200.0.0/16", 26);
  reg.reserve_ip(ip("10.200.187.129")); // inside web/0's home slot
  CHECK(reg.is_reserved(ip("10.200.187.129")));
  CHECK(reg.probe("web", "0")->to_string() == "10.200.187.192/26");
  CHECK(assigned(reg, "web", "0") == "10.200.187.192/26");
  // Reserved IPs do not move existing assignments and stay out of the
  // snapshot.
  auto before = assigned(reg, "api", "0");
  reg.reserve_ip(*net::ip_address::parse(before.substr(0, before.find('/'))));
  CHECK(assigned(reg, "api", "0") == before);
  CHECK(reg.snapshot().to_json().find("reserved") == std::string::npos);
}

TEST_CASE("the node IP of a fresh node is never inside a service subnet") {
  auto reg = registry("10.200.0.0/28", 30);
  reg.reserve_ip(ip("10.200.0.1"));
  std::set<std::string> slices;
  for (const char* id : {"a", "b", "c"}) {
    slices.insert(assigned(reg, id, "0"));
  }
  CHECK_FALSE(slices.contains("10.200.0.0/30"));
  CHECK_FALSE(reg.assign("d", "0")); // 3 usable slices only
}

TEST_CASE("owner_of maps a slice back to its key") {
  auto reg = registry("10.200.0.0/16", 26);
  auto s = reg.assign("web", "3");
  REQUIRE(s);
  auto owner = reg.owner_of(*s);
  REQUIRE(owner);
  CHECK(owner->first == "web");
  CHECK(owner->second == "3");
  CHECK_FALSE(reg.owner_of(net_of("10.200.0.0/26")));
}

TEST_CASE("snapshot is sorted and has the reference's JSON shape") {
  auto reg = registry("10.200.0.0/16", 26);
  (void)assigned(reg, "web", "1");
  (void)assigned(reg, "web", "0");
  (void)assigned(reg, "__zlayer_shared_bridge__", "0");
  auto snap = reg.snapshot();
  REQUIRE(snap.assignments.size() == 3);
  CHECK(snap.assignments[0].first.first == "__zlayer_shared_bridge__");
  CHECK(snap.assignments[1].first.second == "0");
  CHECK(snap.to_json()
        == R"({"cluster_cidr":"10.200.0.0/16","slice_prefix":26,)"
           R"("assignments":[[["__zlayer_shared_bridge__","0"],)"
           R"("10.200.90.64/26"],[["web","0"],"10.200.187.128/26"],)"
           R"([["web","1"],"10.200.40.64/26"]]})");
}

TEST_CASE("snapshot round-trips through JSON and restore") {
  auto reg = registry("10.200.0.0/16", 26);
  for (const char* svc : {"web", "api", "db"}) {
    (void)assigned(reg, svc, "0");
  }
  auto snap = reg.snapshot();
  auto parsed = registry_snapshot::from_json(snap.to_json());
  REQUIRE(parsed);
  CHECK(*parsed == snap);

  auto restored = service_subnet_registry::restore(*parsed);
  REQUIRE(restored);
  CHECK(restored->snapshot() == snap);
  CHECK(restored->assigned_count() == 3);
  CHECK(restored->get("web", "0") == reg.get("web", "0"));
  // Taken slots stay taken: the next assignment matches the original's.
  CHECK(*restored->assign("queue", "0") == *reg.assign("queue", "0"));
}

TEST_CASE("restore rejects inconsistent snapshots") {
  registry_snapshot snap;
  snap.cluster_cidr = net_of("10.200.0.0/16");
  snap.slice_prefix = 26;

  auto wrong_prefix = snap;
  wrong_prefix.assignments.push_back({{"web", "0"}, net_of("10.200.1.0/24")});
  auto r1 = service_subnet_registry::restore(wrong_prefix);
  REQUIRE_FALSE(r1);
  CHECK(r1.error().message
        == "Invalid CIDR notation: assigned slice 10.200.1.0/24 does not "
           "match configured prefix /26");

  auto outside = snap;
  outside.assignments.push_back({{"web", "0"}, net_of("10.201.0.0/26")});
  auto r2 = service_subnet_registry::restore(outside);
  REQUIRE_FALSE(r2);
  CHECK(r2.error().message
        == "Invalid CIDR notation: assigned slice 10.201.0.0/26 is not "
           "contained in cluster CIDR 10.200.0.0/16");

  auto twice = snap;
  twice.assignments.push_back({{"a", "0"}, net_of("10.200.0.0/26")});
  twice.assignments.push_back({{"b", "0"}, net_of("10.200.0.0/26")});
  auto r3 = service_subnet_registry::restore(twice);
  REQUIRE_FALSE(r3);
  CHECK(r3.error().message.find("assigned to both (a, 0) and (b, 0)")
        != std::string::npos);

  auto bad_pair = snap;
  bad_pair.slice_prefix = 16;
  CHECK_FALSE(service_subnet_registry::restore(bad_pair));
}

TEST_CASE("a malformed snapshot JSON is a clear error") {
  CHECK_FALSE(registry_snapshot::from_json("{"));
  CHECK_FALSE(registry_snapshot::from_json(
    R"({"cluster_cidr":"nope","slice_prefix":26,"assignments":[]})"));
  auto r = registry_snapshot::from_json(
    R"({"cluster_cidr":"10.200.0.0/16","slice_prefix":26,)"
    R"("assignments":[["web","10.200.0.0/26"]]})");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::corrupt);
  CHECK(r.error().message.find("[[service, node], cidr]") != std::string::npos);
}
