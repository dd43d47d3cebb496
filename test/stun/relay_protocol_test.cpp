#include <doctest/doctest.h>

#include <cstring>

#include "stun/relay_protocol.hpp"
#include "test_util.hpp"

using namespace overlayd::stun;
namespace rp = overlayd::stun::relay;

namespace {

udp_endpoint ep(const char* s) {
  return *udp_endpoint::parse(s);
}

const rp::auth_key test_key = rp::derive_auth_key("test-credential");

rp::allocation_id seq_id() {
  rp::allocation_id id;
  for (int i = 0; i < 16; ++i)
    id[i] = static_cast<std::uint8_t>(i);
  return id;
}

std::string control_hex(rp::msg_type t, const std::vector<std::uint8_t>& p) {
  return tohex(rp::build_control(t, p, test_key));
}

std::vector<std::uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

} // namespace

TEST_CASE("key derivation vectors") {
  CHECK(tohex(test_key)
        == "f41494298d57cc107b2eda2c51419858c75f51e278d4dd01457d85c00473710e");
  CHECK(tohex(rp::derive_auth_key(""))
        == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  CHECK(rp::derive_auth_key("a") == rp::derive_auth_key("a"));
  CHECK(rp::derive_auth_key("a") != rp::derive_auth_key("b"));
}

TEST_CASE("tags verify and fail with wrong data or key") {
  auto data = bytes("some message");
  auto tag = rp::compute_tag(test_key, data);
  CHECK(rp::verify_tag(test_key, data, tag));
  CHECK_FALSE(rp::verify_tag(test_key, bytes("some messagE"), tag));
  CHECK_FALSE(rp::verify_tag(rp::derive_auth_key("other"), data, tag));
  CHECK_FALSE(rp::verify_tag(test_key, data, std::span(tag).first(31)));
}

TEST_CASE("nat.md §4.4 worked examples, byte for byte") {
  CHECK(control_hex(rp::msg_type::allocate_req,
                    rp::allocate_req_payload("test-user"))
        == "01000a09746573742d75736572"
           "8e1c0057e3b3646d85cf9a0373cdc03a661a02be80bb6935f3389512bef8c786");
  CHECK(
    control_hex(rp::msg_type::allocate_resp,
                rp::allocate_resp_payload(ep("127.0.0.1:40000"), seq_id(), 600))
    == "02001b017f0000019c40000102030405060708090a0b0c0d0e0f00000258"
       "2d569d21f9a864fc6d6e1ffbba77c585d1855e6ebb09d6895edb8a61cd32eaf7");
  CHECK(control_hex(rp::msg_type::allocate_err, bytes("max sessions reached"))
        == "0300146d61782073657373696f6e732072656163686564"
           "bc17eadcad71d3be9ecf034191ef8d7fd366009b295cb9543ca133dd231e54c1");
  CHECK(
    control_hex(rp::msg_type::permission_req,
                rp::permission_req_payload(seq_id(), ep("198.51.100.9:51820")))
    == "040017000102030405060708090a0b0c0d0e0f01c6336409ca6c"
       "60d3c4575cc66754a9954c8bdc9f721402a744ad159fd64452c830dd45ad8c8b");
  CHECK(control_hex(rp::msg_type::permission_resp, {})
        == "050000"
           "11e74e1980d940717c87c05003bbc8831347034a9ce329205cf9601eaef66bc9");
  CHECK(control_hex(rp::msg_type::refresh_req,
                    rp::refresh_req_payload(seq_id(), 600))
        == "060014000102030405060708090a0b0c0d0e0f00000258"
           "5f4005d92c841d6f70f1d41d6e7c608ece10bfeb7f91894a202a95a4b3cd06cb");
  CHECK(control_hex(rp::msg_type::refresh_resp, rp::lifetime_payload(600))
        == "07000400000258"
           "a1433fc1492401785822c301cf00e833fa0626c96d6b13bcee8aba4fd0a84ff1");
  auto id = seq_id();
  CHECK(control_hex(rp::msg_type::deallocate, {id.begin(), id.end()})
        == "080010000102030405060708090a0b0c0d0e0f"
           "ae42e1f68d5854d7fb8342a9ac65d5459e47df77599c0bd27a55fdb65e9a6493");
  CHECK(tohex(rp::build_data(ep("203.0.113.7:51820"), bytes("hello")))
        == "80000c01cb007107ca6c68656c6c6f");
  CHECK(tohex(rp::build_data(ep("[2001:db8::1]:3478"), bytes("hi")))
        == "8000150220010db80000000000000000000000010d966869");
}

TEST_CASE("every control type round-trips with payload \"p\"") {
  for (auto t : {rp::msg_type::allocate_req, rp::msg_type::allocate_resp,
                 rp::msg_type::allocate_err, rp::msg_type::permission_req,
                 rp::msg_type::permission_resp, rp::msg_type::refresh_req,
                 rp::msg_type::refresh_resp, rp::msg_type::deallocate}) {
    auto m = rp::build_control(t, bytes("p"), test_key);
    CHECK(m.size() == 36);
    auto c = rp::parse_control(m, test_key);
    REQUIRE(c.has_value());
    CHECK(c->type == t);
    CHECK(c->payload.size() == 1);
    CHECK(c->payload[0] == 'p');
    // Trailing bytes are ignored.
    m.push_back(0xee);
    CHECK(rp::parse_control(m, test_key).has_value());
    m.pop_back();
    // A flipped payload bit, a wrong key or a missing tag byte: dropped.
    m[3] ^= 1;
    CHECK_FALSE(rp::parse_control(m, test_key).has_value());
    m[3] ^= 1;
    CHECK_FALSE(rp::parse_control(m, rp::derive_auth_key("x")).has_value());
    m.pop_back();
    CHECK_FALSE(rp::parse_control(m, test_key).has_value());
  }
}

TEST_CASE("address encoding") {
  std::vector<std::uint8_t> v4, v6, ll, mapped;
  rp::encode_addr(ep("192.0.2.1:80"), v4);
  CHECK(tohex(v4) == "01c00002010050");
  rp::encode_addr(ep("[2001:db8::1]:443"), v6);
  CHECK(v6.size() == 19);
  rp::encode_addr(ep("[fe80::1]:51820"), ll);
  auto dll = rp::decode_addr(ll);
  REQUIRE(dll.has_value());
  CHECK(dll->addr == ep("[fe80::1]:51820"));
  CHECK(dll->size == 19);
  auto d4 = rp::decode_addr(v4);
  REQUIRE(d4.has_value());
  CHECK(d4->addr == ep("192.0.2.1:80"));
  CHECK(d4->size == 7);
  // Mapped addresses go on the wire as plain IPv4.
  rp::encode_addr(ep("[::ffff:192.0.2.1]:80"), mapped);
  CHECK(mapped == v4);
  CHECK_FALSE(rp::decode_addr(std::span(v4).first(6)).has_value());
  CHECK_FALSE(rp::decode_addr(std::span(v6).first(18)).has_value());
  CHECK_FALSE(rp::decode_addr({}).has_value());
  auto fam3 = v4;
  fam3[0] = 0x03;
  CHECK_FALSE(rp::decode_addr(fam3).has_value());
}

TEST_CASE("framing limits") {
  CHECK_FALSE(rp::parse_frame({}).has_value());
  auto one = unhex("80");
  auto two = unhex("8000");
  CHECK_FALSE(rp::parse_frame(one).has_value());
  CHECK_FALSE(rp::parse_frame(two).has_value());
  CHECK_FALSE(rp::msg_type_from_byte(0xFF).has_value());
  CHECK_FALSE(rp::msg_type_from_byte(0x00).has_value());
  CHECK_FALSE(rp::msg_type_from_byte(0x09).has_value());
  CHECK(rp::msg_type_from_byte(0x80) == rp::msg_type::data);

  auto d = rp::build_data(ep("203.0.113.7:51820"), bytes("hello"));
  auto m = rp::parse_data(d);
  REQUIRE(m.has_value());
  CHECK(m->peer == ep("203.0.113.7:51820"));
  CHECK(std::string(m->raw.begin(), m->raw.end()) == "hello");
  d.push_back('!'); // trailing bytes ignored
  CHECK(rp::parse_data(d)->raw.size() == 5);
  d.resize(d.size() - 2); // shorter than inner_len
  CHECK_FALSE(rp::parse_data(d).has_value());
  // DATA never parses as control, control never as DATA.
  auto ctl = rp::build_control(rp::msg_type::permission_resp, {}, test_key);
  CHECK_FALSE(rp::parse_data(ctl).has_value());
  CHECK_FALSE(
    rp::parse_control(rp::build_data(ep("1.2.3.4:1"), bytes("x")), test_key)
      .has_value());
}

TEST_CASE("AllocateResp payload parsing") {
  auto p = rp::allocate_resp_payload(ep("[2001:db8::9]:4000"), seq_id(), 600);
  auto r = rp::parse_allocate_resp(p);
  REQUIRE(r.has_value());
  CHECK(r->relay_addr == ep("[2001:db8::9]:4000"));
  CHECK(r->id == seq_id());
  CHECK(r->lifetime == 600);
  p.resize(38); // IPv6 needs 19 + 20
  CHECK_FALSE(rp::parse_allocate_resp(p).has_value());
  CHECK_FALSE(
    rp::parse_allocate_resp(std::vector<std::uint8_t>(26, 1)).has_value());
}
