#include "wg/io/uapi_server.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace overlayd::wg {

namespace {

// A client that stalls this long loses its connection; the server handles
// one connection at a time, so it must not wait forever.
constexpr int client_timeout_seconds = 5;

// After an operation whose text was at least this large, freed heap pages
// go back to the OS: glibc keeps them otherwise, and a `set` of 10,000
// peers leaves ~400 bytes per peer of parse buffers resident, as much as
// half of what the peers themselves need.
constexpr std::size_t trim_after_bytes = 256 * 1024;

// Guards memory against a client that never sends the terminating blank
// line. 10,000 peers take about 2.5 MB.
constexpr std::size_t max_request_bytes = 128u << 20;

// Reads one connection line by line.
class line_reader {
public:
  explicit line_reader(int fd) : fd_(fd) {
    // nop
  }

  /// Next line without its '\n'; false at EOF (a final unterminated line is
  /// still returned once).
  bool next(std::string& line) {
    line.clear();
    for (;;) {
      auto nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        line.assign(buf_, pos_, nl - pos_);
        pos_ = nl + 1;
        return true;
      }
      if (eof_) {
        if (pos_ >= buf_.size())
          return false;
        line.assign(buf_, pos_);
        pos_ = buf_.size();
        return true;
      }
      fill();
    }
  }

  bool failed() const { return failed_; }

private:
  void fill() {
    if (pos_ > 0) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    if (buf_.size() > max_request_bytes) {
      eof_ = failed_ = true;
      return;
    }
    char chunk[16384];
    ssize_t n;
    do {
      n = ::read(fd_, chunk, sizeof chunk);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      eof_ = true;
      failed_ = n < 0;
      return;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
  }

  int fd_;
  std::string buf_;
  std::size_t pos_ = 0;
  bool eof_ = false;
  bool failed_ = false;
};

bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n
      = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

} // namespace

uapi_server::~uapi_server() {
  stop();
}

result<void> uapi_server::listen(const std::string& dir,
                                 const std::string& ifname) {
  // Like `mkdir -p`: overlayd may point this at {data_dir}/run/wireguard.
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return io_error{ec.value(),
                    "create UAPI directory " + dir + ": " + ec.message()};
  std::string path = dir + "/" + ifname + ".sock";
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return io_error{ENAMETOOLONG, "UAPI socket path too long: " + path};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return last_os_error("create UAPI socket");
  // A socket file left by a crashed daemon would make bind fail.
  ::unlink(path.c_str());
  // Like wireguard-go (umask 0077): only root may configure the device.
  mode_t old_mask = ::umask(0077);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (rc != 0 || ::listen(fd, 16) != 0) {
    auto err = last_os_error("listen on " + path);
    ::close(fd);
    return err;
  }
  listen_fd_ = fd;
  path_ = path;
  return {};
}

void uapi_server::start(uapi_handler& handler) {
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this, &handler] { run(handler); });
}

void uapi_server::stop() {
  if (thread_.joinable()) {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (stop_fd_ >= 0)
    ::close(std::exchange(stop_fd_, -1));
  if (listen_fd_ >= 0) {
    ::close(std::exchange(listen_fd_, -1));
    ::unlink(path_.c_str());
  }
}

void uapi_server::run(uapi_handler& handler) {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    if (fds[1].revents != 0)
      return;
    int conn = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0)
      continue;
    timeval tv{client_timeout_seconds, 0};
    ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    serve_connection(conn, handler);
    ::close(conn);
  }
}

void uapi_server::serve_connection(int fd, uapi_handler& handler) {
  line_reader reader{fd};
  std::string line;
  while (reader.next(line)) {
    std::string reply;
    std::size_t request_bytes = 0;
    if (line == "get=1") {
      // The operation ends with an empty line.
      if (!reader.next(line))
        return;
      if (!line.empty())
        reply = uapi::format_errno(uapi::err_invalid);
      else
        reply = handler.uapi_get() + uapi::format_errno(0);
    } else if (line == "set=1") {
      std::string body;
      std::string l;
      while (reader.next(l) && !l.empty())
        body.append(l).append("\n");
      if (reader.failed())
        return;
      request_bytes = body.size();
      auto req = uapi::parse_set(body);
      if (!req) {
        reply = uapi::format_errno(req.error().code);
      } else {
        auto res = handler.uapi_set(*req);
        reply = uapi::format_errno(res ? 0 : res.error().code);
      }
    } else {
      return; // unknown operation: hang up, as wireguard-go does
    }
    bool large = std::max(request_bytes, reply.size()) >= trim_after_bytes;
    if (!write_all(fd, reply))
      return;
    if (large) {
      reply = std::string{};
      ::malloc_trim(0);
    }
  }
}

} // namespace overlayd::wg
