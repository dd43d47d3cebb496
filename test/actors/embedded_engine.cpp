// The embedding API: an in-process engine answers the device-free requests
// as the reference does (ipc.md §4, reference tests), and refuses the rest
// with a clear error, never `ok`.
#include "actors/embedded.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <thread>
#include <unistd.h>

using namespace overlayd;
using actors::engine;

namespace {

net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

struct engine_fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("actors-engine-" + std::to_string(::getpid()));
  std::unique_ptr<engine> eng;

  engine_fixture() {
    std::filesystem::create_directories(dir);
    auto started = engine::start({dir, 2});
    REQUIRE(started);
    eng = std::move(*started);
  }

  ~engine_fixture() {
    eng.reset();
    std::filesystem::remove_all(dir);
  }
};

ipc::peer_spec peer(const char* key, const char* endpoint = "1.2.3.4:51820") {
  ipc::peer_spec p;
  p.public_key = key;
  p.endpoint = endpoint;
  p.allowed_ips = "10.200.0.2/32";
  return p;
}

} // namespace

TEST_CASE("an engine needs a data directory") {
  CHECK_FALSE(engine::start({}));
}

TEST_CASE_FIXTURE(engine_fixture, "a fresh engine reports the default CIDR") {
  auto s = eng->status();
  REQUIRE(s);
  CHECK_FALSE(s->interface);
  CHECK_FALSE(s->node_ip);
  CHECK_FALSE(s->public_key);
  CHECK(s->overlay_cidr == "10.200.0.0/16");
  CHECK_FALSE(s->slice_cidr);
  CHECK(s->peer_count == 0);
  CHECK(s->service_count == 0);
  CHECK(s->peers.empty());
  CHECK(s->dedicated_services.empty());
}

TEST_CASE_FIXTURE(engine_fixture, "node identity requests answer ok") {
  CHECK(eng->set_local_node_id(7));
  CHECK(eng->set_local_wg_pubkey("k"));
  CHECK(eng->set_local_node_id(9));
}

TEST_CASE_FIXTURE(engine_fixture,
                  "allocate and release round-trip on the node slice") {
  auto a = eng->allocate_ip("svc");
  auto b = eng->allocate_ip("svc", true);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == ip("10.200.0.2"));
  CHECK(*b == ip("10.200.0.3"));
  CHECK(eng->release_ip(*a));
  auto c = eng->allocate_ip("other");
  REQUIRE(c);
  CHECK(*c == *a);
}

TEST_CASE_FIXTURE(engine_fixture,
                  "global peer operations without a device answer ok") {
  auto p = peer("base64key");
  p.candidates.push_back({"host", "192.168.1.5:51820", 100});
  p.persistent_keepalive_secs = 25;
  CHECK(eng->add_peer(p));
  CHECK(eng->add_allowed_ip("base64key", "10.200.1.0/24"));
  // Without a device the CIDR is not even looked at, as in the reference.
  CHECK(eng->remove_allowed_ip("base64key", "not-a-cidr"));
  CHECK(eng->remove_peer("base64key"));
  // The device-less status still shows no peers (no UAPI dump to read).
  CHECK(eng->status()->peer_count == 0);
}

TEST_CASE_FIXTURE(engine_fixture,
                  "service-scoped peer operations need a dedicated device") {
  auto scope = ipc::peer_scope::of_service("x");
  auto added = eng->add_peer(peer("k"), scope);
  REQUIRE_FALSE(added);
  CHECK(added.error() == "no dedicated overlay for service x");
  CHECK(eng->remove_peer("k", scope).error()
        == "no dedicated overlay for service x");
  CHECK(eng->add_allowed_ip("k", "10.0.0.0/24", scope).error()
        == "no dedicated overlay for service x");
  CHECK(eng->remove_allowed_ip("k", "10.0.0.0/24", scope).error()
        == "no dedicated overlay for service x");
}

TEST_CASE_FIXTURE(engine_fixture, "a peer endpoint must be a socket address") {
  auto added = eng->add_peer(peer("k", "example.com:51820"));
  REQUIRE_FALSE(added);
  CHECK(added.error()
        == "invalid peer endpoint example.com:51820: invalid socket address "
           "syntax");
  // The endpoint is checked before the scope.
  auto scoped
    = eng->add_peer(peer("k", "nope"), ipc::peer_scope::of_service("x"));
  CHECK(scoped.error()
        == "invalid peer endpoint nope: invalid socket address "
           "syntax");
}

TEST_CASE_FIXTURE(engine_fixture, "dns records and resolvers") {
  CHECK(eng->register_dns("web.overlay", ip("fd00:200::5")));
  CHECK(eng->unregister_dns("web.overlay"));
  CHECK(eng->unregister_dns("never.registered"));
  CHECK(eng->write_scoped_resolver("overlay", ip("10.200.0.1"), 53).error()
        == "overlay engine error: scoped resolver is macOS-only");
  CHECK(eng->remove_scoped_resolver("overlay").error()
        == "overlay engine error: scoped resolver is macOS-only");
}

TEST_CASE_FIXTURE(engine_fixture, "nat_status before any tick is empty") {
  auto n = eng->nat_status();
  REQUIRE(n);
  CHECK(n->candidates.empty());
  CHECK(n->peers.empty());
  CHECK(n->last_refresh == 0);
}

TEST_CASE_FIXTURE(engine_fixture,
                  "operations of later issues are refused, never ok") {
  std::vector<ipc::request> later{
    ipc::req::setup_global_overlay{
      "prod", "42", "10.200.0.0/16", "10.200.0.0/28", 51820, {}, false},
    ipc::req::teardown_global_overlay{},
    ipc::req::setup_service_overlay{"web", ipc::overlay_mode::dedicated},
    ipc::req::teardown_service_overlay{"web"},
    ipc::req::attach_container{
      ipc::linux_pid_handle{4242}, "web", true, {}, {}, false, {}},
    ipc::req::detach_container{ipc::linux_pid_handle{4242}},
    ipc::req::prune_orphan_bridges{{"zl-prod-0-web-b"}},
    ipc::req::nat_tick{},
  };
  for (auto& r : later) {
    auto op = std::string{ipc::op_name(r)};
    auto resp = eng->call(r);
    auto* e = std::get_if<ipc::resp::err>(&resp);
    REQUIRE_MESSAGE(e != nullptr, op);
    CHECK_MESSAGE(e->message.starts_with(op + " is not available yet: "),
                  e->message);
  }
  // Nothing was half-applied: the status is still the fresh one.
  auto s = eng->status();
  CHECK_FALSE(s->slice_cidr);
  CHECK_FALSE(s->interface);
}

TEST_CASE_FIXTURE(engine_fixture, "shutdown answers ok and stops the engine") {
  CHECK_FALSE(eng->stop_requested());
  CHECK_FALSE(eng->wait_for(std::chrono::milliseconds(1)));
  CHECK(eng->shutdown());
  CHECK(eng->stop_requested());
  CHECK(eng->wait_for(std::chrono::milliseconds(1)));
  CHECK(eng->status().error() == "overlayd is shutting down");
}

TEST_CASE_FIXTURE(engine_fixture, "calls from many threads all complete") {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i)
        if (eng->allocate_ip("svc"))
          ++ok;
    });
  for (auto& t : threads)
    t.join();
  CHECK(ok == 200);
  // 200 distinct addresses were handed out: the next one is .202.
  CHECK(*eng->allocate_ip("svc") == ip("10.200.0.202"));
}
