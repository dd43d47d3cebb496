// Handshakes per second on one core, and transport seal/open throughput,
// for the sans-I/O engine (src/wg). Not a test: prints numbers.
//
// Build (from the repo root, after `meson setup BUILD`):
//   ninja -C BUILD src/wg/libwg_core.a
//   g++ -std=c++20 -O2 -Isrc bench/wg_handshake_bench.cpp
//     BUILD/src/wg/libwg_core.a -lsodium -lpthread -o /tmp/wg_handshake_bench
//   /tmp/wg_handshake_bench [seconds-per-measurement]

#include "wg/crypto.hpp"
#include "wg/engine.hpp"
#include "wg/noise.hpp"

#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

using namespace overlayd::wg;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

struct last_datagram : outbox {
  std::vector<uint8_t> bytes;
  std::size_t tun_packets = 0;
  void send_datagram(const endpoint&, std::span<const uint8_t> d) override {
    bytes.assign(d.begin(), d.end());
  }
  void write_tun(std::span<const uint8_t>) override { ++tun_packets; }
};

template <class F>
double per_second(double seconds, F&& body) {
  auto start = steady::now();
  auto stop = start + std::chrono::duration<double>(seconds);
  uint64_t n = 0;
  while (steady::now() < stop) {
    for (int i = 0; i < 16; ++i)
      body();
    n += 16;
  }
  std::chrono::duration<double> took = steady::now() - start;
  return static_cast<double>(n) / took.count();
}

/// Rates of several bodies measured in alternating short slices, so that
/// load changes on a shared machine hit all of them alike and their ratios
/// stay meaningful.
std::vector<double> interleaved(double seconds,
                                std::vector<std::function<void()>> bodies) {
  std::vector<double> took(bodies.size(), 0.0);
  std::vector<uint64_t> done(bodies.size(), 0);
  constexpr int slices = 20;
  for (int s = 0; s < slices; ++s) {
    for (std::size_t b = 0; b < bodies.size(); ++b) {
      auto start = steady::now();
      auto stop = start + std::chrono::duration<double>(seconds / slices);
      while (steady::now() < stop) {
        for (int i = 0; i < 4; ++i)
          bodies[b]();
        done[b] += 4;
      }
      took[b] += std::chrono::duration<double>(steady::now() - start).count();
    }
  }
  std::vector<double> rates;
  for (std::size_t b = 0; b < bodies.size(); ++b)
    rates.push_back(static_cast<double>(done[b]) / took[b]);
  return rates;
}

} // namespace

int main(int argc, char** argv) {
  double secs = argc > 1 ? std::atof(argv[1]) : 2.0;
  auto ki = key::generate_private();
  auto kr = key::generate_private();
  noise::identity init_id;
  init_id.set(ki);
  noise::identity resp_id;
  resp_id.set(kr);
  noise::peer_secrets to_resp;
  to_resp.remote_static = kr.public_from_private();
  to_resp.recompute(init_id);
  noise::peer_secrets to_init;
  to_init.remote_static = ki.public_from_private();
  to_init.recompute(resp_id);
  fake_clock clk;

  // Responder work per handshake: open initiation (2 DH) + response (2 DH
  // + ephemeral keygen) + key derivation. Each round uses a fresh
  // initiation so the replay check passes.
  std::vector<std::vector<uint8_t>> inits(4096, std::vector<uint8_t>(148));
  noise::handshake ihs;
  for (std::size_t i = 0; i < inits.size(); ++i) {
    clk.advance(20ms);
    noise::create_initiation(init_id, to_resp, ihs, 1,
                             make_tai64n(clk.wall_now()), inits[i]);
  }
  std::size_t next = 0;
  noise::handshake rhs;
  std::vector<uint8_t> resp(92);
  uint64_t ok = 0;
  auto responder_body = [&] {
    auto& msg = inits[next++ % inits.size()];
    auto claim = noise::open_initiation_static(resp_id, msg);
    rhs.last_timestamp = {};
    rhs.last_initiation_consumed.reset();
    if (claim
        && noise::finish_initiation(*claim, msg, to_init, rhs, clk.now())
             == noise::consume_status::ok
        && noise::create_response(to_init, rhs, 2, resp)
        && noise::derive_session(rhs))
      ++ok;
  };
  // The X25519 bound on this machine right now: a responder needs 3
  // variable-base and 1 fixed-base multiplication.
  crypto::digest shared;
  auto kx = key::generate_private();
  auto px = key::generate_private().public_from_private();
  auto hs_rates = interleaved(
    2 * secs, {responder_body, [&] { crypto::dh(shared, kx, px); },
               [&] { (void)kx.public_from_private(); }});
  double responder = hs_rates[0];
  double bound = 1.0 / (3.0 / hs_rates[1] + 1.0 / hs_rates[2]);
  if (ok == 0) {
    std::fprintf(stderr, "responder never completed a handshake\n");
    return 1;
  }

  double initiator = per_second(secs, [&] {
    std::vector<uint8_t> msg(148);
    noise::create_initiation(init_id, to_resp, ihs, 1,
                             make_tai64n(clk.wall_now()), msg);
  });

  // Whole handshakes through two engines (both sides on this core).
  engine a{clk};
  engine b{clk};
  a.set_private_key(ki);
  b.set_private_key(kr);
  peer_config pa;
  pa.public_key = kr.public_from_private();
  pa.endpoint = *endpoint::parse("192.0.2.2:2");
  pa.allowed_ips = {*allowed_ip::parse("10.0.0.2/32")};
  (void)a.add_or_update_peer(pa);
  peer_config pb;
  pb.public_key = ki.public_from_private();
  pb.endpoint = *endpoint::parse("192.0.2.1:1");
  pb.allowed_ips = {*allowed_ip::parse("10.0.0.1/32")};
  (void)b.add_or_update_peer(pb);
  auto ea = *pb.endpoint;
  auto eb = *pa.endpoint;
  last_datagram oa;
  last_datagram ob;
  double full = per_second(secs, [&] {
    // Expire the session so the next keepalive needs a new handshake.
    clk.advance(181s);
    oa.bytes.clear();
    a.on_timer(oa); // nothing due; keep timers honest
    peer_config pk;
    pk.public_key = kr.public_from_private();
    pk.persistent_keepalive = 1;
    (void)a.add_or_update_peer(pk);
    a.on_timer(oa); // keepalive -> initiation
    if (oa.bytes.size() != 148)
      return;
    b.on_datagram(ea, oa.bytes, ob); // -> response
    a.on_datagram(eb, ob.bytes, oa); // -> keepalive
    b.on_datagram(ea, oa.bytes, ob);
  });

  // Under load: cost of refusing a handshake with a cookie reply.
  b.set_handshake_backlog(1000);
  std::vector<uint8_t> probe = inits[0];
  double cookies = per_second(secs, [&] {
    b.set_handshake_backlog(1000);
    auto copy = probe;
    b.on_datagram(ea, copy, ob);
  });

  // Transport: seal + open of 1400-byte packets through the engines.
  clk.advance(200s);
  peer_config off;
  off.public_key = kr.public_from_private();
  off.persistent_keepalive = 0;
  (void)a.add_or_update_peer(off);
  std::vector<uint8_t> pkt(1400, 0);
  pkt[0] = 0x45;
  pkt[2] = 1400 >> 8;
  pkt[3] = 1400 & 0xff;
  pkt[12] = 10, pkt[15] = 1, pkt[16] = 10, pkt[19] = 2;
  a.on_tun_packet(pkt, oa);
  b.on_datagram(ea, oa.bytes, ob);
  a.on_datagram(eb, ob.bytes, oa);
  b.on_datagram(ea, oa.bytes, ob);
  double roundtrip = per_second(secs, [&] {
    a.on_tun_packet(pkt, oa);
    b.on_datagram(ea, oa.bytes, ob);
  });

  // Memory per configured peer (heap only): 10,000 peers, one /32 each.
  std::size_t heap_before = mallinfo2().uordblks;
  {
    engine big{clk};
    big.set_private_key(key::generate_private());
    for (uint32_t i = 0; i < 10000; ++i) {
      peer_config pc;
      pc.public_key = key::generate_private().public_from_private();
      pc.endpoint = endpoint(ip_address::v4({192, 0, 2, 1}),
                             static_cast<uint16_t>(1000 + i));
      pc.persistent_keepalive = 25;
      pc.allowed_ips = {allowed_ip{
        ip_address::v4({10, static_cast<uint8_t>(i >> 16),
                        static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)}),
        32}};
      (void)big.add_or_update_peer(pc);
    }
    std::size_t heap_after = mallinfo2().uordblks;
    std::printf("heap per peer (10,000 peers):           %10.0f bytes\n",
                static_cast<double>(heap_after - heap_before) / 10000);
  }

  // Sealing through the engine against raw AEAD over the same padded
  // 1408 bytes, interleaved.
  std::vector<uint8_t> raw(16 + 1408 + 16);
  crypto::digest raw_key{};
  uint64_t raw_counter = 0;
  auto seal_rates = interleaved(
    2 * secs, {[&] { a.on_tun_packet(pkt, oa); },
               [&] {
                 crypto::aead_seal(raw.data() + 16, raw_key, raw_counter++,
                                   {raw.data() + 16, 1408}, {});
               }});
  double seal = seal_rates[0];
  double raw_seal = seal_rates[1];

  std::printf("X25519 bound for a responder (1 core):  %10.0f\n", bound);
  std::printf("responder handshakes/s (1 core):        %10.0f\n", responder);
  std::printf("  = %.0f%% of the X25519 bound\n", 100 * responder / bound);
  std::printf("initiations created/s (1 core):         %10.0f\n", initiator);
  std::printf("full handshakes/s, both sides (1 core): %10.0f\n", full);
  std::printf("cookie replies/s under load (1 core):   %10.0f\n", cookies);
  std::printf("seal 1400 B packets/s:                  %10.0f (%.0f Mbit/s)\n",
              seal, seal * 1400 * 8 / 1e6);
  std::printf("  = %.0f%% of raw AEAD (%.0f packets/s)\n",
              100 * seal / raw_seal, raw_seal);
  std::printf("seal+open 1400 B packets/s:             %10.0f (%.0f Mbit/s)\n",
              roundtrip, roundtrip * 1400 * 8 / 1e6);
  std::printf("delivered to tun: %zu\n", ob.tun_packets);
  return 0;
}
