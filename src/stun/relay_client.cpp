#include "stun/relay_client.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sodium.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace overlayd::stun {

namespace rp = relay;

namespace {

std::string turn_error(const std::string& what) {
  return "TURN relay error: " + what;
}

} // namespace

result<std::unique_ptr<relay_client>>
relay_client::create(relay_client_options options) {
  using r = result<std::unique_ptr<relay_client>>;
  auto server = udp_endpoint::parse(options.server.address);
  if (!server)
    return r::failure(
      turn_error("Invalid relay server address: " + options.server.address));
  if (sodium_init() < 0)
    return r::failure(turn_error("libsodium failed to initialise"));
  std::unique_ptr<relay_client> c(
    new relay_client(std::move(options), *server));
  // The socket exists for the client's whole life: the relay knows us by
  // its address, and send_data/receive never race with its creation.
  if (auto s = c->open_socket(); !s)
    return r::failure(s.error);
  return c;
}

relay_client::relay_client(relay_client_options options, udp_endpoint server)
  : options_(std::move(options)), server_(server),
    key_(rp::derive_auth_key(options_.server.credential)) {}

relay_client::~relay_client() {
  deallocate();
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    (void)::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (stop_fd_ >= 0)
    ::close(stop_fd_);
}

void relay_client::log(const std::string& m) const {
  if (options_.log)
    options_.log(m);
}

status relay_client::open_socket() {
  auto s = udp_socket::bind(server_.native_family(),
                            {ip_address::any(server_.ip.family), 0});
  if (!s)
    return status::failure(
      turn_error("Failed to bind relay socket: " + s.error()));
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0)
    return status::failure(turn_error(errno_text(errno)));
  sock_ = std::move(*s);
  if (int bytes = options_.socket_buffer_bytes; bytes > 0) {
    // The forcing variants pass rmem_max/wmem_max when we may (root).
    int fd = sock_.fd();
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0)
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) != 0)
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
  }
  server_sa_len_ = server_.to_sockaddr(server_sa_, sock_.family());
  thread_ = std::thread([this] { receive_loop(); });
  return status::success();
}

status relay_client::request(rp::msg_type type,
                             std::span<const std::uint8_t> payload,
                             std::initializer_list<rp::msg_type> accept,
                             const char* what, rp::msg_type& reply_type,
                             std::vector<std::uint8_t>& reply_payload) {
  auto msg = rp::build_control(type, payload, key_);
  std::unique_lock lock(mu_);
  awaited_.assign(accept.begin(), accept.end());
  reply_.reset();
  lock.unlock();
  auto sent = sock_.send_to(msg, server_);
  lock.lock();
  if (!sent) {
    awaited_.clear();
    return status::failure(
      turn_error(std::string("Failed to send ") + what + ": " + sent.error()));
  }
  bool got = cv_.wait_for(lock, options_.request_timeout,
                          [this] { return reply_.has_value(); });
  awaited_.clear();
  if (!got)
    return status::failure(turn_error(std::string(what) + " timed out"));
  reply_type = reply_->first;
  reply_payload = std::move(reply_->second);
  reply_.reset();
  return status::success();
}

result<udp_endpoint> relay_client::allocate() {
  using r = result<udp_endpoint>;
  std::lock_guard req(request_mu_);
  if (is_active())
    return r::failure(turn_error("already allocated"));
  if (options_.server.username.size() > 255)
    return r::failure(turn_error("Username too long"));
  // An allocation we let lapse may still be alive on the relay, which
  // would answer "allocation already exists" to this socket: release it.
  deallocate();
  rp::msg_type type{};
  std::vector<std::uint8_t> payload;
  auto s = request(rp::msg_type::allocate_req,
                   rp::allocate_req_payload(options_.server.username),
                   {rp::msg_type::allocate_resp, rp::msg_type::allocate_err},
                   "AllocateReq", type, payload);
  if (!s)
    return r::failure(s.error);
  if (type == rp::msg_type::allocate_err)
    return r::failure(turn_error(
      "Allocation rejected: " + std::string(payload.begin(), payload.end())));
  auto resp = rp::parse_allocate_resp(payload);
  if (!resp)
    return r::failure(turn_error("Malformed AllocateResp"));
  std::lock_guard lock(mu_);
  auto now = clock::now();
  alloc_ = allocation_state{resp->relay_addr, resp->id, resp->lifetime,
                            now + std::chrono::seconds(resp->lifetime)};
  permitted_.clear();
  next_refresh_ = now + std::chrono::seconds(resp->lifetime) / 2;
  log("relay allocated " + resp->relay_addr.to_string() + " at "
      + server_.to_string());
  return resp->relay_addr;
}

status relay_client::create_permission(const udp_endpoint& peer) {
  std::lock_guard req(request_mu_);
  std::optional<rp::allocation_id> id;
  {
    std::lock_guard lock(mu_);
    if (alloc_)
      id = alloc_->id;
  }
  if (!id)
    return status::failure(turn_error("No active allocation"));
  rp::msg_type type{};
  std::vector<std::uint8_t> payload;
  return request(
    rp::msg_type::permission_req, rp::permission_req_payload(*id, peer),
    {rp::msg_type::permission_resp}, "PermissionReq", type, payload);
}

status relay_client::ensure_permission(const udp_endpoint& peer) {
  {
    std::lock_guard lock(mu_);
    if (std::find(permitted_.begin(), permitted_.end(), peer.ip.unmapped())
        != permitted_.end())
      return status::success();
  }
  auto s = create_permission(peer);
  if (s) {
    std::lock_guard lock(mu_);
    permitted_.push_back(peer.ip.unmapped());
  }
  return s;
}

status relay_client::refresh() {
  std::lock_guard req(request_mu_);
  std::optional<allocation_state> a;
  {
    std::lock_guard lock(mu_);
    a = alloc_;
  }
  if (!a)
    return status::failure(turn_error("No active allocation"));
  rp::msg_type type{};
  std::vector<std::uint8_t> payload;
  // The receive loop applies the new lifetime as the reply arrives.
  return request(rp::msg_type::refresh_req,
                 rp::refresh_req_payload(a->id, a->lifetime_secs),
                 {rp::msg_type::refresh_resp}, "RefreshReq", type, payload);
}

void relay_client::deallocate() {
  std::optional<rp::allocation_id> id;
  {
    std::lock_guard lock(mu_);
    if (alloc_)
      id = alloc_->id;
    alloc_.reset();
    permitted_.clear();
  }
  if (!id)
    return;
  auto msg = rp::build_control(rp::msg_type::deallocate,
                               std::span<const std::uint8_t>(*id), key_);
  (void)sock_.send_to(msg, server_);
}

status relay_client::send_data(const udp_endpoint& peer,
                               std::span<const std::uint8_t> raw) const {
  auto msg = rp::build_data(peer, raw);
  if (msg.empty())
    return status::failure(turn_error("DATA payload too large"));
  auto s = sock_.send_to(msg, server_);
  return s ? status::success() : status::failure(turn_error(s.error()));
}

bool relay_client::send_data_fast(
  const udp_endpoint& peer, std::span<const std::uint8_t> raw) const noexcept {
  std::uint8_t hdr[rp::header_size + 19];
  std::size_t h = rp::write_data_header(peer, raw.size(), hdr);
  if (h == 0 || server_sa_len_ == 0)
    return false;
  iovec iov[2]
    = {{hdr, h}, {const_cast<std::uint8_t*>(raw.data()), raw.size()}};
  msghdr m{};
  m.msg_name = const_cast<sockaddr_storage*>(&server_sa_);
  m.msg_namelen = server_sa_len_;
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  return ::sendmsg(sock_.fd(), &m, MSG_DONTWAIT) >= 0;
}

// One sendmsg with UDP_SEGMENT for DATA messages of equal size: the kernel
// carries them as one packet through the stack (and any veth and router
// namespaces on the way) and splits them only where it must. Every message
// has the same header, as peer and payload size are the same.
bool relay_client::send_gso_run(
  const udp_endpoint& peer,
  std::span<const std::span<const std::uint8_t>> raws) const noexcept {
  constexpr std::size_t max_run = 64;
  std::uint8_t hdr[rp::header_size + 19];
  std::size_t h = rp::write_data_header(peer, raws[0].size(), hdr);
  if (h == 0 || raws.size() > max_run)
    return false;
  iovec iov[2 * max_run];
  for (std::size_t i = 0; i < raws.size(); ++i) {
    iov[2 * i] = {hdr, h};
    iov[2 * i + 1]
      = {const_cast<std::uint8_t*>(raws[i].data()), raws[i].size()};
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint16_t))] = {};
  msghdr m{};
  m.msg_name = const_cast<sockaddr_storage*>(&server_sa_);
  m.msg_namelen = server_sa_len_;
  m.msg_iov = iov;
  m.msg_iovlen = 2 * raws.size();
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  auto* c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_UDP;
  c->cmsg_type = UDP_SEGMENT;
  c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
  auto seg = static_cast<std::uint16_t>(h + raws[0].size());
  std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
  if (::sendmsg(sock_.fd(), &m, MSG_DONTWAIT) >= 0)
    return true;
  if (errno == EINVAL || errno == EIO || errno == ENOPROTOOPT
      || errno == EOPNOTSUPP)
    gso_ = false; // no GSO here: plain sendmmsg from now on
  return false;
}

std::size_t relay_client::send_data_batch(
  const udp_endpoint& peer,
  std::span<const std::span<const std::uint8_t>> raws) const noexcept {
  if (gso_.load(std::memory_order_relaxed) && raws.size() >= 2) {
    // Runs of equal size within the GSO limits (64 segments, 64 KiB).
    std::size_t sent = 0, i = 0;
    while (i < raws.size()) {
      std::size_t size = raws[i].size();
      std::size_t limit
        = std::min<std::size_t>(64, 65000 / (size + rp::header_size + 19));
      std::size_t j = i + 1;
      while (j < raws.size() && j - i < limit && raws[j].size() == size)
        ++j;
      auto run = raws.subspan(i, j - i);
      if (run.size() >= 2 && send_gso_run(peer, run))
        sent += run.size();
      else
        sent += send_data_batch_plain(peer, run);
      i = j;
    }
    return sent;
  }
  return send_data_batch_plain(peer, raws);
}

std::size_t relay_client::send_data_batch_plain(
  const udp_endpoint& peer,
  std::span<const std::span<const std::uint8_t>> raws) const noexcept {
  constexpr std::size_t chunk = 64;
  std::uint8_t hdrs[chunk][rp::header_size + 19];
  iovec iov[chunk][2];
  mmsghdr msgs[chunk];
  std::size_t sent = 0;
  if (server_sa_len_ == 0)
    return 0;
  for (std::size_t first = 0; first < raws.size(); first += chunk) {
    std::size_t n = std::min(chunk, raws.size() - first);
    std::size_t built = 0;
    for (std::size_t i = 0; i < n; ++i) {
      auto raw = raws[first + i];
      std::size_t h = rp::write_data_header(peer, raw.size(), hdrs[built]);
      if (h == 0)
        continue; // too large for a DATA message
      iov[built][0] = {hdrs[built], h};
      iov[built][1] = {const_cast<std::uint8_t*>(raw.data()), raw.size()};
      msgs[built] = {};
      msgs[built].msg_hdr.msg_name = const_cast<sockaddr_storage*>(&server_sa_);
      msgs[built].msg_hdr.msg_namelen = server_sa_len_;
      msgs[built].msg_hdr.msg_iov = iov[built];
      msgs[built].msg_hdr.msg_iovlen = 2;
      ++built;
    }
    std::size_t done = 0;
    while (done < built) {
      int r = ::sendmmsg(sock_.fd(), msgs + done,
                         static_cast<unsigned>(built - done), MSG_DONTWAIT);
      if (r <= 0)
        break; // a full socket buffer drops the rest, as a NIC would
      done += static_cast<std::size_t>(r);
    }
    sent += done;
  }
  return sent;
}

bool relay_client::permits(const udp_endpoint& peer) const {
  std::lock_guard lock(mu_);
  return std::find(permitted_.begin(), permitted_.end(), peer.ip.unmapped())
         != permitted_.end();
}

bool relay_client::is_active() const {
  std::lock_guard lock(mu_);
  return alloc_ && clock::now() < alloc_->expires_at;
}

std::optional<udp_endpoint> relay_client::relay_address() const {
  std::lock_guard lock(mu_);
  if (!alloc_)
    return std::nullopt;
  return alloc_->relay_addr;
}

std::optional<udp_endpoint> relay_client::local_address() const {
  auto l = sock_.local_endpoint();
  if (!l)
    return std::nullopt;
  return *l;
}

void relay_client::apply_refresh(std::span<const std::uint8_t> payload) {
  // Caller holds mu_.
  if (!alloc_ || payload.size() < 4)
    return;
  auto now = clock::now();
  alloc_->lifetime_secs = rp::read_be32(payload.data());
  alloc_->expires_at = now + std::chrono::seconds(alloc_->lifetime_secs);
  next_refresh_ = now + std::chrono::seconds(alloc_->lifetime_secs) / 2;
}

void relay_client::on_datagram(std::span<const std::uint8_t> d,
                               std::vector<relay_datagram>& batch) {
  if (d.empty())
    return;
  // Only the relay server may talk to us; anything else is noise.
  if (d[0] == static_cast<std::uint8_t>(rp::msg_type::data)) {
    if (auto m = rp::parse_data(d))
      batch.push_back({m->peer.unmapped(), m->raw});
    return;
  }
  auto c = rp::parse_control(d, key_);
  if (!c)
    return;
  std::lock_guard lock(mu_);
  if (c->type == rp::msg_type::refresh_resp)
    apply_refresh(c->payload);
  if (!reply_
      && std::find(awaited_.begin(), awaited_.end(), c->type)
           != awaited_.end()) {
    reply_.emplace(
      c->type, std::vector<std::uint8_t>(c->payload.begin(), c->payload.end()));
    cv_.notify_all();
  }
}

namespace {

// recvmmsg buffers: a relayed WireGuard datagram plus the DATA header fits
// a slot whatever the MTU.
struct receive_slots {
  static constexpr std::size_t count = 32;
  std::vector<std::uint8_t> bytes
    = std::vector<std::uint8_t>(count * rp::max_packet);
  std::array<sockaddr_storage, count> names{};
  std::array<iovec, count> iov{};
  std::array<mmsghdr, count> msgs{};

  int receive(int fd) {
    for (std::size_t i = 0; i < count; ++i) {
      iov[i] = {bytes.data() + i * rp::max_packet, rp::max_packet};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_name = &names[i];
      msgs[i].msg_hdr.msg_namelen = sizeof names[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return ::recvmmsg(fd, msgs.data(), count, MSG_DONTWAIT, nullptr);
  }
};

} // namespace

void relay_client::receive_loop() {
  auto slots = std::make_unique<receive_slots>();
  std::vector<relay_datagram> batch;
  batch.reserve(receive_slots::count);
  auto server = server_.unmapped();
  for (;;) {
    int timeout_ms = 1000;
    bool refresh_due = false;
    std::optional<std::vector<std::uint8_t>> refresh_msg;
    {
      std::lock_guard lock(mu_);
      auto now = clock::now();
      if (alloc_ && now < alloc_->expires_at && now >= next_refresh_) {
        refresh_due = true;
        refresh_msg = rp::build_control(
          rp::msg_type::refresh_req,
          rp::refresh_req_payload(alloc_->id, alloc_->lifetime_secs), key_);
        // Retry soon if the reply is lost; a reply moves this further out.
        next_refresh_ = now + std::chrono::seconds(2);
      }
      // An allocation past its expiry (the relay unreachable for a whole
      // lifetime) has no refresh due: keep the 1 s poll, never a 0 ms spin.
      if (alloc_ && now < alloc_->expires_at) {
        auto until = std::chrono::ceil<std::chrono::milliseconds>(
          next_refresh_ - clock::now());
        timeout_ms
          = static_cast<int>(std::clamp<long>(until.count(), 0, timeout_ms));
      }
    }
    if (refresh_due) {
      (void)sock_.send_to(*refresh_msg, server_);
      auto_refreshes_++;
    }
    pollfd fds[2] = {{sock_.fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int rc = ::poll(fds, 2, timeout_ms);
    if (rc < 0 && errno != EINTR)
      return;
    if (fds[1].revents & POLLIN)
      return;
    if (!(fds[0].revents & POLLIN))
      continue;
    // Drain what is queued (bounded, so refreshes are not starved).
    for (int round = 0; round < 8; ++round) {
      int n = slots->receive(sock_.fd());
      if (n <= 0)
        break;
      batch.clear();
      for (int i = 0; i < n; ++i) {
        auto& h = slots->msgs[i];
        auto from = udp_endpoint::from_sockaddr(
          reinterpret_cast<const sockaddr*>(&slots->names[i]));
        if (from.unmapped() != server || (h.msg_hdr.msg_flags & MSG_TRUNC))
          continue;
        on_datagram(
          {static_cast<const std::uint8_t*>(slots->iov[i].iov_base), h.msg_len},
          batch);
      }
      if (!batch.empty()) {
        if (options_.on_data_batch)
          options_.on_data_batch(batch);
        else if (options_.on_data)
          for (const auto& d : batch)
            options_.on_data(d.peer, d.raw);
      }
      if (static_cast<std::size_t>(n) < receive_slots::count)
        break;
    }
  }
}

} // namespace overlayd::stun
