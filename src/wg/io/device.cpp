#include "wg/io/device.hpp"

#include "wg/io/fork_join.hpp"
#include "wg/io/tun.hpp"
#include "wg/io/tun_offload.hpp"
#include "wg/io/udp.hpp"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <set>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <utility>

namespace overlayd::wg {

namespace {

constexpr std::size_t tun_reads_per_batch = 16;
constexpr std::size_t tun_read_size = vnet_hdr_len + 65535;
constexpr std::size_t udp_batch_slots = 64;
// Below this many packets a vector is not worth splitting across threads.
constexpr std::size_t min_parallel_packets = 8;
constexpr auto max_timer_wait = std::chrono::milliseconds{100};

io_error invalid(std::string message) {
  return io_error{EINVAL, std::move(message)};
}

result<void> from_op(const op_result& r) {
  if (r)
    return {};
  return invalid(r.error);
}

int make_eventfd() {
  return ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void signal_eventfd(int fd) {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
}

// Waits until `fd` is readable or `stop_fd` fires; false means stop.
bool wait_readable(int fd, int stop_fd) {
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || fds[1].revents != 0)
      return false;
    return true;
  }
}

// Opens an rtnetlink socket that hears about link changes, so the device
// notices `ip link del`.
int open_link_monitor() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    NETLINK_ROUTE);
  if (fd < 0)
    return -1;
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_LINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Drains the monitor; true when it reported the deletion of `ifindex`.
bool link_deleted(int fd, int ifindex) {
  bool deleted = false;
  alignas(nlmsghdr) char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      return deleted;
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != RTM_DELLINK
          || h->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg)))
        continue;
      auto* info = static_cast<ifinfomsg*>(NLMSG_DATA(h));
      if (info->ifi_index == ifindex)
        deleted = true;
    }
  }
}

} // namespace

// -- shared state -------------------------------------------------------------

struct device::sockets {
  udp_socket v4;
  udp_socket v6;
  std::uint16_t port = 0;
  // Stops the reader threads of this generation of sockets.
  int stop_fd = make_eventfd();

  ~sockets() {
    if (stop_fd >= 0)
      ::close(stop_fd);
  }
  udp_socket* for_family(int family) {
    if (family == AF_INET && v4.fd() >= 0)
      return &v4;
    if (v6.fd() >= 0)
      return &v6;
    return nullptr;
  }
};

struct device::io_state {
  std::atomic<std::uint64_t> tun_reads{0};
  std::atomic<std::uint64_t> tun_writes{0};
  std::atomic<std::uint64_t> udp_batches{0};
  std::atomic<std::uint64_t> datagrams_received{0};
  std::atomic<std::uint64_t> datagrams_sent{0};
};

namespace {

// What a data-path thread fetches once per batch: the current sockets and
// the optional other path.
struct send_targets {
  std::shared_ptr<device::sockets> socks;
  std::shared_ptr<datagram_path> path;
};

// Datagrams to endpoints a datagram_path claims, held until flush() so the
// spans handed out by reserve() stay valid while the crypto threads fill
// them. Each datagram has its own buffer, reused from batch to batch; at
// flush they all go to the path in one send_batch call, each as its own
// datagram (never coalesced into a GSO super-datagram).
class path_stage {
public:
  explicit path_stage(std::size_t max) : max_(max) {
    // nop
  }

  std::size_t size() const noexcept { return used_; }
  bool empty() const noexcept { return used_ == 0; }

  /// Bytes for one datagram to `to`, or empty when the stage is full.
  std::span<std::uint8_t> reserve(const endpoint& to, std::size_t size) {
    if (used_ >= max_)
      return {};
    if (used_ == slots_.size())
      slots_.emplace_back();
    auto& slot = slots_[used_++];
    slot.to = to;
    slot.bytes.resize(size);
    return {slot.bytes.data(), size};
  }

  /// Hands every staged datagram to `path` in one call, in order, and
  /// empties the stage.
  void flush(datagram_path& path) {
    batch_.clear();
    for (std::size_t i = 0; i < used_; ++i)
      batch_.push_back({slots_[i].to, slots_[i].bytes});
    path.send_batch(batch_);
    used_ = 0;
  }
  void clear() noexcept { used_ = 0; }

private:
  struct slot {
    endpoint to;
    std::vector<std::uint8_t> bytes;
  };
  std::size_t max_;
  std::size_t used_ = 0;
  std::vector<slot> slots_;
  std::vector<outgoing_datagram> batch_;
};

// The outbox of one data-path thread: datagrams are queued per address
// family and sent with sendmmsg (and GSO) at flush(); TUN packets go through
// the thread's tun_writer. Datagrams to endpoints claimed by a
// datagram_path are staged and handed to the path at flush() instead.
//
// Cost without a path: none per datagram. The claim test sits on the
// address-cache miss branch that already exists, and a claimed endpoint is
// never cached, so every datagram to it takes that branch again.
class batch_outbox final : public outbox {
public:
  using targets_getter = std::function<send_targets()>;

  batch_outbox(targets_getter get, tun_writer* writer,
               std::atomic<std::uint64_t>& sent)
    : get_(std::move(get)), writer_(writer), sent_(sent) {
    // nop
  }

  void send_datagram(const endpoint& to,
                     std::span<const uint8_t> datagram) override {
    auto dst = reserve(to, datagram.size());
    if (dst.size() == datagram.size() && !dst.empty())
      std::memcpy(dst.data(), datagram.data(), datagram.size());
  }

  /// Queues a datagram of `size` bytes to `to` and returns its bytes for
  /// the caller to fill before flush(); flushes first when the queue is
  /// full. Empty if it cannot be sent (no socket for the family, or too
  /// big).
  std::span<std::uint8_t> reserve(const endpoint& to, std::size_t size) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!socks_)
        fetch();
      if (!socks_)
        return {};
      bool v4 = to.address().is_v4();
      auto* sock = socks_->for_family(v4 ? AF_INET : AF_INET6);
      bool mapped = sock != nullptr && sock->family() == AF_INET6 && v4;
      if (sock == nullptr || !have_last_ || !(last_to_ == to)
          || last_mapped_ != mapped) {
        if (path_ && path_->claims(to)) {
          auto dst = stage_.reserve(to, size);
          if (!dst.empty() || size == 0)
            return dst;
          flush(); // stage full: hand it over and retry once
          continue;
        }
        if (sock == nullptr)
          return {};
        last_to_ = to;
        last_mapped_ = mapped;
        last_addr_.len = to.to_sockaddr(last_addr_.storage, mapped);
        have_last_ = true;
      }
      auto& batch = sock->family() == AF_INET ? send4_ : send6_;
      auto dst = batch.reserve(last_addr_, size, sock->gso());
      if (!dst.empty() || size == 0)
        return dst;
      if (batch.empty())
        return {}; // larger than a whole batch
      flush();     // full: send what is queued and retry once
    }
    return {};
  }

  bool empty() const {
    return send4_.empty() && send6_.empty() && stage_.empty();
  }

  /// True when reserve() would have to flush (or fail) for `size` bytes.
  bool full_for(std::size_t size) const {
    return send4_.size() + send6_.size() + stage_.size() >= max_queued_
           || !send4_.fits(size) || !send6_.fits(size);
  }

  void write_tun(std::span<const uint8_t> ip_packet) override {
    if (writer_ != nullptr)
      writer_->add(ip_packet);
  }

  void flush() {
    if (socks_) {
      sent_ += send4_.size() + send6_.size() + stage_.size();
      if (!send4_.empty())
        send4_.flush(socks_->v4);
      if (!send6_.empty())
        send6_.flush(socks_->v6);
    }
    if (path_ && !stage_.empty())
      stage_.flush(*path_);
    send4_.clear();
    send6_.clear();
    stage_.clear();
    socks_.reset();
    path_.reset();
  }

private:
  void fetch() {
    auto t = get_();
    socks_ = std::move(t.socks);
    path_ = std::move(t.path);
    // What the path claims may have changed since the last batch; the
    // address cache must not keep an endpoint away from the claim test.
    if (path_)
      have_last_ = false;
  }

  targets_getter get_;
  tun_writer* writer_;
  std::atomic<std::uint64_t>& sent_;
  std::shared_ptr<device::sockets> socks_;
  std::shared_ptr<datagram_path> path_;
  static constexpr std::size_t max_queued_ = 256;
  udp_send_batch send4_{max_queued_};
  udp_send_batch send6_{max_queued_};
  path_stage stage_{max_queued_};
  endpoint last_to_;
  bool last_mapped_ = false;
  bool have_last_ = false;
  sock_addr last_addr_;
};

} // namespace

// -- lifecycle ----------------------------------------------------------------

device::device(device_config config)
  : config_(std::move(config)), io_(std::make_unique<io_state>()) {
  // nop
}

device::~device() {
  stop();
  if (stop_fd_ >= 0)
    ::close(stop_fd_);
  if (netlink_fd_ >= 0)
    ::close(netlink_fd_);
}

result<std::unique_ptr<device>> device::create(device_config config) {
  if (config.mtu < 576 || config.mtu > 65535)
    return invalid("invalid MTU " + std::to_string(config.mtu));
  std::unique_ptr<device> dev{new device(std::move(config))};
  auto& cfg = dev->config_;
  engine_config ecfg;
  ecfg.private_key = cfg.private_key;
  ecfg.fwmark = cfg.fwmark;
  ecfg.mtu = static_cast<std::uint16_t>(cfg.mtu);
  dev->engine_ = std::make_unique<wg::engine>(dev->clock_, ecfg);
  auto tun = tun_device::create(cfg.ifname, cfg.offloads);
  if (!tun)
    return tun.error();
  dev->tun_ = std::make_unique<tun_device>(std::move(*tun));
  dev->name_ = dev->tun_->name();
  if (auto res = dev->tun_->set_mtu(cfg.mtu); !res)
    return res.error();
  auto socks = dev->bind_sockets(cfg.listen_port, cfg.fwmark);
  if (!socks)
    return socks.error();
  dev->socks_ = std::move(*socks);
  dev->engine_->set_listen_port(dev->socks_->port);
  const auto& f = dev->tun_->features();
  const auto& s4 = dev->socks_->v4;
  spdlog::debug("{}: TUN vnet_hdr={} tso={} uso={}; UDP gso={} gro={}",
                dev->name_, f.vnet_hdr, f.tso, f.uso, s4.gso(), s4.gro());
  dev->stop_fd_ = make_eventfd();
  dev->netlink_fd_ = open_link_monitor();
  if (!cfg.uapi_dir.empty()) {
    if (auto res = dev->uapi_.listen(cfg.uapi_dir, dev->name_); !res)
      return res.error();
  }
  return dev;
}

result<std::shared_ptr<device::sockets>>
device::bind_sockets(std::uint16_t port, std::uint32_t mark) const {
  // With port 0 the kernel picks the IPv4 port, which may be taken for
  // IPv6; try a few times, as wireguard-go does.
  for (int attempt = 0;; ++attempt) {
    auto socks = std::make_shared<sockets>();
    auto v4 = udp_socket::bind(AF_INET, port, mark, config_.offloads);
    if (!v4 && v4.error().code != EAFNOSUPPORT)
      return v4.error();
    std::uint16_t actual = v4 ? v4->port() : port;
    auto v6 = udp_socket::bind(AF_INET6, actual, mark, config_.offloads);
    if (!v6) {
      if (v6.error().code == EADDRINUSE && port == 0 && attempt < 100)
        continue;
      if (v6.error().code != EAFNOSUPPORT || !v4)
        return v6.error();
    }
    if (v4)
      socks->v4 = std::move(*v4);
    if (v6) {
      socks->v6 = std::move(*v6);
      actual = socks->v6.port();
    }
    socks->port = actual;
    return socks;
  }
}

void device::start() {
  std::lock_guard<std::mutex> control{control_mu_};
  // A stopped device has no TUN any more and cannot run again.
  if (!tun_ || tun_->fd() < 0 || running_.exchange(true))
    return;
  tun_thread_ = std::thread([this] { tun_loop(); });
  start_udp_readers();
  timer_thread_ = std::thread([this] { timer_loop(); });
  if (!uapi_.path().empty())
    uapi_.start(*this);
}

void device::stop() {
  // No UAPI request may rebind sockets (and restart readers) from here on.
  uapi_.stop();
  std::lock_guard<std::mutex> control{control_mu_};
  if (running_.exchange(false)) {
    signal_eventfd(stop_fd_);
    {
      std::lock_guard<std::mutex> guard{timer_mu_};
      timer_kick_ = true;
    }
    timer_cv_.notify_all();
    if (tun_thread_.joinable())
      tun_thread_.join();
    if (timer_thread_.joinable())
      timer_thread_.join();
    stop_udp_readers();
  }
  {
    std::lock_guard<std::mutex> inject{inject_mu_};
    injector_.reset();
  }
  std::unique_lock<std::shared_mutex> guard{socks_mu_};
  socks_.reset();
  path_.reset();
  if (tun_)
    tun_->close();
}

void device::start_udp_readers() {
  auto socks = socks_;
  if (!socks)
    return;
  if (socks->v4.fd() >= 0)
    udp_threads_.emplace_back([this, socks] { udp_loop(socks, 4); });
  if (socks->v6.fd() >= 0)
    udp_threads_.emplace_back([this, socks] { udp_loop(socks, 6); });
}

void device::stop_udp_readers() {
  if (socks_)
    signal_eventfd(socks_->stop_fd);
  for (auto& t : udp_threads_)
    t.join();
  udp_threads_.clear();
}

void device::mark_gone() {
  if (!gone_.exchange(true)) {
    spdlog::info("interface {} was deleted", name_);
    if (config_.on_interface_gone)
      config_.on_interface_gone();
  }
}

void device::kick_timer() {
  {
    std::lock_guard<std::mutex> guard{timer_mu_};
    timer_kick_ = true;
  }
  timer_cv_.notify_one();
}

// -- data path ----------------------------------------------------------------

void device::tun_loop() {
  int fd = tun_->fd();
  bool vnet = tun_->features().vnet_hdr;
  std::vector<byte_buffer> bufs;
  for (std::size_t i = 0; i < tun_reads_per_batch; ++i)
    bufs.emplace_back(tun_read_size);
  tun_segmenter seg{tun_reads_per_batch * 80 * 1024};
  auto get = [this] {
    std::shared_lock<std::shared_mutex> guard{socks_mu_};
    return send_targets{socks_, path_};
  };
  batch_outbox out{get, nullptr, io_->datagrams_sent};
  std::unique_ptr<fork_join> helper;
  if (config_.parallel_crypto)
    helper = std::make_unique<fork_join>();
  std::vector<outbound_job> jobs;
  std::vector<std::span<std::uint8_t>> slots;
  auto seal = [this, &jobs, &slots](std::size_t first, std::size_t from,
                                    std::size_t to) {
    for (std::size_t k = from; k < to; ++k)
      engine_->seal(jobs[first + k], slots[k]);
  };
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  while (running_.load(std::memory_order_relaxed)) {
    pollfd fds[3]
      = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}, {netlink_fd_, POLLIN, 0}};
    int n = ::poll(fds, netlink_fd_ >= 0 ? 3 : 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || fds[1].revents != 0)
      return;
    if (netlink_fd_ >= 0 && fds[2].revents != 0
        && link_deleted(netlink_fd_, tun_->ifindex())) {
      mark_gone();
      return;
    }
    if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
      mark_gone();
      return;
    }
    seg.reset();
    std::size_t reads = 0;
    while (reads < tun_reads_per_batch && seg.room() >= 70 * 1024) {
      ssize_t got = ::read(fd, bufs[reads].data(), bufs[reads].size());
      if (got < 0) {
        if (errno == EINTR)
          continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
          if (errno == EBADFD || errno == EIO)
            mark_gone();
          break;
        }
        break;
      }
      std::span<std::uint8_t> read{bufs[reads].data(),
                                   static_cast<std::size_t>(got)};
      if (vnet)
        seg.add_read(read);
      else
        seg.add_plain(read);
      ++reads;
    }
    if (gone_.load())
      return;
    io_->tun_reads += reads;
    const auto& pkts = seg.packets();
    if (pkts.empty())
      continue;
    // Two-phase send: the engine plans serially (routing, counters in
    // packet order), the AEAD work runs on two threads straight into the
    // send queue, and the queue leaves in job order.
    jobs.clear();
    engine_->plan_tun_packets({pkts.data(), pkts.size()}, jobs, out);
    std::size_t next = 0;
    while (next < jobs.size()) {
      std::size_t first = next;
      slots.clear();
      while (next < jobs.size() && !out.full_for(jobs[next].datagram_size)) {
        // An empty span (no socket for the family) is skipped by seal.
        slots.push_back(out.reserve(jobs[next].to, jobs[next].datagram_size));
        ++next;
      }
      if (slots.empty()) {
        // Handshake traffic filled the queue, or the job can never fit.
        if (out.empty())
          ++next;
        out.flush();
        continue;
      }
      std::size_t n = slots.size();
      if (helper && n >= min_parallel_packets) {
        helper->fork([&, first, n] { seal(first, n / 2, n); });
        seal(first, 0, n / 2);
        helper->join();
      } else {
        seal(first, 0, n);
      }
      out.flush();
    }
    // Planning may queue handshake initiations without any data job (the
    // first packet to a peer with no session): send them now, not with
    // some later batch.
    if (!out.empty())
      out.flush();
    jobs.clear(); // drop the session references now
  }
}

void device::udp_loop(std::shared_ptr<sockets> socks, int index) {
  udp_socket& sock = index == 4 ? socks->v4 : socks->v6;
  udp_recv_batch batch{udp_batch_slots, 65536};
  tun_writer writer{tun_->fd(), tun_->features().vnet_hdr};
  auto get = [this] {
    std::shared_lock<std::shared_mutex> guard{socks_mu_};
    return send_targets{socks_, path_};
  };
  batch_outbox out{get, &writer, io_->datagrams_sent};
  std::unique_ptr<fork_join> helper;
  if (config_.parallel_crypto)
    helper = std::make_unique<fork_join>();
  std::vector<inbound_job> jobs;
  std::vector<open_result> opened;
  endpoint from;
  sock_addr last_from;
  auto open = [this, &jobs, &opened](std::size_t from_k, std::size_t to_k) {
    for (std::size_t k = from_k; k < to_k; ++k)
      opened[k] = engine_->open_transport(jobs[k]);
  };
  while (running_.load(std::memory_order_relaxed)) {
    auto got = batch.receive(sock);
    if (!got) {
      spdlog::warn("{}: {}", name_, got.error().message);
      if (!wait_readable(sock.fd(), socks->stop_fd))
        return;
      continue;
    }
    if (*got == 0) {
      if (!wait_readable(sock.fd(), socks->stop_fd))
        return;
      continue;
    }
    ++io_->udp_batches;
    jobs.clear();
    std::size_t handshakes = 0;
    for (std::size_t i = 0; i < *got; ++i) {
      const auto& d = batch[i];
      if (!d.from.same_as(last_from)) {
        auto ep = endpoint::from_sockaddr(d.from.get(), d.from.len);
        if (!ep)
          continue;
        from = *ep;
        last_from = d.from;
      }
      std::size_t step = d.segment_size > 0 ? d.segment_size : d.data.size();
      for (std::size_t off = 0; off < d.data.size(); off += step) {
        inbound_job job;
        job.from = from;
        job.datagram = d.data.subspan(off, std::min(step, d.data.size() - off));
        if (job.datagram[0] != 4)
          ++handshakes;
        jobs.push_back(std::move(job));
      }
    }
    io_->datagrams_received += jobs.size();
    engine_->set_handshake_backlog(handshakes);
    // Two-phase receive: decrypt on two threads, then commit serially in
    // arrival order (replay window, roaming, TUN writes).
    std::size_t n = jobs.size();
    opened.assign(n, open_result::dropped);
    if (helper && n >= min_parallel_packets) {
      helper->fork([&, n] { open(n / 2, n); });
      open(0, n / 2);
      helper->join();
    } else {
      open(0, n);
    }
    for (std::size_t k = 0; k < n; ++k) {
      if (opened[k] == open_result::opened)
        engine_->commit_transport(jobs[k], out);
      else if (opened[k] == open_result::not_transport)
        engine_->on_datagram(jobs[k].from, jobs[k].datagram, out);
    }
    jobs.clear(); // drop the session references now
    io_->tun_writes += writer.flush();
    out.flush();
  }
}

void device::timer_loop() {
  auto get = [this] {
    std::shared_lock<std::shared_mutex> guard{socks_mu_};
    return send_targets{socks_, path_};
  };
  tun_writer writer{tun_->fd(), tun_->features().vnet_hdr};
  batch_outbox out{get, &writer, io_->datagrams_sent};
  while (running_.load()) {
    auto wait = std::min(engine_->next_timer_deadline(), max_timer_wait);
    bool announce = false;
    {
      std::unique_lock<std::mutex> guard{timer_mu_};
      timer_cv_.wait_for(guard, wait, [this] { return timer_kick_; });
      timer_kick_ = false;
      announce = std::exchange(announce_port_, false);
    }
    if (!running_.load())
      return;
    if (announce)
      engine_->send_keepalives(out);
    engine_->on_timer(out);
    writer.flush();
    out.flush();
  }
}

// -- other datagram paths
// ------------------------------------------------------

// What inject_datagram() needs to run the receive path outside the UDP
// threads: its own outbox (replies such as handshake responses) and TUN
// writer, and a buffer to decrypt into (decryption works in place).
struct device::injector {
  tun_writer writer;
  batch_outbox out;
  std::vector<std::uint8_t> buf;
  std::vector<inbound_job> jobs;
  std::vector<open_result> opened;
  std::unique_ptr<fork_join> helper;

  injector(device& dev, int tun_fd, bool vnet)
    : writer(tun_fd, vnet),
      out(
        [&dev] {
          std::shared_lock<std::shared_mutex> guard{dev.socks_mu_};
          return send_targets{dev.socks_, dev.path_};
        },
        &writer, dev.io_->datagrams_sent) {
    if (dev.config_.parallel_crypto)
      helper = std::make_unique<fork_join>();
  }
};

void device::set_datagram_path(std::shared_ptr<datagram_path> path) {
  std::unique_lock<std::shared_mutex> guard{socks_mu_};
  path_ = std::move(path);
}

void device::inject_datagram(const endpoint& from,
                             std::span<const std::uint8_t> datagram) {
  injected_datagram one{from, datagram};
  inject_datagrams({&one, 1});
}

void device::inject_datagrams(std::span<const injected_datagram> batch) {
  std::lock_guard<std::mutex> guard{inject_mu_};
  // stop() takes inject_mu_ before it frees the TUN.
  if (!running_.load() || !tun_ || tun_->fd() < 0)
    return;
  if (!injector_)
    injector_ = std::make_unique<injector>(*this, tun_->fd(),
                                           tun_->features().vnet_hdr);
  auto& in = *injector_;
  // Decryption works in place: copy the batch into one buffer first.
  std::size_t total = 0;
  for (const auto& d : batch)
    total += d.bytes.size();
  in.buf.resize(total);
  in.jobs.clear();
  std::size_t off = 0;
  for (const auto& d : batch) {
    if (d.bytes.empty())
      continue;
    std::memcpy(in.buf.data() + off, d.bytes.data(), d.bytes.size());
    inbound_job job;
    job.from = d.from;
    job.datagram = {in.buf.data() + off, d.bytes.size()};
    off += d.bytes.size();
    in.jobs.push_back(std::move(job));
  }
  std::size_t n = in.jobs.size();
  io_->datagrams_received += n;
  auto& jobs = in.jobs;
  auto& opened = in.opened;
  opened.assign(n, open_result::dropped);
  auto open = [this, &jobs, &opened](std::size_t from_k, std::size_t to_k) {
    for (std::size_t k = from_k; k < to_k; ++k)
      opened[k] = engine_->open_transport(jobs[k]);
  };
  if (in.helper && n >= min_parallel_packets) {
    in.helper->fork([&, n] { open(n / 2, n); });
    open(0, n / 2);
    in.helper->join();
  } else {
    open(0, n);
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (opened[k] == open_result::opened)
      engine_->commit_transport(jobs[k], in.out);
    else if (opened[k] == open_result::not_transport)
      engine_->on_datagram(jobs[k].from, jobs[k].datagram, in.out);
  }
  jobs.clear(); // drop the session references now
  io_->tun_writes += in.writer.flush();
  in.out.flush();
}

// -- control ------------------------------------------------------------------

int device::ifindex() const noexcept {
  return tun_ ? tun_->ifindex() : 0;
}

device_counters device::counters() const {
  return {io_->tun_reads.load(), io_->tun_writes.load(),
          io_->udp_batches.load(), io_->datagrams_received.load(),
          io_->datagrams_sent.load()};
}

void device::set_private_key(const std::optional<key>& private_key) {
  std::lock_guard<std::mutex> guard{control_mu_};
  engine_->set_private_key(private_key);
}

std::optional<key> device::private_key() const {
  return engine_->private_key();
}

std::optional<key> device::public_key() const {
  return engine_->public_key();
}

std::uint16_t device::listen_port() const {
  return engine_->listen_port();
}

result<void> device::set_listen_port(std::uint16_t port) {
  uapi::set_request req;
  req.listen_port = port;
  std::lock_guard<std::mutex> guard{control_mu_};
  return apply_locked(req);
}

result<void> device::set_fwmark(std::uint32_t mark) {
  uapi::set_request req;
  req.fwmark = mark;
  std::lock_guard<std::mutex> guard{control_mu_};
  return apply_locked(req);
}

result<void> device::add_or_update_peer(const peer_config& config) {
  std::lock_guard<std::mutex> guard{control_mu_};
  auto res = from_op(engine_->add_or_update_peer(config));
  kick_timer();
  return res;
}

result<void> device::remove_peer(const key& public_key) {
  std::lock_guard<std::mutex> guard{control_mu_};
  if (engine_->has_peer(public_key))
    return from_op(engine_->remove_peer(public_key));
  return {};
}

result<void> device::add_allowed_ip(const key& public_key,
                                    const allowed_ip& prefix) {
  std::lock_guard<std::mutex> guard{control_mu_};
  return from_op(engine_->add_allowed_ip(public_key, prefix));
}

result<void> device::remove_allowed_ip(const key& public_key,
                                       const allowed_ip& prefix) {
  std::lock_guard<std::mutex> guard{control_mu_};
  return from_op(engine_->remove_allowed_ip(public_key, prefix));
}

result<void> device::set_endpoint(const key& public_key,
                                  const endpoint& where) {
  std::lock_guard<std::mutex> guard{control_mu_};
  auto res = from_op(engine_->set_endpoint(public_key, where));
  kick_timer();
  return res;
}

std::vector<peer_status> device::status() const {
  return engine_->status();
}

std::optional<peer_status> device::status_of(const key& public_key) const {
  return engine_->status_of(public_key);
}

bool device::check_peer_handshake(
  const key& public_key, std::chrono::system_clock::time_point since) const {
  return engine_->check_peer_handshake(public_key, since);
}

// -- UAPI
// -----------------------------------------------------------------------

std::string device::uapi_get() {
  uapi::device_state state;
  {
    std::lock_guard<std::mutex> guard{control_mu_};
    state.private_key = engine_->private_key().value_or(key{});
    state.listen_port = engine_->listen_port();
    state.fwmark = engine_->fwmark();
    for (auto& p : engine_->status()) {
      uapi::peer_state ps;
      ps.public_key = p.public_key;
      ps.preshared_key = p.preshared_key.value_or(key{});
      ps.endpoint = p.endpoint;
      ps.last_handshake_sec = p.last_handshake_sec;
      ps.last_handshake_nsec = p.last_handshake_nsec;
      ps.tx_bytes = p.tx_bytes;
      ps.rx_bytes = p.rx_bytes;
      ps.persistent_keepalive = p.persistent_keepalive;
      ps.allowed_ips = std::move(p.allowed_ips);
      state.peers.push_back(std::move(ps));
    }
  }
  return uapi::format_get(state);
}

result<void> device::uapi_set(const uapi::set_request& req) {
  std::lock_guard<std::mutex> guard{control_mu_};
  auto res = apply_locked(req);
  if (!res)
    spdlog::warn("{}: UAPI set failed: {}", name_, res.error().message);
  return res;
}

namespace {

// Applies one peer block of a set request to the engine.
op_result apply_peer(wg::engine& eng, const uapi::peer_change& pc) {
  auto own = eng.public_key();
  if (own && *own == pc.public_key)
    return op_result::success(); // wireguard-go ignores its own key
  if (pc.remove) {
    if (eng.has_peer(pc.public_key))
      return eng.remove_peer(pc.public_key);
    return op_result::success();
  }
  if (pc.update_only && !eng.has_peer(pc.public_key))
    return op_result::success();
  peer_config cfg;
  cfg.public_key = pc.public_key;
  cfg.preshared_key = pc.preshared_key;
  cfg.endpoint = pc.endpoint;
  cfg.persistent_keepalive = pc.persistent_keepalive;
  cfg.replace_allowed_ips = pc.replace_allowed_ips;
  bool removals = std::any_of(pc.allowed_ips.begin(), pc.allowed_ips.end(),
                              [](const auto& op) { return op.remove; });
  if (!removals)
    for (const auto& op : pc.allowed_ips)
      cfg.allowed_ips.push_back(op.prefix);
  if (auto r = eng.add_or_update_peer(cfg); !r)
    return r;
  if (removals)
    for (const auto& op : pc.allowed_ips) {
      if (op.remove) {
        // Removing a prefix the peer does not own is a no-op.
        (void)eng.remove_allowed_ip(pc.public_key, op.prefix);
      } else if (auto r = eng.add_allowed_ip(pc.public_key, op.prefix); !r) {
        return r;
      }
    }
  return op_result::success();
}

peer_config config_from_status(const peer_status& st) {
  peer_config cfg;
  cfg.public_key = st.public_key;
  cfg.preshared_key = st.preshared_key.value_or(key{});
  cfg.endpoint = st.endpoint;
  cfg.persistent_keepalive = st.persistent_keepalive;
  cfg.allowed_ips = st.allowed_ips;
  cfg.replace_allowed_ips = true;
  return cfg;
}

} // namespace

result<void> device::apply_locked(const uapi::set_request& req) {
  // 1. Everything that can fail for reasons outside the request is prepared
  //    first, so a failure leaves the device untouched.
  std::shared_ptr<sockets> new_socks;
  std::uint32_t old_mark = engine_->fwmark();
  std::uint32_t mark = req.fwmark.value_or(old_mark);
  bool rebind
    = req.listen_port
      && (*req.listen_port == 0 || *req.listen_port != engine_->listen_port());
  if (rebind) {
    auto socks = bind_sockets(*req.listen_port, mark);
    if (!socks)
      return io_error{uapi::err_port_in_use, socks.error().message};
    new_socks = std::move(*socks);
  } else if (req.fwmark && mark != old_mark && socks_) {
    for (auto* s : {&socks_->v4, &socks_->v6}) {
      if (s->fd() < 0)
        continue;
      if (auto res = s->set_mark(mark); !res) {
        for (auto* r : {&socks_->v4, &socks_->v6})
          if (r->fd() >= 0)
            (void)r->set_mark(old_mark);
        return io_error{uapi::err_port_in_use, res.error().message};
      }
    }
  }
  // 2. Snapshot what the engine changes may touch, for rollback.
  auto old_key = engine_->private_key();
  std::vector<peer_status> before;
  std::set<key> touched;
  if (req.replace_peers || req.private_key) {
    before = engine_->status();
    for (const auto& p : before)
      touched.insert(p.public_key);
  }
  for (const auto& pc : req.peers) {
    if (touched.insert(pc.public_key).second)
      if (auto st = engine_->status_of(pc.public_key))
        before.push_back(std::move(*st));
  }
  auto rollback = [&] {
    engine_->set_private_key(old_key);
    for (const auto& k : touched)
      if (engine_->has_peer(k))
        (void)engine_->remove_peer(k);
    for (const auto& st : before)
      (void)engine_->add_or_update_peer(config_from_status(st));
    if (!new_socks && socks_ && mark != old_mark)
      for (auto* s : {&socks_->v4, &socks_->v6})
        if (s->fd() >= 0)
          (void)s->set_mark(old_mark);
  };
  // 3. Engine changes, in request order.
  if (req.private_key)
    engine_->set_private_key(req.private_key->is_zero()
                               ? std::nullopt
                               : std::optional<key>{*req.private_key});
  if (req.replace_peers)
    engine_->remove_all_peers();
  for (const auto& pc : req.peers) {
    if (auto r = apply_peer(*engine_, pc); !r) {
      rollback();
      return invalid(r.error);
    }
  }
  // 4. Commit the sockets.
  if (req.fwmark)
    engine_->set_fwmark(mark);
  if (new_socks) {
    bool running = running_.load();
    if (running)
      stop_udp_readers();
    {
      std::unique_lock<std::shared_mutex> guard{socks_mu_};
      socks_ = new_socks;
    }
    engine_->set_listen_port(new_socks->port);
    if (running)
      start_udp_readers();
    std::lock_guard<std::mutex> guard{timer_mu_};
    announce_port_ = true;
  }
  kick_timer();
  return {};
}

} // namespace overlayd::wg
