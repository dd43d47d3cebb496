#include "stun/relay_client.hpp"

#include <algorithm>
#include <cerrno>
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

void relay_client::on_datagram(std::span<const std::uint8_t> d) {
  if (d.empty())
    return;
  // Only the relay server may talk to us; anything else is noise.
  if (d[0] == static_cast<std::uint8_t>(rp::msg_type::data)) {
    auto m = rp::parse_data(d);
    if (m && options_.on_data)
      options_.on_data(m->peer.unmapped(), m->raw);
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

void relay_client::receive_loop() {
  std::vector<std::uint8_t> buf(rp::max_packet);
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
    for (int i = 0; i < 64; ++i) {
      sockaddr_storage ss;
      socklen_t len = sizeof ss;
      ssize_t n = ::recvfrom(sock_.fd(), buf.data(), buf.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&ss), &len);
      if (n < 0)
        break;
      auto from = udp_endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
      if (from.unmapped() != server_.unmapped())
        continue;
      on_datagram({buf.data(), static_cast<std::size_t>(n)});
    }
  }
}

} // namespace overlayd::stun
