// The UAPI connection protocol: operations, replies and error trailers,
// driven over a socketpair against a recording handler.

#include "wg/io/uapi_server.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

using namespace overlayd::wg;

namespace {

struct recording_handler : uapi_handler {
  std::vector<uapi::set_request> applied;
  int fail_with = 0;

  std::string uapi_get() override { return "listen_port=1\n"; }
  result<void> uapi_set(const uapi::set_request& req) override {
    if (fail_with != 0)
      return io_error{fail_with, "refused"};
    applied.push_back(req);
    return {};
  }
};

// Sends `request`, closes the write side and returns everything the server
// wrote back.
std::string talk(uapi_handler& handler, const std::string& request) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  REQUIRE(::write(fds[0], request.data(), request.size())
          == static_cast<ssize_t>(request.size()));
  ::shutdown(fds[0], SHUT_WR);
  uapi_server::serve_connection(fds[1], handler);
  ::close(fds[1]);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0)
    reply.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  return reply;
}

const std::string peer_a = "public_key=" + std::string(64, 'a') + "\n";

} // namespace

TEST_CASE("get returns the dump and errno=0") {
  recording_handler h;
  CHECK(talk(h, "get=1\n\n") == "listen_port=1\nerrno=0\n\n");
}

TEST_CASE("get with trailing garbage is invalid") {
  recording_handler h;
  CHECK(talk(h, "get=1\nx\n") == "errno=-22\n\n");
}

TEST_CASE("set applies a valid request once") {
  recording_handler h;
  CHECK(talk(h, "set=1\nlisten_port=5\n" + peer_a + "\n") == "errno=0\n\n");
  REQUIRE(h.applied.size() == 1);
  CHECK(h.applied[0].listen_port == 5);
  CHECK(h.applied[0].peers.size() == 1);
}

TEST_CASE("set without the final empty line still applies at EOF") {
  recording_handler h;
  CHECK(talk(h, "set=1\nlisten_port=5\n") == "errno=0\n\n");
  CHECK(h.applied.size() == 1);
}

TEST_CASE("bad set input gets an errno reply and applies nothing") {
  recording_handler h;
  CHECK(talk(h, "set=1\nlisten_port=5\n" + peer_a + "allowed_ip=x\n\n")
        == "errno=-22\n\n");
  CHECK(talk(h, "set=1\nlisten_port\n\n") == "errno=-71\n\n");
  CHECK(talk(h, "set=1\nwhat=ever\n\n") == "errno=-22\n\n");
  CHECK(h.applied.empty());
}

TEST_CASE("a handler failure is reported with its code") {
  recording_handler h;
  h.fail_with = EADDRINUSE;
  CHECK(talk(h, "set=1\nlisten_port=5\n\n") == "errno=-98\n\n");
}

TEST_CASE("several operations share one connection") {
  recording_handler h;
  CHECK(talk(h, "set=1\nfwmark=1\n\nget=1\n\nset=1\nfwmark=x\n\n")
        == "errno=0\n\nlisten_port=1\nerrno=0\n\nerrno=-22\n\n");
  CHECK(h.applied.size() == 1);
}

TEST_CASE("an unknown operation closes the connection without a reply") {
  recording_handler h;
  CHECK(talk(h, "bogus=1\n\n").empty());
  CHECK(talk(h, "").empty());
}

TEST_CASE("the server listens on <dir>/<ifname>.sock and removes it") {
  char tmpl[] = "/tmp/owd-uapi-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  std::string dir = std::string{tmpl} + "/run/wireguard"; // mkdir -p
  recording_handler h;
  {
    uapi_server server;
    REQUIRE(server.listen(dir, "owdtest0"));
    CHECK(server.path() == dir + "/owdtest0.sock");
    struct stat st;
    REQUIRE(::stat(server.path().c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0700);
    server.start(h);
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s",
                  server.path().c_str());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
            == 0);
    std::string req = "get=1\n\n";
    REQUIRE(::write(fd, req.data(), req.size()) == 7);
    ::shutdown(fd, SHUT_WR);
    std::string reply;
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0)
      reply.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    CHECK(reply == "listen_port=1\nerrno=0\n\n");
    server.stop();
    CHECK(::access((dir + "/owdtest0.sock").c_str(), F_OK) != 0);
  }
  ::rmdir(dir.c_str());
  ::rmdir((std::string{tmpl} + "/run").c_str());
  ::rmdir(tmpl);
}
