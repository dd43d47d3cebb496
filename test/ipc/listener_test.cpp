// Listener setup as ZLayer's transport does it (spec §1.4).

#include <doctest/doctest.h>

#include <cstdio>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "ipc/client.hpp"
#include "ipc/listener.hpp"

using namespace overlayd::ipc;

namespace {

// A scratch directory removed (with the files the test made) at the end.
struct scratch_dir {
  std::string path;
  scratch_dir() {
    char tmpl[] = "/tmp/ipc-listener-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~scratch_dir() {
    std::string cmd = "rm -rf '" + path + "'";
    if (std::system(cmd.c_str()) != 0)
      std::fprintf(stderr, "could not remove %s\n", path.c_str());
  }
};

} // namespace

TEST_CASE("creates parents, sets 0660 and accepts connections") {
  scratch_dir dir;
  auto path = dir.path + "/run/deeper/zlayer-overlayd.sock";
  listener_options opts;
  opts.group = "no-such-group-for-overlayd-tests";
  auto l = open_unix_listener(path, opts);
  REQUIRE_MESSAGE(l, (l ? "" : l.error()));
  CHECK(l->warnings.empty());
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0660);
  CHECK((::fcntl(l->fd, F_GETFL) & O_NONBLOCK) != 0);
  auto c = client::connect(path);
  CHECK(c);
  ::close(l->fd);
  // The socket file stays after close, as in ZLayer.
  CHECK(::access(path.c_str(), F_OK) == 0);
}

TEST_CASE("a stale socket or file at the path is replaced") {
  scratch_dir dir;
  auto path = dir.path + "/s.sock";
  auto first = open_unix_listener(path);
  REQUIRE(first);
  // No liveness check: a second instance takes the path over.
  auto second = open_unix_listener(path);
  REQUIRE(second);
  ::close(first->fd);
  ::close(second->fd);
  ::unlink(path.c_str());
  int f = ::open(path.c_str(), O_CREAT | O_WRONLY, 0600);
  REQUIRE(f >= 0);
  ::close(f);
  auto third = open_unix_listener(path);
  REQUIRE(third);
  ::close(third->fd);
}

TEST_CASE("errors name the path") {
  auto too_long = open_unix_listener("/tmp/" + std::string(120, 'x'));
  REQUIRE_FALSE(too_long);
  CHECK(too_long.error().find("longer than 107 bytes") != std::string::npos);
  scratch_dir dir;
  auto file = dir.path + "/file";
  int f = ::open(file.c_str(), O_CREAT | O_WRONLY, 0600);
  REQUIRE(f >= 0);
  ::close(f);
  auto under_file = open_unix_listener(file + "/s.sock");
  REQUIRE_FALSE(under_file);
  CHECK(under_file.error().find(file) != std::string::npos);
}
