// Unit tests for the supervisor's ordering bookkeeping (design §3).
#include "actors/request_gate.hpp"
#include "actors/request_resource.hpp"
#include "actors/response_sequencer.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using overlayd::actors::request_gate;
using overlayd::actors::resource;
using overlayd::actors::response_sequencer;

TEST_CASE("requests on different resources start at once") {
  request_gate g;
  auto a = g.submit(resource::named("service:a"));
  auto b = g.submit(resource::named("service:b"));
  auto s = g.submit(resource::unordered());
  CHECK(a.start_now);
  CHECK(b.start_now);
  CHECK(s.start_now);
  CHECK(g.running() == 3);
}

TEST_CASE("requests on one resource run one at a time in arrival order") {
  request_gate g;
  auto a1 = g.submit(resource::named("peer:k"));
  auto a2 = g.submit(resource::named("peer:k"));
  auto a3 = g.submit(resource::named("peer:k"));
  CHECK(a1.start_now);
  CHECK_FALSE(a2.start_now);
  CHECK_FALSE(a3.start_now);
  CHECK(g.finish(a1.id) == std::vector<request_gate::ticket>{a2.id});
  CHECK(g.finish(a2.id) == std::vector<request_gate::ticket>{a3.id});
  CHECK(g.finish(a3.id).empty());
  CHECK(g.running() == 0);
  CHECK(g.waiting() == 0);
}

TEST_CASE("a held resource does not hold up others queued behind it") {
  request_gate g;
  auto slow = g.submit(resource::named("service:slow"));
  auto queued = g.submit(resource::named("service:slow"));
  auto other = g.submit(resource::named("service:fast"));
  CHECK(slow.start_now);
  CHECK_FALSE(queued.start_now);
  CHECK(other.start_now);
  CHECK(g.finish(other.id).empty());
  CHECK(g.finish(slow.id) == std::vector<request_gate::ticket>{queued.id});
}

TEST_CASE("a barrier waits for earlier requests and blocks later ones") {
  request_gate g;
  auto a = g.submit(resource::named("service:a"));
  auto bar = g.submit(resource::global());
  auto b = g.submit(resource::named("service:b"));
  auto s = g.submit(resource::unordered());
  CHECK(a.start_now);
  CHECK_FALSE(bar.start_now);
  CHECK_FALSE(b.start_now);
  CHECK_FALSE(s.start_now);
  CHECK(g.finish(a.id) == std::vector<request_gate::ticket>{bar.id});
  CHECK(g.running() == 1);
  auto late = g.submit(resource::named("service:c"));
  CHECK_FALSE(late.start_now);
  CHECK(g.finish(bar.id)
        == std::vector<request_gate::ticket>{b.id, s.id, late.id});
}

TEST_CASE("a barrier on an idle gate starts at once and runs alone") {
  request_gate g;
  auto bar = g.submit(resource::global());
  CHECK(bar.start_now);
  auto s = g.submit(resource::unordered());
  CHECK_FALSE(s.start_now);
  auto bar2 = g.submit(resource::global());
  CHECK_FALSE(bar2.start_now);
  // The status request goes first, the second barrier waits for it.
  CHECK(g.finish(bar.id) == std::vector<request_gate::ticket>{s.id});
  CHECK(g.finish(s.id) == std::vector<request_gate::ticket>{bar2.id});
  CHECK(g.finish(bar2.id).empty());
}

TEST_CASE("unknown or repeated tickets are ignored") {
  request_gate g;
  auto a = g.submit(resource::named("x"));
  CHECK(g.finish(a.id + 100).empty());
  CHECK(g.finish(a.id).empty());
  CHECK(g.finish(a.id).empty());
  CHECK(g.running() == 0);
}

TEST_CASE("the sequencer releases outputs in reservation order") {
  response_sequencer<std::string> seq;
  auto s0 = seq.reserve();
  auto s1 = seq.reserve();
  auto s2 = seq.reserve();
  CHECK(seq.fill(s2, "c").empty());
  CHECK(seq.fill(s1, "b").empty());
  CHECK(seq.outstanding() == 3);
  CHECK(seq.fill(s0, "a") == std::vector<std::string>{"a", "b", "c"});
  CHECK(seq.outstanding() == 0);
  // Stale and unreserved slots are ignored.
  CHECK(seq.fill(s0, "again").empty());
  CHECK(seq.fill(99, "never").empty());
}

TEST_CASE("each request holds the resource design §3 names") {
  using overlayd::actors::resource_of;
  namespace req = overlayd::ipc::req;
  namespace ipc = overlayd::ipc;
  auto ip = *overlayd::net::ip_address::parse("10.200.0.5");
  CHECK(resource_of(req::status{}) == resource::unordered());
  CHECK(resource_of(req::nat_status{}) == resource::unordered());
  CHECK(resource_of(req::shutdown{}) == resource::global());
  CHECK(resource_of(req::teardown_global_overlay{}) == resource::global());
  CHECK(resource_of(req::prune_orphan_bridges{}) == resource::global());
  CHECK(resource_of(req::set_local_node_id{7}) == resource::named("node"));
  CHECK(resource_of(req::allocate_ip{"web", false})
        == resource::named("service:web"));
  CHECK(resource_of(req::setup_service_overlay{"web", {}})
        == resource::named("service:web"));
  CHECK(resource_of(req::release_ip{ip}) == resource::named("ip:10.200.0.5"));
  CHECK(resource_of(req::detach_container{ipc::linux_pid_handle{42}})
        == resource::named("container:pid:42"));
  CHECK(resource_of(req::register_dns{"a.overlay", ip})
        == resource::named("dns:a.overlay"));
  // Global peers are ordered per key; service peers with their service, so
  // a peer added right after a dedicated setup sees the device.
  ipc::peer_spec p;
  p.public_key = "K";
  CHECK(resource_of(req::add_peer{p, ipc::peer_scope::global()})
        == resource::named("peer:K"));
  CHECK(resource_of(req::remove_peer{"K", ipc::peer_scope::of_service("db")})
        == resource::named("service:db"));
  CHECK(resource_of(req::add_allowed_ip{"K", "10.0.0.0/8", {}})
        == resource::named("peer:K"));
}
