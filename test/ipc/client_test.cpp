// The blocking client against a tiny in-test Unix socket server.

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "ipc/client.hpp"
#include "ipc/framing.hpp"
#include "ipc/json_codec.hpp"

using namespace overlayd::ipc;
using namespace std::chrono_literals;

namespace {

void write_all(int fd, const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    auto n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n <= 0)
      return;
    off += static_cast<std::size_t>(n);
  }
}

void send_frame(int fd, const std::string& body) {
  write_all(fd, *encode_frame_bytes(body));
}

// Serves one connection: each decoded request frame goes to `handler`,
// which writes whatever it likes to the socket. Returning false closes the
// connection. Removes its socket and directory when destroyed.
class test_server {
public:
  using handler = std::function<bool(int fd, const request_frame&)>;

  explicit test_server(handler h) : handler_(std::move(h)) {
    char tmpl[] = "/tmp/ipc-client-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/s.sock";
    listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            == 0);
    REQUIRE(::listen(listen_fd_, 4) == 0);
    thread_ = std::thread([this] { serve(); });
  }

  ~test_server() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (int fd = conn_fd_.load(); fd >= 0)
      ::shutdown(fd, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  const std::string& path() const { return path_; }
  std::vector<std::uint64_t> ids() {
    std::lock_guard<std::mutex> g{mtx_};
    return ids_;
  }

private:
  void serve() {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0)
      return;
    conn_fd_ = fd;
    frame_decoder dec;
    char buf[4096];
    bool open = true;
    while (open) {
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n <= 0)
        break;
      dec.feed(std::string_view{buf, static_cast<std::size_t>(n)});
      for (;;) {
        auto body = dec.next();
        if (!body || !*body)
          break;
        auto f = decode_frame(**body);
        if (!f || !std::holds_alternative<request_frame>(*f)) {
          open = false;
          break;
        }
        const auto& rf = std::get<request_frame>(*f);
        {
          std::lock_guard<std::mutex> g{mtx_};
          ids_.push_back(rf.id);
        }
        if (!handler_(fd, rf)) {
          open = false;
          break;
        }
      }
    }
    conn_fd_ = -1;
    ::close(fd);
  }

  handler handler_;
  std::string dir_;
  std::string path_;
  int listen_fd_ = -1;
  std::atomic<int> conn_fd_{-1};
  std::thread thread_;
  std::mutex mtx_;
  std::vector<std::uint64_t> ids_;
};

// Answers every request with `ok` under its id.
bool answer_ok(int fd, const request_frame& rf) {
  send_frame(fd, encode_response_frame(rf.id, resp::ok{}));
  return true;
}

} // namespace

TEST_CASE("ids start at 1 and count up; responses come back typed") {
  test_server srv{[](int fd, const request_frame& rf) {
    if (std::holds_alternative<req::status>(rf.request))
      send_frame(fd, encode_response_frame(rf.id, resp::status{{std::nullopt,
                                                                std::nullopt,
                                                                std::nullopt,
                                                                "10.200.0.0/16",
                                                                std::nullopt,
                                                                0,
                                                                0,
                                                                {},
                                                                {}}}));
    else
      send_frame(fd, encode_response_frame(rf.id, resp::ok{}));
    return true;
  }};
  auto c = client::connect(srv.path());
  REQUIRE_MESSAGE(c, (c ? "" : c.error().message()));
  auto s = c->call(req::status{});
  REQUIRE(s);
  const auto& st = std::get<resp::status>(*s);
  CHECK_FALSE(st.interface);
  CHECK(st.peer_count == 0);
  CHECK(st.overlay_cidr == "10.200.0.0/16");
  CHECK(std::holds_alternative<resp::ok>(*c->call(req::set_local_node_id{7})));
  CHECK(
    std::holds_alternative<resp::ok>(*c->call(req::set_local_wg_pubkey{"k"})));
  CHECK(c->next_id() == 4);
  c->close();
  // The server has seen the ids by the time it answered them.
  CHECK(srv.ids() == std::vector<std::uint64_t>{1, 2, 3});
}

TEST_CASE("other ids and events are skipped while waiting") {
  test_server srv{[](int fd, const request_frame& rf) {
    // A stale response, an event and a response for a future id first;
    // everything in one write to exercise the decoder's pipelining.
    std::string burst
      = *encode_frame_bytes(encode_response_frame(rf.id + 100, resp::ok{}))
        + *encode_frame_bytes(
          encode_frame(event_frame{evt::peer_health_changed{"k", false}}))
        + *encode_frame_bytes(
          encode_response_frame(rf.id - 1, resp::err{"not yours"}))
        + *encode_frame_bytes(
          encode_response_frame(rf.id, resp::bridge_name{"zl-prod-42-g"}));
    write_all(fd, burst);
    return true;
  }};
  auto c = client::connect(srv.path());
  REQUIRE(c);
  auto r = c->call(req::teardown_global_overlay{});
  REQUIRE(r);
  CHECK(std::get<resp::bridge_name>(*r).name == "zl-prod-42-g");
  CHECK(c->skipped_responses() == 2);
  CHECK(c->dropped_events() == 1);
}

TEST_CASE("err responses: request() returns them, call() turns them into "
          "errors") {
  test_server srv{[](int fd, const request_frame& rf) {
    send_frame(fd,
               encode_error_frame(rf.id, "no dedicated overlay for service x"));
    return true;
  }};
  auto c = client::connect(srv.path());
  REQUIRE(c);
  auto raw = c->request(req::remove_peer{"k", peer_scope::of_service("x")});
  REQUIRE(raw);
  CHECK(std::get<resp::err>(*raw).message
        == "no dedicated overlay for service x");
  auto called = c->call(req::status{});
  REQUIRE_FALSE(called);
  CHECK(called.error().what == error::code::overlay);
  CHECK(called.error().message()
        == "overlay engine error: no dedicated overlay for service x");
}

TEST_CASE("a call can time out, and the late answer is skipped later") {
  std::atomic<int> calls{0};
  test_server srv{[&](int fd, const request_frame& rf) {
    if (calls++ == 0) {
      std::this_thread::sleep_for(300ms); // too slow for the first call
    }
    send_frame(fd, encode_response_frame(rf.id, resp::ok{}));
    return true;
  }};
  client_options opts;
  opts.call_timeout = 100ms;
  auto c = client::connect(srv.path(), opts);
  REQUIRE(c);
  auto start = std::chrono::steady_clock::now();
  auto first = c->call(req::status{});
  auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(first);
  CHECK(first.error().what == error::code::timeout);
  CHECK(took < 250ms);
  std::this_thread::sleep_for(300ms); // let the late answer arrive
  auto second = c->call(req::status{});
  REQUIRE_MESSAGE(second, (second ? "" : second.error().message()));
  CHECK(c->skipped_responses() == 1);
}

TEST_CASE("the server hanging up is reported as closed") {
  test_server srv{[](int, const request_frame&) { return false; }};
  auto c = client::connect(srv.path());
  REQUIRE(c);
  auto r = c->call(req::shutdown{});
  REQUIRE_FALSE(r);
  CHECK(r.error().what == error::code::closed);
  CHECK(r.error().message() == "connection closed by peer");
}

TEST_CASE("EOF inside a body and garbage bodies are errors") {
  SUBCASE("truncated") {
    test_server srv{[](int fd, const request_frame&) {
      write_all(fd, std::string("\x10\x00\x00\x00{\"fr", 8));
      return false;
    }};
    auto c = client::connect(srv.path());
    REQUIRE(c);
    auto r = c->call(req::status{});
    REQUIRE_FALSE(r);
    CHECK(r.error().what == error::code::io);
    CHECK(r.error().message() == "io error: early eof");
  }
  SUBCASE("not JSON") {
    test_server srv{[](int fd, const request_frame&) {
      send_frame(fd, "hello");
      return true;
    }};
    auto c = client::connect(srv.path());
    REQUIRE(c);
    auto r = c->call(req::status{});
    REQUIRE_FALSE(r);
    CHECK(r.error().what == error::code::codec);
    CHECK(r.error().message().starts_with("frame codec error: "));
  }
  SUBCASE("a request frame from the server") {
    test_server srv{[](int fd, const request_frame& rf) {
      send_frame(fd, encode_request_frame(rf.id, req::status{}));
      return true;
    }};
    auto c = client::connect(srv.path());
    REQUIRE(c);
    auto r = c->call(req::status{});
    REQUIRE_FALSE(r);
    CHECK(r.error().what == error::code::protocol);
  }
}

TEST_CASE("ids wrap at u64::MAX") {
  test_server srv{answer_ok};
  auto c = client::connect(srv.path());
  REQUIRE(c);
  c->set_next_id(UINT64_MAX);
  REQUIRE(c->call(req::nat_tick{}));
  REQUIRE(c->call(req::nat_tick{}));
  CHECK(c->next_id() == 1);
  c->close();
  CHECK(srv.ids() == std::vector<std::uint64_t>{UINT64_MAX, 0});
}

TEST_CASE("connect attempts and backoff") {
  char tmpl[] = "/tmp/ipc-client-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string missing = std::string{tmpl} + "/nobody.sock";

  auto t0 = std::chrono::steady_clock::now();
  auto one = client::connect_with_attempts(missing, 1);
  auto t1 = std::chrono::steady_clock::now();
  REQUIRE_FALSE(one);
  CHECK(one.error().what == error::code::io);
  CHECK(one.error().message().find(missing) != std::string::npos);
  CHECK(t1 - t0 < 80ms);

  REQUIRE_FALSE(client::connect_with_attempts(missing, 0)); // clamped to 1
  CHECK(std::chrono::steady_clock::now() - t1 < 80ms);

  // 4 attempts sleep 100 + 200 + 400 ms.
  auto t2 = std::chrono::steady_clock::now();
  REQUIRE_FALSE(client::connect_with_attempts(missing, 4));
  auto took = std::chrono::steady_clock::now() - t2;
  CHECK(took >= 600ms);
  CHECK(took <= 1500ms);
  ::rmdir(tmpl);

  auto too_long = client::connect("/tmp/" + std::string(200, 'x'));
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error().message().find("longer than") != std::string::npos);
}

TEST_CASE("connect waits out a full backlog, up to its timeout") {
  char tmpl[] = "/tmp/ipc-client-test-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string path = std::string{tmpl} + "/full.sock";
  int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(lfd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(lfd, 0) == 0);
  client_options opts;
  opts.connect_timeout = 150ms;
  // Fill the backlog without ever accepting.
  std::vector<client> held;
  for (int i = 0; i < 8; ++i) {
    auto c = client::connect(path, opts);
    if (!c) {
      CHECK(c.error().what == error::code::timeout);
      break;
    }
    held.push_back(std::move(*c));
  }
  CHECK(held.size() < 8);
  // Accepting one frees a slot: a waiting connect now succeeds.
  std::thread acceptor([&] {
    std::this_thread::sleep_for(50ms);
    int a = ::accept(lfd, nullptr, nullptr);
    if (a >= 0)
      ::close(a);
  });
  opts.connect_timeout = 2000ms;
  auto late = client::connect(path, opts);
  acceptor.join();
  CHECK(late);
  held.clear();
  ::close(lfd);
  ::unlink(path.c_str());
  ::rmdir(tmpl);
}
