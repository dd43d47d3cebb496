// Handshake throughput of the WireGuard engine on one core (not a test):
// many initiators complete full Noise IKpsk2 handshakes with one responder,
// in process, on a fake clock that advances slowly enough that the
// responder never counts as "under load" (which would demand cookies).
// Prints the responder's rate (consuming initiations, producing responses)
// and the rate of complete handshakes (both sides' work on one core).

#include "wg/clock.hpp"
#include "wg/engine.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sodium.h>
#include <vector>

using namespace overlayd::wg;
using namespace std::chrono;

namespace {

// Keeps the last datagram the engine sent.
struct capture final : outbox {
  std::vector<uint8_t> last;
  std::size_t sent = 0;
  void send_datagram(const endpoint&, std::span<const uint8_t> d) override {
    last.assign(d.begin(), d.end());
    ++sent;
  }
  void write_tun(std::span<const uint8_t>) override {
    // nop
  }
};

// A minimal IPv4 packet to 10.0.0.1 that routes to the responder.
std::vector<uint8_t> packet_to_responder() {
  std::vector<uint8_t> p(28, 0);
  p[0] = 0x45;
  p[3] = 28;
  p[8] = 64;
  p[9] = 17;
  p[12] = 10, p[15] = 2;
  p[16] = 10, p[19] = 1;
  return p;
}

// X25519 operations per second on this core right now: the unit that
// bounds handshakes (a responder needs about four).
double x25519_rate() {
  unsigned char scalar[32], point[32], out[32];
  randombytes_buf(scalar, sizeof scalar);
  crypto_scalarmult_base(point, scalar);
  int n = 2000;
  auto t0 = steady_clock::now();
  for (int i = 0; i < n; ++i)
    if (crypto_scalarmult(out, scalar, point) != 0)
      return 0;
  return n / duration<double>(steady_clock::now() - t0).count();
}

} // namespace

int main(int argc, char** argv) {
  if (sodium_init() < 0)
    return 1;
  int initiators = argc > 1 ? std::atoi(argv[1]) : 200;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 10;
  fake_clock clk;
  key r_priv = key::generate_private();
  engine responder{clk, engine_config{r_priv, 51820, 0, 1420}};
  endpoint r_ep{*ip_address::parse("192.0.2.1"), 51820};
  std::vector<std::unique_ptr<engine>> inits;
  std::vector<key> init_pubs;
  for (int i = 0; i < initiators; ++i) {
    key priv = key::generate_private();
    inits.push_back(
      std::make_unique<engine>(clk, engine_config{priv, 0, 0, 1420}));
    init_pubs.push_back(priv.public_from_private());
    peer_config to_r;
    to_r.public_key = r_priv.public_from_private();
    to_r.endpoint = r_ep;
    to_r.allowed_ips = {*allowed_ip::parse("10.0.0.1/32")};
    if (!inits.back()->add_or_update_peer(to_r))
      return 1;
    peer_config to_i;
    to_i.public_key = init_pubs.back();
    if (!responder.add_or_update_peer(to_i))
      return 1;
  }
  auto pkt = packet_to_responder();
  capture out;
  duration<double> in_responder{0};
  duration<double> total{0};
  long done = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int i = 0; i < initiators; ++i) {
      auto& ini = *inits[i];
      endpoint i_ep{*ip_address::parse("198.51.100.1"),
                    static_cast<uint16_t>(10000 + i)};
      // Forget the session so the next packet starts a new handshake.
      peer_config to_r;
      to_r.public_key = r_priv.public_from_private();
      to_r.endpoint = r_ep;
      to_r.allowed_ips = {*allowed_ip::parse("10.0.0.1/32")};
      (void)ini.remove_peer(to_r.public_key);
      (void)ini.add_or_update_peer(to_r);
      clk.advance(10ms); // 100 handshakes/s of fake time: never under load
      auto t0 = steady_clock::now();
      out.last.clear();
      ini.on_tun_packet(pkt, out);
      if (out.last.size() != 148)
        return std::fprintf(stderr, "no initiation\n"), 1;
      auto init = out.last;
      out.last.clear();
      auto t1 = steady_clock::now();
      responder.on_datagram(i_ep, init, out);
      auto t2 = steady_clock::now();
      if (out.last.size() != 92)
        return std::fprintf(stderr, "no response (got %zu bytes)\n",
                            out.last.size()),
               1;
      auto resp = out.last;
      ini.on_datagram(r_ep, resp, out);
      auto t3 = steady_clock::now();
      in_responder += t2 - t1;
      total += t3 - t0;
      ++done;
    }
  }
  auto c = responder.counters();
  std::printf("X25519 on this core now: %.0f/s\n", x25519_rate());
  std::printf("| handshakes | responder: handshakes/s | complete "
              "(both sides, one core): handshakes/s |\n|---|---|---|\n");
  std::printf("| %ld | %.0f | %.0f |\n", done, done / in_responder.count(),
              done / total.count());
  std::printf("responder counters: initiations %llu, responses %llu, "
              "cookies %llu\n",
              static_cast<unsigned long long>(c.initiations_received),
              static_cast<unsigned long long>(c.responses_sent),
              static_cast<unsigned long long>(c.cookie_replies_sent));
  return 0;
}
