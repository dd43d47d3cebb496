#include "replay/wire.hpp"

#include <cerrno>
#include <cstring>
#include <thread>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

namespace overlayd::replay {

using net::unexpected;

net::expected<raw_connection>
raw_connection::connect(const std::string& socket_path,
                        std::chrono::milliseconds patience) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path)
    return unexpected{"socket path too long: " + socket_path};
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return unexpected{std::string{"socket: "} + std::strerror(errno)};
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      return raw_connection{fd};
    int err = errno;
    ::close(fd);
    bool retry = err == ENOENT || err == ECONNREFUSED || err == EAGAIN;
    if (!retry || std::chrono::steady_clock::now() >= deadline)
      return unexpected{"cannot connect to " + socket_path + ": "
                        + std::strerror(err)};
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

raw_connection::raw_connection(raw_connection&& other) noexcept
  : fd_(other.fd_), decoder_(std::move(other.decoder_)), eof_(other.eof_) {
  other.fd_ = -1;
}

raw_connection& raw_connection::operator=(raw_connection&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    decoder_ = std::move(other.decoder_);
    eof_ = other.eof_;
    rcv_timeout_ = other.rcv_timeout_;
    other.fd_ = -1;
  }
  return *this;
}

raw_connection::~raw_connection() {
  close();
}

void raw_connection::close() noexcept {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

void raw_connection::shutdown_write() {
  if (fd_ >= 0)
    ::shutdown(fd_, SHUT_WR);
}

net::expected<void> raw_connection::send_bytes(std::string_view bytes) {
  if (fd_ < 0)
    return unexpected{std::string{"connection is closed"}};
  while (!bytes.empty()) {
    auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return unexpected{std::string{"send: "} + std::strerror(errno)};
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

net::expected<void> raw_connection::send_frame(std::string_view body) {
  auto framed = ipc::encode_frame_bytes(body);
  if (!framed)
    return unexpected{framed.error().message()};
  return send_bytes(*framed);
}

raw_connection::incoming
raw_connection::read_frame(std::chrono::milliseconds timeout) {
  incoming in;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  // A blocking recv bounded by SO_RCVTIMEO: one system call per answer
  // instead of poll + recv, which matters in load mode. The deadline is
  // checked between calls, so a wait lasts at most about twice `timeout`.
  if (fd_ >= 0 && timeout != rcv_timeout_) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    rcv_timeout_ = timeout;
  }
  for (;;) {
    auto next = decoder_.next();
    if (!next) {
      in.error = next.error().message();
      return in;
    }
    if (*next) {
      in.body = std::move(**next);
      return in;
    }
    if (eof_ || fd_ < 0) {
      in.eof = true;
      return in;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      in.timed_out = true;
      return in;
    }
    auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
        continue; // re-checks the deadline
      if (errno == ECONNRESET) {
        eof_ = true;
        continue;
      }
      in.error = std::string{"recv: "} + std::strerror(errno);
      return in;
    }
    if (n == 0) {
      eof_ = true;
      continue;
    }
    decoder_.feed({buf, static_cast<std::size_t>(n)});
  }
}

} // namespace overlayd::replay
