// Session lines, redaction, and corpus conversion.

#include <doctest/doctest.h>

#include "replay/corpus.hpp"
#include "replay/redact.hpp"
#include "replay/session.hpp"

using namespace overlayd::replay;

TEST_CASE("exchange lines round-trip with the bodies byte for byte") {
  exchange x;
  x.seq = 4;
  x.conn = 2;
  x.at_us = 1500;
  x.latency_us = 40;
  x.request = R"({"frame":"request","id":1,"request":{"op":"status"}} )";
  x.response = R"({"frame":"response","id":1,"response":{"result":"ok"}})";
  x.pending = "issue 5";
  auto back = parse_exchange(exchange_line(x));
  REQUIRE(back);
  CHECK(back->request == x.request);
  CHECK(back->response == x.response);
  CHECK(back->seq == 4);
  CHECK(back->conn == 2);
  CHECK(back->pending == x.pending);
  CHECK_FALSE(back->expectation_unknown);
  // No response recorded vs no expectation at all (a request script).
  x.response.reset();
  x.closed = true;
  back = parse_exchange(exchange_line(x));
  REQUIRE(back);
  CHECK_FALSE(back->response);
  CHECK(back->closed);
  CHECK_FALSE(back->expectation_unknown);
  back = parse_exchange(R"({"seq":0,"conn":1,"request":"x"})");
  REQUIRE(back);
  CHECK(back->expectation_unknown);
  CHECK_FALSE(parse_exchange(R"({"seq":0,"request":{"op":"status"}})"));
  CHECK_FALSE(parse_header(R"({"overlay_replay":2})"));
  CHECK(parse_header(R"({"overlay_replay":1})"));
}

TEST_CASE("redaction replaces secrets and leaves other frames untouched") {
  std::string plain = R"({"frame":"request","id":1,"request":{"op":"status"}})";
  CHECK(redact_body(plain) == plain);
  std::string guest
    = R"({"frame":"response","id":3,"response":{"result":"guest_config",)"
      R"("overlay_ip":"10.200.0.2","private_key":"cHJpdg==","public_key":"cHVi"}})";
  auto r = redact_body(guest);
  CHECK(r.find("cHJpdg==") == std::string::npos);
  CHECK(r.find(R"("private_key":"<redacted>")") != std::string::npos);
  CHECK(r.find(R"("public_key":"cHVi")") != std::string::npos);
  std::string nat
    = R"({"frame":"request","id":4,"request":{"op":"setup_global_overlay",)"
      R"("nat":{"turn_servers":[{"addr":"t:3478","username":"u","credential":"p"}],)"
      R"("relay_server":{"auth_credential":"cluster-secret"}}}})";
  auto n = redact_body(nat);
  CHECK(n.find("cluster-secret") == std::string::npos);
  CHECK(n.find(R"("credential":"p")") == std::string::npos);
  CHECK(n.find(R"("username":"u")") != std::string::npos);
}

TEST_CASE("a recording becomes a corpus entry with rules and pending marks") {
  session s;
  auto add = [&](std::string req, std::string resp) {
    exchange x;
    x.seq = s.exchanges.size();
    x.conn = 1;
    x.request = std::move(req);
    x.response = std::move(resp);
    s.exchanges.push_back(std::move(x));
  };
  const std::string key = "hM9ptkVXVzU/4fnN0aM1qYjMZVsfW5DMrUL45IlgMW8=";
  add(
    R"({"frame":"request","id":1,"request":{"op":"nat_tick"}})",
    R"({"frame":"response","id":1,"response":{"result":"err","message":"nat_tick is not available yet: x"}})");
  add(
    R"({"frame":"request","id":2,"request":{"op":"attach_container"}})",
    R"({"frame":"response","id":2,"response":{"result":"guest_config","private_key":"secret","public_key":")"
      + key + R"("}})");
  add(
    R"({"frame":"request","id":3,"request":{"op":"status"}})",
    R"({"frame":"response","id":3,"response":{"result":"status","public_key":")"
      + key + R"(","peer_count":0,"service_count":0}})");
  add(
    R"({"frame":"request","id":4,"request":{"op":"nat_status"}})",
    R"({"frame":"response","id":4,"response":{"result":"nat_status","last_refresh":0}})");
  auto c = to_corpus(s, {});
  CHECK(c.exchanges[0].pending == "issue 5");
  CHECK_FALSE(c.exchanges[1].pending);
  CHECK(c.exchanges[1].response->find("secret") == std::string::npos);
  auto rules = c.header.rules.dump();
  CHECK(rules.find(R"("path":"response.private_key","rule":"base64-32")")
        != std::string::npos);
  CHECK(rules.find(R"("capture":"response.public_key@1")")
        != std::string::npos);
  // The same key seen again later is tied to the first sighting.
  CHECK(rules.find(R"("rule":"same-as","seq":2,"ref":"response.public_key@1")")
        != std::string::npos);
  // last_refresh 0 means "never" and stays exact.
  CHECK(rules.find("last_refresh") == std::string::npos);
}
