#include <doctest/doctest.h>

#include "stun/stun_client.hpp"
#include "stun/stun_message.hpp"
#include "test_util.hpp"

using namespace overlayd::stun;

namespace {

const transaction_id vec_txn
  = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};

// Binding Success with txn `vec_txn` and the given attributes.
std::vector<std::uint8_t> success(std::vector<std::uint8_t> attrs) {
  auto m = unhex("0101 0000 2112a442 b7e7a701bc34d686fa87dfae");
  m[2] = static_cast<std::uint8_t>(attrs.size() >> 8);
  m[3] = static_cast<std::uint8_t>(attrs.size());
  m.insert(m.end(), attrs.begin(), attrs.end());
  return m;
}

std::vector<std::uint8_t> xor_v6_attr(const std::uint8_t (&ip)[16],
                                      std::uint16_t port) {
  std::vector<std::uint8_t> a = {0x00, 0x20, 0x00, 0x14, 0x00, 0x02};
  std::uint16_t xp = port ^ 0x2112;
  a.push_back(static_cast<std::uint8_t>(xp >> 8));
  a.push_back(static_cast<std::uint8_t>(xp));
  const std::uint8_t cookie[4] = {0x21, 0x12, 0xa4, 0x42};
  for (int i = 0; i < 16; ++i)
    a.push_back(ip[i] ^ (i < 4 ? cookie[i] : vec_txn[i - 4]));
  return a;
}

std::string parse_error(const std::vector<std::uint8_t>& m) {
  auto r = parse_binding_response(m, vec_txn);
  REQUIRE_FALSE(r.ok());
  return r.error().message();
}

} // namespace

TEST_CASE("binding request is the bare 20-byte header") {
  transaction_id t = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  CHECK(tohex(build_binding_request(t))
        == "000100002112a4420102030405060708090a0b0c");
  auto a = random_transaction_id(), b = random_transaction_id();
  CHECK(a != b);
}

TEST_CASE("RFC 5769-style XOR-MAPPED-ADDRESS vector") {
  auto m = unhex("0101 000c 2112a442 b7e7a701bc34d686fa87dfae "
                 "0020 0008 0001 a147 e112a643");
  auto r = parse_binding_response(m, vec_txn);
  REQUIRE(r.ok());
  CHECK(r->to_string() == "192.0.2.1:32853");
}

TEST_CASE("IPv6 XOR and plain addresses, MAPPED-ADDRESS fallback") {
  const std::uint8_t ip6[16]
    = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  auto x6 = parse_binding_response(success(xor_v6_attr(ip6, 3478)), vec_txn);
  REQUIRE(x6.ok());
  CHECK(x6->to_string() == "[2001:db8::1]:3478");

  // MAPPED-ADDRESS only (IPv4, then IPv6): used as the fallback.
  auto m4 = parse_binding_response(
    success(unhex("0001 0008 0001 0d96 cb007105")), vec_txn);
  REQUIRE(m4.ok());
  CHECK(m4->to_string() == "203.0.113.5:3478");
  auto m6 = parse_binding_response(
    success(unhex("0001 0014 0002 1f90 20010db8000000000000000000000002")),
    vec_txn);
  REQUIRE(m6.ok());
  CHECK(m6->to_string() == "[2001:db8::2]:8080");

  // Both present: XOR wins whatever the order.
  auto both
    = parse_binding_response(success(unhex("0001 0008 0001 0d96 cb007105 "
                                           "0020 0008 0001 a147 e112a643")),
                             vec_txn);
  REQUIRE(both.ok());
  CHECK(both->to_string() == "192.0.2.1:32853");

  // Unknown attributes (SOFTWARE, odd length, padded) are skipped.
  auto padded
    = parse_binding_response(success(unhex("8022 0005 436f747572 000000 "
                                           "0020 0008 0001 a147 e112a643")),
                             vec_txn);
  REQUIRE(padded.ok());
  CHECK(padded->to_string() == "192.0.2.1:32853");

  // A later bad XOR attribute overwrites an earlier good one with nothing;
  // MAPPED-ADDRESS then decides.
  auto overwrite
    = parse_binding_response(success(unhex("0020 0008 0001 a147 e112a643 "
                                           "0020 0008 0003 a147 e112a643 "
                                           "0001 0008 0001 0d96 cb007105")),
                             vec_txn);
  REQUIRE(overwrite.ok());
  CHECK(overwrite->to_string() == "203.0.113.5:3478");
}

TEST_CASE("parse errors carry the reference's texts") {
  CHECK(parse_error(std::vector<std::uint8_t>(10, 0))
        == "STUN response too short (10 bytes, need at least 20)");
  auto req = build_binding_request(vec_txn);
  CHECK(parse_error({req.begin(), req.end()})
        == "Expected Binding Response (0x0101), got 0x0001");
  auto err = unhex("0111 0000 2112a442 b7e7a701bc34d686fa87dfae");
  CHECK(parse_error(err) == "Expected Binding Response (0x0101), got 0x0111");
  auto cookie = unhex("0101 0000 2112a443 b7e7a701bc34d686fa87dfae");
  CHECK(parse_error(cookie) == "Bad magic cookie in STUN response");
  auto txn = unhex("0101 0000 2112a442 b7e7a701bc34d686fa87dfaf");
  CHECK(parse_error(txn) == "Transaction ID mismatch");
  CHECK(parse_error(success({}))
        == "No mapped address attribute in STUN response");
  // XOR attribute with an unknown family or too short a value.
  CHECK(parse_error(success(unhex("0020 0008 0003 a147 e112a643")))
        == "No mapped address attribute in STUN response");
  CHECK(parse_error(success(unhex("0020 0004 0001 a147")))
        == "No mapped address attribute in STUN response");
  // IPv6 XOR value shorter than 20 bytes.
  CHECK(parse_error(success(unhex("0020 0008 0002 a147 e112a643")))
        == "No mapped address attribute in STUN response");
  // The value runs past the datagram: the walk stops.
  CHECK(parse_error(success(unhex("0020 0010 0001 a147 e112a643")))
        == "No mapped address attribute in STUN response");
}

TEST_CASE("the attribute walk is bounded as the reference bounds it") {
  // Header length says 0: attributes after the header are not read.
  auto m = success(unhex("0020 0008 0001 a147 e112a643"));
  m[3] = 0;
  CHECK(parse_binding_response(m, vec_txn).error().message()
        == "No mapped address attribute in STUN response");
  // Header length larger than the datagram: clamped, still parsed.
  auto big = success(unhex("0020 0008 0001 a147 e112a643"));
  big[2] = 0x01;
  CHECK(parse_binding_response(big, vec_txn).ok());
  // attr_end clips the value but the bound check is the datagram length:
  // a value extending past attr_end yet inside the datagram is accepted.
  auto clip = success(unhex("0020 0008 0001 a147 e112a643"));
  clip[3] = 4;
  CHECK(parse_binding_response(clip, vec_txn).ok());
}

TEST_CASE("other error texts") {
  using k = stun_error::kind;
  CHECK(stun_error{k::timeout, 0, 0, {}}.message() == "STUN query timed out");
  CHECK(stun_error{k::no_servers, 0, 0, {}}.message()
        == "No STUN servers configured");
  CHECK(stun_error{k::dns_resolution, 0, 0, "x.example"}.message()
        == "DNS resolution failed for 'x.example'");
  CHECK(stun_error{k::io, 0, 0, "boom"}.message() == "IO error: boom");
  CHECK(stun_error{k::not_binding_response, 0, 0xabcd, {}}.message()
        == "Expected Binding Response (0x0101), got 0xABCD");
}

TEST_CASE("NAT behaviour from result ports") {
  auto ra = [](const char* s) {
    return reflexive_address{*udp_endpoint::parse(s), "s"};
  };
  CHECK(detect_nat_behavior({}) == nat_behavior::endpoint_independent);
  CHECK(detect_nat_behavior({ra("1.2.3.4:5")})
        == nat_behavior::endpoint_independent);
  CHECK(detect_nat_behavior({ra("1.2.3.4:5"), ra("9.9.9.9:5")})
        == nat_behavior::endpoint_independent);
  CHECK(detect_nat_behavior({ra("1.2.3.4:5"), ra("1.2.3.4:6")})
        == nat_behavior::symmetric);
}

TEST_CASE("STUN server address classification") {
  using k = server_address::kind;
  auto lit4 = classify_server_address("203.0.113.5:3478");
  CHECK(lit4.type == k::literal);
  CHECK(lit4.literal.to_string() == "203.0.113.5:3478");
  auto lit6 = classify_server_address("[2001:db8::1]:3478");
  CHECK(lit6.type == k::literal);
  CHECK(lit6.literal.to_string() == "[2001:db8::1]:3478");
  auto hp = classify_server_address("stun.example.com:3478");
  CHECK(hp.type == k::host_port);
  CHECK(hp.host == "stun.example.com");
  CHECK(hp.port == 3478);
  auto br = classify_server_address("[stun.example.com]:19302");
  CHECK(br.type == k::host_port);
  CHECK(br.host == "stun.example.com");
  for (const char* bad : {"stun.example.com", "2001:db8::1", "host:notaport",
                          ":3478", "host:65536", "host:"})
    CHECK_MESSAGE(classify_server_address(bad).type == k::invalid, bad);
}
