// The nat_ticker actor on the deterministic scheduler, with scripted NAT
// services and a fake WireGuard device. Nothing here touches a network:
// the configured STUN server is a loopback address the fakes never dial.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/event_based_actor.hpp>

#include <doctest/doctest.h>

#include "actors/nat_ticker.hpp"
#include "actors/system_config.hpp"
#include "deterministic.hpp"

using namespace overlayd;
using namespace overlayd::actors;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t base_unix = 1'700'000'000;
const std::string peer_key = std::string(43, 'A') + "=";

stun::udp_endpoint ep(const char* text) {
  auto e = stun::udp_endpoint::parse(text);
  REQUIRE(e);
  return *e;
}

// Traversal time derived from the testing scheduler's clock, so
// `advance_time` moves it too.
struct sched_time {
  caf::scheduler::test_coordinator& sched;
  caf::actor_clock::time_point start = sched.clock().now();
  stun::traversal_time operator()() const {
    auto d = sched.clock().now() - start;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d);
    return {base_unix + static_cast<std::uint64_t>(ms.count() / 1000), ms};
  }
};

// A handshake completes one second after the endpoint is pointed at a
// reachable address.
struct fake_wg : stun::wg_control {
  explicit fake_wg(sched_time c) : clock(c) {}
  sched_time clock;
  std::map<std::string, stun::udp_endpoint> endpoints;
  std::map<std::string, std::uint64_t> set_at, handshakes;
  std::set<stun::udp_endpoint> reachable;
  int sets = 0;

  stun::status set_endpoint(const std::string& k,
                            const stun::udp_endpoint& e) override {
    endpoints[k] = e;
    set_at[k] = clock().unix_secs;
    ++sets;
    return stun::status::success();
  }
  stun::result<std::optional<stun::udp_endpoint>>
  endpoint(const std::string& k) override {
    auto it = endpoints.find(k);
    if (it == endpoints.end())
      return std::optional<stun::udp_endpoint>{};
    return std::optional<stun::udp_endpoint>{it->second};
  }
  stun::result<std::uint64_t> last_handshake(const std::string& k) override {
    auto e = endpoints.find(k);
    auto now = clock().unix_secs;
    if (e != endpoints.end() && reachable.count(e->second)
        && now >= set_at[k] + 1 && !handshakes.count(k))
      handshakes[k] = now;
    auto h = handshakes.find(k);
    return h == handshakes.end() ? 0 : h->second;
  }
};

struct counters {
  int gathers = 0, discovers = 0;
  bool fail_discover = false;
  std::vector<std::string> warnings;
};

stun::nat_services fake_services(std::shared_ptr<counters> n) {
  stun::nat_services s;
  s.gather = [n](const stun::nat_config& cfg) {
    ++n->gathers;
    // The ticker must hand over the configured servers, never the
    // default public ones.
    CHECK(cfg.stun_servers.size() == 1);
    stun::gathered_candidates g;
    g.candidates.push_back(stun::candidate::make(
      stun::candidate_type::host, ep("127.0.0.1:51820"), base_unix));
    return stun::result<stun::gathered_candidates>(g);
  };
  s.discover = [n]() {
    ++n->discovers;
    using r = stun::result<stun::stun_discovery, stun::stun_error>;
    if (n->fail_discover)
      return r::failure({stun::stun_error::kind::timeout, 0, 0, {}});
    stun::stun_discovery d;
    d.results.push_back({ep("127.0.0.9:40000"), "fake"});
    return r(d);
  };
  s.warn = [n](const std::string& m) { n->warnings.push_back(m); };
  return s;
}

stun::converted_nat_config loopback_config(std::uint64_t refresh_secs) {
  stun::nat_config c;
  c.stun_servers = {{"127.0.0.1:3478", std::string("loopback")}};
  c.stun_refresh_interval_secs = refresh_secs;
  c.hole_punch_timeout_secs = 5;
  return {c, std::nullopt};
}

struct ticker_fixture : test::deterministic_fixture {
  std::shared_ptr<counters> n = std::make_shared<counters>();
  std::shared_ptr<fake_wg> wg = std::make_shared<fake_wg>(sched_time{sched});

  nat_ticker_actor spawn(bool self_tick,
                         std::optional<stun::converted_nat_config> initial
                         = std::nullopt) {
    nat_ticker_options o;
    o.wg_port = 51820;
    o.services = fake_services(n);
    o.wg = wg;
    o.initial_config = std::move(initial);
    o.self_tick = self_tick;
    o.clock = sched_time{sched};
    o.detached = false;
    auto t = spawn_nat_ticker(sys, std::move(o));
    spawned.push_back(t);
    run();
    return t;
  }

  // The ticker's timers keep it alive: stop it, or the system never
  // finishes shutting down.
  ~ticker_fixture() {
    for (const auto& t : spawned)
      caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
    run();
  }
  std::vector<nat_ticker_actor> spawned;

  void send(const nat_ticker_actor& t, auto... xs) {
    caf::anon_send(t, xs...);
    run();
  }

  // Moves the scheduler's clock and runs every timer that came due.
  void advance(std::chrono::seconds s) {
    for (int i = 0; i < s.count(); ++i) {
      sched.advance_time(1s);
      run();
    }
  }
};

const stun::nat_peer_status* find_peer(const stun::nat_status& s,
                                       const std::string& key) {
  for (const auto& p : s.peers)
    if (p.node_id == key)
      return &p;
  return nullptr;
}

} // namespace

TEST_CASE_FIXTURE(ticker_fixture,
                  "first tick gathers, the 1 s poll hole-punches a peer") {
  auto t = spawn(false);
  send(t, atom::nat_config_v, loopback_config(60));
  send(t, atom::nat_cands_v, peer_key,
       std::vector<stun::candidate_wire>{
         {"server-reflexive", "127.0.0.2:51820", 100}});
  wg->reachable.insert(ep("127.0.0.2:51820"));
  CHECK(n->gathers == 0); // nothing happens before the first tick

  auto s = ask<stun::status>(t, atom::nat_tick_v);
  CHECK(s.ok());
  CHECK(n->gathers == 1);
  CHECK(n->discovers == 1);
  REQUIRE(wg->endpoints.count(peer_key) == 1);
  CHECK(wg->endpoints[peer_key] == ep("127.0.0.2:51820"));
  auto before = ask<stun::nat_status>(t, atom::nat_status_v);
  auto* p = find_peer(before, peer_key);
  CHECK((p == nullptr || p->connection_type != "hole-punched"));

  advance(1s); // the poll timer steps the attempt; the handshake is in
  advance(1s);
  auto st = ask<stun::nat_status>(t, atom::nat_status_v);
  p = find_peer(st, peer_key);
  REQUIRE(p != nullptr);
  CHECK(p->connection_type == "hole-punched");
  REQUIRE(p->remote_endpoint);
  CHECK(*p->remote_endpoint == "127.0.0.2:51820");
  CHECK(st.last_refresh == base_unix);
  bool host = false, srflx = false;
  for (const auto& c : st.candidates) {
    host |= c.candidate_type == "host" && c.address == "127.0.0.1:51820";
    srflx |= c.candidate_type == "server-reflexive";
  }
  CHECK(host);
  CHECK(srflx);
  // A second tick refreshes but does not gather again.
  CHECK(ask<stun::status>(t, atom::nat_tick_v).ok());
  CHECK(n->gathers == 1);
  CHECK(n->discovers == 2);

  send(t, atom::nat_rmpeer_v, peer_key);
  st = ask<stun::nat_status>(t, atom::nat_status_v);
  CHECK(find_peer(st, peer_key) == nullptr);
}

TEST_CASE_FIXTURE(ticker_fixture, "an unreachable peer fails after timeout") {
  auto t = spawn(false, loopback_config(60));
  send(t, atom::nat_cands_v, peer_key,
       std::vector<stun::candidate_wire>{
         {"server-reflexive", "127.0.0.3:51820", 100}});
  CHECK(ask<stun::status>(t, atom::nat_tick_v).ok());
  advance(7s); // hole_punch_timeout_secs = 5
  auto st = ask<stun::nat_status>(t, atom::nat_status_v);
  auto* p = find_peer(st, peer_key);
  CHECK((p == nullptr || p->connection_type != "hole-punched"));
  bool warned = false;
  for (const auto& w : n->warnings)
    warned |= w.find(peer_key) != std::string::npos;
  CHECK(warned);
}

TEST_CASE_FIXTURE(ticker_fixture, "a failed STUN refresh is a value") {
  auto t = spawn(false, loopback_config(60));
  n->fail_discover = true;
  auto s = ask<stun::status>(t, atom::nat_tick_v);
  CHECK(!s.ok());
  CHECK(s.error
        == "NAT maintenance tick failed: STUN discovery failed: STUN query "
           "timed out");
  CHECK(n->gathers == 1); // gathering itself succeeded
  // The actor is still alive and answers.
  auto st = ask<stun::nat_status>(t, atom::nat_status_v);
  CHECK(!st.candidates.empty());
}

TEST_CASE_FIXTURE(ticker_fixture,
                  "standalone mode ticks at spawn and every interval") {
  auto t = spawn(true, loopback_config(30));
  CHECK(n->gathers == 1);
  CHECK(n->discovers == 1);
  advance(29s);
  CHECK(n->discovers == 1);
  advance(1s);
  CHECK(n->discovers == 2);
  advance(30s);
  CHECK(n->discovers == 3);
  // A failing refresh only warns and keeps the timer going.
  n->fail_discover = true;
  advance(30s);
  CHECK(n->discovers == 4);
  CHECK(!n->warnings.empty());
  n->fail_discover = false;
  advance(30s);
  CHECK(n->discovers == 5);
}

TEST_CASE_FIXTURE(ticker_fixture, "without self_tick nothing ticks alone") {
  auto t = spawn(false, loopback_config(30));
  advance(90s);
  CHECK(n->gathers == 0);
  CHECK(n->discovers == 0);
}

// The daemon's mode: a slow STUN refresh runs on the ticker's own thread,
// so a one-worker scheduler keeps serving other actors meanwhile.
TEST_CASE("a detached ticker's slow refresh leaves the scheduler free") {
  caf::actor_system_config cfg;
  actors::configure(cfg, 1);
  caf::actor_system sys{cfg};
  std::atomic<bool> release{false};
  nat_ticker_options o;
  o.wg_port = 51820;
  o.initial_config = loopback_config(60);
  o.services.gather = [](const stun::nat_config&) {
    return stun::result<stun::gathered_candidates>(stun::gathered_candidates{});
  };
  o.services.discover = [&release]() {
    // Blocks until the test saw the scheduler answer meanwhile.
    for (int i = 0; i < 500 && !release.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return stun::result<stun::stun_discovery, stun::stun_error>(
      stun::stun_discovery{});
  };
  o.detached = true;
  auto t = spawn_nat_ticker(sys, std::move(o));
  auto echo = sys.spawn(
    []() -> caf::behavior { return {[](int x) { return x + 1; }}; });
  caf::scoped_actor self{sys};
  auto tick = self->request(t, std::chrono::seconds(10), atom::nat_tick_v);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  // Answered while discover() is still blocked.
  self->request(echo, std::chrono::seconds(2), 41)
    .receive([](int y) { CHECK(y == 42); },
             [&](caf::error& e) { FAIL(sys.render(e)); });
  CHECK(!release.load());
  release = true;
  tick.receive([](stun::status& s) { CHECK(s.ok()); },
               [&](caf::error& e) { FAIL(sys.render(e)); });
  self->send_exit(t, caf::exit_reason::user_shutdown);
  self->send_exit(echo, caf::exit_reason::user_shutdown);
}
