#include "engine_fixture.hpp"

#include <algorithm>

using namespace wgtest;

TEST_CASE("handshake and data exchange with exact wire sizes") {
  engine_pair n;
  auto pkt = n.a_to_b(100);
  n.a.on_tun_packet(pkt, n.oa);
  // No session yet: the packet waits and an initiation goes out.
  REQUIRE(n.oa.sent.size() == 1);
  CHECK(n.oa.sent[0].bytes.size() == 148);
  CHECK(n.oa.sent[0].to == n.eb);
  n.step(); // b answers
  REQUIRE(n.ob.sent.size() == 1);
  CHECK(n.ob.sent[0].bytes.size() == 92);
  n.step(); // a sends the queued packet
  REQUIRE(n.oa.sent.size() == 1);
  // 16 header + 120 padded to 128 + 16 tag.
  CHECK(n.oa.sent[0].bytes.size() == 16 + 128 + 16);
  n.step();
  REQUIRE(n.ob.tun.size() == 1);
  CHECK(n.ob.tun[0] == pkt); // padding stripped
  // b can now answer directly, without another handshake.
  auto back = n.b_to_a(33);
  n.b.on_tun_packet(back, n.ob);
  REQUIRE(n.ob.sent.size() == 1);
  CHECK(n.ob.sent[0].bytes.size() == 16 + 64 + 16);
  n.step();
  REQUIRE(n.oa.tun.size() == 1);
  CHECK(n.oa.tun[0] == back);

  auto ca = n.a.counters();
  auto cb = n.b.counters();
  CHECK(ca.initiations_sent == 1);
  CHECK(cb.initiations_received == 1);
  CHECK(cb.responses_sent == 1);
  CHECK(ca.responses_received == 1);
  CHECK(cb.data_packets_received == 1);
  CHECK(ca.data_packets_received == 1);

  auto st = n.a.status_of(n.pub_b());
  REQUIRE(st);
  CHECK(st->endpoint == n.eb);
  CHECK(st->last_handshake_sec > 0);
  CHECK(st->tx_bytes == 148 + 160);
  CHECK(st->rx_bytes == 92 + 96);
  CHECK_FALSE(st->preshared_key);
  CHECK(n.a.check_peer_handshake(n.pub_b(), n.clk.wall_now() - 1s));
  CHECK_FALSE(n.a.check_peer_handshake(n.pub_b(), n.clk.wall_now() + 1s));
  auto stb = n.b.status_of(n.pub_a());
  REQUIRE(stb);
  CHECK(n.b.check_peer_handshake(n.pub_a(), n.clk.wall_now() - 1s));
}

TEST_CASE("a keepalive is 32 bytes and confirms the session") {
  engine_pair n;
  peer_config pk;
  pk.public_key = n.pub_b();
  pk.persistent_keepalive = 25;
  REQUIRE(n.a.add_or_update_peer(pk));
  n.a.on_timer(n.oa); // persistent keepalive due at once -> handshake
  REQUIRE(n.oa.sent.size() == 1);
  CHECK(n.oa.sent[0].bytes.size() == 148);
  n.pump();
  REQUIRE(n.wire_sizes.size() == 3);
  CHECK(n.wire_sizes[0] == 148);
  CHECK(n.wire_sizes[1] == 92);
  CHECK(n.wire_sizes[2] == 32);
  CHECK(n.ob.tun.empty());
  // b confirmed the session: it sends without a handshake.
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  REQUIRE(n.ob.sent.size() == 1);
  CHECK(n.ob.sent[0].bytes.size() == 16 + 128 + 16);
}

TEST_CASE("send_keepalives announces the sender to peers with a session") {
  engine_pair n;
  // No session yet: nothing to announce, and no handshake is started.
  n.a.send_keepalives(n.oa);
  CHECK(n.oa.sent.empty());
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  n.pump();
  n.oa.sent.clear();
  n.ob.sent.clear();
  // With a session each side sends one 32-byte keepalive to its peer.
  n.b.send_keepalives(n.ob);
  REQUIRE(n.ob.sent.size() == 1);
  CHECK(n.ob.sent[0].bytes.size() == 32);
  CHECK(n.ob.sent[0].to == n.ea);
  auto keepalives_before = n.b.counters().keepalives_sent;
  CHECK(keepalives_before >= 1);
  auto drops_before = n.a.counters().dropped_decrypt;
  n.step(); // a authenticates it: nothing reaches the TUN, nothing dropped
  CHECK(n.oa.tun.empty());
  CHECK(n.a.counters().dropped_decrypt == drops_before);
}

TEST_CASE("the responder waits for key confirmation before sending") {
  engine_pair n;
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  n.step(); // initiation delivered, response pending from b
  auto response = n.ob.take();
  REQUIRE(response.size() == 1);
  // b has a session in `next` only: its own packet is queued, not sent.
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  for (const auto& d : n.ob.sent)
    CHECK(d.bytes.size() != 16 + 128 + 16);
  n.ob.sent.clear();
  n.a.on_datagram(n.eb, response[0].bytes, n.oa);
  n.pump(); // a's data confirms; b then flushes its queued packet
  CHECK(n.ob.tun.size() == 1);
  CHECK(n.oa.tun.size() == 1);
}

TEST_CASE("IPv6 inner packets") {
  engine_pair n;
  std::array<uint8_t, 16> a6{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::array<uint8_t, 16> b6 = a6;
  b6[15] = 2;
  auto pkt = ipv6_packet(a6, b6, 200);
  n.a.on_tun_packet(pkt, n.oa);
  n.pump();
  REQUIRE(n.ob.tun.size() == 1);
  CHECK(n.ob.tun[0] == pkt);
}

TEST_CASE("preshared key: matching keys work, mismatched keys fail") {
  auto psk = key::generate_private();
  SUBCASE("same psk") {
    engine_pair n(psk, psk);
    n.handshake();
    auto st = n.a.status_of(n.pub_b());
    REQUIRE(st);
    REQUIRE(st->preshared_key);
    CHECK(*st->preshared_key == psk);
  }
  SUBCASE("psk on one side only") {
    engine_pair n(psk, std::nullopt);
    n.a.on_tun_packet(n.a_to_b(), n.oa);
    n.pump();
    CHECK(n.ob.tun.empty());
    CHECK(n.b.counters().responses_sent == 1);
    CHECK(n.a.counters().responses_received == 0);
    CHECK(n.a.counters().dropped_handshake == 1);
  }
  SUBCASE("an all-zero psk removes it") {
    engine_pair n(psk, psk);
    peer_config clear;
    clear.public_key = n.pub_b();
    clear.preshared_key = key{};
    REQUIRE(n.a.add_or_update_peer(clear));
    CHECK_FALSE(n.a.status_of(n.pub_b())->preshared_key);
  }
}

TEST_CASE("replayed transport packets and forged ones") {
  engine_pair n;
  n.handshake();
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto sent = n.oa.take();
  REQUIRE(sent.size() == 1);
  auto real = sent[0].bytes;
  auto forged = real;
  forged.back() ^= 0x01; // breaks the tag, same counter
  n.b.on_datagram(n.ea, forged, n.ob);
  CHECK(n.b.counters().dropped_decrypt == 1);
  CHECK(n.ob.tun.empty());
  auto copy = real;
  n.b.on_datagram(n.ea, copy, n.ob); // the forgery did not burn the counter
  CHECK(n.ob.tun.size() == 1);
  copy = real;
  n.b.on_datagram(n.ea, copy, n.ob);
  CHECK(n.b.counters().dropped_replay == 1);
  CHECK(n.ob.tun.size() == 1);
}

TEST_CASE("inner source must be an allowed IP of the sending peer") {
  engine_pair n;
  n.handshake();
  // a routes by destination, so a spoofed source still gets sent...
  auto spoofed = ipv4_packet({10, 9, 9, 9}, {10, 0, 0, 2}, 40);
  n.a.on_tun_packet(spoofed, n.oa);
  n.pump();
  // ...and b refuses it.
  CHECK(n.ob.tun.empty());
  CHECK(n.b.counters().dropped_source == 1);
}

TEST_CASE("packets without a route are dropped") {
  engine_pair n;
  n.a.on_tun_packet(ipv4_packet({10, 0, 0, 1}, {10, 7, 7, 7}, 40), n.oa);
  CHECK(n.oa.sent.empty());
  CHECK(n.a.counters().dropped_no_route == 1);
  std::vector<uint8_t> junk{0x12, 0x34};
  n.a.on_tun_packet(junk, n.oa);
  CHECK(n.a.counters().dropped_malformed == 1);
}

TEST_CASE("endpoint roaming follows authenticated packets only") {
  engine_pair n;
  n.handshake();
  auto roamed = ep("198.51.100.7:40000");
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto sent = n.oa.take();
  REQUIRE(sent.size() == 1);
  // An unauthenticated packet from elsewhere does not move the endpoint.
  auto garbage = sent[0].bytes;
  garbage[20] ^= 0xff;
  n.b.on_datagram(ep("203.0.113.9:1"), garbage, n.ob);
  CHECK(n.b.status_of(n.pub_a())->endpoint == n.ea);
  // The authentic one from a new address does.
  n.b.on_datagram(roamed, sent[0].bytes, n.ob);
  CHECK(n.b.status_of(n.pub_a())->endpoint == roamed);
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  REQUIRE(n.ob.sent.size() == 1);
  CHECK(n.ob.sent[0].to == roamed);
}

TEST_CASE("the responder learns the initiator's endpoint from the handshake") {
  engine_pair n(std::nullopt, std::nullopt, /*b_knows_a_endpoint=*/false);
  CHECK_FALSE(n.b.status_of(n.pub_a())->endpoint);
  // b cannot start: no endpoint, nothing leaves.
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  CHECK(n.ob.sent.empty());
  n.handshake();
  CHECK(n.b.status_of(n.pub_a())->endpoint == n.ea);
}

TEST_CASE("malformed and truncated datagrams are dropped without effect") {
  engine_pair n;
  n.handshake();
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto data = n.oa.take()[0].bytes;
  std::vector<std::vector<uint8_t>> bad = {
    {},
    {1},
    {1, 0, 0},
    std::vector<uint8_t>(147, 0),
    std::vector<uint8_t>(149, 0),
    std::vector<uint8_t>(91, 0),
    std::vector<uint8_t>(63, 0),
    std::vector<uint8_t>(31, 0),
    std::vector<uint8_t>(1500, 0xff),
  };
  bad[3][0] = 1;
  bad[4][0] = 1;
  bad[5][0] = 2;
  bad[6][0] = 3;
  bad[7][0] = 4;
  auto reserved = data;
  reserved[1] = 1; // reserved bytes must be zero
  bad.push_back(reserved);
  auto truncated = data;
  truncated.resize(31);
  bad.push_back(truncated);
  auto unknown_index = data;
  unknown_index[4] ^= 0x5a;
  bad.push_back(unknown_index);
  for (auto& d : bad)
    n.b.on_datagram(n.ea, d, n.ob);
  CHECK(n.ob.tun.empty());
  CHECK(n.ob.sent.empty());
  auto c = n.b.counters();
  CHECK(c.dropped_malformed == bad.size() - 1);
  CHECK(c.dropped_decrypt == 1);
  // The session still works.
  n.b.on_datagram(n.ea, data, n.ob);
  CHECK(n.ob.tun.size() == 1);
}

TEST_CASE("mac1 is checked before anything else") {
  engine_pair n;
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto init = n.oa.take()[0].bytes;
  init[116] ^= 1; // mac1
  n.b.on_datagram(n.ea, init, n.ob);
  CHECK(n.b.counters().dropped_bad_mac1 == 1);
  CHECK(n.b.counters().initiations_received == 0);
  CHECK(n.ob.sent.empty());
}

TEST_CASE("a replayed initiation is refused, a newer one accepted") {
  engine_pair n;
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto init = n.oa.take()[0].bytes;
  auto copy = init;
  n.b.on_datagram(n.ea, copy, n.ob);
  CHECK(n.b.counters().initiations_received == 1);
  n.clk.advance(1s);
  copy = init;
  n.b.on_datagram(n.ea, copy, n.ob);
  CHECK(n.b.counters().initiations_received == 1);
  CHECK(n.b.counters().dropped_handshake == 1);
  CHECK(n.b.counters().responses_sent == 1);
}

TEST_CASE("initiations from one peer faster than 50/s are refused") {
  engine_pair n;
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto first = n.oa.take();
  REQUIRE(first.size() == 1);
  n.clk.advance(5400ms);
  n.a.on_timer(n.oa); // retransmission with a newer timestamp
  auto second = n.oa.take();
  REQUIRE(second.size() == 1);
  n.b.on_datagram(n.ea, first[0].bytes, n.ob);
  CHECK(n.b.counters().initiations_received == 1);
  n.clk.advance(10ms);
  auto copy = second[0].bytes;
  n.b.on_datagram(n.ea, copy, n.ob); // newer, but too soon
  CHECK(n.b.counters().initiations_received == 1);
  CHECK(n.b.counters().dropped_handshake == 1);
  n.clk.advance(30ms);
  n.b.on_datagram(n.ea, second[0].bytes, n.ob);
  CHECK(n.b.counters().initiations_received == 2);
}

TEST_CASE("IPv6 outer endpoints: handshake, cookie and roaming") {
  engine_pair n;
  n.ea = ep("[2001:db8::1]:51001");
  n.eb = ep("[2001:db8::2]:51002");
  REQUIRE(n.a.set_endpoint(n.pub_b(), n.eb));
  REQUIRE(n.b.set_endpoint(n.pub_a(), n.ea));
  n.b.set_handshake_backlog(1000); // first through the cookie path
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  n.pump();
  CHECK(n.b.counters().cookie_replies_sent == 1);
  CHECK(n.a.counters().cookie_replies_received == 1);
  n.clk.advance(5400ms);
  n.b.set_handshake_backlog(1000);
  n.a.on_timer(n.oa);
  n.pump();
  REQUIRE(n.ob.tun.size() == 1);
  auto roamed = ep("[2001:db8:1::9]:7");
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  auto d = n.oa.take();
  REQUIRE(d.size() == 1);
  n.b.on_datagram(roamed, d[0].bytes, n.ob);
  CHECK(n.b.status_of(n.pub_a())->endpoint == roamed);
}

TEST_CASE("batch entry points behave like single calls") {
  engine_pair n;
  n.handshake();
  std::vector<std::vector<uint8_t>> pkts;
  for (std::size_t i = 0; i < 8; ++i)
    pkts.push_back(n.a_to_b(10 + i));
  std::vector<std::span<const uint8_t>> views(pkts.begin(), pkts.end());
  n.a.on_tun_packets(views, n.oa);
  auto sent = n.oa.take();
  REQUIRE(sent.size() == 8);
  std::vector<std::span<uint8_t>> dgrams;
  for (auto& d : sent)
    dgrams.emplace_back(d.bytes);
  n.b.on_datagrams(n.ea, dgrams, n.ob);
  REQUIRE(n.ob.tun.size() == 8);
  for (std::size_t i = 0; i < 8; ++i)
    CHECK(n.ob.tun[i] == pkts[i]);
}

TEST_CASE("two-phase data path: plan, seal out of order, open, commit") {
  engine_pair n;
  n.handshake();
  std::vector<std::vector<uint8_t>> pkts;
  for (std::size_t i = 0; i < 6; ++i)
    pkts.push_back(n.a_to_b(30 + 7 * i));
  std::vector<std::span<const uint8_t>> views(pkts.begin(), pkts.end());
  std::vector<outbound_job> jobs;
  n.a.plan_tun_packets(views, jobs, n.oa);
  REQUIRE(jobs.size() == 6);
  CHECK(n.oa.sent.empty());
  // Seal in reverse order, as parallel workers might finish.
  std::vector<std::vector<uint8_t>> wire(jobs.size());
  for (std::size_t i = jobs.size(); i-- > 0;) {
    wire[i].resize(jobs[i].datagram_size);
    auto d = n.a.seal(jobs[i], wire[i]);
    REQUIRE(d.size() == jobs[i].datagram_size);
    CHECK(d.size() % 16 == 0);
  }
  std::vector<uint8_t> tiny(10);
  CHECK(n.a.seal(jobs[0], tiny).empty());
  // In place: the packet sits 16 bytes into the buffer.
  auto pkt = n.a_to_b(45);
  std::vector<uint8_t> inplace(16 + 80 + 16);
  std::copy(pkt.begin(), pkt.end(), inplace.begin() + 16);
  std::span<const uint8_t> one[] = {{inplace.data() + 16, pkt.size()}};
  std::vector<outbound_job> more;
  n.a.plan_tun_packets(one, more, n.oa);
  REQUIRE(more.size() == 1);
  auto d = n.a.seal(more[0], inplace);
  REQUIRE(d.size() == 16 + 80 + 16);
  wire.emplace_back(d.begin(), d.end());
  pkts.push_back(pkt);

  // Receive: open everything first (any order), then commit in order.
  std::vector<inbound_job> in(wire.size());
  for (std::size_t i = wire.size(); i-- > 0;) {
    in[i].from = n.ea;
    in[i].datagram = wire[i];
    CHECK(n.b.open_transport(in[i]) == open_result::opened);
  }
  for (auto& job : in)
    n.b.commit_transport(job, n.ob);
  REQUIRE(n.ob.tun.size() == pkts.size());
  for (std::size_t i = 0; i < pkts.size(); ++i)
    CHECK(n.ob.tun[i] == pkts[i]);
  // A second commit of the same job is a replay.
  n.b.commit_transport(in[0], n.ob);
  CHECK(n.b.counters().dropped_replay == 1);

  // Not transport, or forged.
  n.b.on_tun_packet(n.b_to_a(), n.ob);
  auto reply = n.ob.take();
  REQUIRE(reply.size() == 1);
  reply[0].bytes[30] ^= 1;
  inbound_job forged;
  forged.from = n.eb;
  forged.datagram = reply[0].bytes;
  CHECK(n.a.open_transport(forged) == open_result::dropped);
  std::vector<uint8_t> hs(148, 0);
  hs[0] = 1;
  inbound_job not_data;
  not_data.from = n.eb;
  not_data.datagram = hs;
  CHECK(n.a.open_transport(not_data) == open_result::not_transport);
}
