#include "engine_fixture.hpp"

#include "wg/timers.hpp"

using namespace wgtest;

namespace {

std::size_t count_size(const std::vector<datagram>& v, std::size_t n) {
  std::size_t c = 0;
  for (const auto& d : v)
    c += d.bytes.size() == n;
  return c;
}

} // namespace

TEST_CASE("keepalive after 10 s of receiving without sending") {
  engine_pair n;
  n.handshake(); // b received data and sent nothing back
  n.run_timers(9900ms);
  CHECK(count_size(n.ob.sent, 32) == 0);
  n.run_timers(200ms);
  CHECK(count_size(n.ob.sent, 32) == 1);
  CHECK(n.b.counters().keepalives_sent == 1);
  // Only once: nothing more was received.
  n.run_timers(20s);
  CHECK(count_size(n.ob.sent, 32) == 1);
}

TEST_CASE("sending data resets the keepalive timer") {
  engine_pair n;
  n.handshake();
  n.run_timers(5s);
  n.b.on_tun_packet(n.b_to_a(), n.ob); // b sent something itself
  n.run_timers(6s);
  CHECK(n.b.counters().keepalives_sent == 0);
}

TEST_CASE("new handshake when data gets no answer for 15 s") {
  engine_pair n;
  n.handshake();
  n.oa.sent.clear();
  n.a.on_tun_packet(n.a_to_b(), n.oa); // never delivered, never answered
  n.oa.sent.clear();
  n.run_timers(14900ms, 10ms);
  CHECK(count_size(n.oa.sent, 148) == 0);
  n.run_timers(500ms, 10ms);
  CHECK(count_size(n.oa.sent, 148) == 1);
}

TEST_CASE("an answer cancels the 15 s re-handshake") {
  engine_pair n;
  n.handshake();
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  n.pump();
  n.run_timers(3s);
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  n.pump();
  n.oa.sent.clear();
  n.run_timers(13s);
  CHECK(count_size(n.oa.sent, 148) == 0);
}

TEST_CASE("the initiator rekeys when sending after 120 s") {
  engine_pair n;
  n.handshake();
  n.clk.advance(119s); // no timers run, nothing else happens
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  CHECK(count_size(n.oa.sent, 148) == 0);
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  CHECK(count_size(n.ob.sent, 148) == 0);
  n.clk.advance(2s);
  n.oa.sent.clear();
  n.ob.sent.clear();
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  CHECK(count_size(n.oa.sent, 148) == 1);
  CHECK(count_size(n.oa.sent, 160) == 1); // the data still went out
  // The responder does not rekey on time.
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  CHECK(count_size(n.ob.sent, 148) == 0);
  // The new session takes over and old packets still arrive.
  n.pump();
  CHECK(n.a.counters().responses_received == 2);
}

TEST_CASE("the initiator rekeys on receive after 165 s") {
  engine_pair n;
  n.handshake();
  n.clk.advance(164s);
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  n.step();
  CHECK(count_size(n.oa.sent, 148) == 0);
  n.clk.advance(2s);
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  n.step();
  CHECK(count_size(n.oa.sent, 148) == 1);
  // Only once per session.
  n.oa.sent.clear();
  n.clk.advance(6s);
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  n.ob.sent.clear(); // b: session too old now -> staged + handshake
  CHECK(count_size(n.oa.sent, 148) == 0);
}

TEST_CASE("sessions are rejected after 180 s") {
  engine_pair n;
  n.handshake();
  n.clk.advance(179s);
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto late = n.oa.take();
  // Still sent, with a rekey attempt (older than 120 s) beside it.
  REQUIRE(count_size(late, 160) == 1);
  CHECK(count_size(late, 148) == 1);
  n.clk.advance(2s);
  // Sending: the session may no longer be used; the packet is queued.
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  CHECK(n.oa.sent.empty());
  // Receiving: b drops a packet of the expired session.
  for (auto& d : late)
    if (d.bytes.size() == 160)
      n.b.on_datagram(n.ea, d.bytes, n.ob);
  CHECK(n.ob.tun.empty());
  CHECK(n.b.counters().dropped_decrypt == 1);
  // The retried handshake delivers the queued packet.
  n.clk.advance(3400ms);
  n.a.on_timer(n.oa);
  CHECK(count_size(n.oa.sent, 148) == 1);
  n.pump();
  CHECK(n.ob.tun.size() == 1);
}

TEST_CASE("handshake retries every 5 s plus jitter, then gives up") {
  engine_pair n;
  n.a.on_tun_packet(n.a_to_b(), n.oa); // b never answers
  std::vector<clock::time_point> sent_at{n.clk.now()};
  n.oa.sent.clear();
  bool jittered = false;
  for (int i = 0; i < 150 * 100; ++i) { // 150 s in 10 ms steps
    n.clk.advance(10ms);
    n.a.on_timer(n.oa);
    if (!n.oa.sent.empty()) {
      CHECK(n.oa.sent.size() == 1);
      CHECK(n.oa.sent[0].bytes.size() == 148);
      sent_at.push_back(n.clk.now());
      n.oa.sent.clear();
    }
  }
  // First try plus 19 retries (MAX_TIMER_HANDSHAKES = 18 is exceeded on
  // the 20th expiry), as in the kernel and wireguard-go.
  REQUIRE(sent_at.size() == 20);
  for (std::size_t i = 1; i < sent_at.size(); ++i) {
    auto gap = sent_at[i] - sent_at[i - 1];
    CHECK(gap >= 5s);
    CHECK(gap <= 5s + 334ms + 10ms);
    jittered |= gap > 5s + 10ms;
  }
  CHECK(jittered);
  CHECK(sent_at.back() - sent_at.front() >= 90s);
  CHECK(sent_at.back() - sent_at.front() <= 19 * (5s + 344ms));
  // The queued packet was dropped when it gave up: a later session does
  // not deliver it.
  n.a.on_tun_packet(n.a_to_b(7), n.oa);
  n.pump();
  REQUIRE(n.ob.tun.size() == 1);
  CHECK(n.ob.tun[0].size() == 27);
}

TEST_CASE("key material is zeroed 540 s after the last handshake") {
  engine_pair n;
  n.handshake();
  CHECK(n.a.index_count() == 1);
  CHECK(n.b.index_count() == 1);
  n.run_timers(539s, 1s);
  // The session, plus a handshake a started at 15 s (its data was never
  // answered) and gave up on.
  CHECK(n.a.index_count() >= 1);
  CHECK(n.b.index_count() >= 1);
  n.run_timers(2s, 1s);
  CHECK(n.a.index_count() == 0);
  CHECK(n.b.index_count() == 0);
  // A fresh handshake still works afterwards.
  n.oa.sent.clear();
  n.ob.sent.clear();
  n.handshake();
}

TEST_CASE("persistent keepalive every interval, even when idle") {
  engine_pair n;
  peer_config pk;
  pk.public_key = n.pub_b();
  pk.persistent_keepalive = 25;
  REQUIRE(n.a.add_or_update_peer(pk));
  n.a.on_timer(n.oa); // turning it on sends one at once: handshake first
  n.pump();
  CHECK(n.a.counters().keepalives_sent == 1);
  n.run_timers(24900ms);
  CHECK(count_size(n.oa.sent, 32) == 0);
  n.run_timers(200ms);
  CHECK(count_size(n.oa.sent, 32) == 1);
  n.oa.sent.clear();
  n.run_timers(25s);
  CHECK(count_size(n.oa.sent, 32) == 1);
  CHECK(count_size(n.oa.sent, 148) == 0);
  // Turning it off stops them.
  pk.persistent_keepalive = 0;
  REQUIRE(n.a.add_or_update_peer(pk));
  n.oa.sent.clear();
  n.run_timers(60s);
  CHECK(count_size(n.oa.sent, 32) == 0);
  CHECK(n.a.status_of(n.pub_b())->persistent_keepalive == 0);
}

TEST_CASE("next_timer_deadline reports the earliest timer") {
  engine_pair n;
  CHECK(n.a.next_timer_deadline() == 1000ms);
  n.a.on_tun_packet(n.a_to_b(), n.oa); // retransmit in 5..5.334 s
  CHECK(n.a.next_timer_deadline() == 1000ms);
  n.clk.advance(4900ms);
  CHECK(n.a.next_timer_deadline() <= 434ms);
  CHECK(n.a.next_timer_deadline() >= 100ms);
}

TEST_CASE("rekey after 2^60 messages, refuse at REJECT_AFTER_MESSAGES") {
  engine_pair n;
  n.handshake();
  n.b.on_tun_packet(n.b_to_a(), n.ob); // b (responder) has a session too
  n.pump();
  n.oa.sent.clear();
  n.ob.sent.clear();
  // Past REKEY_AFTER_MESSAGES even the responder starts a handshake.
  REQUIRE(n.b.set_send_counter_for_testing(n.pub_a(),
                                           limits::rekey_after_messages + 1));
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  CHECK(count_size(n.ob.sent, 160) == 1);
  CHECK(count_size(n.ob.sent, 148) == 1);
  // The last usable counter still goes out; the next packet waits.
  n.clk.advance(6s);
  n.ob.sent.clear();
  REQUIRE(n.b.set_send_counter_for_testing(n.pub_a(),
                                           limits::reject_after_messages - 1));
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  CHECK(count_size(n.ob.sent, 160) == 1);
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  CHECK(count_size(n.ob.sent, 160) == 1);
  CHECK(count_size(n.ob.sent, 148) == 1);
  // The receiver refuses a counter at the limit even when authentic.
  auto last = n.ob.take();
  for (auto& d : last)
    if (d.bytes.size() == 160) {
      n.a.on_datagram(n.eb, d.bytes, n.oa);
      CHECK(n.a.counters().dropped_replay == 0); // REJECT - 1 is fine
    }
}

TEST_CASE("optional_time_point behaves like std::optional in 8 bytes") {
  static_assert(sizeof(optional_time_point) == sizeof(clock::time_point));
  optional_time_point t;
  CHECK_FALSE(t);
  CHECK_FALSE(std::optional<clock::time_point>(t));
  auto when = clock::time_point{} + std::chrono::seconds(5);
  t = when;
  REQUIRE(t);
  CHECK(*t == when);
  CHECK(std::optional<clock::time_point>(t) == when);
  // The epoch of the clock is a valid deadline, not "none".
  t = clock::time_point{};
  CHECK(t.has_value());
  t.reset();
  CHECK_FALSE(t.has_value());
  optional_time_point none = std::nullopt;
  CHECK_FALSE(none);
}
