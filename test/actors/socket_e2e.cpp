// The IPC server over a real Unix socket (in-process engine): device-free
// requests answer byte for byte as the reference does, and malformed
// frames, garbage, oversized frames and silent connections never kill it
// (ipc.md §1.4-§1.9).
#include "actors/embedded.hpp"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc/client.hpp"
#include "ipc/framing.hpp"

using namespace overlayd;

namespace {

// A bare connection that sends arbitrary bytes and reads raw frames.
class raw_conn {
public:
  explicit raw_conn(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            == 0);
  }
  ~raw_conn() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  void send_bytes(std::string_view bytes) {
    while (!bytes.empty()) {
      auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return; // The server may have closed already.
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }

  void send_frame(std::string_view body) {
    send_bytes(*ipc::encode_frame_bytes(body));
  }

  void shut_write() { ::shutdown(fd_, SHUT_WR); }

  /// The next frame body; nullopt if the server closed the connection.
  std::optional<std::string> read_frame() {
    for (;;) {
      auto next = dec_.next();
      REQUIRE(next);
      if (next->has_value())
        return **next;
      pollfd p{fd_, POLLIN, 0};
      REQUIRE_MESSAGE(::poll(&p, 1, 5000) == 1, "no reply within 5 s");
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0)
        return std::nullopt;
      dec_.feed({buf, static_cast<size_t>(n)});
    }
  }

  /// True if the server closed the connection (nothing more to read).
  bool closed_by_server() { return !read_frame().has_value(); }

private:
  int fd_ = -1;
  ipc::frame_decoder dec_;
};

std::string request(uint64_t id, const std::string& req) {
  return R"({"frame":"request","id":)" + std::to_string(id) + R"(,"request":)"
         + req + "}";
}

std::string response(uint64_t id, const std::string& resp) {
  return R"({"frame":"response","id":)" + std::to_string(id) + R"(,"response":)"
         + resp + "}";
}

const std::string fresh_status = R"({"result":"status","overlay_cidr":)"
                                 R"("10.200.0.0/16","peer_count":0,)"
                                 R"("service_count":0})";

struct socket_fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("actors-sock-" + std::to_string(::getpid()));
  std::string path = (dir / "run" / "o.sock").string();
  std::unique_ptr<actors::engine> eng;

  socket_fixture() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir / "run");
    // A stale file where the socket goes is replaced.
    { std::ofstream{dir / "run" / "o.sock"} << "stale"; }
    actors::engine_config cfg;
    cfg.data_dir = dir;
    cfg.workers = 2;
    cfg.backend = actors::host_backend::twin;
    auto started = actors::engine::start(cfg);
    REQUIRE(started);
    eng = std::move(*started);
    auto listening = eng->listen(path);
    REQUIRE_MESSAGE(listening, listening.error());
  }

  ~socket_fixture() {
    eng.reset();
    std::filesystem::remove_all(dir);
  }

  // The server still answers a fresh connection.
  void check_alive() {
    raw_conn c{path};
    c.send_frame(request(42, R"({"op":"status"})"));
    CHECK(c.read_frame() == response(42, fresh_status));
  }
};

} // namespace

TEST_CASE_FIXTURE(socket_fixture, "the socket is a 0660 unix socket") {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0660);
  CHECK_FALSE(eng->listen(path));
}

TEST_CASE_FIXTURE(socket_fixture,
                  "device-free requests answer exactly as the reference") {
  raw_conn c{path};
  auto ask = [&](uint64_t id, const std::string& req) {
    c.send_frame(request(id, req));
    auto got = c.read_frame();
    REQUIRE(got);
    return *got;
  };
  CHECK(ask(1, R"({"op":"status"})") == response(1, fresh_status));
  CHECK(ask(2, R"({"op":"set_local_node_id","node_id":7})")
        == response(2, R"({"result":"ok"})"));
  CHECK(ask(3, R"({"op":"set_local_wg_pubkey","pubkey":"k"})")
        == response(3, R"({"result":"ok"})"));
  CHECK(ask(4, R"({"op":"allocate_ip","service":"web","join_global":false})")
        == response(4, R"({"result":"ip","ip":"10.200.0.2"})"));
  CHECK(ask(5, R"({"op":"release_ip","ip":"10.200.0.2"})")
        == response(5, R"({"result":"ok"})"));
  // The literal input pinned by ZLayer's tests: no scope means Global.
  CHECK(ask(11, R"({"op":"add_peer","public_key":"base64key","endpoint":)"
                R"("1.2.3.4:51820","allowed_ips":"10.200.0.2/32",)"
                R"("persistent_keepalive_secs":25})")
        == response(11, R"({"result":"ok"})"));
  CHECK(ask(12, R"({"op":"add_peer","public_key":"k","endpoint":)"
                R"("1.2.3.4:51820","allowed_ips":"10.200.0.2/32",)"
                R"("persistent_keepalive_secs":0,"scope":{"scope":)"
                R"("service","service":"x"}})")
        == response(12, R"({"result":"err","message":)"
                        R"("no dedicated overlay for service x"})"));
  CHECK(ask(13, R"({"op":"remove_peer","pubkey":"base64key"})")
        == response(13, R"({"result":"ok"})"));
  CHECK(ask(14, R"({"op":"register_dns","name":"web.overlay",)"
                R"("ip":"fd00:200::5"})")
        == response(14, R"({"result":"ok"})"));
  CHECK(ask(15, R"({"op":"unregister_dns","name":"web.overlay"})")
        == response(15, R"({"result":"ok"})"));
  CHECK(ask(16, R"({"op":"nat_status"})")
        == response(16, R"({"result":"nat_status","candidates":[],)"
                        R"("peers":[],"last_refresh":0})"));
  CHECK(ask(17, R"({"op":"remove_scoped_resolver","zone":"overlay"})")
        == response(17, R"({"result":"err","message":"overlay engine )"
                        R"(error: scoped resolver is macOS-only"})"));
  // u64 ids survive untouched.
  CHECK(ask(18446744073709551615u, R"({"op":"status"})")
        == response(18446744073709551615u, fresh_status));
}

TEST_CASE_FIXTURE(socket_fixture, "pipelined requests are answered in order") {
  raw_conn c{path};
  std::string burst;
  for (uint64_t id : {3, 1, 2, 9})
    burst += *ipc::encode_frame_bytes(
      request(id, R"({"op":"allocate_ip","service":"s)" + std::to_string(id)
                    + R"(","join_global":false})"));
  burst += *ipc::encode_frame_bytes(request(5, R"({"op":"status"})"));
  c.send_bytes(burst);
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i)
    got.push_back(c.read_frame().value_or("<closed>"));
  // Responses leave in request order. The four services are different
  // resources, so their allocations may run in any order (design §3):
  // together they take the first four addresses of the slice.
  std::set<std::string> handed_out;
  std::vector<uint64_t> ids{3, 1, 2, 9};
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto frame = nlohmann::json::parse(got[i]);
    CHECK(frame["id"] == ids[i]);
    CHECK(frame["response"]["result"] == "ip");
    handed_out.insert(frame["response"]["ip"].get<std::string>());
  }
  CHECK(handed_out
        == std::set<std::string>{"10.200.0.2", "10.200.0.3", "10.200.0.4",
                                 "10.200.0.5"});
  CHECK(got[4] == response(5, fresh_status));
  // A client that half-closes after pipelining still gets its answers.
  c.send_frame(request(6, R"({"op":"status"})"));
  c.shut_write();
  CHECK(c.read_frame() == response(6, fresh_status));
  CHECK(c.closed_by_server());
}

TEST_CASE_FIXTURE(socket_fixture,
                  "a bad request with a certain id gets err and the "
                  "connection stays usable") {
  raw_conn c{path};
  c.send_frame(request(5, R"({"op":"frob"})"));
  auto got = c.read_frame();
  REQUIRE(got);
  CHECK(got->starts_with(
    R"({"frame":"response","id":5,"response":{"result":"err","message":)"
    R"("frame codec error: unknown variant `frob`)"));
  // A bad IP fails the whole frame too, still under its id.
  c.send_frame(request(6, R"({"op":"release_ip","ip":"10.0.0.300"})"));
  got = c.read_frame();
  REQUIRE(got);
  CHECK(got->starts_with(R"({"frame":"response","id":6,)"));
  CHECK(got->find(R"("result":"err")") != std::string::npos);
  // Frames that are not requests are ignored without a reply.
  c.send_frame(response(7, R"({"result":"ok"})"));
  c.send_frame(R"({"frame":"event","event":"peer_health_changed",)"
               R"("pubkey":"k","healthy":true})");
  c.send_frame(request(8, R"({"op":"status"})"));
  CHECK(c.read_frame() == response(8, fresh_status));
}

TEST_CASE_FIXTURE(socket_fixture,
                  "frames without a certain id close the connection and "
                  "nothing else") {
  SUBCASE("not JSON") {
    raw_conn c{path};
    c.send_frame("this is not json");
    CHECK(c.closed_by_server());
  }
  SUBCASE("an empty body") {
    raw_conn c{path};
    c.send_bytes(std::string(4, '\0'));
    CHECK(c.closed_by_server());
  }
  SUBCASE("a request with a non-numeric id") {
    raw_conn c{path};
    c.send_frame(R"({"frame":"request","id":"7","request":{"op":"status"}})");
    CHECK(c.closed_by_server());
  }
  SUBCASE("garbage bytes") {
    raw_conn c{path};
    c.send_bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(c.closed_by_server());
  }
  SUBCASE("a frame over 8 MiB") {
    raw_conn c{path};
    uint32_t len = ipc::max_frame_bytes + 1;
    std::string prefix(4, '\0');
    for (int i = 0; i < 4; ++i)
      prefix[i] = static_cast<char>((len >> (8 * i)) & 0xff);
    c.send_bytes(prefix);
    CHECK(c.closed_by_server());
  }
  SUBCASE("a body that ends early") {
    raw_conn c{path};
    auto frame = *ipc::encode_frame_bytes(request(1, R"({"op":"status"})"));
    c.send_bytes(frame.substr(0, frame.size() - 3));
    c.shut_write();
    CHECK(c.closed_by_server());
  }
  check_alive();
}

TEST_CASE_FIXTURE(socket_fixture, "an exactly 8 MiB frame is read") {
  raw_conn c{path};
  // A valid request padded with whitespace to exactly 8 MiB.
  auto body = request(3, R"({"op":"status"})");
  body.resize(ipc::max_frame_bytes, ' ');
  c.send_frame(body);
  CHECK(c.read_frame() == response(3, fresh_status));
}

TEST_CASE_FIXTURE(socket_fixture,
                  "silent probe connections and idle clients are "
                  "tolerated") {
  std::vector<std::unique_ptr<raw_conn>> idle;
  for (int i = 0; i < 20; ++i)
    idle.push_back(std::make_unique<raw_conn>(path));
  for (int i = 0; i < 50; ++i)
    raw_conn probe{path}; // connects and hangs up without a byte
  check_alive();
  // The idle ones are still served.
  idle[7]->send_frame(request(1, R"({"op":"status"})"));
  CHECK(idle[7]->read_frame() == response(1, fresh_status));
}

TEST_CASE_FIXTURE(socket_fixture,
                  "the zlayer client protocol works against the server") {
  auto c = ipc::client::connect_with_attempts(path, 3);
  REQUIRE(c);
  auto r = c->call(ipc::req::set_local_node_id{9});
  REQUIRE(r);
  CHECK(std::holds_alternative<ipc::resp::ok>(*r));
  auto e = c->call(ipc::req::write_scoped_resolver{"z", {}, 53});
  REQUIRE_FALSE(e);
  CHECK(e.error().message()
        == "overlay engine error: overlay engine error: scoped resolver is "
           "macOS-only");
}

TEST_CASE_FIXTURE(socket_fixture,
                  "shutdown is answered, then the connection closes and the "
                  "engine stops") {
  raw_conn other{path};
  raw_conn c{path};
  c.send_frame(request(28, R"({"op":"shutdown"})"));
  CHECK(c.read_frame() == response(28, R"({"result":"ok"})"));
  CHECK(c.closed_by_server());
  CHECK(eng->wait_for(std::chrono::seconds(5)));
}
