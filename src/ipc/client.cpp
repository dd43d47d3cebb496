#include "ipc/client.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "ipc/json_codec.hpp"

namespace overlayd::ipc {

namespace {

using clock = std::chrono::steady_clock;

error io_error(std::string what) {
  return error{error::code::io, std::move(what)};
}

error errno_error(const char* op) {
  return io_error(std::string{op} + ": " + std::strerror(errno));
}

clock::time_point deadline_after(std::optional<std::chrono::milliseconds> d) {
  return d ? clock::now() + *d : clock::time_point::max();
}

// Waits for `events` on `fd` until `deadline`. Returns 1 when ready, 0 on
// timeout, -1 on error (errno set).
int wait_for(int fd, short events, clock::time_point deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline != clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock::now());
      if (left.count() <= 0)
        return 0;
      // Round up so we never spin on a sub-millisecond remainder.
      timeout_ms
        = static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30));
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, timeout_ms);
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc <= 0)
      return rc;
    return 1;
  }
}

net::expected<int, error> connect_once(const std::string& path,
                                       std::chrono::milliseconds timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return net::unexpected{io_error("invalid socket path (empty or longer than "
                                    + std::to_string(sizeof(addr.sun_path) - 1)
                                    + " bytes): " + path)};
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    return net::unexpected{errno_error("socket")};
  auto fail = [&](error e) {
    ::close(fd);
    return net::unexpected{std::move(e)};
  };
  auto deadline = clock::now() + timeout;
  for (;;) {
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr))
        == 0)
      break;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN) {
      // Linux: the listen backlog is full and nothing was started; try
      // again until the server accepts or the deadline passes.
      if (clock::now() >= deadline)
        return fail(error{error::code::timeout, "connect to " + path});
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
      continue;
    }
    if (errno != EINPROGRESS)
      return fail(io_error("connect to " + path + ": " + std::strerror(errno)));
    int ready = wait_for(fd, POLLOUT, deadline);
    if (ready == 0)
      return fail(error{error::code::timeout, "connect to " + path});
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    if (ready < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len))
      return fail(errno_error("connect"));
    if (so_error != 0)
      return fail(
        io_error("connect to " + path + ": " + std::strerror(so_error)));
    break;
  }
  return fd;
}

} // namespace

std::string error::message() const {
  switch (what) {
  case code::io:
    return "io error: " + detail;
  case code::codec:
    return "frame codec error: " + detail;
  case code::frame_too_large:
  case code::closed:
    return detail;
  case code::overlay:
    return "overlay engine error: " + detail;
  case code::timeout:
    return "timed out: " + detail;
  case code::protocol:
    break;
  }
  return "protocol error: " + detail;
}

client::client(int fd, client_options opts) noexcept : fd_(fd), opts_(opts) {
  // nop
}

client::client(client&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), opts_(other.opts_),
    next_id_(other.next_id_), skipped_(other.skipped_),
    dropped_events_(other.dropped_events_),
    decoder_(std::move(other.decoder_)) {
  // nop
}

client& client::operator=(client&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    opts_ = other.opts_;
    next_id_ = other.next_id_;
    skipped_ = other.skipped_;
    dropped_events_ = other.dropped_events_;
    decoder_ = std::move(other.decoder_);
  }
  return *this;
}

client::~client() {
  close();
}

void client::close() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

net::expected<client, error> client::connect(const std::string& socket_path,
                                             client_options opts) {
  auto fd = connect_once(socket_path, opts.connect_timeout);
  if (!fd)
    return net::unexpected{std::move(fd.error())};
  return client{*fd, opts};
}

net::expected<client, error>
client::connect_with_attempts(const std::string& socket_path, unsigned attempts,
                              client_options opts) {
  attempts = attempts == 0 ? 1 : attempts;
  std::chrono::milliseconds pause{100};
  for (unsigned i = 1;; ++i) {
    auto c = connect(socket_path, opts);
    if (c || i >= attempts)
      return c;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds{1000});
  }
}

net::expected<void, error> client::send_all(std::string_view bytes,
                                            clock::time_point deadline) {
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int ready = wait_for(fd_, POLLOUT, deadline);
      if (ready == 0)
        return net::unexpected{error{error::code::timeout, "sending request"}};
      if (ready < 0)
        return net::unexpected{errno_error("poll")};
      continue;
    }
    return net::unexpected{errno_error("send")};
  }
  return {};
}

net::expected<std::string, error>
client::read_body(clock::time_point deadline) {
  char buf[64 * 1024];
  for (;;) {
    auto body = decoder_.next();
    if (!body) {
      const auto& e = body.error();
      return net::unexpected{error{error::code::frame_too_large, e.message()}};
    }
    if (*body)
      return std::move(**body);
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      decoder_.feed(std::string_view{buf, static_cast<std::size_t>(n)});
      continue;
    }
    if (n == 0) {
      auto e = decoder_.at_eof();
      if (e.what == framing_error::kind::closed)
        return net::unexpected{error{error::code::closed, e.message()}};
      return net::unexpected{io_error("early eof")};
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      int ready = wait_for(fd_, POLLIN, deadline);
      if (ready == 0)
        return net::unexpected{
          error{error::code::timeout, "waiting for the response"}};
      if (ready < 0)
        return net::unexpected{errno_error("poll")};
      continue;
    }
    return net::unexpected{errno_error("recv")};
  }
}

net::expected<response, error> client::request(const ipc::request& r) {
  if (fd_ < 0)
    return net::unexpected{io_error("client is not connected")};
  auto deadline = deadline_after(opts_.call_timeout);
  auto id = next_id_++;
  auto bytes = encode_frame_bytes(encode_request_frame(id, r));
  if (!bytes)
    return net::unexpected{
      error{error::code::frame_too_large, bytes.error().message()}};
  if (auto sent = send_all(*bytes, deadline); !sent)
    return net::unexpected{std::move(sent.error())};
  for (;;) {
    auto body = read_body(deadline);
    if (!body)
      return net::unexpected{std::move(body.error())};
    auto f = decode_frame(*body);
    if (!f)
      return net::unexpected{error{error::code::codec, f.error().message}};
    if (auto* rf = std::get_if<response_frame>(&*f)) {
      if (rf->id == id)
        return std::move(rf->response);
      ++skipped_; // "out-of-order response id", as the Rust client logs
      continue;
    }
    if (std::holds_alternative<event_frame>(*f)) {
      ++dropped_events_;
      continue;
    }
    return net::unexpected{
      error{error::code::protocol, "server sent a request frame"}};
  }
}

net::expected<response, error> client::call(const ipc::request& r) {
  auto res = request(r);
  if (res)
    if (auto* e = std::get_if<resp::err>(&*res))
      return net::unexpected{error{error::code::overlay, e->message}};
  return res;
}

} // namespace overlayd::ipc
