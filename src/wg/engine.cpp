#include "wg/engine.hpp"

#include "wg/cookie.hpp"
#include "wg/keypair.hpp"
#include "wg/noise.hpp"
#include "wg/peer.hpp"
#include "wg/timers.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <pthread.h>

#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace overlayd::wg {

namespace {

using time_point = clock::time_point;
using namespace std::chrono_literals;

// Handshake datagrams waiting in the device layer that mean "under load"
// (wireguard-go: QueueHandshakeSize / 8).
constexpr std::size_t under_load_backlog = 1024 / 8;
constexpr auto under_load_linger = 1s;

enum counter_id : std::size_t {
  c_initiations_sent,
  c_initiations_received,
  c_responses_sent,
  c_responses_received,
  c_cookie_replies_sent,
  c_cookie_replies_received,
  c_keepalives_sent,
  c_data_packets_sent,
  c_data_packets_received,
  c_dropped_bad_mac1,
  c_dropped_rate_limited,
  c_dropped_handshake,
  c_dropped_replay,
  c_dropped_decrypt,
  c_dropped_source,
  c_dropped_no_route,
  c_dropped_malformed,
  c_count,
};

uint16_t load_be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

/// Addresses and true length of an IP packet; nullopt when the header is
/// not a plausible IPv4/IPv6 header or claims more bytes than present.
struct ip_header_view {
  ip_address source;
  ip_address destination;
  std::size_t length = 0;
};

std::optional<ip_header_view> parse_ip(std::span<const uint8_t> pkt) {
  if (pkt.empty())
    return std::nullopt;
  ip_header_view v;
  int version = pkt[0] >> 4;
  if (version == 4 && pkt.size() >= 20) {
    v.length = load_be16(pkt.data() + 2);
    if (v.length < 20 || v.length > pkt.size())
      return std::nullopt;
    v.source = *ip_address::from_bytes(pkt.subspan(12, 4));
    v.destination = *ip_address::from_bytes(pkt.subspan(16, 4));
    return v;
  }
  if (version == 6 && pkt.size() >= 40) {
    v.length = 40 + std::size_t{load_be16(pkt.data() + 4)};
    if (v.length > pkt.size())
      return std::nullopt;
    v.source = *ip_address::from_bytes(pkt.subspan(8, 16));
    v.destination = *ip_address::from_bytes(pkt.subspan(24, 16));
    return v;
  }
  return std::nullopt;
}

/// Plaintext size after padding to a multiple of 16, never beyond the MTU
/// (wireguard-go calculatePaddingSize).
std::size_t padded_size(std::size_t n, std::size_t mtu) {
  if (mtu == 0)
    return (n + 15) & ~std::size_t{15};
  std::size_t last_unit = n > mtu ? n % mtu : n;
  std::size_t padded = std::min((last_unit + 15) & ~std::size_t{15}, mtu);
  return n + (padded - last_unit);
}

/// Builds a transport message in `buf` and returns it.
std::span<const uint8_t> seal_transport(std::vector<uint8_t>& buf,
                                        const keypair& kp, uint64_t counter,
                                        std::span<const uint8_t> plain,
                                        std::size_t mtu) {
  std::size_t padded = padded_size(plain.size(), mtu);
  buf.resize(noise::transport_header_size + padded + crypto::aead_tag_size);
  uint8_t* p = buf.data();
  noise::store_le32(p, noise::type_transport);
  noise::store_le32(p + noise::data_receiver, kp.remote_index);
  noise::store_le64(p + noise::data_counter, counter);
  uint8_t* body = p + noise::transport_header_size;
  if (!plain.empty())
    std::memcpy(body, plain.data(), plain.size());
  std::memset(body + plain.size(), 0, padded - plain.size());
  crypto::aead_seal(body, kp.send_key, counter, {body, padded}, {});
  return buf;
}

/// A reader/writer lock that lets a waiting writer in before new readers.
/// glibc's default (and so std::shared_mutex) prefers readers, and with
/// data-path threads holding the read side back to back, a control
/// operation such as `wg set` could wait indefinitely. Readers must not
/// re-enter it while holding it.
class rw_lock {
public:
  rw_lock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~rw_lock() { pthread_rwlock_destroy(&lock_); }
  rw_lock(const rw_lock&) = delete;
  rw_lock& operator=(const rw_lock&) = delete;

  void lock() { pthread_rwlock_wrlock(&lock_); }
  bool try_lock() { return pthread_rwlock_trywrlock(&lock_) == 0; }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { pthread_rwlock_rdlock(&lock_); }
  bool try_lock_shared() { return pthread_rwlock_tryrdlock(&lock_) == 0; }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

private:
  pthread_rwlock_t lock_;
};

std::vector<uint8_t>& seal_buffer() {
  thread_local std::vector<uint8_t> buf;
  return buf;
}

} // namespace

struct engine::state {
  explicit state(wg::clock& c) : clk(c) {
    for (auto& c : counters)
      c.store(0, std::memory_order_relaxed);
  }

  wg::clock& clk;

  // Guards identity, settings, the peer map and the routing trie. The data
  // path holds it shared; control operations hold it exclusively.
  mutable rw_lock table_mu;
  noise::identity self;
  cookie_checker checker;
  uint16_t listen_port = 0;
  uint32_t fwmark = 0;
  std::atomic<uint16_t> mtu{1420};
  std::unordered_map<key, std::shared_ptr<peer>> peers;
  allowed_ips_trie<peer*> routes;

  // Receiver index -> peer and (once the handshake completed) its session.
  struct index_entry {
    std::shared_ptr<peer> owner;
    std::shared_ptr<keypair> session;
  };
  mutable rw_lock index_mu;
  std::unordered_map<uint32_t, index_entry> indices;

  rate_limiter limiter;
  std::mutex load_mu;
  std::optional<time_point> under_load_until;
  time_point load_window_start{};
  uint64_t load_window_count = 0;

  std::array<std::atomic<uint64_t>, c_count> counters;

  void count(counter_id id) {
    counters[id].fetch_add(1, std::memory_order_relaxed);
  }

  // -- index table (caller holds the peer lock when it mutates a peer's
  // entries) --

  uint32_t new_index(const std::shared_ptr<peer>& owner) {
    std::unique_lock guard{index_mu};
    for (;;) {
      uint32_t idx = crypto::random_u32();
      if (idx != 0 && indices.try_emplace(idx, index_entry{owner, {}}).second)
        return idx;
    }
  }

  void bind_index(uint32_t idx, const std::shared_ptr<keypair>& kp) {
    std::unique_lock guard{index_mu};
    auto it = indices.find(idx);
    if (it != indices.end())
      it->second.session = kp;
  }

  void drop_index(uint32_t idx) {
    if (idx == 0)
      return;
    std::unique_lock guard{index_mu};
    indices.erase(idx);
  }

  std::optional<index_entry> find_index(uint32_t idx) const {
    std::shared_lock guard{index_mu};
    auto it = indices.find(idx);
    if (it == indices.end())
      return std::nullopt;
    return it->second;
  }

  /// Forgets the handshake in progress and its index.
  void clear_handshake(peer& p) {
    if (!p.hs)
      return;
    drop_index(p.hs->handshake.local_index);
    p.hs->handshake.clear();
  }

  void drop_keypair(std::shared_ptr<keypair>& kp) {
    if (!kp)
      return;
    drop_index(kp->local_index);
    kp.reset();
  }

  void zero_key_material(peer& p) {
    drop_keypair(p.previous);
    drop_keypair(p.current);
    drop_keypair(p.next);
    clear_handshake(p);
    p.staged.clear();
  }

  std::shared_ptr<keypair> make_keypair(const noise::session_keys& keys,
                                        time_point now) {
    auto kp = std::make_shared<keypair>();
    kp->send_key = keys.send;
    kp->receive_key = keys.receive;
    kp->local_index = keys.local_index;
    kp->remote_index = keys.remote_index;
    kp->initiator = keys.initiator;
    kp->created = now;
    return kp;
  }

  // -- sending (caller holds table_mu shared and p.mu) --

  void emit(peer& p, std::span<const uint8_t> datagram, outbox& out) {
    if (!p.endpoint)
      return;
    out.send_datagram(*p.endpoint, datagram);
    p.tx_bytes.fetch_add(datagram.size(), std::memory_order_relaxed);
  }

  static bool usable_for_sending(const std::shared_ptr<keypair>& kp,
                                 time_point now) {
    return kp && now - kp->created < limits::reject_after_time
           && kp->send_counter.load(std::memory_order_relaxed)
                < limits::reject_after_messages;
  }

  void send_initiation(peer& p, bool retry, outbox& out, time_point now) {
    if (!retry)
      p.timers.handshake_attempts = 0;
    // At most one initiation per REKEY_TIMEOUT.
    if (p.timers.last_sent_handshake
        && now - *p.timers.last_sent_handshake < limits::rekey_timeout)
      return;
    if (!self.valid)
      return;
    auto& hs = p.handshake_for(self);
    if (!hs.secrets.static_static_ok)
      return;
    p.timers.last_sent_handshake = now;
    clear_handshake(p);
    uint32_t idx = new_index(p.shared_from_this());
    std::array<uint8_t, noise::initiation_size> msg;
    if (!noise::create_initiation(self, hs.secrets, hs.handshake, idx,
                                  make_tai64n(clk.wall_now()), msg)) {
      drop_index(idx);
      return;
    }
    hs.cookies.add_macs(msg, now);
    p.timers.on_any_authenticated_packet_traversal(now, p.persistent_keepalive);
    p.timers.on_any_authenticated_packet_sent();
    p.timers.on_handshake_initiated(now);
    count(c_initiations_sent);
    emit(p, msg, out);
  }

  void keep_key_fresh_sending(peer& p, const keypair& kp, uint64_t counter,
                              outbox& out, time_point now) {
    if (counter > limits::rekey_after_messages
        || (kp.initiator && now - kp.created > limits::rekey_after_time))
      send_initiation(p, false, out, now);
  }

  void keep_key_fresh_receiving(peer& p, outbox& out, time_point now) {
    // The initiator re-handshakes shortly before the session would expire
    // if only the other side has been sending.
    const auto& kp = p.current;
    if (kp && kp->initiator && !p.timers.sent_last_minute_handshake
        && now - kp->created > limits::reject_after_time
                                 - limits::keepalive_timeout
                                 - limits::rekey_timeout) {
      p.timers.sent_last_minute_handshake = true;
      send_initiation(p, false, out, now);
    }
  }

  /// Bookkeeping for one sealed transport message about to leave.
  void note_transport_sent(peer& p, std::size_t plain_size, time_point now) {
    if (plain_size > 0) {
      p.timers.on_data_sent(now);
      count(c_data_packets_sent);
    } else {
      count(c_keepalives_sent);
    }
    p.timers.on_any_authenticated_packet_traversal(now, p.persistent_keepalive);
    p.timers.on_any_authenticated_packet_sent();
  }

  void stage(peer& p, std::span<const uint8_t> pkt) {
    if (p.staged.size() >= limits::max_staged_packets)
      p.staged.erase(p.staged.begin()); // drop the oldest
    p.staged.emplace_back(pkt.begin(), pkt.end());
  }

  /// Sends every staged packet with the current session, or starts a
  /// handshake when there is none.
  void send_staged(peer& p, outbox& out, time_point now) {
    if (p.staged.empty())
      return;
    auto kp = p.current;
    if (!usable_for_sending(kp, now) || !p.endpoint) {
      send_initiation(p, false, out, now);
      return;
    }
    uint64_t counter = 0;
    std::size_t sent = 0;
    for (; sent < p.staged.size(); ++sent) {
      counter = kp->send_counter.fetch_add(1, std::memory_order_relaxed);
      if (counter >= limits::reject_after_messages) {
        kp->send_counter.store(limits::reject_after_messages);
        break;
      }
      const auto& pkt = p.staged[sent];
      note_transport_sent(p, pkt.size(), now);
      emit(p, seal_transport(seal_buffer(), *kp, counter, pkt, mtu.load()),
           out);
    }
    bool exhausted = sent < p.staged.size();
    p.staged.erase(p.staged.begin(),
                   p.staged.begin() + static_cast<std::ptrdiff_t>(sent));
    if (exhausted)
      send_initiation(p, false, out, now);
    else
      keep_key_fresh_sending(p, *kp, counter, out, now);
  }

  void send_keepalive(peer& p, outbox& out, time_point now) {
    if (p.staged.empty())
      p.staged.emplace_back();
    send_staged(p, out, now);
  }

  void handshake_complete(peer& p) {
    p.timers.on_handshake_complete();
    p.last_handshake = clk.wall_now();
  }

  // -- receiving --

  bool under_load(time_point now) {
    std::lock_guard guard{load_mu};
    if (now - load_window_start >= 1s) {
      load_window_start = now;
      load_window_count = 0;
    }
    if (++load_window_count > handshake_load_rate)
      under_load_until = now + under_load_linger;
    return under_load_until && now < *under_load_until;
  }

  /// mac1, then under load mac2 (or a cookie reply) and the rate limit.
  bool admit_handshake(const endpoint& from, std::span<const uint8_t> msg,
                       outbox& out, time_point now) {
    // Every arrival counts towards load, forged ones included.
    bool loaded = under_load(now);
    if (!self.valid) {
      count(c_dropped_handshake);
      return false;
    }
    if (!checker.check_mac1(msg)) {
      count(c_dropped_bad_mac1);
      return false;
    }
    if (loaded) {
      if (!checker.check_mac2(msg, from, now)) {
        auto reply = checker.make_reply(msg, from, now);
        out.send_datagram(from, reply);
        count(c_cookie_replies_sent);
        return false;
      }
      if (!limiter.allow(from.address(), now)) {
        count(c_dropped_rate_limited);
        return false;
      }
    }
    return true;
  }

  void on_initiation(const endpoint& from, std::span<const uint8_t> msg,
                     outbox& out, time_point now) {
    if (!admit_handshake(from, msg, out, now))
      return;
    auto claim = noise::open_initiation_static(self, msg);
    auto it = claim ? peers.find(claim->remote_static) : peers.end();
    if (it == peers.end()) {
      count(c_dropped_handshake);
      return;
    }
    peer& p = *it->second;
    std::lock_guard guard{p.mu};
    auto& hs = p.handshake_for(self);
    if (noise::finish_initiation(*claim, msg, hs.secrets, hs.handshake, now)
        != noise::consume_status::ok) {
      count(c_dropped_handshake);
      return;
    }
    count(c_initiations_received);
    p.endpoint = from;
    p.rx_bytes.fetch_add(msg.size(), std::memory_order_relaxed);
    p.timers.on_any_authenticated_packet_traversal(now, p.persistent_keepalive);
    p.timers.on_any_authenticated_packet_received();

    // Our own initiation in flight, if any, is superseded.
    drop_index(hs.handshake.local_index);
    uint32_t idx = new_index(p.shared_from_this());
    std::array<uint8_t, noise::response_size> resp;
    std::optional<noise::session_keys> keys;
    if (noise::create_response(hs.secrets, hs.handshake, idx, resp))
      keys = noise::derive_session(hs.handshake);
    if (!keys) {
      drop_index(idx);
      hs.handshake.clear();
      count(c_dropped_handshake);
      return;
    }
    hs.cookies.add_macs(resp, now);
    // The responder may not send with the new session before the initiator
    // proves it has it (first transport packet): park it in `next`.
    auto kp = make_keypair(*keys, now);
    bind_index(idx, kp);
    drop_keypair(p.next);
    p.next = kp;
    p.timers.on_session_derived(now);
    p.timers.on_any_authenticated_packet_traversal(now, p.persistent_keepalive);
    p.timers.on_any_authenticated_packet_sent();
    count(c_responses_sent);
    emit(p, resp, out);
  }

  void on_response(const endpoint& from, std::span<const uint8_t> msg,
                   outbox& out, time_point now) {
    if (!admit_handshake(from, msg, out, now))
      return;
    auto entry
      = find_index(noise::load_le32(msg.data() + noise::resp_receiver));
    if (!entry || entry->session) {
      count(c_dropped_handshake);
      return;
    }
    peer& p = *entry->owner;
    std::lock_guard guard{p.mu};
    auto& hs = p.handshake_for(self);
    if (!noise::consume_response(self, hs.secrets, hs.handshake, msg)) {
      count(c_dropped_handshake);
      return;
    }
    count(c_responses_received);
    p.endpoint = from;
    p.rx_bytes.fetch_add(msg.size(), std::memory_order_relaxed);
    auto keys = noise::derive_session(hs.handshake);
    auto kp = make_keypair(*keys, now);
    bind_index(kp->local_index, kp);
    // previous <- next (if a responder session was pending) or current.
    drop_keypair(p.previous);
    if (p.next) {
      p.previous = std::move(p.next);
      p.next.reset();
      drop_keypair(p.current);
    } else {
      p.previous = std::move(p.current);
    }
    p.current = kp;
    p.timers.on_session_derived(now);
    handshake_complete(p);
    p.timers.on_any_authenticated_packet_traversal(now, p.persistent_keepalive);
    p.timers.on_any_authenticated_packet_received();
    // Confirms the session to the responder (a keepalive if nothing else
    // is waiting).
    send_keepalive(p, out, now);
  }

  void on_cookie_reply(std::span<const uint8_t> msg, time_point now) {
    auto entry
      = find_index(noise::load_le32(msg.data() + noise::cookie_receiver));
    if (!entry) {
      count(c_dropped_handshake);
      return;
    }
    peer& p = *entry->owner;
    std::lock_guard guard{p.mu};
    if (p.handshake_for(self).cookies.consume_reply(msg, now))
      count(c_cookie_replies_received);
    else
      count(c_dropped_handshake);
  }

  /// Receive phase 1 (no table lock needed): finds the session and
  /// authenticates and decrypts in place. Touches no peer state.
  open_result open_transport(inbound_job& job, time_point now) {
    auto msg = job.datagram;
    if (msg.size() < noise::keepalive_size
        || noise::load_le32(msg.data()) != noise::type_transport)
      return open_result::not_transport;
    auto entry
      = find_index(noise::load_le32(msg.data() + noise::data_receiver));
    if (!entry || !entry->session) {
      count(c_dropped_decrypt);
      return open_result::dropped;
    }
    keypair& kp = *entry->session;
    uint64_t counter = noise::load_le64(msg.data() + noise::data_counter);
    if (now - kp.created >= limits::reject_after_time) {
      count(c_dropped_decrypt);
      return open_result::dropped;
    }
    {
      // Cheap early drop of replays before paying for the AEAD.
      std::lock_guard guard{kp.replay_mu};
      if (!kp.replay.may_accept(counter, limits::reject_after_messages)) {
        count(c_dropped_replay);
        return open_result::dropped;
      }
    }
    auto sealed = msg.subspan(noise::transport_header_size);
    if (!crypto::aead_open(sealed.data(), kp.receive_key, counter, sealed,
                           {})) {
      count(c_dropped_decrypt);
      return open_result::dropped;
    }
    job.session = std::move(entry->session);
    job.owner = std::move(entry->owner);
    job.counter = counter;
    return open_result::opened;
  }

  /// Receive phase 2 (table_mu shared held): replay window, session
  /// rotation, timers, roaming and the inbound allowed-IPs check.
  void commit_transport(inbound_job& job, outbox& out, time_point now) {
    if (!job.session || !job.owner)
      return;
    keypair& kp = *job.session;
    peer& p = *job.owner;
    {
      // The window only learns counters of authentic packets.
      std::lock_guard guard{kp.replay_mu};
      if (!kp.replay.accept(job.counter, limits::reject_after_messages)) {
        count(c_dropped_replay);
        return;
      }
    }
    auto plain
      = job.datagram.subspan(noise::transport_header_size,
                             job.datagram.size() - noise::transport_header_size
                               - crypto::aead_tag_size);
    {
      std::lock_guard guard{p.mu};
      if (p.next && p.next.get() == &kp) {
        // Key confirmation: the initiator uses the new session.
        drop_keypair(p.previous);
        p.previous = std::move(p.current);
        p.current = std::move(p.next);
        p.next.reset();
        handshake_complete(p);
        send_staged(p, out, now);
      }
      keep_key_fresh_receiving(p, out, now);
      p.timers.on_any_authenticated_packet_traversal(now,
                                                     p.persistent_keepalive);
      p.timers.on_any_authenticated_packet_received();
      p.endpoint = job.from; // roaming: follow authenticated packets
      p.rx_bytes.fetch_add(job.datagram.size(), std::memory_order_relaxed);
      if (plain.empty())
        return; // keepalive
      p.timers.on_data_received(now);
    }
    auto ip = parse_ip(plain);
    if (!ip) {
      count(c_dropped_malformed);
      return;
    }
    // Cryptokey routing, inbound: the inner source must be one of the
    // sending peer's allowed IPs.
    auto owner = routes.lookup(ip->source);
    if (!owner || *owner != &p) {
      count(c_dropped_source);
      return;
    }
    count(c_data_packets_received);
    out.write_tun(plain.first(ip->length));
  }

  void on_transport(const endpoint& from, std::span<uint8_t> msg, outbox& out,
                    time_point now) {
    inbound_job job;
    job.from = from;
    job.datagram = msg;
    if (open_transport(job, now) == open_result::opened)
      commit_transport(job, out, now);
  }

  // -- data path entry points (caller holds table_mu shared) --

  /// Send phase 1 (table_mu shared held): routes the packet and either
  /// reserves a counter for it (true, `job` filled) or queues it behind a
  /// handshake (false).
  bool plan_tun_packet(std::span<const uint8_t> ip_packet, outbound_job& job,
                       outbox& out) {
    auto ip = parse_ip(ip_packet);
    if (!ip) {
      count(c_dropped_malformed);
      return false;
    }
    auto owner = routes.lookup(ip->destination);
    if (!owner) {
      count(c_dropped_no_route);
      return false;
    }
    peer& p = **owner;
    auto packet = ip_packet.first(ip->length);
    std::lock_guard peer_guard{p.mu};
    auto now = clk.now();
    auto kp = p.current;
    bool ready = p.staged.empty() && p.endpoint && usable_for_sending(kp, now);
    uint64_t counter = 0;
    if (ready) {
      counter = kp->send_counter.fetch_add(1, std::memory_order_relaxed);
      ready = counter < limits::reject_after_messages;
    }
    if (!ready) {
      // Queue behind a handshake (or behind packets already queued).
      stage(p, packet);
      send_staged(p, out, now);
      return false;
    }
    job.to = *p.endpoint;
    job.packet = packet;
    job.counter = counter;
    job.datagram_size = noise::transport_header_size
                        + padded_size(packet.size(), mtu.load())
                        + crypto::aead_tag_size;
    note_transport_sent(p, packet.size(), now);
    keep_key_fresh_sending(p, *kp, counter, out, now);
    p.tx_bytes.fetch_add(job.datagram_size, std::memory_order_relaxed);
    job.session = std::move(kp);
    return true;
  }

  static std::span<const uint8_t> seal_job(const outbound_job& job,
                                           std::span<uint8_t> dst) {
    const keypair& kp = *job.session;
    std::size_t padded = job.datagram_size - noise::transport_header_size
                         - crypto::aead_tag_size;
    uint8_t* p = dst.data();
    noise::store_le32(p, noise::type_transport);
    noise::store_le32(p + noise::data_receiver, kp.remote_index);
    noise::store_le64(p + noise::data_counter, job.counter);
    uint8_t* body = p + noise::transport_header_size;
    if (!job.packet.empty() && body != job.packet.data())
      std::memmove(body, job.packet.data(), job.packet.size());
    std::memset(body + job.packet.size(), 0, padded - job.packet.size());
    crypto::aead_seal(body, kp.send_key, job.counter, {body, padded}, {});
    return dst.first(job.datagram_size);
  }

  void datagram(const endpoint& from, std::span<uint8_t> msg, outbox& out) {
    if (msg.size() < 4) {
      count(c_dropped_malformed);
      return;
    }
    auto now = clk.now();
    // The type is a little-endian u32: non-zero reserved bytes make it
    // unknown, as in wireguard-go.
    switch (noise::load_le32(msg.data())) {
    case noise::type_initiation:
      if (msg.size() == noise::initiation_size)
        return on_initiation(from, msg, out, now);
      break;
    case noise::type_response:
      if (msg.size() == noise::response_size)
        return on_response(from, msg, out, now);
      break;
    case noise::type_cookie_reply:
      if (msg.size() == noise::cookie_reply_size)
        return on_cookie_reply(msg, now);
      break;
    case noise::type_transport:
      if (msg.size() >= noise::keepalive_size)
        return on_transport(from, msg, out, now);
      break;
    default:
      break;
    }
    count(c_dropped_malformed);
  }

  void fire_timers(peer& p, outbox& out, time_point now) {
    auto due = [now](optional_time_point& t) {
      if (!t || *t > now)
        return false;
      t.reset();
      return true;
    };
    auto& t = p.timers;
    if (due(t.retransmit_handshake)) {
      if (t.handshake_attempts > limits::max_timer_handshakes) {
        // Give up; keys are zeroed later unless a handshake succeeds.
        t.send_keepalive.reset();
        p.staged.clear();
        if (!t.zero_key_material)
          t.zero_key_material = now + 3 * limits::reject_after_time;
      } else {
        ++t.handshake_attempts;
        send_initiation(p, true, out, now);
      }
    }
    if (due(t.send_keepalive)) {
      send_keepalive(p, out, now);
      if (t.need_another_keepalive) {
        t.need_another_keepalive = false;
        t.send_keepalive = now + limits::keepalive_timeout;
      }
    }
    if (due(t.new_handshake))
      send_initiation(p, false, out, now);
    if (due(t.zero_key_material))
      zero_key_material(p);
    if (due(t.persistent_keepalive) && p.persistent_keepalive > 0)
      send_keepalive(p, out, now);
  }

  // -- control (caller holds table_mu exclusively) --

  void remove_peer_locked(
    std::unordered_map<key, std::shared_ptr<peer>>::iterator it) {
    auto sp = it->second;
    clear_routes(*sp);
    {
      std::lock_guard guard{sp->mu};
      zero_key_material(*sp);
      sp->timers.stop_all();
    }
    peers.erase(it);
  }

  // -- routes (caller holds table_mu exclusively) --

  void add_route(peer& p, const allowed_ip& prefix) {
    auto masked = prefix.masked();
    auto previous = routes.insert(masked, &p);
    if (previous && *previous == &p)
      return;
    if (previous)
      std::erase((*previous)->prefixes, masked);
    p.prefixes.push_back(masked);
  }

  bool remove_route(peer& p, const allowed_ip& prefix) {
    auto masked = prefix.masked();
    if (!routes.remove(masked, &p))
      return false;
    std::erase(p.prefixes, masked);
    return true;
  }

  void clear_routes(peer& p) {
    for (const auto& prefix : p.prefixes)
      routes.remove(prefix, &p);
    p.prefixes.clear();
  }

  static op_result check_prefix(const allowed_ip& prefix) {
    if (prefix.cidr > prefix.address.bit_length())
      return op_result::failure("allowed IP " + prefix.to_string()
                                + ": prefix length exceeds "
                                + std::to_string(prefix.address.bit_length()));
    return op_result::success();
  }

  peer_status status_locked(peer& p) const {
    peer_status st;
    st.public_key = p.public_key;
    st.allowed_ips = p.prefixes;
    std::lock_guard guard{p.mu};
    if (!p.preshared.is_zero())
      st.preshared_key = p.preshared;
    st.endpoint = p.endpoint;
    st.persistent_keepalive = p.persistent_keepalive;
    if (p.last_handshake) {
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  p.last_handshake->time_since_epoch())
                  .count();
      st.last_handshake_sec = ns / 1'000'000'000;
      st.last_handshake_nsec = ns % 1'000'000'000;
    }
    st.rx_bytes = p.rx_bytes.load(std::memory_order_relaxed);
    st.tx_bytes = p.tx_bytes.load(std::memory_order_relaxed);
    return st;
  }
};

engine::engine(wg::clock& clock, engine_config config)
  : s_(std::make_unique<state>(clock)) {
  s_->listen_port = config.listen_port;
  s_->fwmark = config.fwmark;
  s_->mtu = config.mtu;
  set_private_key(config.private_key);
}

engine::~engine() {
  remove_all_peers();
}

void engine::set_private_key(const std::optional<key>& private_key) {
  std::unique_lock guard{s_->table_mu};
  noise::identity fresh;
  fresh.set(private_key);
  if (fresh.valid == s_->self.valid
      && (!fresh.valid || fresh.private_key == s_->self.private_key))
    return;
  s_->self = fresh;
  s_->checker.set_public_key(fresh.public_key);
  if (fresh.valid) {
    auto it = s_->peers.find(fresh.public_key);
    if (it != s_->peers.end())
      s_->remove_peer_locked(it);
  }
  for (auto& [k, sp] : s_->peers) {
    std::lock_guard peer_guard{sp->mu};
    if (sp->hs)
      sp->hs->secrets_current = false; // recomputed on the next handshake
    // Sessions made with the old identity may no longer send; a new
    // handshake may start at once.
    s_->clear_handshake(*sp);
    sp->timers.last_sent_handshake.reset();
    for (auto* kp : {&sp->current, &sp->next})
      if (*kp)
        (*kp)->send_counter.store(limits::reject_after_messages);
  }
}

std::optional<key> engine::private_key() const {
  std::shared_lock guard{s_->table_mu};
  if (!s_->self.valid)
    return std::nullopt;
  return s_->self.private_key;
}

std::optional<key> engine::public_key() const {
  std::shared_lock guard{s_->table_mu};
  if (!s_->self.valid)
    return std::nullopt;
  return s_->self.public_key;
}

void engine::set_listen_port(uint16_t port) {
  std::unique_lock guard{s_->table_mu};
  s_->listen_port = port;
}

uint16_t engine::listen_port() const {
  std::shared_lock guard{s_->table_mu};
  return s_->listen_port;
}

void engine::set_fwmark(uint32_t mark) {
  std::unique_lock guard{s_->table_mu};
  s_->fwmark = mark;
}

uint32_t engine::fwmark() const {
  std::shared_lock guard{s_->table_mu};
  return s_->fwmark;
}

void engine::set_mtu(uint16_t mtu) {
  s_->mtu = mtu;
}

uint16_t engine::mtu() const {
  return s_->mtu.load();
}

op_result engine::add_or_update_peer(const peer_config& config) {
  for (const auto& prefix : config.allowed_ips)
    if (auto r = state::check_prefix(prefix); !r)
      return r;
  std::unique_lock guard{s_->table_mu};
  if (s_->self.valid && config.public_key == s_->self.public_key)
    return op_result::failure("peer " + config.public_key.to_base64()
                              + " is this device's own public key");
  auto& sp = s_->peers[config.public_key];
  if (!sp) {
    // The handshake secrets (and their X25519 work) wait for the first
    // handshake, so configuring thousands of peers stays cheap.
    sp = std::make_shared<peer>(config.public_key);
  }
  {
    std::lock_guard peer_guard{sp->mu};
    if (config.preshared_key)
      sp->preshared = *config.preshared_key;
    if (config.endpoint)
      sp->endpoint = *config.endpoint;
    if (config.persistent_keepalive) {
      uint16_t old = sp->persistent_keepalive;
      sp->persistent_keepalive = *config.persistent_keepalive;
      if (sp->persistent_keepalive == 0)
        sp->timers.persistent_keepalive.reset();
      else if (old != sp->persistent_keepalive)
        sp->timers.persistent_keepalive = s_->clk.now(); // send one now
    }
  }
  if (config.replace_allowed_ips)
    s_->clear_routes(*sp);
  for (const auto& prefix : config.allowed_ips)
    s_->add_route(*sp, prefix);
  return op_result::success();
}

op_result engine::remove_peer(const key& public_key) {
  std::unique_lock guard{s_->table_mu};
  auto it = s_->peers.find(public_key);
  if (it == s_->peers.end())
    return op_result::failure("no peer " + public_key.to_base64());
  s_->remove_peer_locked(it);
  return op_result::success();
}

void engine::remove_all_peers() {
  std::unique_lock guard{s_->table_mu};
  while (!s_->peers.empty())
    s_->remove_peer_locked(s_->peers.begin());
}

bool engine::has_peer(const key& public_key) const {
  std::shared_lock guard{s_->table_mu};
  return s_->peers.count(public_key) > 0;
}

std::size_t engine::peer_count() const {
  std::shared_lock guard{s_->table_mu};
  return s_->peers.size();
}

op_result engine::add_allowed_ip(const key& public_key,
                                 const allowed_ip& prefix) {
  if (auto r = state::check_prefix(prefix); !r)
    return r;
  std::unique_lock guard{s_->table_mu};
  auto it = s_->peers.find(public_key);
  if (it == s_->peers.end())
    return op_result::failure("no peer " + public_key.to_base64());
  s_->add_route(*it->second, prefix);
  return op_result::success();
}

op_result engine::remove_allowed_ip(const key& public_key,
                                    const allowed_ip& prefix) {
  if (auto r = state::check_prefix(prefix); !r)
    return r;
  std::unique_lock guard{s_->table_mu};
  auto it = s_->peers.find(public_key);
  if (it == s_->peers.end())
    return op_result::failure("no peer " + public_key.to_base64());
  if (!s_->remove_route(*it->second, prefix))
    return op_result::failure("allowed IP " + prefix.masked().to_string()
                              + " does not belong to peer "
                              + public_key.to_base64());
  return op_result::success();
}

op_result engine::set_endpoint(const key& public_key, const endpoint& where) {
  std::shared_lock guard{s_->table_mu};
  auto it = s_->peers.find(public_key);
  if (it == s_->peers.end())
    return op_result::failure("no peer " + public_key.to_base64());
  std::lock_guard peer_guard{it->second->mu};
  it->second->endpoint = where;
  return op_result::success();
}

// The entry points hold the table lock only for routing and bookkeeping;
// the AEAD work runs outside it (sessions stay alive through the jobs'
// shared pointers), so control operations never wait behind crypto.

void engine::on_tun_packet(std::span<const uint8_t> ip_packet, outbox& out) {
  outbound_job job;
  {
    std::shared_lock guard{s_->table_mu};
    if (!s_->plan_tun_packet(ip_packet, job, out))
      return;
  }
  auto& buf = seal_buffer();
  buf.resize(job.datagram_size);
  out.send_datagram(job.to, state::seal_job(job, buf));
}

void engine::on_tun_packets(
  std::span<const std::span<const uint8_t>> ip_packets, outbox& out) {
  thread_local std::vector<outbound_job> jobs;
  jobs.clear();
  plan_tun_packets(ip_packets, jobs, out);
  auto& buf = seal_buffer();
  for (const auto& job : jobs) {
    buf.resize(job.datagram_size);
    out.send_datagram(job.to, state::seal_job(job, buf));
  }
  jobs.clear(); // drop the session references now
}

void engine::on_datagram(const endpoint& from, std::span<uint8_t> datagram,
                         outbox& out) {
  inbound_job job;
  job.from = from;
  job.datagram = datagram;
  auto opened = s_->open_transport(job, s_->clk.now());
  if (opened == open_result::dropped)
    return;
  std::shared_lock guard{s_->table_mu};
  if (opened == open_result::opened)
    s_->commit_transport(job, out, s_->clk.now());
  else
    s_->datagram(from, datagram, out);
}

void engine::on_datagrams(const endpoint& from,
                          std::span<const std::span<uint8_t>> datagrams,
                          outbox& out) {
  thread_local std::vector<std::pair<inbound_job, open_result>> jobs;
  jobs.clear();
  auto now = s_->clk.now();
  for (auto d : datagrams) {
    inbound_job job;
    job.from = from;
    job.datagram = d;
    auto r = s_->open_transport(job, now);
    jobs.emplace_back(std::move(job), r);
  }
  {
    // One lock for the whole batch; commits keep the arrival order.
    std::shared_lock guard{s_->table_mu};
    now = s_->clk.now();
    for (auto& [job, r] : jobs) {
      if (r == open_result::opened)
        s_->commit_transport(job, out, now);
      else if (r == open_result::not_transport)
        s_->datagram(from, job.datagram, out);
    }
  }
  jobs.clear();
}

void engine::plan_tun_packets(
  std::span<const std::span<const uint8_t>> ip_packets,
  std::vector<outbound_job>& jobs, outbox& out) {
  std::shared_lock guard{s_->table_mu};
  for (auto pkt : ip_packets) {
    outbound_job job;
    if (s_->plan_tun_packet(pkt, job, out))
      jobs.push_back(std::move(job));
  }
}

std::span<const uint8_t> engine::seal(const outbound_job& job,
                                      std::span<uint8_t> dst) const {
  if (!job.session || dst.size() < job.datagram_size)
    return {};
  return state::seal_job(job, dst);
}

open_result engine::open_transport(inbound_job& job) {
  return s_->open_transport(job, s_->clk.now());
}

void engine::commit_transport(inbound_job& job, outbox& out) {
  std::shared_lock guard{s_->table_mu};
  s_->commit_transport(job, out, s_->clk.now());
}

void engine::on_timer(outbox& out) {
  std::shared_lock guard{s_->table_mu};
  auto now = s_->clk.now();
  for (auto& [k, sp] : s_->peers) {
    std::lock_guard peer_guard{sp->mu};
    s_->fire_timers(*sp, out, now);
  }
}

void engine::send_keepalives(outbox& out) {
  std::shared_lock guard{s_->table_mu};
  auto now = s_->clk.now();
  for (auto& [k, sp] : s_->peers) {
    std::lock_guard peer_guard{sp->mu};
    if (sp->endpoint && s_->usable_for_sending(sp->current, now))
      s_->send_keepalive(*sp, out, now);
  }
}

std::chrono::milliseconds engine::next_timer_deadline() {
  using std::chrono::milliseconds;
  std::shared_lock guard{s_->table_mu};
  auto now = s_->clk.now();
  auto best = now + std::chrono::seconds(1);
  for (auto& [k, sp] : s_->peers) {
    std::lock_guard peer_guard{sp->mu};
    if (auto t = sp->timers.earliest(); t && *t < best)
      best = *t;
  }
  if (best <= now)
    return milliseconds(0);
  // Round up so the caller does not wake just before the deadline.
  return std::chrono::ceil<milliseconds>(best - now);
}

void engine::set_handshake_backlog(std::size_t queued) {
  if (queued < under_load_backlog)
    return;
  auto now = s_->clk.now();
  std::lock_guard guard{s_->load_mu};
  s_->under_load_until = now + under_load_linger;
}

std::vector<peer_status> engine::status() const {
  std::shared_lock guard{s_->table_mu};
  std::vector<peer_status> out;
  out.reserve(s_->peers.size());
  for (auto& [k, sp] : s_->peers)
    out.push_back(s_->status_locked(*sp));
  return out;
}

std::optional<peer_status> engine::status_of(const key& public_key) const {
  std::shared_lock guard{s_->table_mu};
  auto it = s_->peers.find(public_key);
  if (it == s_->peers.end())
    return std::nullopt;
  return s_->status_locked(*it->second);
}

bool engine::check_peer_handshake(
  const key& public_key, std::chrono::system_clock::time_point since) const {
  std::shared_lock guard{s_->table_mu};
  auto it = s_->peers.find(public_key);
  if (it == s_->peers.end())
    return false;
  std::lock_guard peer_guard{it->second->mu};
  return it->second->last_handshake && *it->second->last_handshake >= since;
}

bool engine::set_send_counter_for_testing(const key& public_key,
                                          uint64_t counter) {
  std::shared_lock guard{s_->table_mu};
  auto it = s_->peers.find(public_key);
  if (it == s_->peers.end())
    return false;
  std::lock_guard peer_guard{it->second->mu};
  if (!it->second->current)
    return false;
  it->second->current->send_counter.store(counter);
  return true;
}

std::size_t engine::index_count() const {
  std::shared_lock guard{s_->index_mu};
  return s_->indices.size();
}

engine_counters engine::counters() const {
  auto get = [this](counter_id id) {
    return s_->counters[id].load(std::memory_order_relaxed);
  };
  engine_counters c;
  c.initiations_sent = get(c_initiations_sent);
  c.initiations_received = get(c_initiations_received);
  c.responses_sent = get(c_responses_sent);
  c.responses_received = get(c_responses_received);
  c.cookie_replies_sent = get(c_cookie_replies_sent);
  c.cookie_replies_received = get(c_cookie_replies_received);
  c.keepalives_sent = get(c_keepalives_sent);
  c.data_packets_sent = get(c_data_packets_sent);
  c.data_packets_received = get(c_data_packets_received);
  c.dropped_bad_mac1 = get(c_dropped_bad_mac1);
  c.dropped_rate_limited = get(c_dropped_rate_limited);
  c.dropped_handshake = get(c_dropped_handshake);
  c.dropped_replay = get(c_dropped_replay);
  c.dropped_decrypt = get(c_dropped_decrypt);
  c.dropped_source = get(c_dropped_source);
  c.dropped_no_route = get(c_dropped_no_route);
  c.dropped_malformed = get(c_dropped_malformed);
  return c;
}

} // namespace overlayd::wg
