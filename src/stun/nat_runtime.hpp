#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
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
//
// The relay data path (`relay_send`, `relay_permit`, the data sink) is what
// stun::relay_path (relay_path.hpp) builds the WireGuard device's relay
// path on; it never waits behind STUN queries or refreshes.
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

  // -- relay data path ------------------------------------------------------
  using relay_data_sink = std::function<void(
    const udp_endpoint&, const udp_endpoint&, std::span<const std::uint8_t>)>;
  // Replaces `on_relay_data` (same arguments). When this returns, no call
  // of the previous sink is still running, so its captures may go.
  void set_relay_data_sink(relay_data_sink sink);
  // The same for whole receive batches (allocation's relay address, DATA
  // payloads); while set it gets the DATA instead of the per-datagram sink.
  using relay_batch_sink
    = std::function<void(const udp_endpoint&, std::span<const relay_datagram>)>;
  void set_relay_batch_sink(relay_batch_sink sink);
  // DATA to `peer_relay` from the allocation that permits its IP; false if
  // none does (call relay_permit first) or the send failed. Never blocks.
  bool relay_send(const udp_endpoint& peer_relay,
                  std::span<const std::uint8_t> datagram) const;
  // Makes one allocation permit `peer_relay`'s IP: an allocation on the
  // same relay (same relay IP) if we have one, else the first active one
  // of the family. Blocks for one PermissionReq round trip when needed.
  status relay_permit(const udp_endpoint& peer_relay);
  // relay_send for many datagrams to one peer (sendmmsg): how many left,
  // nullopt when no allocation permits the peer.
  std::optional<std::size_t> relay_send_batch(
    const udp_endpoint& peer_relay,
    std::span<const std::span<const std::uint8_t>> datagrams) const;
  // Changes whenever the set of relay allocations is replaced (gather,
  // shutdown): permissions and our relay addresses start over then.
  std::uint64_t relay_generation() const noexcept { return relay_gen_.load(); }
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
  // The relay clients, apart from mu_ so the data path never waits behind
  // a STUN query; replaced only under an exclusive lock, and the old
  // clients are destroyed after it is released.
  mutable std::shared_mutex relays_mu_;
  std::vector<std::unique_ptr<relay_client>> relays_;
  std::atomic<std::uint64_t> relay_gen_{0};
  mutable std::shared_mutex sink_mu_;
  relay_data_sink sink_;
  relay_batch_sink batch_sink_;
  void deliver(const udp_endpoint& mine,
               std::span<const relay_datagram> batch) const;
  std::unique_ptr<relay_server> server_;
  std::optional<udp_endpoint> server_addr_;
};

} // namespace overlayd::stun
