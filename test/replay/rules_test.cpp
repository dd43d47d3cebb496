// Comparison rules: exact by default, shape rules, captures flowing into
// later requests, and that a difference is never swallowed.

#include <doctest/doctest.h>

#include "replay/rules.hpp"

using namespace overlayd::replay;

namespace {

const std::string key_a = "hM9ptkVXVzU/4fnN0aM1qYjMZVsfW5DMrUL45IlgMW8=";
const std::string key_b = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";

std::vector<rule> rules_of(const char* text) {
  auto r = parse_rules(nlohmann::ordered_json::parse(text));
  REQUIRE(r);
  return *r;
}

std::vector<const rule*> ptrs(const std::vector<rule>& rs) {
  std::vector<const rule*> out;
  for (const auto& r : rs)
    out.push_back(&r);
  return out;
}

std::string guest(const std::string& pub) {
  return R"({"frame":"response","id":3,"response":{"result":"guest_config",)"
         R"("private_key":"<redacted>","public_key":")"
         + pub + R"(","listen_port":51420}})";
}

} // namespace

TEST_CASE("without rules, bodies compare exactly, down to key order") {
  capture_map caps;
  auto a
    = R"({"frame":"response","id":1,"response":{"result":"ip","ip":"10.200.0.2"}})";
  auto b
    = R"({"frame":"response","id":1,"response":{"result":"ip","ip":"10.200.0.3"}})";
  auto c
    = R"({"frame":"response","id":1,"response":{"ip":"10.200.0.2","result":"ip"}})";
  auto d
    = R"({"frame":"response","id":1, "response":{"result":"ip","ip":"10.200.0.2"}})";
  CHECK(compare_bodies(a, a, {}, caps).empty());
  auto diff = compare_bodies(a, b, {}, caps);
  REQUIRE(diff.size() == 1);
  CHECK(diff[0].path == "response.ip");
  CHECK(diff[0].what == R"(expected "10.200.0.2", got "10.200.0.3")");
  CHECK(compare_bodies(a, c, {}, caps).size() == 1);
  // Same values, other bytes: still a difference the client could see.
  CHECK(compare_bodies(a, d, {}, caps).size() == 1);
  // Missing and extra fields are named.
  auto e = R"({"frame":"response","id":1,"response":{"result":"ip"}})";
  auto m = compare_bodies(a, e, {}, caps);
  REQUIRE(m.size() == 1);
  CHECK(m[0].path == "response.ip");
  CHECK(compare_bodies(e, a, {}, caps).size() == 1);
}

TEST_CASE("shape rules check the value instead of ignoring it") {
  auto rs = rules_of(R"([{"path":"response.public_key","rule":"base64-32"},
                         {"path":"response.private_key","rule":"any-string"}])");
  capture_map caps;
  CHECK(compare_bodies(guest(key_a), guest(key_b), ptrs(rs), caps).empty());
  auto bad = compare_bodies(guest(key_a), guest("not-a-key"), ptrs(rs), caps);
  REQUIRE(bad.size() == 1);
  CHECK(bad[0].path == "response.public_key");
  // Other fields stay exact.
  auto other = guest(key_b);
  other.replace(other.find("51420"), 5, "51421");
  CHECK(compare_bodies(guest(key_a), other, ptrs(rs), caps).size() == 1);
}

TEST_CASE("rule shapes") {
  using nlohmann::ordered_json;
  CHECK(satisfies(rule_kind::base64_32, ordered_json(key_a)));
  CHECK_FALSE(satisfies(rule_kind::base64_32, ordered_json(key_a + "A")));
  // 43rd character with non-zero spare bits is not a 32-byte encoding.
  auto spare = key_a;
  spare[42] = 'X';
  CHECK_FALSE(satisfies(rule_kind::base64_32, ordered_json(spare)));
  CHECK(satisfies(rule_kind::hex_32, ordered_json(std::string(64, 'a'))));
  CHECK_FALSE(satisfies(rule_kind::hex_32, ordered_json(std::string(64, 'A'))));
  CHECK(satisfies(rule_kind::any_u64, ordered_json(17u)));
  CHECK_FALSE(satisfies(rule_kind::any_u64, ordered_json(-1)));
  CHECK_FALSE(satisfies(rule_kind::any_u64, ordered_json("17")));
  CHECK(satisfies(rule_kind::ip, ordered_json("fd00:200::1")));
  CHECK_FALSE(satisfies(rule_kind::ip, ordered_json("10.200.0.300")));
}

TEST_CASE("captures feed same-as rules and later requests") {
  auto rs = rules_of(
    R"([{"path":"response.public_key","rule":"base64-32","seq":1,
         "capture":"guest"},
        {"path":"response.public_key","rule":"same-as","ref":"guest",
         "seq":2}])");
  capture_map caps;
  std::vector<const rule*> first{&rs[0]};
  std::vector<const rule*> second{&rs[1]};
  CHECK(rs[0].applies_to(1, "attach_container"));
  CHECK_FALSE(rs[0].applies_to(2, "attach_container"));
  // Recorded key_a, this run generated key_b.
  CHECK(compare_bodies(guest(key_a), guest(key_b), first, caps).empty());
  REQUIRE(caps.count("guest") == 1);
  // A later request naming the recorded key now names this run's key.
  auto req
    = R"({"frame":"request","id":4,"request":{"op":"remove_peer","pubkey":")"
      + key_a + R"("}})";
  auto out = substitute_captures(req, caps);
  CHECK(out.find(key_b) != std::string::npos);
  CHECK(out.find(key_a) == std::string::npos);
  // same-as holds for the replayed value, and fails for another one.
  CHECK(compare_bodies(guest(key_a), guest(key_b), second, caps).empty());
  CHECK(compare_bodies(guest(key_b), guest(key_a), second, caps).size() == 1);
}

TEST_CASE("bad rules are refused with the reason") {
  auto bad = [](const char* text) {
    auto r = parse_rules(nlohmann::ordered_json::parse(text));
    REQUIRE_FALSE(r);
    return r.error();
  };
  CHECK(bad(R"([{"rule":"any-u64"}])").find("path") != std::string::npos);
  CHECK(bad(R"([{"path":"a","rule":"whatever"}])").find("unknown rule")
        != std::string::npos);
  CHECK(bad(R"([{"path":"a","rule":"same-as"}])").find("ref")
        != std::string::npos);
}

TEST_CASE("an unordered array matches its elements in any order, no more") {
  auto rs = rules_of(R"([{"path":"response.peers","rule":"unordered"},
    {"path":"response.peers.1.public_key","rule":"hex-32"}])");
  capture_map caps;
  auto status = [](const std::string& first, const std::string& second) {
    return R"({"response":{"peers":[)" + first + "," + second + "]}}";
  };
  std::string a = R"({"public_key":"aa","endpoint":"1.2.3.4:1"})";
  std::string b_rec
    = R"({"public_key":")" + std::string(64, '0') + R"(","endpoint":""})";
  std::string b_run
    = R"({"public_key":")" + std::string(64, 'f') + R"(","endpoint":""})";
  // Swapped, and the element's rule follows it to its new place.
  CHECK(
    compare_bodies(status(a, b_rec), status(b_run, a), ptrs(rs), caps).empty());
  CHECK(
    compare_bodies(status(a, b_rec), status(a, b_run), ptrs(rs), caps).empty());
  // A changed element, a duplicate, a missing one: all still differ.
  std::string a2 = R"({"public_key":"aa","endpoint":"1.2.3.4:2"})";
  CHECK(
    compare_bodies(status(a, b_rec), status(b_run, a2), ptrs(rs), caps).size()
    == 1);
  CHECK_FALSE(
    compare_bodies(status(a, b_rec), status(a, a), ptrs(rs), caps).empty());
  CHECK_FALSE(compare_bodies(status(a, b_rec),
                             R"({"response":{"peers":[)" + a + "]}}", ptrs(rs),
                             caps)
                .empty());
}
