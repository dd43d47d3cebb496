#include "engine_fixture.hpp"

using namespace wgtest;

TEST_CASE("cryptokey routing picks the longest prefix across peers") {
  engine_pair n;
  auto kc = key::generate_private();
  peer_config pc;
  pc.public_key = kc.public_from_private();
  pc.endpoint = ep("192.0.2.3:51003");
  pc.allowed_ips = {prefix("10.0.0.0/8")};
  REQUIRE(n.a.add_or_update_peer(pc));
  // 10.0.0.2/32 stays with b; the rest of 10/8 goes to c.
  n.a.on_tun_packet(ipv4_packet({10, 0, 0, 1}, {10, 0, 0, 2}, 20), n.oa);
  n.a.on_tun_packet(ipv4_packet({10, 0, 0, 1}, {10, 0, 0, 3}, 20), n.oa);
  REQUIRE(n.oa.sent.size() == 2);
  CHECK(n.oa.sent[0].to == n.eb);
  CHECK(n.oa.sent[1].to == ep("192.0.2.3:51003"));
}

TEST_CASE("an allowed IP moves to the peer that re-adds it") {
  engine_pair n;
  auto kc = key::generate_private().public_from_private();
  peer_config pc;
  pc.public_key = kc;
  pc.endpoint = ep("192.0.2.3:51003");
  REQUIRE(n.a.add_or_update_peer(pc));
  REQUIRE(n.a.add_allowed_ip(kc, prefix("10.0.0.2/32")));
  auto sb = n.a.status_of(n.pub_b());
  auto sc = n.a.status_of(kc);
  REQUIRE(sb);
  REQUIRE(sc);
  REQUIRE(sb->allowed_ips.size() == 1);
  CHECK(sb->allowed_ips[0].to_string() == "fd00::2/128");
  REQUIRE(sc->allowed_ips.size() == 1);
  CHECK(sc->allowed_ips[0].to_string() == "10.0.0.2/32");
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  REQUIRE(n.oa.sent.size() == 1);
  CHECK(n.oa.sent[0].to == ep("192.0.2.3:51003"));
  // Removing from the wrong peer fails and changes nothing.
  CHECK_FALSE(n.a.remove_allowed_ip(n.pub_b(), prefix("10.0.0.2/32")));
  CHECK(n.a.remove_allowed_ip(kc, prefix("10.0.0.2/32")));
  CHECK(n.a.status_of(kc)->allowed_ips.empty());
  n.oa.sent.clear();
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  CHECK(n.oa.sent.empty());
  CHECK(n.a.counters().dropped_no_route == 1);
}

TEST_CASE("inbound check follows allowed-IP changes") {
  engine_pair n;
  n.handshake();
  // b stops allowing 10.0.0.1 from a: a's packets are now refused.
  REQUIRE(n.b.remove_allowed_ip(n.pub_a(), prefix("10.0.0.1/32")));
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  n.pump();
  CHECK(n.ob.tun.empty());
  CHECK(n.b.counters().dropped_source == 1);
  REQUIRE(n.b.add_allowed_ip(n.pub_a(), prefix("10.0.0.0/24")));
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  n.pump();
  CHECK(n.ob.tun.size() == 1);
}

TEST_CASE("replace_allowed_ips swaps the whole set") {
  engine_pair n;
  peer_config pb;
  pb.public_key = n.pub_b();
  pb.replace_allowed_ips = true;
  pb.allowed_ips = {prefix("10.1.0.0/16")};
  REQUIRE(n.a.add_or_update_peer(pb));
  auto st = n.a.status_of(n.pub_b());
  REQUIRE(st->allowed_ips.size() == 1);
  CHECK(st->allowed_ips[0].to_string() == "10.1.0.0/16");
  CHECK(st->endpoint == n.eb); // untouched by the update
}

TEST_CASE("control errors name the bad input and change nothing") {
  engine_pair n;
  auto stranger = key::generate_private().public_from_private();
  auto r = n.a.add_allowed_ip(stranger, prefix("10.9.0.0/16"));
  CHECK_FALSE(r);
  CHECK(r.error.find(stranger.to_base64()) != std::string::npos);
  CHECK_FALSE(n.a.remove_peer(stranger));
  CHECK_FALSE(n.a.set_endpoint(stranger, n.eb));
  peer_config bad;
  bad.public_key = stranger;
  bad.allowed_ips = {allowed_ip{*ip_address::parse("10.0.0.0"), 33}};
  r = n.a.add_or_update_peer(bad);
  CHECK_FALSE(r);
  CHECK(r.error.find("10.0.0.0/33") != std::string::npos);
  CHECK_FALSE(n.a.has_peer(stranger));
  peer_config self;
  self.public_key = n.pub_a();
  CHECK_FALSE(n.a.add_or_update_peer(self));
  CHECK(n.a.peer_count() == 1);
}

TEST_CASE("removing a peer stops its traffic and frees its indices") {
  engine_pair n;
  n.handshake();
  REQUIRE(n.b.remove_peer(n.pub_a()));
  CHECK(n.b.index_count() == 0);
  CHECK(n.b.peer_count() == 0);
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  n.pump();
  CHECK(n.ob.tun.empty());
  n.a.remove_all_peers();
  CHECK(n.a.index_count() == 0);
  CHECK(n.a.status().empty());
}

TEST_CASE("changing the private key expires sessions and re-handshakes") {
  engine_pair n;
  n.handshake();
  auto ka2 = key::generate_private();
  n.a.set_private_key(ka2);
  CHECK(n.a.public_key() == ka2.public_from_private());
  // b must learn the new key.
  REQUIRE(n.b.remove_peer(n.pub_a()));
  peer_config pb;
  pb.public_key = ka2.public_from_private();
  pb.endpoint = n.ea;
  pb.allowed_ips = {prefix("10.0.0.1/32")};
  REQUIRE(n.b.add_or_update_peer(pb));
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  CHECK(count_if(n.oa.sent.begin(), n.oa.sent.end(),
                 [](const datagram& d) { return d.bytes.size() == 148; })
        == 1);
  n.pump();
  CHECK(n.ob.tun.size() == 1);
  // A peer with the device's own new public key is dropped.
  peer_config selfpeer;
  selfpeer.public_key = n.pub_b();
  auto kb = n.kb;
  n.a.set_private_key(kb);
  CHECK_FALSE(n.a.has_peer(n.pub_b()));
  n.a.set_private_key(std::nullopt);
  CHECK_FALSE(n.a.public_key());
}

TEST_CASE("moved prefixes survive removal of their former owner") {
  engine_pair n;
  auto kc = key::generate_private().public_from_private();
  peer_config pc;
  pc.public_key = kc;
  pc.endpoint = ep("192.0.2.3:51003");
  pc.allowed_ips = {prefix("10.0.0.2/32")}; // taken from b
  REQUIRE(n.a.add_or_update_peer(pc));
  REQUIRE(n.a.remove_peer(n.pub_b()));
  auto sc = n.a.status_of(kc);
  REQUIRE(sc);
  REQUIRE(sc->allowed_ips.size() == 1);
  n.a.on_tun_packet(n.a_to_b(), n.oa);
  REQUIRE(n.oa.sent.size() == 1);
  CHECK(n.oa.sent[0].to == ep("192.0.2.3:51003"));
  // Replacing c's set with itself plus more keeps one copy of each.
  pc.replace_allowed_ips = true;
  pc.allowed_ips
    = {prefix("10.0.0.2/32"), prefix("10.0.0.2/32"), prefix("10.8.0.0/16")};
  REQUIRE(n.a.add_or_update_peer(pc));
  CHECK(n.a.status_of(kc)->allowed_ips.size() == 2);
}
