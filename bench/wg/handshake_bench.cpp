// Handshakes per second on one core for the WireGuard engine (not a test),
// next to the X25519 bound measured in the same run.
//
//  - responder: an engine consuming initiations and producing responses
//    (mac1 check, peer lookup, Noise, index table, session), timed per
//    datagram; the initiations are prepared untimed beforehand.
//  - full: two engines completing a handshake (initiation, response,
//    confirming keepalive), both sides on this core.
//  - X25519: variable-base and fixed-base multiplications. With the
//    static-static DH precomputed per peer, a responder needs 3 variable-base
//    and 1 fixed-base (its ephemeral key) per handshake, a full handshake
//    twice that; those bounds are printed beside the measured rates.
//
// The measurements run in alternating rounds so that load changes on a
// shared machine hit all of them alike. A fake clock advances slowly enough
// that the responder never counts as under load (which would ask for
// cookies).
//
// Build and run: bench/wg/handshakes.sh [BUILD-DIR] [ROUNDS]
//   or: ninja -C BUILD bench/wg/wg_handshake_bench
//       BUILD/bench/wg/wg_handshake_bench [ROUNDS]

#include "wg/cookie.hpp"
#include "wg/crypto.hpp"
#include "wg/engine.hpp"
#include "wg/noise.hpp"
#include "wg/tai64n.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace overlayd::wg;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

// Keeps the last datagram the engine sent.
struct last_datagram final : outbox {
  std::vector<uint8_t> bytes;
  void send_datagram(const endpoint&, std::span<const uint8_t> d) override {
    bytes.assign(d.begin(), d.end());
  }
  void write_tun(std::span<const uint8_t>) override {
    // nop
  }
};

double seconds_since(steady::time_point start) {
  return std::chrono::duration<double>(steady::now() - start).count();
}

/// Accumulated operations and time of one measurement.
struct rate {
  double ops = 0;
  double seconds = 0;
  double per_second() const { return seconds > 0 ? ops / seconds : 0; }
};

/// One initiator as seen by the responder: its identity and the state it
/// needs to write valid initiations (what an initiator engine would do).
struct initiator {
  noise::identity self;
  noise::peer_secrets to_responder;
  cookie_generator macs;
  endpoint from;
};

/// Initiations to the responder from many peers with increasing
/// timestamps, prepared outside the timed part.
class initiation_source {
public:
  initiation_source(const key& responder_public, std::size_t peers) {
    for (std::size_t i = 0; i < peers; ++i) {
      auto& ini = initiators_.emplace_back();
      ini.self.set(key::generate_private());
      ini.to_responder.remote_static = responder_public;
      ini.to_responder.recompute(ini.self);
      ini.macs.set_peer_key(responder_public);
      ini.from = endpoint{ip_address::v4({198, 51, 100, 1}),
                          static_cast<uint16_t>(10000 + i)};
    }
  }

  const std::vector<initiator>& initiators() const { return initiators_; }

  /// `count` initiations, round robin over the initiators.
  std::vector<std::pair<endpoint, std::array<uint8_t, 148>>>
  batch(std::size_t count) {
    std::vector<std::pair<endpoint, std::array<uint8_t, 148>>> out(count);
    for (auto& [from, msg] : out) {
      auto& ini = initiators_[next_++ % initiators_.size()];
      clk_.advance(1ms); // strictly increasing timestamps per peer
      noise::handshake hs;
      if (!noise::create_initiation(ini.self, ini.to_responder, hs, 1,
                                    make_tai64n(clk_.wall_now()), msg)) {
        std::fprintf(stderr, "cannot create an initiation\n");
        std::exit(1);
      }
      ini.macs.add_macs(msg, clk_.now());
      from = ini.from;
    }
    return out;
  }

private:
  std::vector<initiator> initiators_;
  std::size_t next_ = 0;
  fake_clock clk_;
};

peer_config peer_at(const key& public_key, const char* ep, const char* ip) {
  peer_config pc;
  pc.public_key = public_key;
  pc.endpoint = *endpoint::parse(ep);
  pc.allowed_ips = {*allowed_ip::parse(ip)};
  return pc;
}

} // namespace

int main(int argc, char** argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 10;
  constexpr std::size_t batch_size = 400;
  constexpr std::size_t initiator_count = 256;
  constexpr int x25519_ops = 1000;
  constexpr int full_per_round = 150;

  // -- responder engine with its initiators as peers --
  fake_clock clk;
  auto r_priv = key::generate_private();
  auto r_pub = r_priv.public_from_private();
  engine responder{clk, engine_config{r_priv, 51820, 0, 1420}};
  initiation_source source{r_pub, initiator_count};
  for (auto& ini : source.initiators()) {
    peer_config pc;
    pc.public_key = ini.self.public_key;
    if (!responder.add_or_update_peer(pc))
      return 1;
  }

  // -- a pair of engines for full handshakes --
  auto a_priv = key::generate_private();
  auto b_priv = key::generate_private();
  engine a{clk, engine_config{a_priv, 1, 0, 1420}};
  engine b{clk, engine_config{b_priv, 2, 0, 1420}};
  auto to_b
    = peer_at(b_priv.public_from_private(), "192.0.2.2:2", "10.0.0.2/32");
  (void)a.add_or_update_peer(to_b);
  (void)b.add_or_update_peer(
    peer_at(a_priv.public_from_private(), "192.0.2.1:1", "10.0.0.1/32"));
  auto ea = *endpoint::parse("192.0.2.1:1");
  auto eb = *endpoint::parse("192.0.2.2:2");

  // -- X25519 operands --
  auto scalar = key::generate_private();
  auto point = key::generate_private().public_from_private();
  crypto::digest shared{};

  // Untimed warm-up: every peer's first handshake also computes its
  // static-static DH once, which the per-handshake rate should not carry.
  for (auto& [from, msg] : source.batch(initiator_count)) {
    clk.advance(10ms);
    last_datagram ignored;
    responder.on_datagram(from, msg, ignored);
  }

  rate resp_rate, full_rate, var_rate, base_rate;
  last_datagram out;
  last_datagram oa, ob;
  uint64_t full_failures = 0;
  for (int round = 0; round < rounds; ++round) {
    // Responder.
    auto batch = source.batch(batch_size);
    for (auto& [from, msg] : batch) {
      clk.advance(10ms); // 100 handshakes/s of fake time: never under load
      out.bytes.clear();
      auto t0 = steady::now();
      responder.on_datagram(from, msg, out);
      resp_rate.seconds += seconds_since(t0);
      if (out.bytes.size() != noise::response_size) {
        std::fprintf(stderr, "responder did not answer (got %zu bytes)\n",
                     out.bytes.size());
        return 1;
      }
      resp_rate.ops += 1;
    }

    // X25519, variable base and fixed base.
    auto t0 = steady::now();
    for (int i = 0; i < x25519_ops; ++i)
      if (!crypto::dh(shared, scalar, point))
        return 1;
    var_rate.seconds += seconds_since(t0);
    var_rate.ops += x25519_ops;
    t0 = steady::now();
    for (int i = 0; i < x25519_ops; ++i)
      point = scalar.public_from_private();
    base_rate.seconds += seconds_since(t0);
    base_rate.ops += x25519_ops;

    // Full handshakes: after REJECT_AFTER_TIME the session is gone and the
    // persistent keepalive needs a new one.
    for (int i = 0; i < full_per_round; ++i) {
      clk.advance(181s);
      peer_config keepalive;
      keepalive.public_key = to_b.public_key;
      keepalive.persistent_keepalive = 1;
      oa.bytes.clear();
      ob.bytes.clear();
      auto t1 = steady::now();
      (void)a.add_or_update_peer(keepalive);
      a.on_timer(oa); // -> initiation
      if (oa.bytes.size() == noise::initiation_size) {
        b.on_datagram(ea, oa.bytes, ob); // -> response
        a.on_datagram(eb, ob.bytes, oa); // -> confirming keepalive
        b.on_datagram(ea, oa.bytes, ob);
      }
      full_rate.seconds += seconds_since(t1);
      if (ob.bytes.size() == noise::response_size
          && oa.bytes.size() == noise::keepalive_size)
        full_rate.ops += 1;
      else
        ++full_failures;
    }
  }

  auto c = responder.counters();
  if (c.cookie_replies_sent != 0 || full_failures != 0) {
    std::fprintf(stderr,
                 "unexpected: %llu cookie replies, %llu failed full "
                 "handshakes\n",
                 static_cast<unsigned long long>(c.cookie_replies_sent),
                 static_cast<unsigned long long>(full_failures));
    return 1;
  }
  double var = var_rate.per_second();
  double base = base_rate.per_second();
  double resp_bound = 1.0 / (3.0 / var + 1.0 / base);
  double full_bound = 1.0 / (6.0 / var + 2.0 / base);
  std::printf("X25519 on this core: %.0f variable-base/s, %.0f fixed-base/s "
              "(%d rounds)\n",
              var, base, rounds);
  // The cost in variable-base X25519 multiplications compares runs on
  // machines of different speed (a responder needs 3 and a keygen).
  std::printf("| per core | handshakes/s | X25519 bound/s | of bound | "
              "cost in X25519 ops |\n");
  std::printf("|---|---|---|---|---|\n");
  auto row = [&](const char* label, double measured, double bound) {
    std::printf("| %s | %.0f | %.0f | %.0f%% | %.2f |\n", label, measured,
                bound, 100 * measured / bound, var / measured);
  };
  row("responder (3 DH + 1 keygen)", resp_rate.per_second(), resp_bound);
  row("full, both sides (6 DH + 2 keygen)", full_rate.per_second(), full_bound);
  std::printf("responder: %llu initiations consumed, %llu responses sent\n",
              static_cast<unsigned long long>(c.initiations_received),
              static_cast<unsigned long long>(c.responses_sent));
  return 0;
}
