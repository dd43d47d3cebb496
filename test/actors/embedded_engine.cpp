// The embedding API on the in-memory host twin: every request runs through
// the actors (supervisor, driver pool, transports) into the orchestration
// core, and slow host work does not hold up peer work (design §3).
#include "actors/embedded.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>
#include <unistd.h>

#include "drivers/host/twin.hpp"

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
    actors::engine_config cfg;
    cfg.data_dir = dir;
    cfg.workers = 2;
    cfg.backend = actors::host_backend::twin;
    auto started = engine::start(cfg);
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
                  "a service lifecycle runs end to end on the twin") {
  auto global = eng->setup_global_overlay(ipc::req::setup_global_overlay{
    "prod", "42", "10.200.0.0/16", "10.200.0.0/28", 51820, {}, false});
  REQUIRE_MESSAGE(global, global.error());
  auto s = eng->status();
  REQUIRE(s);
  CHECK(s->interface == *global);
  CHECK(s->node_ip == ip("10.200.0.1"));
  REQUIRE(s->public_key);

  auto svc = eng->setup_service_overlay("web", ipc::overlay_mode::dedicated);
  REQUIRE_MESSAGE(svc, svc.error());
  CHECK(eng->status()->service_count == 1);
  // The dedicated scope now has its own transport, which installs peers.
  CHECK(eng->add_peer(peer("c2VydmljZS1wZWVyLWtleS1iYXNlNjQtMzJieXRlcz0="),
                      ipc::peer_scope::of_service("web")));

  REQUIRE(eng->twin()->add_process(4242));
  auto attached = eng->attach_container(ipc::req::attach_container{
    ipc::linux_pid_handle{4242}, "web", false, {}, {}, false, {}});
  REQUIRE_MESSAGE(attached, attached.error());
  CHECK(eng->detach_container(ipc::linux_pid_handle{4242}));

  CHECK(eng->teardown_service_overlay("web"));
  // Its transport is gone with it: the core answers the reference's error.
  auto gone
    = eng->add_peer(peer("c2VydmljZS1wZWVyLWtleS1iYXNlNjQtMzJieXRlcz0="),
                    ipc::peer_scope::of_service("web"));
  REQUIRE_FALSE(gone);
  CHECK(gone.error().find("web") != std::string::npos);
  CHECK(eng->teardown_global_overlay());
  CHECK_FALSE(eng->status()->interface);
}

TEST_CASE_FIXTURE(engine_fixture,
                  "a global add_peer is answered while a slow bridge is "
                  "being created") {
  REQUIRE(eng->setup_global_overlay(ipc::req::setup_global_overlay{
    "prod", "42", "10.200.0.0/16", "10.200.0.0/28", 51820, {}, false}));
  drivers::twin_fault slow;
  slow.latency = std::chrono::milliseconds(500);
  eng->twin()->inject("create_bridge", slow);

  auto setup = std::async(std::launch::async, [this] {
    return eng->setup_service_overlay("web", ipc::overlay_mode::automatic);
  });
  // Wait until the slow call has reached the host, then add a peer.
  while (eng->twin()->call_count("create_bridge") == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(eng->add_peer(peer("cGVlci1rZXktZm9yLXRoZS1nbG9iYWwtc2NvcGUtMzI=")));
  // The peer is installed and the bridge call has not returned yet.
  CHECK(setup.wait_for(std::chrono::seconds(0)) != std::future_status::ready);
  CHECK(eng->status()->peer_count == 1);
  auto done = setup.get();
  REQUIRE_MESSAGE(done, done.error());
}

TEST_CASE_FIXTURE(engine_fixture,
                  "requests on one service stay in arrival order behind a "
                  "slow setup") {
  REQUIRE(eng->setup_global_overlay(ipc::req::setup_global_overlay{
    "prod", "42", "10.200.0.0/16", "10.200.0.0/28", 51820, {}, false}));
  drivers::twin_fault slow;
  slow.latency = std::chrono::milliseconds(300);
  eng->twin()->inject("create_bridge", slow);
  auto setup = std::async(std::launch::async, [this] {
    return eng->setup_service_overlay("web", ipc::overlay_mode::automatic);
  });
  while (eng->twin()->call_count("create_bridge") == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // Sent while the setup is in flight, on the same service: it must see
  // the finished setup, i.e. draw from the service's bridge pool.
  auto addr = eng->allocate_ip("web");
  REQUIRE(setup.get());
  REQUIRE(addr);
  // The address comes from the service bridge's pool, not the node slice.
  auto links = eng->twin()->root().links().list_links();
  REQUIRE(links);
  int bridges = 0;
  for (auto& l : *links) {
    if (l.kind != "bridge")
      continue;
    ++bridges;
    REQUIRE(l.addresses.size() == 1);
    auto& a = l.addresses.front();
    auto pool = net::cidr::parse(a.address.to_string() + "/"
                                 + std::to_string(a.prefix_len));
    REQUIRE(pool);
    CHECK_MESSAGE(pool->contains(*addr), addr->to_string());
  }
  CHECK(bridges == 1);
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
