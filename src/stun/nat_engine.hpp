#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "stun/candidate.hpp"
#include "stun/gather.hpp"
#include "stun/nat_config.hpp"
#include "stun/result.hpp"
#include "stun/stun_client.hpp"
#include "stun/traversal.hpp"

namespace overlayd::stun {

// The blocking work a tick needs, supplied by the caller (the nat_ticker
// actor runs it off the scheduler; tests script it).
struct nat_services {
  // First tick with `relay_server` configured; a failure only warns.
  std::function<status(const relay_server_config&, const std::string&)>
    start_relay;
  // §2.2 candidate gathering for the given config.
  std::function<result<gathered_candidates>(const nat_config&)> gather;
  // One STUN pass (stun_client::discover) for the refresh.
  std::function<result<stun_discovery, stun_error>()> discover;
  // Refresh live relay allocations; errors only warn.
  std::function<void()> refresh_relays;
  std::function<void(const std::string&)> warn;
};

// `NatPeerWire` / `NatStatusWire` contents.
struct nat_peer_status {
  std::string node_id;         // base64 public key
  std::string connection_type; // "direct" | "hole-punched" | "relayed"
  std::optional<std::string> remote_endpoint;
};
struct nat_status {
  std::vector<candidate_wire> candidates;
  std::vector<nat_peer_status> peers;
  std::uint64_t last_refresh = 0;
};

// An attempt that finished during `poll()` or `tick()`.
struct attempt_outcome {
  std::string pubkey;
  attempt_kind kind;
  std::optional<connection_type> connection; // nullopt: failed
  std::optional<udp_endpoint> endpoint;      // the candidate that worked
};

inline constexpr std::uint64_t reconnect_cutoff_secs = 75;

// NAT traversal state of one node (§8) with the reference's tick order,
// minus its blocking: attempts are state machines advanced by `poll()`
// every second, so peers are tried concurrently and a tick returns at
// once. Not thread-safe: one owner (the nat_ticker actor) drives it.
class nat_engine {
public:
  explicit nat_engine(std::uint16_t wg_port) : wg_port_(wg_port) {}

  // `setup_global_overlay` with `nat` present. Takes effect on the first
  // tick (later changes are kept but do not restart traversal, as in the
  // reference). Without it the Default config (enabled) is used.
  void configure(const converted_nat_config& c);
  const std::optional<nat_config>& configured() const { return config_; }
  const std::optional<std::string>& relay_credential() const {
    return credential_;
  }

  // `add_peer`: the candidates that parse replace the stored set; none
  // parsing (or none given) forgets the peer's candidates.
  void set_peer_candidates(const std::string& pubkey,
                           const std::vector<candidate_wire>& wire,
                           std::uint64_t now_unix);
  // `remove_peer`: candidates, connection type and any running attempt.
  void remove_peer(const std::string& pubkey);

  // `nat_tick`. First tick: start the relay if configured, gather (failure
  // warns and succeeds), connect. Every tick: STUN refresh, then connect
  // peers with candidates and no handshake within 75 s, or re-try relayed
  // peers on direct candidates. Unlike the reference, the connect half
  // also runs when the refresh failed; the error is still returned as
  // "NAT maintenance tick failed: ...".
  status tick(const traversal_time& now, const nat_services& svc,
              wg_control& wg);
  // Advances running attempts; call every `handshake_poll_interval`.
  std::vector<attempt_outcome> poll(const traversal_time& now, wg_control& wg);

  nat_status status_snapshot(wg_control& wg) const;

  bool started() const noexcept { return started_; }
  bool relay_started() const noexcept { return relay_started_; }
  std::size_t running_attempts() const noexcept { return attempts_.size(); }
  bool attempt_running(const std::string& pubkey) const {
    return attempts_.count(pubkey) != 0;
  }
  std::optional<connection_type> connection(const std::string& pubkey) const;
  const std::vector<candidate>& local_candidates() const { return local_; }
  const std::vector<candidate>* peer_candidates(const std::string& k) const;
  std::uint64_t last_refresh() const noexcept { return last_refresh_; }
  nat_behavior behavior() const noexcept { return behavior_; }

private:
  void connect_known_peers(const traversal_time& now, wg_control& wg,
                           std::vector<attempt_outcome>& done);
  void finish(const peer_attempt& a, std::vector<attempt_outcome>& done);

  std::uint16_t wg_port_;
  std::optional<nat_config> config_;
  std::optional<std::string> credential_;
  nat_config active_; // the config traversal started with
  bool started_ = false;
  bool relay_started_ = false;
  std::vector<candidate> local_;
  std::vector<reflexive_address> reflexive_;
  nat_behavior behavior_ = nat_behavior::endpoint_independent;
  std::uint64_t last_refresh_ = 0;
  std::map<std::string, std::vector<candidate>> peer_candidates_;
  std::map<std::string, connection_type> peer_connection_;
  std::map<std::string, peer_attempt> attempts_;
  std::function<void(const std::string&)> warn_;
};

} // namespace overlayd::stun
