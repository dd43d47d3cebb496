#include "engine_fixture.hpp"

#include "wg/cookie.hpp"

using namespace wgtest;

TEST_CASE("rate limiter: burst of 5, then 20 per second, per source") {
  fake_clock clk;
  rate_limiter rl;
  auto src = *ip_address::parse("192.0.2.1");
  auto other = *ip_address::parse("192.0.2.2");
  for (int i = 0; i < 5; ++i)
    CHECK(rl.allow(src, clk.now()));
  CHECK_FALSE(rl.allow(src, clk.now()));
  CHECK(rl.allow(other, clk.now())); // separate bucket
  clk.advance(50ms);                 // one token
  CHECK(rl.allow(src, clk.now()));
  CHECK_FALSE(rl.allow(src, clk.now()));
  // Sustained: over 10 s at most ~20/s get through.
  int passed = 0;
  for (int i = 0; i < 1000; ++i) {
    clk.advance(10ms);
    passed += rl.allow(src, clk.now());
  }
  CHECK(passed >= 195);
  CHECK(passed <= 205);
  // IPv6 sources share a bucket per /64.
  auto v6a = *ip_address::parse("2001:db8:1:2::1");
  auto v6b = *ip_address::parse("2001:db8:1:2::99");
  for (int i = 0; i < 5; ++i)
    CHECK(rl.allow(v6a, clk.now()));
  CHECK_FALSE(rl.allow(v6b, clk.now()));
  CHECK(rl.allow(*ip_address::parse("2001:db8:1:3::1"), clk.now()));
  // Idle buckets are forgotten.
  clk.advance(3s);
  rl.allow(src, clk.now());
  CHECK(rl.tracked_sources() == 1);
}

TEST_CASE("mac1/mac2 generator and checker agree") {
  fake_clock clk;
  auto responder = key::generate_private().public_from_private();
  cookie_checker checker;
  checker.set_public_key(responder);
  cookie_generator gen;
  gen.set_peer_key(responder);
  std::vector<uint8_t> msg(148, 0x11);
  gen.add_macs(msg, clk.now());
  CHECK(checker.check_mac1(msg));
  auto src = ep("192.0.2.9:1234");
  CHECK_FALSE(checker.check_mac2(msg, src, clk.now())); // no cookie yet
  auto reply = checker.make_reply(msg, src, clk.now());
  CHECK(reply[0] == 3);
  CHECK(gen.consume_reply(reply, clk.now()));
  gen.add_macs(msg, clk.now());
  CHECK(checker.check_mac1(msg));
  CHECK(checker.check_mac2(msg, src, clk.now()));
  // The cookie is bound to the source address and port.
  CHECK_FALSE(checker.check_mac2(msg, ep("192.0.2.9:1235"), clk.now()));
  // A reply whose AD (our last mac1) does not match is refused.
  auto stale = reply;
  gen.add_macs(msg, clk.now()); // same mac1 again, still fine
  std::vector<uint8_t> other(148, 0x22);
  gen.add_macs(other, clk.now()); // last mac1 changes
  CHECK_FALSE(gen.consume_reply(stale, clk.now()));
  // Cookies expire after two minutes: mac2 goes back to zeros.
  clk.advance(121s);
  gen.add_macs(msg, clk.now());
  CHECK(
    std::all_of(msg.end() - 16, msg.end(), [](uint8_t b) { return b == 0; }));
}

TEST_CASE("under load: cookie reply, then mac2, then the rate limit") {
  engine_pair n;
  n.b.set_handshake_backlog(500);
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  n.step(); // initiation without mac2 -> cookie reply
  REQUIRE(n.ob.sent.size() == 1);
  CHECK(n.ob.sent[0].bytes.size() == 64);
  CHECK(n.b.counters().cookie_replies_sent == 1);
  CHECK(n.b.counters().initiations_received == 0);
  n.step(); // a takes the cookie
  CHECK(n.a.counters().cookie_replies_received == 1);
  CHECK(n.oa.sent.empty());

  // The retry (after REKEY_TIMEOUT) carries mac2 and gets through.
  n.clk.advance(5400ms);
  n.b.set_handshake_backlog(500);
  n.a.on_timer(n.oa);
  auto retry = n.oa.take();
  REQUIRE(retry.size() == 1);
  REQUIRE(retry[0].bytes.size() == 148);
  // Replaying it 7 times quickly: 5 pass the rate limiter (1 accepted,
  // 4 refused as replays), 2 are rate limited.
  for (int i = 0; i < 7; ++i) {
    auto copy = retry[0].bytes;
    n.b.on_datagram(n.ea, copy, n.ob);
  }
  auto c = n.b.counters();
  CHECK(c.initiations_received == 1);
  CHECK(c.dropped_rate_limited == 2);
  CHECK(c.dropped_handshake == 4);
  CHECK(c.cookie_replies_sent == 1);
  n.pump();
  CHECK(n.ob.tun.size() == 1);
}

TEST_CASE("a flood of handshakes puts the engine under load by itself") {
  engine_pair n;
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto init = n.oa.take()[0].bytes;
  // Junk with valid-looking size but bad mac1 still counts as arrivals.
  for (std::size_t i = 0; i < engine::handshake_load_rate + 1; ++i) {
    auto copy = init;
    copy[40] ^= 1;
    n.b.on_datagram(n.ea, copy, n.ob);
  }
  CHECK(n.b.counters().dropped_bad_mac1 == engine::handshake_load_rate + 1);
  n.b.on_datagram(n.ea, init, n.ob);
  CHECK(n.b.counters().cookie_replies_sent == 1);
  // A second later the engine is no longer under load.
  n.clk.advance(5400ms);
  n.ob.sent.clear();
  n.a.on_timer(n.oa); // retry
  n.pump();
  CHECK(n.ob.tun.size() == 1);
}
