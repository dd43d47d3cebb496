#include <doctest/doctest.h>

#include <map>
#include <set>

#include "stun/nat_engine.hpp"
#include "stun/traversal.hpp"

using namespace overlayd::stun;
using namespace std::chrono_literals;

namespace {

udp_endpoint ep(const char* s) {
  return *udp_endpoint::parse(s);
}

struct fake_clock {
  traversal_time now{1700000000, 0ms};
  void advance(int secs) {
    now.unix_secs += static_cast<std::uint64_t>(secs);
    now.mono += std::chrono::seconds(secs);
  }
};

// A WireGuard device where a handshake completes `delay` seconds after the
// endpoint is pointed at an address the test marked reachable.
struct fake_wg : wg_control {
  explicit fake_wg(fake_clock& c) : clock(c) {}

  fake_clock& clock;
  std::map<std::string, udp_endpoint> endpoints;
  std::map<std::string, std::uint64_t> handshakes;
  std::map<std::string, std::uint64_t> set_at;
  std::set<std::string> pending; // endpoint set, handshake not yet done
  std::set<udp_endpoint> reachable;
  std::set<udp_endpoint> broken; // set_endpoint fails
  int delay = 1;
  std::vector<std::pair<std::uint64_t, std::string>> sets; // (time, addr)
  int checks = 0;

  status set_endpoint(const std::string& k, const udp_endpoint& e) override {
    if (broken.count(e))
      return status::failure("errno=22");
    endpoints[k] = e;
    set_at[k] = clock.now.unix_secs;
    pending.insert(k);
    sets.emplace_back(clock.now.unix_secs, e.to_string());
    return status::success();
  }
  result<std::optional<udp_endpoint>> endpoint(const std::string& k) override {
    auto it = endpoints.find(k);
    if (it == endpoints.end())
      return std::optional<udp_endpoint>{};
    return std::optional<udp_endpoint>{it->second};
  }
  result<std::uint64_t> last_handshake(const std::string& k) override {
    ++checks;
    auto e = endpoints.find(k);
    if (e != endpoints.end() && pending.count(k) && reachable.count(e->second)
        && clock.now.unix_secs
             >= set_at[k] + static_cast<std::uint64_t>(delay)) {
      handshakes[k] = clock.now.unix_secs; // one handshake per new endpoint
      pending.erase(k);
    }
    auto h = handshakes.find(k);
    return h == handshakes.end() ? 0 : h->second;
  }
};

candidate_wire w(const char* type, const char* addr, std::uint32_t prio) {
  return {type, addr, prio};
}

// Services that record what the tick asked for.
struct scripted {
  std::vector<std::string> calls;
  bool gather_ok = true, stun_ok = true, relay_ok = true;
  std::string relay_credential;
  std::vector<std::string> warnings;

  nat_services services() {
    nat_services s;
    s.start_relay = [this](const relay_server_config&, const std::string& c) {
      calls.push_back("start_relay");
      relay_credential = c;
      return relay_ok ? status::success() : status::failure("bind failed");
    };
    s.gather = [this](const nat_config&) -> result<gathered_candidates> {
      calls.push_back("gather");
      if (!gather_ok)
        return result<gathered_candidates>::failure("offline");
      gathered_candidates g;
      g.candidates
        = {candidate::make(candidate_type::host, ep("192.168.1.2:51820"), 1)};
      return g;
    };
    s.discover = [this]() -> result<stun_discovery, stun_error> {
      calls.push_back("discover");
      if (!stun_ok)
        return result<stun_discovery, stun_error>::failure(
          {stun_error::kind::timeout, 0, 0, {}});
      stun_discovery d;
      d.results = {{ep("203.0.113.5:40000"), "s"}};
      return d;
    };
    s.refresh_relays = [this] { calls.push_back("refresh_relays"); };
    s.warn = [this](const std::string& m) { warnings.push_back(m); };
    return s;
  }
};

// Polls once a second until no attempt runs (or `limit` seconds).
void run_attempts(nat_engine& n, fake_clock& clk, fake_wg& wg,
                  int limit = 300) {
  for (int i = 0; i < limit && n.running_attempts() > 0; ++i) {
    clk.advance(1);
    n.poll(clk.now, wg);
  }
}

const std::string peer = "peerKEYbase64=";

} // namespace

TEST_CASE("a disabled config makes the tick a no-op") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  nat_engine n(51820);
  converted_nat_config off;
  off.config.enabled = false;
  n.configure(off);
  CHECK(n.tick(clk.now, s.services(), wg).ok());
  CHECK(s.calls.empty());
  CHECK_FALSE(n.started());
}

TEST_CASE("first tick: relay, gather, connect, refresh, connect") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  nat_engine n(51820);
  // No configure(): the Default config (enabled) applies.
  auto status0 = n.status_snapshot(wg);
  CHECK(status0.candidates.empty());
  CHECK(status0.peers.empty());
  CHECK(status0.last_refresh == 0);
  CHECK(n.tick(clk.now, s.services(), wg).ok());
  CHECK(s.calls
        == std::vector<std::string>{"gather", "discover", "refresh_relays"});
  CHECK(n.started());
  CHECK(n.last_refresh() == clk.now.unix_secs);
  // The refresh saw a new reflexive IP: srflx added with the WG port.
  auto st = n.status_snapshot(wg);
  REQUIRE(st.candidates.size() == 2);
  CHECK(st.candidates[1]
        == candidate_wire{"server-reflexive", "203.0.113.5:51820", 50});

  // With a relay configured it is started once, with the cluster secret.
  scripted r;
  nat_engine m(51820);
  converted_nat_config c;
  c.config.relay_server = relay_server_config{3478, "1.2.3.4:3478", 100};
  c.relay_credential = "cluster-secret";
  m.configure(c);
  r.relay_ok = false;
  CHECK(m.tick(clk.now, r.services(), wg).ok());
  CHECK(r.calls.front() == "start_relay");
  CHECK(r.relay_credential == "cluster-secret");
  CHECK(r.warnings.at(0).find("relay server failed to start")
        != std::string::npos);
  CHECK(m.started()); // a relay failure only warns
}

TEST_CASE("gather failure warns, succeeds, and is retried next tick") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  s.gather_ok = false;
  nat_engine n(51820);
  CHECK(n.tick(clk.now, s.services(), wg).ok());
  CHECK_FALSE(n.started());
  CHECK(n.last_refresh() == 0);
  CHECK(s.calls == std::vector<std::string>{"gather"});
  s.gather_ok = true;
  CHECK(n.tick(clk.now, s.services(), wg).ok());
  CHECK(n.started());
}

TEST_CASE("refresh failure: the reference's error text, peers still tried") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  nat_engine n(51820);
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  auto refreshed = n.last_refresh();
  n.set_peer_candidates(peer, {w("host", "10.0.0.9:51820", 100)},
                        clk.now.unix_secs);
  s.stun_ok = false;
  clk.advance(60);
  auto st = n.tick(clk.now, s.services(), wg);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error
        == "NAT maintenance tick failed: STUN discovery failed: STUN query "
           "timed out");
  CHECK(n.last_refresh() == refreshed);
  CHECK(n.attempt_running(peer)); // the connect half ran anyway
}

TEST_CASE("peers with a handshake in the last 75 s are skipped") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  nat_engine n(51820);
  n.set_peer_candidates(peer, {w("host", "10.0.0.9:51820", 100)}, 0);
  wg.handshakes[peer] = clk.now.unix_secs - 75; // exactly at the cutoff
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  CHECK_FALSE(n.attempt_running(peer));
  clk.advance(1); // now 76 s old
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  CHECK(n.attempt_running(peer));
}

TEST_CASE("per-candidate timing, priority order and the pair cap") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  nat_engine n(51820);
  converted_nat_config c;
  c.config.hole_punch_timeout_secs = 3;
  c.config.max_candidate_pairs = 2;
  n.configure(c);
  // Wire priorities decide the order, not the types.
  n.set_peer_candidates(peer,
                        {w("relay", "198.51.100.1:4000", 10),
                         w("server-reflexive", "203.0.113.9:51820", 50),
                         w("host", "10.0.0.9:51820", 100),
                         w("host", "10.0.0.10:51820", 5)},
                        0);
  wg.reachable = {ep("203.0.113.9:51820")};
  wg.delay = 2;
  auto t0 = clk.now.unix_secs;
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  run_attempts(n, clk, wg);
  // Host tried first for 3 s (checks at +0,+1,+2), then srflx at +3; its
  // handshake lands 2 s later.
  REQUIRE(wg.sets.size() == 2);
  CHECK(wg.sets[0] == std::make_pair(t0, std::string("10.0.0.9:51820")));
  CHECK(wg.sets[1] == std::make_pair(t0 + 3, std::string("203.0.113.9:51820")));
  CHECK(n.connection(peer) == connection_type::hole_punched);
  auto st = n.status_snapshot(wg);
  REQUIRE(st.peers.size() == 1);
  CHECK(st.peers[0].node_id == peer);
  CHECK(st.peers[0].connection_type == "hole-punched");
  CHECK(st.peers[0].remote_endpoint == "203.0.113.9:51820");
}

TEST_CASE("failure restores the endpoint; the type stays as it was") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  nat_engine n(51820);
  converted_nat_config c;
  c.config.hole_punch_timeout_secs = 2;
  n.configure(c);
  wg.endpoints[peer] = ep("1.2.3.4:51820");
  wg.broken = {ep("10.0.0.8:51820")}; // endpoint update fails: next one
  n.set_peer_candidates(peer,
                        {w("host", "10.0.0.8:51820", 100),
                         w("host", "10.0.0.9:51820", 100),
                         w("server-reflexive", "203.0.113.9:51820", 50)},
                        0);
  auto t0 = clk.now.unix_secs;
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  run_attempts(n, clk, wg);
  CHECK(wg.sets.back() == std::make_pair(t0 + 4, std::string("1.2.3.4:51820")));
  CHECK(wg.endpoints[peer] == ep("1.2.3.4:51820"));
  CHECK_FALSE(n.connection(peer).has_value());
  bool exhausted = false, update_failed = false;
  for (const auto& m : s.warnings) {
    exhausted |= m
                 == "NAT traversal failed for peer " + peer
                      + ": exhausted all candidates";
    update_failed
      |= m.find("endpoint update failed: errno=22") != std::string::npos;
  }
  CHECK(exhausted);
  CHECK(update_failed);
}

TEST_CASE("loopback relay candidates are skipped, not timed out") {
  fake_clock clk;
  fake_wg wg(clk);
  peer_attempt a(peer,
                 {candidate::make(candidate_type::relay, ep("127.0.0.1:9"), 0),
                  candidate::make(candidate_type::relay, ep("[::1]:9"), 0)},
                 attempt_kind::connect, 15, 10, std::nullopt);
  CHECK(a.candidates().empty());
  CHECK(a.step(clk.now, wg) == peer_attempt::state::failed);
  CHECK(wg.sets.empty());
}

TEST_CASE("attempts for different peers run at the same time") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  nat_engine n(51820);
  n.set_peer_candidates("a=", {w("host", "10.0.0.1:51820", 100)}, 0);
  n.set_peer_candidates("b=", {w("host", "10.0.0.2:51820", 100)}, 0);
  wg.reachable = {ep("10.0.0.1:51820"), ep("10.0.0.2:51820")};
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  CHECK(n.running_attempts() == 2);
  clk.advance(1);
  auto done = n.poll(clk.now, wg);
  CHECK(done.size() == 2);
  CHECK(n.connection("a=") == connection_type::direct);
  CHECK(n.connection("b=") == connection_type::direct);
}

TEST_CASE("upgrade: a relayed peer moves to a direct path when one opens") {
  fake_clock clk;
  fake_wg wg(clk);
  scripted s;
  nat_engine n(51820);
  converted_nat_config c;
  c.config.hole_punch_timeout_secs = 3;
  n.configure(c);
  n.set_peer_candidates(
    peer,
    {w("host", "10.0.0.9:51820", 100), w("relay", "198.51.100.1:40000", 10)},
    0);
  wg.reachable = {ep("198.51.100.1:40000")};
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  run_attempts(n, clk, wg);
  REQUIRE(n.connection(peer) == connection_type::relayed);

  // Next tick, nothing direct yet: 5 s on the host candidate, then the
  // relay endpoint is put back and the peer stays relayed.
  clk.advance(60);
  wg.handshakes[peer] = clk.now.unix_secs - 5;
  auto sets_before = wg.sets.size();
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  REQUIRE(n.attempt_running(peer));
  auto t1 = clk.now.unix_secs;
  run_attempts(n, clk, wg);
  REQUIRE(wg.sets.size() == sets_before + 2);
  CHECK(wg.sets[sets_before]
        == std::make_pair(t1, std::string("10.0.0.9:51820")));
  CHECK(wg.sets[sets_before + 1]
        == std::make_pair(t1 + 5, std::string("198.51.100.1:40000")));
  CHECK(n.connection(peer) == connection_type::relayed);

  // The direct path opens: the following tick upgrades.
  clk.advance(60);
  wg.handshakes[peer] = clk.now.unix_secs - 5;
  wg.reachable.insert(ep("10.0.0.9:51820"));
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  run_attempts(n, clk, wg);
  CHECK(n.connection(peer) == connection_type::direct);
  CHECK(n.status_snapshot(wg).peers.at(0).remote_endpoint == "10.0.0.9:51820");
  // A direct peer with a fresh handshake is left alone.
  clk.advance(10);
  REQUIRE(n.tick(clk.now, s.services(), wg).ok());
  CHECK_FALSE(n.attempt_running(peer));
}

TEST_CASE("candidate intake and removal") {
  fake_clock clk;
  fake_wg wg(clk);
  nat_engine n(51820);
  n.set_peer_candidates(peer,
                        {w("host", "not-an-addr", 100),
                         w("bogus", "1.2.3.4:1", 1),
                         w("relay", "[2001:db8::1]:4000", 10)},
                        7);
  REQUIRE(n.peer_candidates(peer) != nullptr);
  REQUIRE(n.peer_candidates(peer)->size() == 1);
  CHECK(n.peer_candidates(peer)->at(0).discovered_at == 7);
  n.set_peer_candidates(peer, {w("host", "not-an-addr", 100)}, 7);
  CHECK(n.peer_candidates(peer) == nullptr);
  n.set_peer_candidates(peer, {w("host", "10.0.0.1:1", 100)}, 7);
  n.remove_peer(peer);
  CHECK(n.peer_candidates(peer) == nullptr);
  CHECK(n.status_snapshot(wg).peers.empty());
}
