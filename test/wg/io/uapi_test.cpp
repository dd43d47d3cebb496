// UAPI text protocol: parsing every key of a `set=1` body, rejecting bad
// input as a whole, and formatting `get=1` the way wireguard-go does.

#include "wg/io/uapi.hpp"

#include <doctest/doctest.h>

using namespace overlayd::wg;

namespace {

const std::string hex_a(64, 'a');
const std::string hex_b(64, 'b');
const std::string hex_c = std::string(62, '0') + "0c";

key key_of(const std::string& hex) {
  return *key::from_hex(hex);
}

int errno_of(std::string_view body) {
  auto res = uapi::parse_set(body);
  REQUIRE_FALSE(res);
  return res.error().code;
}

} // namespace

TEST_CASE("interface keys are parsed") {
  auto res = uapi::parse_set("private_key=" + hex_a
                             + "\nlisten_port=51820\nfwmark=4660\n"
                               "replace_peers=true\n");
  REQUIRE(res);
  CHECK(res->private_key == key_of(hex_a));
  CHECK(res->listen_port == 51820);
  CHECK(res->fwmark == 4660u);
  CHECK(res->replace_peers);
  CHECK(res->peers.empty());
}

TEST_CASE("an all-zero private key is accepted (it clears the key)") {
  auto res = uapi::parse_set("private_key=" + std::string(64, '0') + "\n");
  REQUIRE(res);
  CHECK(res->private_key->is_zero());
}

TEST_CASE("every peer key is parsed into its block") {
  std::string body = "public_key=" + hex_b
                     + "\n"
                       "update_only=true\n"
                       "preshared_key="
                     + hex_c
                     + "\n"
                       "endpoint=[fd00::1]:51820\n"
                       "persistent_keepalive_interval=25\n"
                       "allowed_ip=10.0.0.1/24\n"
                       "replace_allowed_ips=true\n"
                       "allowed_ip=10.1.0.0/16\n"
                       "allowed_ip=fd00::/64\n"
                       "allowed_ip=-10.2.0.0/16\n"
                       "protocol_version=1\n"
                       "public_key="
                     + hex_a
                     + "\n"
                       "remove=true\n"
                       "endpoint=192.0.2.1:1\n";
  auto res = uapi::parse_set(body);
  REQUIRE(res);
  REQUIRE(res->peers.size() == 2);
  auto& p = res->peers[0];
  CHECK(p.public_key == key_of(hex_b));
  CHECK(p.update_only);
  CHECK_FALSE(p.remove);
  CHECK(p.preshared_key == key_of(hex_c));
  REQUIRE(p.endpoint);
  CHECK(p.endpoint->to_string() == "[fd00::1]:51820");
  CHECK(p.persistent_keepalive == 25);
  CHECK(p.replace_allowed_ips);
  // The edit before replace_allowed_ips is wiped by it.
  REQUIRE(p.allowed_ips.size() == 3);
  CHECK(p.allowed_ips[0].prefix.to_string() == "10.1.0.0/16");
  CHECK_FALSE(p.allowed_ips[0].remove);
  CHECK(p.allowed_ips[1].prefix.to_string() == "fd00::/64");
  CHECK(p.allowed_ips[2].prefix.to_string() == "10.2.0.0/16");
  CHECK(p.allowed_ips[2].remove);
  CHECK(res->peers[1].public_key == key_of(hex_a));
  CHECK(res->peers[1].remove);
  CHECK(res->peers[1].endpoint->to_string() == "192.0.2.1:1");
}

TEST_CASE("allowed_ip host bits are cleared, as wireguard-go reports them") {
  auto res
    = uapi::parse_set("public_key=" + hex_b + "\nallowed_ip=10.9.8.7/8\n");
  REQUIRE(res);
  CHECK(res->peers[0].allowed_ips[0].prefix.to_string() == "10.0.0.0/8");
}

TEST_CASE("an empty line ends the request; later lines are not read") {
  auto res = uapi::parse_set("listen_port=1\n\nlisten_port=bogus\n");
  REQUIRE(res);
  CHECK(res->listen_port == 1);
}

TEST_CASE("bad values are rejected with EINVAL") {
  CHECK(errno_of("private_key=abc\n") == EINVAL);
  CHECK(errno_of("private_key=" + std::string(64, 'g') + "\n") == EINVAL);
  CHECK(errno_of("listen_port=65536\n") == EINVAL);
  CHECK(errno_of("listen_port=-1\n") == EINVAL);
  CHECK(errno_of("listen_port=\n") == EINVAL);
  CHECK(errno_of("listen_port= 1\n") == EINVAL);
  CHECK(errno_of("fwmark=4294967296\n") == EINVAL);
  CHECK(errno_of("fwmark=0x10\n") == EINVAL);
  CHECK(errno_of("replace_peers=false\n") == EINVAL);
  CHECK(errno_of("public_key=" + hex_a.substr(1) + "\n") == EINVAL);
  std::string peer = "public_key=" + hex_a + "\n";
  CHECK(errno_of(peer + "remove=1\n") == EINVAL);
  CHECK(errno_of(peer + "update_only=yes\n") == EINVAL);
  CHECK(errno_of(peer + "preshared_key=00\n") == EINVAL);
  CHECK(errno_of(peer + "endpoint=10.0.0.1\n") == EINVAL);
  CHECK(errno_of(peer + "endpoint=fd00::1:51820\n") == EINVAL);
  CHECK(errno_of(peer + "endpoint=10.0.0.1:65536\n") == EINVAL);
  CHECK(errno_of(peer + "persistent_keepalive_interval=65536\n") == EINVAL);
  CHECK(errno_of(peer + "replace_allowed_ips=yes\n") == EINVAL);
  CHECK(errno_of(peer + "allowed_ip=10.0.0.0\n") == EINVAL);
  CHECK(errno_of(peer + "allowed_ip=10.0.0.0/33\n") == EINVAL);
  CHECK(errno_of(peer + "allowed_ip=fd00::/129\n") == EINVAL);
  CHECK(errno_of(peer + "allowed_ip=10.0.0.0/\n") == EINVAL);
  CHECK(errno_of(peer + "allowed_ip=300.0.0.0/8\n") == EINVAL);
  CHECK(errno_of(peer + "protocol_version=2\n") == EINVAL);
}

TEST_CASE("unknown keys are rejected, and keys only count in their place") {
  CHECK(errno_of("bogus=1\n") == EINVAL);
  CHECK(errno_of("endpoint=10.0.0.1:1\n") == EINVAL); // peer key, no peer
  std::string peer = "public_key=" + hex_a + "\n";
  CHECK(errno_of(peer + "listen_port=1\n") == EINVAL); // device key in peer
  CHECK(errno_of(peer + "private_key=" + hex_b + "\n") == EINVAL);
}

TEST_CASE("a line without '=' is a protocol error") {
  CHECK(errno_of("listen_port\n") == EPROTO);
  CHECK(errno_of("public_key=" + hex_a + "\nremove\n") == EPROTO);
}

TEST_CASE("one bad line fails the whole request") {
  // Good lines before the bad one must not leak into a partial request: the
  // parse result is all or nothing.
  std::string body = "listen_port=1\npublic_key=" + hex_a
                     + "\nallowed_ip=10.0.0.0/8\npublic_key=" + hex_b
                     + "\nallowed_ip=nope\n";
  CHECK(errno_of(body) == EINVAL);
}

TEST_CASE("get output follows wireguard-go's order and omissions") {
  uapi::device_state st;
  CHECK(uapi::format_get(st).empty()); // no key, no port, no fwmark

  st.private_key = key_of(hex_a);
  st.listen_port = 51820;
  st.fwmark = 7;
  uapi::peer_state p;
  p.public_key = key_of(hex_b);
  p.endpoint = endpoint::parse("[fd00::2]:1234");
  p.last_handshake_sec = 1700000000;
  p.last_handshake_nsec = 5;
  p.tx_bytes = 10;
  p.rx_bytes = 20;
  p.persistent_keepalive = 25;
  p.allowed_ips
    = {*allowed_ip::parse("10.0.0.0/24"), *allowed_ip::parse("fd00::/64")};
  st.peers.push_back(p);
  uapi::peer_state q;
  q.public_key = key_of(hex_c);
  st.peers.push_back(q);
  std::string zero(64, '0');
  CHECK(uapi::format_get(st)
        == "private_key=" + hex_a
             + "\nlisten_port=51820\nfwmark=7\n"
               "public_key="
             + hex_b + "\npreshared_key=" + zero
             + "\n"
               "protocol_version=1\nendpoint=[fd00::2]:1234\n"
               "last_handshake_time_sec=1700000000\n"
               "last_handshake_time_nsec=5\ntx_bytes=10\nrx_bytes=20\n"
               "persistent_keepalive_interval=25\n"
               "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n"
               "public_key="
             + hex_c + "\npreshared_key=" + zero
             + "\n"
               "protocol_version=1\n"
               "last_handshake_time_sec=0\nlast_handshake_time_nsec=0\n"
               "tx_bytes=0\nrx_bytes=0\npersistent_keepalive_interval=0\n");
}

TEST_CASE("errno trailers are negative like wireguard-go's") {
  CHECK(uapi::format_errno(0) == "errno=0\n\n");
  CHECK(uapi::format_errno(EINVAL) == "errno=-22\n\n");
  CHECK(uapi::format_errno(EPROTO) == "errno=-71\n\n");
}
