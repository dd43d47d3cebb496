#include "engine_fixture.hpp"

#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

using namespace wgtest;

namespace {

/// A thread-safe wire: datagrams sent by one engine, for the other.
struct wire : outbox {
  std::mutex mu;
  std::deque<std::vector<uint8_t>> queue;
  std::atomic<std::size_t> tun{0};

  void send_datagram(const endpoint&, std::span<const uint8_t> d) override {
    std::lock_guard guard{mu};
    queue.emplace_back(d.begin(), d.end());
  }
  void write_tun(std::span<const uint8_t>) override { ++tun; }
  bool pop(std::vector<uint8_t>& out) {
    std::lock_guard guard{mu};
    if (queue.empty())
      return false;
    out = std::move(queue.front());
    queue.pop_front();
    return true;
  }
};

} // namespace

TEST_CASE("data path, timers and control run concurrently") {
  engine_pair n;
  n.handshake();
  auto before = n.b.counters().data_packets_received;
  wire to_b;
  wire to_a;
  constexpr int per_sender = 1600; // a multiple of 4
  std::atomic<bool> done{false};
  std::atomic<int> senders_left{2};

  auto sender = [&] {
    auto pkt = n.a_to_b(200);
    std::span<const uint8_t> batch[] = {pkt, pkt, pkt};
    for (int i = 0; i < per_sender; i += 4) {
      n.a.on_tun_packet(pkt, to_b);
      n.a.on_tun_packets(batch, to_b);
    }
    --senders_left;
  };
  auto receiver = [&] {
    std::vector<uint8_t> d;
    std::vector<uint8_t> e;
    for (;;) {
      if (to_b.pop(d)) {
        if (to_b.pop(e)) {
          std::span<uint8_t> both[] = {d, e};
          n.b.on_datagrams(n.ea, both, to_a);
        } else {
          n.b.on_datagram(n.ea, d, to_a);
        }
      } else if (senders_left == 0) {
        break;
      } else {
        std::this_thread::yield();
      }
    }
  };
  auto timers = [&] {
    while (!done) {
      n.a.on_timer(to_b);
      n.b.on_timer(to_a);
      (void)n.a.next_timer_deadline();
      std::this_thread::yield();
    }
  };
  auto control = [&] {
    int i = 0;
    while (!done) {
      auto p
        = allowed_ip{ip_address::v4({10, 50, static_cast<uint8_t>(i), 0}), 24};
      (void)n.a.add_allowed_ip(n.pub_b(), p);
      (void)n.a.status();
      (void)n.b.status_of(n.pub_a());
      (void)n.a.remove_allowed_ip(n.pub_b(), p);
      i = (i + 1) % 200;
      std::this_thread::yield();
    }
  };

  std::thread s1(sender), s2(sender), r(receiver), t(timers), c(control);
  s1.join();
  s2.join();
  r.join();
  done = true;
  t.join();
  c.join();
  // Reordering between the two senders stays far inside the window.
  CHECK(to_b.tun == 0);
  CHECK(n.b.counters().data_packets_received == before + 2 * per_sender);
  CHECK(n.b.counters().dropped_replay == 0);
}
