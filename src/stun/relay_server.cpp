#include "stun/relay_server.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <unordered_map>
#include <vector>

#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stun/relay_protocol.hpp"
#include "stun/udp_socket.hpp"

namespace overlayd::stun {

namespace {

using clock = std::chrono::steady_clock;
namespace rp = relay;

constexpr std::uint64_t main_token = 0;
constexpr std::uint64_t stop_token = 1;
constexpr int batch = 32;
constexpr std::size_t slot_size = rp::max_packet;
// Slots 64 KiB apart would all map to the same cache sets; skew them.
constexpr std::size_t slot_stride = slot_size + 320;
// Batches read per readiness event before going back to epoll.
constexpr int max_batches = 4;

void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
  c.fetch_add(n, std::memory_order_relaxed);
}

// Large buffers absorb bursts while the loop is descheduled. Root may
// exceed net.core.[rw]mem_max; otherwise the kernel caps the request.
void grow_buffers(int fd, int bytes) {
  if (bytes <= 0)
    return;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

struct allocation {
  rp::allocation_id id{};
  udp_endpoint client; // unmapped: identity of the owner
  udp_socket sock;
  udp_endpoint relay_addr;
  std::vector<ip_address> permissions; // unmapped IPs, port ignored
  // Our address the client sends to (IP_PKTINFO), the source of replies.
  std::optional<ip_address> client_local;
  std::uint32_t lifetime_secs = 0;
  clock::time_point refreshed_at;
  std::uint64_t token = 0;

  bool permits(const ip_address& ip) const {
    return std::find(permissions.begin(), permissions.end(), ip)
           != permissions.end();
  }
};

struct fd_closer {
  int fd = -1;
  ~fd_closer() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace

struct relay_server::loop {
  struct counters {
    std::atomic<std::uint64_t> to_peer_packets{0}, to_peer_bytes{0};
    std::atomic<std::uint64_t> to_client_packets{0}, to_client_bytes{0};
    std::atomic<std::uint64_t> dropped{0}, expired{0};
  };

  relay_server_options opts;
  std::atomic<std::size_t>& sessions;
  counters stats;
  rp::auth_key key{};
  udp_endpoint external;
  ip_address bind_ip; // relay sockets
  // The main socket is a wildcard: learn each datagram's destination and
  // answer from it (a multi-homed relay would otherwise pick the route's
  // source, which the client's NAT drops).
  bool pktinfo = false;
  std::optional<ip_address> cur_local; // of the datagram being handled
  alignas(cmsghdr) std::uint8_t in_ctl[batch][64];
  alignas(cmsghdr) std::uint8_t out_ctl[batch][64];
  alignas(cmsghdr) std::uint8_t reply_ctl[64];
  udp_socket main;
  fd_closer ep, ev;
  std::map<rp::allocation_id, std::unique_ptr<allocation>> by_id;
  std::unordered_map<udp_endpoint, allocation*, udp_endpoint_hash> by_client;
  std::unordered_map<std::uint64_t, allocation*> by_token;
  // Relay port -> allocation, for DATA addressed to one of our own relay
  // addresses (two clients of this relay talking to each other).
  std::unordered_map<std::uint16_t, allocation*> by_port;
  std::uint64_t next_token = 2;
  clock::time_point next_reap;

  // Receive batch (reused by every socket; flushed before the next read).
  std::vector<std::uint8_t> bufs;
  mmsghdr in_msgs[batch];
  iovec in_iov[batch];
  sockaddr_storage in_addr[batch];
  // Send batch.
  mmsghdr out_msgs[batch];
  iovec out_iov[batch][2];
  sockaddr_storage out_addr[batch];
  std::uint8_t out_hdr[batch][24];
  int out_fd[batch];
  int out_n = 0;
  // flush() folds runs of equal-size DATA to one client into UDP GSO sends
  // (one packet through the stack instead of one per datagram).
  bool gso = true;
  mmsghdr gso_msgs[batch];
  int gso_count[batch];
  alignas(cmsghdr) std::uint8_t gso_ctl[batch][96];

  loop(relay_server_options o, std::atomic<std::size_t>& s)
    : opts(std::move(o)), sessions(s), bufs(batch * slot_stride) {
    key = rp::derive_auth_key(opts.credential);
    for (int i = 0; i < batch; ++i) {
      in_iov[i] = {bufs.data() + i * slot_stride, slot_size};
      std::memset(&in_msgs[i], 0, sizeof in_msgs[i]);
    }
  }

  void log(const std::string& m) const {
    if (opts.log)
      opts.log(m);
  }

  // Writes a source-address cmsg for the main socket into `buf`; returns
  // its length (0: none needed).
  std::size_t source_cmsg(std::uint8_t* buf,
                          const std::optional<ip_address>& src) const {
    if (!pktinfo || !src)
      return 0;
    msghdr h{};
    h.msg_control = buf;
    if (main.family() == AF_INET) {
      h.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo info{};
      std::memcpy(&info.ipi_spec_dst, src->unmapped().bytes.data(), 4);
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
    } else {
      h.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
      cmsghdr* c = CMSG_FIRSTHDR(&h);
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo info{};
      std::memcpy(&info.ipi6_addr, src->mapped().bytes.data(), 16);
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
    }
    return h.msg_controllen;
  }

  // The destination address of received datagram `i` on the main socket.
  std::optional<ip_address> local_of(int i) {
    if (!pktinfo)
      return std::nullopt;
    msghdr& h = in_msgs[i].msg_hdr;
    for (cmsghdr* c = CMSG_FIRSTHDR(&h); c; c = CMSG_NXTHDR(&h, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo info;
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        ip_address ip;
        std::memcpy(ip.bytes.data(), &info.ipi_addr, 4);
        return ip;
      }
      if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo info;
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        ip_address ip;
        ip.family = ip_address::family_t::v6;
        std::memcpy(ip.bytes.data(), &info.ipi6_addr, 16);
        return ip.unmapped();
      }
    }
    return std::nullopt;
  }

  void reply(rp::msg_type t, std::span<const std::uint8_t> payload,
             const udp_endpoint& to) {
    auto m = rp::build_control(t, payload, key);
    sockaddr_storage ss;
    socklen_t alen = to.to_sockaddr(ss, main.family());
    if (alen == 0)
      return;
    iovec iov{m.data(), m.size()};
    msghdr h{};
    h.msg_name = &ss;
    h.msg_namelen = alen;
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    if (std::size_t n = source_cmsg(reply_ctl, cur_local)) {
      h.msg_control = reply_ctl;
      h.msg_controllen = n;
    }
    (void)::sendmsg(main.fd(), &h, MSG_NOSIGNAL | MSG_DONTWAIT);
  }

  // ---- output batching ----------------------------------------------------

  void queue(int fd, const udp_endpoint& to, int sock_family,
             const std::uint8_t* hdr, std::size_t hdr_len,
             std::span<const std::uint8_t> raw,
             const std::optional<ip_address>& src = std::nullopt) {
    int i = out_n;
    socklen_t alen = to.to_sockaddr(out_addr[i], sock_family);
    if (alen == 0) {
      bump(stats.dropped);
      return;
    }
    std::size_t niov = 0;
    if (hdr_len) {
      std::memcpy(out_hdr[i], hdr, hdr_len);
      out_iov[i][niov++] = {out_hdr[i], hdr_len};
    }
    out_iov[i][niov++] = {const_cast<std::uint8_t*>(raw.data()), raw.size()};
    std::memset(&out_msgs[i], 0, sizeof out_msgs[i]);
    out_msgs[i].msg_hdr.msg_name = &out_addr[i];
    out_msgs[i].msg_hdr.msg_namelen = alen;
    out_msgs[i].msg_hdr.msg_iov = out_iov[i];
    out_msgs[i].msg_hdr.msg_iovlen = niov;
    if (fd == main.fd())
      if (std::size_t n = source_cmsg(out_ctl[i], src)) {
        out_msgs[i].msg_hdr.msg_control = out_ctl[i];
        out_msgs[i].msg_hdr.msg_controllen = n;
      }
    out_fd[i] = fd;
    ++out_n;
  }

  static std::size_t iov_bytes(const msghdr& h) {
    std::size_t n = 0;
    for (std::size_t k = 0; k < h.msg_iovlen; ++k)
      n += h.msg_iov[k].iov_len;
    return n;
  }

  // Whether queued message `k` can join a GSO run started at `first`: same
  // socket, destination, source control and size, header plus payload.
  bool joins(int first, int k, std::size_t seg) const {
    const msghdr& a = out_msgs[first].msg_hdr;
    const msghdr& b = out_msgs[k].msg_hdr;
    return out_fd[k] == out_fd[first] && b.msg_iovlen == 2
           && a.msg_namelen == b.msg_namelen
           && std::memcmp(a.msg_name, b.msg_name, a.msg_namelen) == 0
           && a.msg_controllen == b.msg_controllen
           && (a.msg_controllen == 0
               || std::memcmp(a.msg_control, b.msg_control, a.msg_controllen)
                    == 0)
           && iov_bytes(b) == seg;
  }

  // Compacts out_msgs[i, j) into gso_msgs: a run of at least two equal-size
  // two-part messages to one destination becomes one message with
  // UDP_SEGMENT (out_iov rows are contiguous, so the run's iovecs already
  // follow each other). Returns the number of messages.
  int compact(int i, int j) {
    int m = 0;
    int k = i;
    while (k < j) {
      int first = k++;
      const msghdr& h = out_msgs[first].msg_hdr;
      std::size_t seg = iov_bytes(h);
      if (gso && h.msg_iovlen == 2) {
        std::size_t limit = std::min<std::size_t>(64, 65000 / seg);
        while (k < j && static_cast<std::size_t>(k - first) < limit
               && joins(first, k, seg))
          ++k;
      }
      int count = k - first;
      gso_msgs[m] = out_msgs[first];
      gso_count[m] = count;
      if (count > 1) {
        msghdr& g = gso_msgs[m].msg_hdr;
        g.msg_iovlen = 2 * static_cast<std::size_t>(count);
        std::size_t ctl = h.msg_controllen;
        if (ctl)
          std::memcpy(gso_ctl[m], h.msg_control, ctl);
        auto* c = reinterpret_cast<cmsghdr*>(gso_ctl[m] + ctl);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
        auto seg16 = static_cast<std::uint16_t>(seg);
        std::memcpy(CMSG_DATA(c), &seg16, sizeof seg16);
        g.msg_control = gso_ctl[m];
        g.msg_controllen = ctl + CMSG_SPACE(sizeof(std::uint16_t));
      }
      ++m;
    }
    return m;
  }

  // One sendmmsg per run of messages leaving through the same socket.
  void flush() {
    int i = 0;
    while (i < out_n) {
      int j = i;
      while (j < out_n && out_fd[j] == out_fd[i])
        ++j;
      int m = compact(i, j);
      int off = 0;
      while (off < m) {
        int sent = ::sendmmsg(out_fd[i], &gso_msgs[off],
                              static_cast<unsigned>(m - off), MSG_DONTWAIT);
        if (sent <= 0) {
          // A kernel or device without UDP GSO: plain sends from now on.
          if (gso_count[off] > 1
              && (errno == EIO || errno == EINVAL || errno == EOPNOTSUPP
                  || errno == ENOPROTOOPT))
            gso = false;
          // EAGAIN or a per-destination error: drop this message only.
          bump(stats.dropped, static_cast<std::uint64_t>(gso_count[off]));
          ++off;
          continue;
        }
        off += sent;
      }
      i = j;
    }
    out_n = 0;
  }

  int receive(int fd) {
    for (int i = 0; i < batch; ++i) {
      in_msgs[i].msg_hdr.msg_name = &in_addr[i];
      in_msgs[i].msg_hdr.msg_namelen = sizeof in_addr[i];
      in_msgs[i].msg_hdr.msg_iov = &in_iov[i];
      in_msgs[i].msg_hdr.msg_iovlen = 1;
      in_msgs[i].msg_hdr.msg_flags = 0;
      bool ctl = pktinfo && fd == main.fd();
      in_msgs[i].msg_hdr.msg_control = ctl ? in_ctl[i] : nullptr;
      in_msgs[i].msg_hdr.msg_controllen = ctl ? sizeof in_ctl[i] : 0;
    }
    int n = ::recvmmsg(fd, in_msgs, batch, MSG_DONTWAIT, nullptr);
    return n < 0 ? 0 : n;
  }

  // ---- allocation lifecycle -----------------------------------------------

  void remove(allocation* a) {
    ::epoll_ctl(ep.fd, EPOLL_CTL_DEL, a->sock.fd(), nullptr);
    by_token.erase(a->token);
    by_port.erase(a->relay_addr.port);
    auto c = by_client.find(a->client);
    if (c != by_client.end() && c->second == a)
      by_client.erase(c);
    by_id.erase(a->id); // closes the relay socket
    sessions = by_id.size();
  }

  void reap(clock::time_point now) {
    std::vector<allocation*> dead;
    for (auto& [id, a] : by_id) {
      auto expires = a->refreshed_at + std::chrono::seconds(a->lifetime_secs)
                     + opts.expiry_slack;
      if (now >= expires)
        dead.push_back(a.get());
    }
    for (auto* a : dead) {
      log("relay: allocation of " + a->client.to_string() + " expired");
      bump(stats.expired);
      remove(a);
    }
  }

  // ---- control handlers ---------------------------------------------------

  void on_allocate(std::span<const std::uint8_t> p, const udp_endpoint& from) {
    static constexpr std::string_view full = "max sessions reached";
    static constexpr std::string_view dup = "allocation already exists";
    static constexpr std::string_view bind_failed = "relay bind failed";
    auto text = [](std::string_view s) {
      return std::span<const std::uint8_t>(
        reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    };
    if (by_id.size() >= opts.config.max_sessions) {
      reply(rp::msg_type::allocate_err, text(full), from);
      return;
    }
    if (by_client.count(from)) {
      reply(rp::msg_type::allocate_err, text(dup), from);
      return;
    }
    std::string user = "unknown";
    if (!p.empty() && p.size() > p[0])
      user.assign(reinterpret_cast<const char*>(&p[1]), p[0]);
    auto sock = udp_socket::bind(main.family(), {bind_ip, 0});
    if (!sock) {
      log("relay: bind for " + from.to_string() + " failed: " + sock.error());
      reply(rp::msg_type::allocate_err, text(bind_failed), from);
      return;
    }
    auto local = sock->local_endpoint();
    if (!local)
      return;
    grow_buffers(sock->fd(), opts.socket_buffer_bytes);
    auto a = std::make_unique<allocation>();
    randombytes_buf(a->id.data(), a->id.size());
    a->client = from;
    a->client_local = cur_local;
    a->relay_addr = {external.ip, local->port};
    a->lifetime_secs = static_cast<std::uint32_t>(opts.lifetime.count());
    a->refreshed_at = clock::now();
    a->token = next_token++;
    a->sock = std::move(*sock);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = a->token;
    if (::epoll_ctl(ep.fd, EPOLL_CTL_ADD, a->sock.fd(), &e) != 0) {
      reply(rp::msg_type::allocate_err, text(bind_failed), from);
      return;
    }
    auto payload
      = rp::allocate_resp_payload(a->relay_addr, a->id, a->lifetime_secs);
    log("relay: allocated " + a->relay_addr.to_string() + " for " + user
        + " at " + from.to_string());
    by_client[from] = a.get();
    by_token[a->token] = a.get();
    by_port[a->relay_addr.port] = a.get();
    by_id[a->id] = std::move(a);
    sessions = by_id.size();
    reply(rp::msg_type::allocate_resp, payload, from);
  }

  allocation* owned(std::span<const std::uint8_t> id_bytes,
                    const udp_endpoint& from) {
    rp::allocation_id id;
    std::memcpy(id.data(), id_bytes.data(), id.size());
    auto it = by_id.find(id);
    if (it == by_id.end() || it->second->client != from)
      return nullptr;
    return it->second.get();
  }

  void on_permission(std::span<const std::uint8_t> p,
                     const udp_endpoint& from) {
    if (p.size() < 23)
      return;
    auto peer = rp::decode_addr(p.subspan(16));
    if (!peer)
      return;
    allocation* a = owned(p.first(16), from);
    if (!a)
      return;
    a->client_local = cur_local;
    if (!a->permits(peer->addr.ip.unmapped()))
      a->permissions.emplace_back(peer->addr.ip.unmapped());
    reply(rp::msg_type::permission_resp, {}, from);
  }

  void on_refresh(std::span<const std::uint8_t> p, const udp_endpoint& from) {
    if (p.size() < 20)
      return;
    allocation* a = owned(p.first(16), from);
    if (!a)
      return;
    std::uint32_t lifetime = rp::read_be32(&p[16]);
    a->client_local = cur_local;
    a->lifetime_secs = lifetime;
    a->refreshed_at = clock::now();
    reply(rp::msg_type::refresh_resp, rp::lifetime_payload(lifetime), from);
  }

  void on_deallocate(std::span<const std::uint8_t> p,
                     const udp_endpoint& from) {
    if (p.size() < 16)
      return;
    // An unknown id is ignored (the reference would drop the sender's
    // lookup entry and orphan its real allocation).
    if (allocation* a = owned(p.first(16), from))
      remove(a);
  }

  // ---- datagram paths -----------------------------------------------------

  void on_main_datagram(std::span<const std::uint8_t> d,
                        const udp_endpoint& from) {
    if (d.empty())
      return;
    if (d[0] == static_cast<std::uint8_t>(rp::msg_type::data)) {
      auto it = by_client.find(from);
      if (it == by_client.end()) {
        bump(stats.dropped);
        return;
      }
      auto m = rp::parse_data(d);
      allocation* a = it->second;
      if (!m || !a->permits(m->peer.ip.unmapped())) {
        bump(stats.dropped);
        return;
      }
      bump(stats.to_peer_packets);
      bump(stats.to_peer_bytes, m->raw.size());
      if (m->peer.ip.unmapped() == external.ip.unmapped()) {
        auto t = by_port.find(m->peer.port);
        if (t != by_port.end()) {
          deliver_local(*a, *t->second, m->raw);
          return;
        }
      }
      queue(a->sock.fd(), m->peer, a->sock.family(), nullptr, 0, m->raw);
      return;
    }
    // Control may close a relay socket that queued datagrams still use.
    flush();
    auto c = rp::parse_control(d, key);
    if (!c)
      return;
    switch (c->type) {
    case rp::msg_type::allocate_req:
      on_allocate(c->payload, from);
      break;
    case rp::msg_type::permission_req:
      on_permission(c->payload, from);
      break;
    case rp::msg_type::refresh_req:
      on_refresh(c->payload, from);
      break;
    case rp::msg_type::deallocate:
      on_deallocate(c->payload, from);
      break;
    default:
      break; // responses and unknown types are ignored
    }
  }

  // DATA from `src`'s client to `dst`'s relay address, delivered without
  // the hairpin through the network: exactly what `dst`'s relay socket
  // would have received from `src`'s, and it also works where the external
  // address is not local (1:1 NAT), which the hairpin does not (§5.5).
  void deliver_local(const allocation& src, allocation& dst,
                     std::span<const std::uint8_t> raw) {
    if (!dst.permits(src.relay_addr.ip.unmapped())) {
      bump(stats.dropped);
      return;
    }
    std::uint8_t hdr[24];
    std::size_t h = rp::write_data_header(src.relay_addr, raw.size(), hdr);
    if (h == 0) {
      bump(stats.dropped);
      return;
    }
    bump(stats.to_client_packets);
    bump(stats.to_client_bytes, raw.size());
    queue(main.fd(), dst.client, main.family(), hdr, h, raw, dst.client_local);
  }

  void read_main() {
    for (int b = 0; b < max_batches; ++b) {
      int n = receive(main.fd());
      for (int i = 0; i < n; ++i) {
        auto from = udp_endpoint::from_sockaddr(
                      reinterpret_cast<sockaddr*>(&in_addr[i]))
                      .unmapped();
        cur_local = local_of(i);
        on_main_datagram({bufs.data() + i * slot_stride, in_msgs[i].msg_len},
                         from);
      }
      flush();
      if (n < batch)
        break;
    }
  }

  void read_relay(allocation* a) {
    for (int b = 0; b < max_batches; ++b) {
      int n = receive(a->sock.fd());
      for (int i = 0; i < n; ++i) {
        auto from = udp_endpoint::from_sockaddr(
                      reinterpret_cast<sockaddr*>(&in_addr[i]))
                      .unmapped();
        std::span<const std::uint8_t> raw(bufs.data() + i * slot_stride,
                                          in_msgs[i].msg_len);
        if (!a->permits(from.ip)) {
          bump(stats.dropped);
          continue;
        }
        std::uint8_t hdr[24];
        std::size_t h = rp::write_data_header(from, raw.size(), hdr);
        if (h == 0) {
          bump(stats.dropped);
          continue;
        }
        bump(stats.to_client_packets);
        bump(stats.to_client_bytes, raw.size());
        queue(main.fd(), a->client, main.family(), hdr, h, raw,
              a->client_local);
      }
      flush();
      if (n < batch)
        break;
    }
  }

  void run() {
    epoll_event evs[64];
    next_reap = clock::now() + std::chrono::seconds(1);
    for (;;) {
      int n = ::epoll_wait(ep.fd, evs, 64, 1000);
      for (int i = 0; i < n; ++i) {
        std::uint64_t t = evs[i].data.u64;
        if (t == stop_token)
          return;
        if (t == main_token) {
          read_main();
          continue;
        }
        auto it = by_token.find(t);
        if (it != by_token.end())
          read_relay(it->second);
      }
      auto now = clock::now();
      if (now >= next_reap) {
        reap(now);
        next_reap = now + std::chrono::seconds(1);
      }
    }
  }
};

relay_server::relay_server(relay_server_options options)
  : options_(std::move(options)) {}

relay_server::~relay_server() {
  stop();
}

result<udp_endpoint> relay_server::start() {
  using r = result<udp_endpoint>;
  std::lock_guard lock(mu_);
  if (loop_)
    return r::failure("TURN relay error: relay server already running");
  if (sodium_init() < 0)
    return r::failure("TURN relay error: libsodium failed to initialise");
  auto external = udp_endpoint::parse(options_.config.external_addr);
  if (!external)
    return r::failure("TURN relay error: Invalid external addr: "
                      + options_.config.external_addr);
  auto l = std::make_unique<loop>(options_, sessions_);
  l->external = *external;
  int family = external->ip.is_v4() ? AF_INET : AF_INET6;
  // The main socket listens on every address, as the reference's does, but
  // answers from the address each client sent to (IP_PKTINFO): from a
  // wildcard socket the route would pick the source, and on a multi-homed
  // relay the client's NAT would drop such replies. Relay sockets bind the
  // external address itself when it is local, so what they send comes from
  // the advertised relay address; otherwise (1:1 NAT) the wildcard.
  ip_address main_ip = options_.bind_ip ? *options_.bind_ip
                                        : ip_address::any(external->ip.family);
  if (options_.bind_ip) {
    l->bind_ip = *options_.bind_ip;
  } else {
    auto probe = udp_socket::bind(family, {external->ip, 0});
    l->bind_ip = probe ? external->ip : ip_address::any(external->ip.family);
  }
  auto main = udp_socket::bind(family, {main_ip, options_.config.listen_port});
  if (main && main_ip.is_unspecified()) {
    int on = 1;
    l->pktinfo
      = family == AF_INET
          ? ::setsockopt(main->fd(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on)
              == 0
          : ::setsockopt(main->fd(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on,
                         sizeof on)
              == 0;
  }
  if (!main)
    return r::failure("TURN relay error: Failed to bind relay server: "
                      + main.error());
  auto bound = main->local_endpoint();
  if (!bound)
    return r::failure("TURN relay error: " + bound.error());
  l->main = std::move(*main);
  grow_buffers(l->main.fd(), options_.socket_buffer_bytes);
  l->ep.fd = ::epoll_create1(EPOLL_CLOEXEC);
  l->ev.fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (l->ep.fd < 0 || l->ev.fd < 0)
    return r::failure("TURN relay error: " + errno_text(errno));
  epoll_event e{};
  e.events = EPOLLIN;
  e.data.u64 = main_token;
  ::epoll_ctl(l->ep.fd, EPOLL_CTL_ADD, l->main.fd(), &e);
  e.data.u64 = stop_token;
  ::epoll_ctl(l->ep.fd, EPOLL_CTL_ADD, l->ev.fd, &e);
  loop_ = std::move(l);
  running_ = true;
  thread_ = std::thread([this] {
    // Named so operators (and the benchmark) can find its CPU time.
    pthread_setname_np(pthread_self(), "relay-server");
    loop_->run();
  });
  return *bound;
}

void relay_server::stop() {
  std::lock_guard lock(mu_);
  if (!loop_)
    return;
  std::uint64_t one = 1;
  (void)::write(loop_->ev.fd, &one, sizeof one);
  if (thread_.joinable())
    thread_.join();
  loop_.reset(); // closes the main socket and every relay socket
  sessions_ = 0;
  running_ = false;
}

relay_server_stats relay_server::stats() const {
  std::lock_guard lock(mu_);
  relay_server_stats s;
  s.sessions = sessions_.load();
  if (!loop_)
    return s;
  const auto& c = loop_->stats;
  s.to_peer_packets = c.to_peer_packets;
  s.to_peer_bytes = c.to_peer_bytes;
  s.to_client_packets = c.to_client_packets;
  s.to_client_bytes = c.to_client_bytes;
  s.dropped = c.dropped;
  s.expired = c.expired;
  return s;
}

} // namespace overlayd::stun
