#include <doctest/doctest.h>

#include <map>
#include <mutex>
#include <thread>

#include "stun/nat_runtime.hpp"
#include "stun/relay_protocol.hpp"
#include "stun/udp_socket.hpp"
#include "stun_responder.hpp"

using namespace overlayd::stun;
using namespace std::chrono_literals;

namespace {

struct idle_wg : wg_control {
  std::map<std::string, udp_endpoint> endpoints;
  status set_endpoint(const std::string& k, const udp_endpoint& e) override {
    endpoints[k] = e;
    return status::success();
  }
  result<std::optional<udp_endpoint>> endpoint(const std::string& k) override {
    auto it = endpoints.find(k);
    if (it == endpoints.end())
      return std::optional<udp_endpoint>{};
    return std::optional<udp_endpoint>{it->second};
  }
  result<std::uint64_t> last_handshake(const std::string&) override {
    return std::uint64_t{0};
  }
};

} // namespace

TEST_CASE("live services: relay server, STUN and relay candidates") {
  stun_responder stun;
  std::mutex mu;
  std::vector<std::string> data;
  nat_runtime_options o;
  o.wg_port = 51820;
  o.stun_timeout = 500ms;
  // No netlink snapshot: egress falls back to the UDP-connect trick.
  o.read_network = [] { return std::optional<network_snapshot>{}; };
  o.on_relay_data = [&](const udp_endpoint& mine, const udp_endpoint& from,
                        std::span<const std::uint8_t> d) {
    std::lock_guard l(mu);
    data.push_back(mine.to_string() + " <- " + from.to_string() + " "
                   + std::string(d.begin(), d.end()));
  };
  nat_runtime rt(o);
  nat_engine engine(51820);

  // The relay this node runs is also the one it allocates on.
  converted_nat_config c;
  c.config.stun_servers = {{stun.address(), std::string("local")}};
  c.config.relay_server = relay_server_config{0, "127.0.0.1:0", 10};
  c.relay_credential = "cluster-secret";
  engine.configure(c);
  // The relay's port is only known after it starts: start it first, then
  // point the TURN entry at it (the actor does the same with a fixed port).
  auto svc = rt.services();
  REQUIRE(svc.start_relay(*c.config.relay_server, "cluster-secret").ok());
  auto relay = rt.relay_server_address();
  REQUIRE(relay.has_value());
  c.config.turn_servers = {{"127.0.0.1:" + std::to_string(relay->port), "node",
                            "cluster-secret", std::nullopt}};
  engine.configure(c);

  idle_wg wg;
  traversal_time now{unix_now(), 0ms};
  auto st = engine.tick(now, svc, wg);
  REQUIRE_MESSAGE(st.ok(), st.error);
  REQUIRE(engine.started());
  bool srflx = false, relay_cand = false;
  for (const auto& cand : engine.local_candidates()) {
    if (cand.type == candidate_type::server_reflexive) {
      srflx = true;
      CHECK(cand.address.to_string() == "127.0.0.1:51820");
    }
    if (cand.type == candidate_type::relay) {
      relay_cand = true;
      CHECK(cand.address.ip.to_string() == "127.0.0.1");
      CHECK(cand.address.port != relay->port);
      CHECK(cand.priority == 10);
    }
  }
  CHECK(srflx);
  CHECK(relay_cand);
  REQUIRE(rt.relay_addresses().size() == 1);

  // A remote node's traffic reaches us through our allocation.
  udp_endpoint mine = rt.relay_addresses()[0];
  relay_client* client = rt.relay_for(mine);
  REQUIRE(client != nullptr);
  auto peer = std::move(
    *udp_socket::bind(AF_INET, *udp_endpoint::parse("127.0.0.1:0")));
  REQUIRE(client->ensure_permission(*peer.local_endpoint()).ok());
  const std::uint8_t hi[] = {'h', 'i'};
  REQUIRE(peer.send_to(hi, mine).ok());
  for (int i = 0; i < 100; ++i) {
    {
      std::lock_guard l(mu);
      if (!data.empty())
        break;
    }
    std::this_thread::sleep_for(20ms);
  }
  {
    std::lock_guard l(mu);
    REQUIRE(data.size() == 1);
    CHECK(data[0]
          == mine.to_string() + " <- " + peer.local_endpoint()->to_string()
               + " hi");
  }

  rt.shutdown();
  CHECK_FALSE(rt.relay_server_address().has_value());
  CHECK(rt.relay_addresses().empty());
}
