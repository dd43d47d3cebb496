#pragma once

// Two in-process engines ("a" at 10.0.0.1, "b" at 10.0.0.2) joined by a
// simulated network that the test drives explicitly.

#include "wg/engine.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace wgtest {

using namespace overlayd::wg;
using namespace std::chrono_literals;

struct datagram {
  endpoint to;
  std::vector<uint8_t> bytes;
};

/// Records everything an engine emits.
struct capture_outbox : outbox {
  std::vector<datagram> sent;
  std::vector<std::vector<uint8_t>> tun;

  void send_datagram(const endpoint& to,
                     std::span<const uint8_t> bytes) override {
    sent.push_back({to, {bytes.begin(), bytes.end()}});
  }
  void write_tun(std::span<const uint8_t> pkt) override {
    tun.emplace_back(pkt.begin(), pkt.end());
  }
  std::vector<datagram> take() { return std::exchange(sent, {}); }
  std::size_t count_size(std::size_t n) const {
    std::size_t c = 0;
    for (const auto& d : sent)
      c += d.bytes.size() == n;
    return c;
  }
};

inline endpoint ep(const char* text) {
  auto e = endpoint::parse(text);
  REQUIRE(e);
  return *e;
}

inline allowed_ip prefix(const char* text) {
  auto p = allowed_ip::parse(text);
  REQUIRE(p);
  return *p;
}

/// A minimal IPv4 packet (header + `payload` bytes of 0xab).
inline std::vector<uint8_t> ipv4_packet(std::array<uint8_t, 4> src,
                                        std::array<uint8_t, 4> dst,
                                        std::size_t payload) {
  std::vector<uint8_t> p(20 + payload, 0xab);
  std::size_t total = p.size();
  p[0] = 0x45;
  p[1] = 0;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[8] = 64;
  p[9] = 17;
  std::copy(src.begin(), src.end(), p.begin() + 12);
  std::copy(dst.begin(), dst.end(), p.begin() + 16);
  return p;
}

/// A minimal IPv6 packet.
inline std::vector<uint8_t> ipv6_packet(std::array<uint8_t, 16> src,
                                        std::array<uint8_t, 16> dst,
                                        std::size_t payload) {
  std::vector<uint8_t> p(40 + payload, 0xcd);
  p[0] = 0x60;
  p[1] = p[2] = p[3] = 0;
  p[4] = static_cast<uint8_t>(payload >> 8);
  p[5] = static_cast<uint8_t>(payload);
  p[6] = 17;
  p[7] = 64;
  std::copy(src.begin(), src.end(), p.begin() + 8);
  std::copy(dst.begin(), dst.end(), p.begin() + 24);
  return p;
}

struct engine_pair {
  fake_clock clk;
  key ka = key::generate_private();
  key kb = key::generate_private();
  endpoint ea = ep("192.0.2.1:51001");
  endpoint eb = ep("192.0.2.2:51002");
  engine a{clk};
  engine b{clk};
  capture_outbox oa;                   // what a emitted
  capture_outbox ob;                   // what b emitted
  std::vector<std::size_t> wire_sizes; // every datagram delivered, in order

  explicit engine_pair(std::optional<key> psk_a = std::nullopt,
                       std::optional<key> psk_b = std::nullopt,
                       bool b_knows_a_endpoint = true) {
    a.set_private_key(ka);
    b.set_private_key(kb);
    peer_config pa;
    pa.public_key = kb.public_from_private();
    pa.preshared_key = psk_a;
    pa.endpoint = eb;
    pa.allowed_ips = {prefix("10.0.0.2/32"), prefix("fd00::2/128")};
    REQUIRE(a.add_or_update_peer(pa));
    peer_config pb;
    pb.public_key = ka.public_from_private();
    pb.preshared_key = psk_b;
    if (b_knows_a_endpoint)
      pb.endpoint = ea;
    pb.allowed_ips = {prefix("10.0.0.1/32"), prefix("fd00::1/128")};
    REQUIRE(b.add_or_update_peer(pb));
  }

  key pub_a() const { return ka.public_from_private(); }
  key pub_b() const { return kb.public_from_private(); }

  /// Delivers one round of pending datagrams in both directions; returns
  /// how many were delivered.
  std::size_t step() {
    auto from_a = oa.take();
    auto from_b = ob.take();
    for (auto& d : from_a) {
      wire_sizes.push_back(d.bytes.size());
      if (d.to == eb)
        b.on_datagram(ea, d.bytes, ob);
    }
    for (auto& d : from_b) {
      wire_sizes.push_back(d.bytes.size());
      if (d.to == ea)
        a.on_datagram(eb, d.bytes, oa);
    }
    return from_a.size() + from_b.size();
  }

  /// Delivers until the network is quiet.
  void pump() {
    for (int i = 0; i < 20 && step() > 0; ++i) {
    }
  }

  std::vector<uint8_t> a_to_b(std::size_t payload = 100) {
    return ipv4_packet({10, 0, 0, 1}, {10, 0, 0, 2}, payload);
  }
  std::vector<uint8_t> b_to_a(std::size_t payload = 100) {
    return ipv4_packet({10, 0, 0, 2}, {10, 0, 0, 1}, payload);
  }

  /// Runs a full handshake started by `a` with one data packet.
  void handshake() {
    a.on_tun_packet(a_to_b(), oa);
    pump();
    REQUIRE(ob.tun.size() == 1);
    ob.tun.clear();
    wire_sizes.clear();
  }

  /// Advances the clock in `step` increments, running both engines'
  /// timers, without delivering anything.
  void run_timers(std::chrono::milliseconds total,
                  std::chrono::milliseconds step = 100ms) {
    for (auto t = 0ms; t < total; t += step) {
      clk.advance(step);
      a.on_timer(oa);
      b.on_timer(ob);
    }
  }
};

} // namespace wgtest
