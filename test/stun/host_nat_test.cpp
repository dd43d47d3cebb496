// Host suite (root): STUN and the relay across simulated home routers.
//
//   h1 (10.1.0.2) - r1 [MASQUERADE --random-fully] - pub (coturn -S and
//   h2 (10.2.0.2) - r2 [MASQUERADE --random-fully] - pub  our relay)
//
// The routers only let replies in (as home routers do) and their NAT is
// symmetric, so the hosts can only meet through the relay.
#include <doctest/doctest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nat_topology.hpp"
#include "stun/relay_client.hpp"
#include "stun/relay_server.hpp"
#include "stun/stun_client.hpp"

using namespace overlayd::stun;
using namespace std::chrono_literals;

namespace {

struct inbox {
  std::mutex mu;
  std::vector<std::pair<udp_endpoint, std::string>> got;
  std::size_t size() {
    std::lock_guard l(mu);
    return got.size();
  }
};

} // namespace

TEST_CASE("behind MASQUERADE: STUN sees the router, the relay connects") {
  overlayd::test::nat_topology lab({"ost-", true});
  REQUIRE(lab.ok());

  // STUN from h1 reports r1's public address, with a NAT-chosen port.
  lab.inside(lab.h1(), [] {
    stun_client_options o;
    o.timeout = 500ms;
    stun_client c({{"198.51.100.1:3478", std::string("coturn")}}, o);
    result<stun_discovery, stun_error> d
      = result<stun_discovery, stun_error>::failure(
        {stun_error::kind::timeout, 0, 0, {}});
    for (int i = 0; i < 20 && !d.ok(); ++i)
      d = c.discover();
    REQUIRE_MESSAGE(d.ok(), d.error().message());
    CHECK(d->results.at(0).address.ip.to_string() == "198.51.100.2");
  });

  relay_server_options so;
  so.config = {3479, "198.51.100.1:3479", 10};
  so.credential = "cluster-secret";
  relay_server server(so);
  lab.inside(lab.pub(), [&] { REQUIRE(server.start().ok()); });

  inbox in1, in2;
  std::unique_ptr<relay_client> c1, c2;
  auto make = [&](inbox& in) {
    relay_client_options o;
    o.server = {"198.51.100.1:3479", "node", "cluster-secret", std::nullopt};
    o.request_timeout = 2000ms;
    o.on_data
      = [&in](const udp_endpoint& from, std::span<const std::uint8_t> d) {
          std::lock_guard l(in.mu);
          in.got.emplace_back(from, std::string(d.begin(), d.end()));
        };
    auto c = relay_client::create(o);
    REQUIRE(c.ok());
    return std::move(*c);
  };
  lab.inside(lab.h1(), [&] { c1 = make(in1); });
  lab.inside(lab.h2(), [&] { c2 = make(in2); });
  auto a1 = c1->allocate();
  auto a2 = c2->allocate();
  REQUIRE_MESSAGE(a1.ok(), a1.error());
  REQUIRE_MESSAGE(a2.ok(), a2.error());
  CHECK(a1->ip.to_string() == "198.51.100.1");
  REQUIRE(c1->ensure_permission(*a2).ok());
  REQUIRE(c2->ensure_permission(*a1).ok());

  for (int i = 0; i < 10; ++i) {
    std::string m = "ping " + std::to_string(i);
    REQUIRE(c1->send_data(*a2, {reinterpret_cast<const std::uint8_t*>(m.data()),
                                m.size()})
              .ok());
    REQUIRE(c2->send_data(*a1, {reinterpret_cast<const std::uint8_t*>(m.data()),
                                m.size()})
              .ok());
  }
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while ((in1.size() < 10 || in2.size() < 10)
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  CHECK(in1.size() == 10);
  CHECK(in2.size() == 10);
  {
    std::lock_guard l(in2.mu);
    REQUIRE_FALSE(in2.got.empty());
    CHECK(in2.got[0].first == *a1);
    CHECK(in2.got[0].second == "ping 0");
  }
  CHECK(c1->refresh().ok()); // control replies still reach us through NAT
  CHECK(server.session_count() == 2);
  c1.reset(); // deallocates on teardown
  c2.reset();
  auto until = std::chrono::steady_clock::now() + 2s;
  while (server.session_count() != 0
         && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  CHECK(server.session_count() == 0);
  server.stop();
}
