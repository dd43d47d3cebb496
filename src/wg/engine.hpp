#pragma once

// overlayd::wg::engine - the sans-I/O WireGuard protocol engine.
//
// The engine owns no sockets and no threads. The device layer feeds it IP
// packets read from the TUN (on_tun_packet), UDP datagrams (on_datagram) and
// a periodic tick (on_timer); everything the engine wants to emit goes
// through the `outbox` passed to that call, synchronously, before the call
// returns. All member functions are thread-safe: the peer table sits under a
// reader/writer lock and every peer has its own lock, and the AEAD work runs
// outside all of them, so several threads may call the data path at once.
//
// API stability: this header is what the device layer builds against; later
// changes stay source-compatible and are listed here:
//  - added on_datagrams (batch receive), index_count,
//    set_send_counter_for_testing;
//  - added the two-phase data path (plan_tun_packets/seal,
//    open_transport/commit_transport) for parallel crypto;
//  - the data path no longer holds the table lock during AEAD work.

#include "wg/allowed_ips.hpp"
#include "wg/clock.hpp"
#include "wg/endpoint.hpp"
#include "wg/key.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace overlayd::wg {

/// Outcome of a control operation: empty `error` means it was applied; on
/// failure nothing was changed and `error` names the bad input.
struct [[nodiscard]] op_result {
  std::string error;

  bool ok() const { return error.empty(); }
  explicit operator bool() const { return ok(); }
  static op_result success() { return {}; }
  static op_result failure(std::string message) { return {std::move(message)}; }
};

/// Device-wide settings. listen_port and fwmark are only stored (and
/// reported back) for the device layer and UAPI.
struct engine_config {
  std::optional<key> private_key;
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  /// Inner MTU; transport padding never grows a packet beyond it.
  uint16_t mtu = 1420;
};

/// A peer to add, or changes to an existing one. Optional fields left empty
/// keep the peer's current value on update (UAPI `set` semantics).
struct peer_config {
  key public_key;
  /// nullopt keeps the current key; an all-zero key removes it.
  std::optional<key> preshared_key;
  std::optional<wg::endpoint> endpoint;
  /// Seconds, 0 = off; nullopt keeps the current interval.
  std::optional<uint16_t> persistent_keepalive;
  /// Added to the peer (moved from any other peer that owned them).
  std::vector<allowed_ip> allowed_ips;
  /// Drop the peer's existing allowed IPs before adding `allowed_ips`.
  bool replace_allowed_ips = false;
};

/// What `wg show` / UAPI `get` reports for one peer.
struct peer_status {
  key public_key;
  std::optional<key> preshared_key;
  std::optional<wg::endpoint> endpoint;
  std::vector<allowed_ip> allowed_ips;
  uint16_t persistent_keepalive = 0;
  /// Wall-clock time of the last completed handshake; 0/0 = never.
  int64_t last_handshake_sec = 0;
  int64_t last_handshake_nsec = 0;
  uint64_t rx_bytes = 0; // bytes of received datagrams that authenticated
  uint64_t tx_bytes = 0; // bytes of datagrams sent to the peer
};

/// Protocol event counters, for tests, logs and metrics.
struct engine_counters {
  uint64_t initiations_sent = 0;
  uint64_t initiations_received = 0; // consumed successfully
  uint64_t responses_sent = 0;
  uint64_t responses_received = 0; // consumed successfully
  uint64_t cookie_replies_sent = 0;
  uint64_t cookie_replies_received = 0; // consumed successfully
  uint64_t keepalives_sent = 0;
  uint64_t data_packets_sent = 0;
  uint64_t data_packets_received = 0; // delivered to the TUN
  uint64_t dropped_bad_mac1 = 0;
  uint64_t dropped_rate_limited = 0;
  uint64_t dropped_handshake = 0; // failed to authenticate, replayed, flood
  uint64_t dropped_replay = 0;    // transport counter replayed or too old
  uint64_t dropped_decrypt = 0;   // unknown index, stale key, AEAD failure
  uint64_t dropped_source = 0;    // inner source not in the peer's allowed IPs
  uint64_t dropped_no_route = 0;  // TUN packet with no peer for its dest
  uint64_t dropped_malformed = 0; // bad size or type
};

struct keypair;
struct peer;

/// A TUN packet cleared to leave (two-phase send, see plan_tun_packets).
struct outbound_job {
  endpoint to;
  /// The IP packet, in the caller's buffer (must outlive the job).
  std::span<const uint8_t> packet;
  uint64_t counter = 0;
  /// Bytes seal() writes: 16 header + padded packet + 16 tag.
  std::size_t datagram_size = 0;
  std::shared_ptr<keypair> session; // engine-internal
};

/// A datagram going through the two-phase receive path.
struct inbound_job {
  endpoint from;
  std::span<uint8_t> datagram;
  // Filled by open_transport.
  uint64_t counter = 0;
  std::shared_ptr<keypair> session; // engine-internal
  std::shared_ptr<peer> owner;      // engine-internal
};

enum class open_result {
  not_transport, // a handshake or cookie message: use on_datagram
  dropped,       // unknown session, expired, replayed or forged (counted)
  opened,        // authentic, decrypted in place: commit_transport next
};

/// Where the engine puts its output. Spans are valid only during the call.
/// The engine may hold its locks while calling, so an outbox must not call
/// back into the engine.
class outbox {
public:
  virtual ~outbox() = default;
  virtual void send_datagram(const endpoint& to,
                             std::span<const uint8_t> datagram)
    = 0;
  virtual void write_tun(std::span<const uint8_t> ip_packet) = 0;
};

class engine {
public:
  explicit engine(wg::clock& clock, engine_config config = {});
  ~engine();
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // -- device identity and settings ----------------------------------------

  /// Sets (or with nullopt clears) the private key. As in WireGuard, a peer
  /// whose public key equals the new public key is removed, and every
  /// session is expired so fresh handshakes use the new identity.
  void set_private_key(const std::optional<key>& private_key);
  std::optional<key> private_key() const;
  std::optional<key> public_key() const;
  void set_listen_port(uint16_t port);
  uint16_t listen_port() const;
  void set_fwmark(uint32_t mark);
  uint32_t fwmark() const;
  void set_mtu(uint16_t mtu);
  uint16_t mtu() const;

  // -- peers ----------------------------------------------------------------

  /// Creates the peer or updates it in place (sessions survive an update).
  op_result add_or_update_peer(const peer_config& config);
  op_result remove_peer(const key& public_key);
  void remove_all_peers();
  bool has_peer(const key& public_key) const;
  std::size_t peer_count() const;
  op_result add_allowed_ip(const key& public_key, const allowed_ip& prefix);
  op_result remove_allowed_ip(const key& public_key, const allowed_ip& prefix);
  op_result set_endpoint(const key& public_key, const endpoint& where);

  // -- data path ------------------------------------------------------------

  /// An IP packet read from the TUN: routed by destination through the
  /// allowed-IPs trie, then encrypted and sent, or queued while a handshake
  /// is started. Packets without a route are dropped.
  void on_tun_packet(std::span<const uint8_t> ip_packet, outbox& out);
  /// Several TUN packets at once (per-peer bookkeeping can be shared).
  void on_tun_packets(std::span<const std::span<const uint8_t>> ip_packets,
                      outbox& out);
  /// A UDP datagram from `from`. Transport data is decrypted in place.
  void on_datagram(const endpoint& from, std::span<uint8_t> datagram,
                   outbox& out);
  /// Several datagrams from one source (e.g. one UDP GRO read).
  void on_datagrams(const endpoint& from,
                    std::span<const std::span<uint8_t>> datagrams, outbox& out);
  // -- two-phase data path, for parallel crypto with ordered delivery ----
  //
  // Send: plan_tun_packets (serial: routing, counters, queueing and
  // handshakes) then seal (any thread, no locks), then the caller sends the
  // datagrams in job order. Receive: open_transport (any thread: decrypts
  // in place) then commit_transport (serial per peer, in arrival order:
  // replay window, timers, roaming, allowed-IPs check, write_tun).

  void plan_tun_packets(std::span<const std::span<const uint8_t>> ip_packets,
                        std::vector<outbound_job>& jobs, outbox& out);
  /// Writes the datagram of `job` into `dst` (at least job.datagram_size
  /// bytes; may be the packet's own buffer at offset -16) and returns it;
  /// empty if `dst` is too small.
  std::span<const uint8_t> seal(const outbound_job& job,
                                std::span<uint8_t> dst) const;
  open_result open_transport(inbound_job& job);
  void commit_transport(inbound_job& job, outbox& out);

  /// Runs every due timer; call about every 100 ms (or at
  /// next_timer_deadline()).
  void on_timer(outbox& out);
  /// Sends a keepalive to every peer that has a usable session and an
  /// endpoint. Peers learn the sender's endpoint only from its packets, so
  /// after the listen port changes this tells them where it moved (without
  /// it, a peer that only receives keeps sending to the closed port).
  void send_keepalives(outbox& out);
  /// Time until on_timer has work to do, at most one second.
  std::chrono::milliseconds next_timer_deadline();

  /// The device layer reports how many handshake datagrams wait to be
  /// processed. At 128 or more the engine counts as under load for one
  /// second (cookie replies, rate limiting), as wireguard-go does. The
  /// engine also enters that state by itself when handshake messages arrive
  /// faster than `handshake_load_rate` per second.
  void set_handshake_backlog(std::size_t queued);
  static constexpr std::size_t handshake_load_rate = 1024;

  // -- status ---------------------------------------------------------------

  std::vector<peer_status> status() const;
  std::optional<peer_status> status_of(const key& public_key) const;
  /// True when the peer completed a handshake at or after `since`.
  bool check_peer_handshake(const key& public_key,
                            std::chrono::system_clock::time_point since) const;
  engine_counters counters() const;
  /// Test hook: moves the send counter of the peer's current session, so
  /// tests can reach REKEY/REJECT_AFTER_MESSAGES. False without a session.
  bool set_send_counter_for_testing(const key& public_key, uint64_t counter);
  /// Live receiver indices (sessions plus handshakes in flight); lets tests
  /// and leak checks see key material being dropped.
  std::size_t index_count() const;

  struct state;

private:
  std::unique_ptr<state> s_;
};

} // namespace overlayd::wg
