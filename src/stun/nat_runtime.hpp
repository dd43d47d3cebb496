#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stun/egress.hpp"
#include "stun/nat_engine.hpp"
#include "stun/relay_client.hpp"
#include "stun/relay_server.hpp"
#include "stun/stun_client.hpp"

namespace overlayd::stun {

struct nat_runtime_options {
  std::uint16_t wg_port = 0;
  // The host drivers' netlink view for egress detection; nullopt (or an
  // empty function) falls back to the UDP-connect trick.
  std::function<std::optional<network_snapshot>()> read_network;
  // Deterministic resolution in tests; empty = bypass_resolver().
  resolver_fn resolver;
  std::chrono::milliseconds stun_timeout{3000};
  // DATA arriving on any of our relay allocations: (allocation's relay
  // address, peer address, datagram). Runs on that client's thread.
  std::function<void(const udp_endpoint&, const udp_endpoint&,
                     std::span<const std::uint8_t>)>
    on_relay_data;
  std::function<void(const std::string&)> warn;
  // Relay server tuning (lifetime, slack, buffers); config and credential
  // come from the NAT config at start.
  relay_server_options relay_defaults;
};

// The real implementations behind `nat_services`: STUN over UDP, egress
// from the drivers' snapshot, relay clients per `turn_servers` entry, and
// the built-in relay server. The nat_ticker actor owns one and calls the
// services from a blocking-capable context. Methods of the services and
// `relay_for`/`shutdown` may be called from different threads.
class nat_runtime {
public:
  explicit nat_runtime(nat_runtime_options options);
  ~nat_runtime(); // shutdown()
  nat_runtime(const nat_runtime&) = delete;
  nat_runtime& operator=(const nat_runtime&) = delete;

  nat_services services();

  // The relay client whose allocation can reach `peer_relay` (the first
  // active one), for sending a peer's datagrams over the relay path.
  relay_client* relay_for(const udp_endpoint& peer_relay);
  std::vector<udp_endpoint> relay_addresses() const;
  std::optional<udp_endpoint> relay_server_address() const;

  // Deallocates every relay allocation and stops the relay server.
  void shutdown();

private:
  status start_relay(const relay_server_config& cfg,
                     const std::string& credential);
  result<gathered_candidates> gather(const nat_config& cfg);
  result<stun_discovery, stun_error> discover();
  void refresh_relays();
  void warn(const std::string& m) const;

  nat_runtime_options options_;
  mutable std::mutex mu_;
  std::unique_ptr<stun_client> stun_;
  std::vector<std::unique_ptr<relay_client>> relays_;
  std::unique_ptr<relay_server> server_;
  std::optional<udp_endpoint> server_addr_;
};

} // namespace overlayd::stun
