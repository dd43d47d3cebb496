#include "actors/socket_server.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "ipc/framing.hpp"
#include "ipc/listener.hpp"

namespace overlayd::actors {

namespace {

constexpr uint64_t listener_token = ~uint64_t{0};
constexpr uint64_t wake_token = ~uint64_t{0} - 1;
constexpr size_t read_chunk = 64 * 1024;

std::string errno_text(int err) {
  return std::strerror(err);
}

// The write side of a connection, shared between the I/O thread and the
// threads that send responses. A response is written straight from the
// sending thread when nothing is queued before it, which saves a wake-up of
// the I/O thread per request; the I/O thread only takes over what the
// socket did not accept at once. Only the I/O thread closes the
// descriptor, and it does so under `mtx` after setting `fd` to -1, so a
// sender never writes to a closed (or reused) descriptor.
struct conn_output {
  std::mutex mtx;
  int fd = -1;
  std::string pending;
  size_t pos = 0;
  bool close_when_flushed = false;
  bool signal_when_closed = false;
  bool failed = false;

  bool has_pending() const { return pos < pending.size(); }

  // Writes as much as the socket takes without blocking. Caller holds mtx.
  void write_some() {
    while (!failed && has_pending()) {
      auto n = ::send(fd, pending.data() + pos, pending.size() - pos,
                      MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
          failed = true;
        return;
      }
      pos += static_cast<size_t>(n);
    }
    if (!has_pending()) {
      pending.clear();
      pos = 0;
    }
  }
};

struct connection {
  int fd = -1;
  ipc::frame_decoder decoder;
  std::shared_ptr<conn_output> out;
  bool reading = true;
  uint32_t events = 0;
};

} // namespace

struct socket_server::impl {
  std::filesystem::path path;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> open{0};
  socket_handlers handlers;

  // Connections whose output the I/O thread must look at, and shutdown
  // signals for connections that were already gone.
  std::mutex queue_mtx;
  std::vector<conn_id> attention;
  size_t orphan_signals = 0;

  // The write sides, for senders on other threads.
  std::mutex outputs_mtx;
  std::unordered_map<conn_id, std::shared_ptr<conn_output>> outputs;

  // I/O thread only.
  std::unordered_map<conn_id, connection> conns;
  conn_id next_id = 1;
  bool listener_paused = false;
  std::chrono::steady_clock::time_point resume_at;

  ~impl() {
    for (int fd : {listen_fd, epoll_fd, wake_fd})
      if (fd >= 0)
        ::close(fd);
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_fd, &one, sizeof(one));
  }

  void set_events(connection& c, conn_id id, uint32_t events) {
    if (c.events == events)
      return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = id;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
    c.events = events;
  }

  void close_conn(conn_id id) {
    auto i = conns.find(id);
    if (i == conns.end())
      return;
    bool signal = false;
    {
      std::lock_guard<std::mutex> guard{outputs_mtx};
      outputs.erase(id);
    }
    {
      std::lock_guard<std::mutex> guard{i->second.out->mtx};
      signal = i->second.out->signal_when_closed;
      i->second.out->fd = -1;
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, i->second.fd, nullptr);
      ::close(i->second.fd);
    }
    conns.erase(i);
    open.fetch_sub(1);
    if (handlers.on_gone)
      handlers.on_gone(id);
    if (signal && handlers.on_shutdown_sent)
      handlers.on_shutdown_sent();
  }

  // Flushes what senders left behind, registers for writability when the
  // socket is full, and closes once a requested close is due.
  void service_output(conn_id id) {
    auto i = conns.find(id);
    if (i == conns.end())
      return;
    auto& c = i->second;
    bool close_now = false;
    bool want_out = false;
    {
      std::lock_guard<std::mutex> guard{c.out->mtx};
      c.out->write_some();
      if (c.out->failed) {
        spdlog::warn("ipc connection {}: write failed; closing it", id);
        close_now = true;
      } else if (c.out->has_pending()) {
        want_out = true;
      } else if (c.out->close_when_flushed) {
        close_now = true;
      }
      if (c.out->close_when_flushed)
        c.reading = false; // nothing more is read from a closing connection
    }
    if (close_now) {
      close_conn(id);
      return;
    }
    set_events(c, id, (c.reading ? EPOLLIN : 0u) | (want_out ? EPOLLOUT : 0u));
  }

  void end_reading(conn_id id, connection& c, std::string error) {
    if (!c.reading)
      return;
    c.reading = false;
    set_events(c, id, c.events & ~static_cast<uint32_t>(EPOLLIN));
    if (!error.empty())
      spdlog::warn("ipc connection {}: {}; closing it", id, error);
    if (handlers.on_end)
      handlers.on_end(id, std::move(error));
  }

  void accept_all() {
    for (;;) {
      int fd
        = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK)
          return;
        if (err == EINTR || err == ECONNABORTED)
          continue;
        // Out of descriptors or memory: the reference would exit; keep
        // serving the open connections and retry shortly instead.
        spdlog::error("ipc accept failed: {}; pausing for 100 ms",
                      errno_text(err));
        ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
        listener_paused = true;
        resume_at
          = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        return;
      }
      auto id = next_id++;
      connection c;
      c.fd = fd;
      c.events = EPOLLIN;
      c.out = std::make_shared<conn_output>();
      c.out->fd = fd;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = id;
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        continue;
      }
      {
        std::lock_guard<std::mutex> guard{outputs_mtx};
        outputs.emplace(id, c.out);
      }
      conns.emplace(id, std::move(c));
      open.fetch_add(1);
      spdlog::debug("ipc connection {} accepted", id);
    }
  }

  void read_conn(conn_id id) {
    auto i = conns.find(id);
    if (i == conns.end())
      return;
    auto& c = i->second;
    char buf[read_chunk];
    while (c.reading) {
      auto n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
          return;
        end_reading(id, c, "io error: " + errno_text(errno));
        return;
      }
      if (n == 0) {
        auto why = c.decoder.at_eof();
        bool clean = why.what == ipc::framing_error::kind::closed;
        end_reading(id, c, clean ? std::string{} : why.message());
        return;
      }
      c.decoder.feed(std::string_view{buf, static_cast<size_t>(n)});
      for (;;) {
        auto next = c.decoder.next();
        if (!next) {
          end_reading(id, c, next.error().message());
          return;
        }
        if (!next->has_value())
          break;
        if (handlers.on_frame)
          handlers.on_frame(id, std::move(**next));
      }
      // A short read drained the socket: skip the recv that would only say
      // EAGAIN (one syscall per request). The registration is
      // level-triggered, so later bytes or the peer's EOF wake us again.
      if (static_cast<size_t>(n) < sizeof(buf))
        return;
    }
  }

  void drain_queue() {
    uint64_t ticks;
    [[maybe_unused]] auto r = ::read(wake_fd, &ticks, sizeof(ticks));
    std::vector<conn_id> ids;
    size_t signals = 0;
    {
      std::lock_guard<std::mutex> guard{queue_mtx};
      ids.swap(attention);
      std::swap(signals, orphan_signals);
    }
    for (auto id : ids)
      service_output(id);
    for (; signals > 0; --signals)
      if (handlers.on_shutdown_sent)
        handlers.on_shutdown_sent();
  }

  void send(conn_id conn, std::string bytes, after_write then) {
    std::shared_ptr<conn_output> out;
    {
      std::lock_guard<std::mutex> guard{outputs_mtx};
      if (auto i = outputs.find(conn); i != outputs.end())
        out = i->second;
    }
    bool need_io_thread = false;
    if (out) {
      std::lock_guard<std::mutex> guard{out->mtx};
      if (out->fd < 0 || out->close_when_flushed) {
        // Gone, or nothing may follow a close.
        need_io_thread = then == after_write::close_and_signal;
        out = nullptr;
      } else {
        out->pending.append(bytes);
        if (then != after_write::keep_open) {
          out->close_when_flushed = true;
          out->signal_when_closed = then == after_write::close_and_signal;
        }
        // Write right here if nothing is queued before these bytes.
        if (out->pending.size() == bytes.size())
          out->write_some();
        need_io_thread
          = out->failed || out->has_pending() || out->close_when_flushed;
      }
    } else {
      need_io_thread = then == after_write::close_and_signal;
    }
    if (!need_io_thread)
      return;
    {
      std::lock_guard<std::mutex> guard{queue_mtx};
      if (out)
        attention.push_back(conn);
      else
        ++orphan_signals;
    }
    wake();
  }

  void loop() {
    std::vector<epoll_event> events(64);
    while (!stopping.load()) {
      int timeout = -1;
      if (listener_paused) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      resume_at - std::chrono::steady_clock::now())
                      .count();
        if (left <= 0) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = listener_token;
          ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev);
          listener_paused = false;
        } else {
          timeout = static_cast<int>(left);
        }
      }
      int n = ::epoll_wait(epoll_fd, events.data(),
                           static_cast<int>(events.size()), timeout);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        spdlog::error("ipc epoll_wait failed: {}", errno_text(errno));
        return;
      }
      for (int k = 0; k < n && !stopping.load(); ++k) {
        auto token = events[k].data.u64;
        auto ev = events[k].events;
        if (token == listener_token) {
          accept_all();
        } else if (token == wake_token) {
          drain_queue();
        } else {
          if (ev & EPOLLIN)
            read_conn(token);
          if (ev & EPOLLOUT)
            service_output(token);
          if (ev & (EPOLLERR | EPOLLHUP)) {
            // Both directions are dead: nothing can be delivered any more.
            auto i = conns.find(token);
            if (i != conns.end()) {
              end_reading(token, i->second, {});
              close_conn(token);
            }
          }
        }
      }
      if (handlers.on_round_end)
        handlers.on_round_end();
    }
  }
};

net::expected<std::shared_ptr<socket_server>>
socket_server::bind(const std::filesystem::path& path) {
  using error = net::unexpected<std::string>;
  auto text = path.string();
  auto st = std::make_unique<impl>();
  st->path = path;
  // ZLayer's steps: unlink a stale socket without a liveness check, mkdir
  // -p the parent, bind + listen, chmod 0660, chgrp `zlayer` if it exists.
  auto lst = ipc::open_unix_listener(text);
  if (!lst)
    return error{lst.error()};
  st->listen_fd = lst->fd;
  for (const auto& w : lst->warnings)
    spdlog::warn("{}", w);
  st->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  st->wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (st->epoll_fd < 0 || st->wake_fd < 0)
    return error{"epoll/eventfd: " + errno_text(errno)};
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = listener_token;
  ::epoll_ctl(st->epoll_fd, EPOLL_CTL_ADD, st->listen_fd, &ev);
  ev.data.u64 = wake_token;
  ::epoll_ctl(st->epoll_fd, EPOLL_CTL_ADD, st->wake_fd, &ev);
  return std::make_shared<socket_server>(std::move(st));
}

socket_server::socket_server(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
  // nop
}

socket_server::~socket_server() {
  stop();
}

void socket_server::start(socket_handlers handlers) {
  impl_->handlers = std::move(handlers);
  impl_->thread = std::thread{[st = impl_.get()] { st->loop(); }};
}

void socket_server::send(conn_id conn, std::string bytes, after_write then) {
  impl_->send(conn, std::move(bytes), then);
}

void socket_server::stop() {
  if (impl_->stopping.exchange(true))
    return;
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->wake_fd, &one, sizeof(one));
  if (impl_->thread.joinable())
    impl_->thread.join();
  for (auto& [id, c] : impl_->conns) {
    std::lock_guard<std::mutex> guard{c.out->mtx};
    c.out->fd = -1;
    ::close(c.fd);
  }
  impl_->conns.clear();
  {
    std::lock_guard<std::mutex> guard{impl_->outputs_mtx};
    impl_->outputs.clear();
  }
  impl_->open.store(0);
  impl_->handlers = socket_handlers{};
}

const std::filesystem::path& socket_server::path() const noexcept {
  return impl_->path;
}

size_t socket_server::connections() const noexcept {
  return impl_->open.load();
}

} // namespace overlayd::actors
