#include <doctest/doctest.h>

#include <chrono>

#include "stun/stun_client.hpp"
#include "stun_responder.hpp"

using namespace overlayd::stun;
using namespace std::chrono_literals;

namespace {

stun_client_options fast(std::chrono::milliseconds timeout = 700ms) {
  stun_client_options o;
  o.timeout = timeout;
  return o;
}

} // namespace

TEST_CASE("query_server learns the loopback mapping") {
  stun_responder r;
  stun_client c({}, fast());
  auto res = c.query_server(*udp_endpoint::parse(r.address()), "local");
  REQUIRE_MESSAGE(res.ok(), res.error().message());
  CHECK(res->server == "local");
  CHECK(res->address.ip.to_string() == "127.0.0.1");
  CHECK(res->address.port != 0);
  CHECK(res->address.port != r.port());
}

TEST_CASE("MAPPED-ADDRESS-only servers work; error responses fail") {
  stun_responder plain(stun_responder::mode::mapped_only);
  stun_client c({}, fast());
  auto ok = c.query_server(*udp_endpoint::parse(plain.address()), "p");
  REQUIRE(ok.ok());
  CHECK(ok->address.ip.to_string() == "127.0.0.1");

  stun_responder bad(stun_responder::mode::error_response);
  auto err = c.query_server(*udp_endpoint::parse(bad.address()), "b");
  REQUIRE_FALSE(err.ok());
  CHECK(err.error().message()
        == "Expected Binding Response (0x0101), got 0x0111");
}

TEST_CASE("one attempt, then a timeout") {
  stun_responder silent(stun_responder::mode::silent);
  stun_client c({}, fast(300ms));
  auto t0 = std::chrono::steady_clock::now();
  auto res = c.query_server(*udp_endpoint::parse(silent.address()), "s");
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_FALSE(res.ok());
  CHECK(res.error().message() == "STUN query timed out");
  CHECK(took >= 290ms);
  CHECK(took < 1500ms);
  CHECK(silent.requests() == 1); // no retransmission
}

TEST_CASE("default timeout is the reference's 3 s") {
  CHECK(stun_client_options{}.timeout == 3000ms);
}

TEST_CASE("discover runs in parallel and keeps completion order") {
  stun_responder slow(stun_responder::mode::answer, 300ms);
  stun_responder quick;
  stun_responder silent(stun_responder::mode::silent);
  stun_client c({{slow.address(), std::string("slow")},
                 {silent.address(), std::nullopt},
                 {quick.address(), std::string("quick")}},
                fast(700ms));
  auto t0 = std::chrono::steady_clock::now();
  auto d = c.discover();
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE_MESSAGE(d.ok(), d.error().message());
  REQUIRE(d->results.size() == 2);
  CHECK(d->results[0].server == "quick");
  CHECK(d->results[1].server == "slow");
  // Parallel: bounded by one timeout, not the sum.
  CHECK(took < 1200ms);
  // Two fresh sockets => two ports => "symmetric" (the reference's quirk).
  CHECK(d->behavior == nat_behavior::symmetric);
}

TEST_CASE("discover errors: no servers, last error, skipped addresses") {
  stun_client none({}, fast());
  REQUIRE_FALSE(none.discover().ok());
  CHECK(none.discover().error().message() == "No STUN servers configured");

  stun_responder silent(stun_responder::mode::silent);
  stun_responder bad(stun_responder::mode::error_response, 100ms);
  stun_client failing({{bad.address(), {}}, {silent.address(), {}}},
                      fast(400ms));
  auto f = failing.discover();
  REQUIRE_FALSE(f.ok());
  // The timeout completes last, so it is the error reported.
  CHECK(f.error().message() == "STUN query timed out");

  std::vector<std::string> warnings;
  stun_client_options o = fast();
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  o.resolver = [](const std::string&, std::uint16_t) {
    return std::optional<ip_address>{};
  };
  stun_client skipped({{"stun.example.com", {}}, {"nowhere.test:3478", {}}}, o);
  auto s = skipped.discover();
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message() == "No STUN servers configured");
  CHECK(warnings.size() == 2);
}

TEST_CASE("host:port names go through the resolver, first address wins") {
  stun_responder r;
  std::vector<std::string> asked;
  stun_client_options o = fast();
  o.resolver = [&](const std::string& host, std::uint16_t port) {
    asked.push_back(host + "/" + std::to_string(port));
    return ip_address::parse("127.0.0.1");
  };
  stun_client c({{"stun.test:" + std::to_string(r.port()), {}}}, o);
  auto d = c.discover();
  REQUIRE(d.ok());
  REQUIRE(asked.size() == 1);
  CHECK(asked[0] == "stun.test/" + std::to_string(r.port()));
  // Unlabelled servers are reported by their configured address.
  CHECK(d->results[0].server == "stun.test:" + std::to_string(r.port()));
}

TEST_CASE("the system resolver resolves localhost") {
  auto ip = system_resolver()("localhost", 3478);
  REQUIRE(ip.has_value());
  CHECK(ip->is_loopback());
}

TEST_CASE("pinning is best effort") {
  stun_responder r;
  std::vector<std::string> warnings;
  stun_client_options o = fast();
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  o.egress_iface = [] { return std::optional<std::string>("ost-nonexist0"); };
  stun_client c({{r.address(), {}}}, o);
  auto d = c.discover();
  REQUIRE(d.ok());
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("ost-nonexist0") != std::string::npos);
  // Pinned to loopback (needs CAP_NET_RAW; then no warning at all).
  auto lo = c.query_server(*udp_endpoint::parse(r.address()), "lo", "lo");
  CHECK(lo.ok());
}
