// Host suite (root): the STUN client against Debian's coturn, started as
// a STUN-only server on loopback inside a throwaway network namespace.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <sched.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "nat_topology.hpp"
#include "stun/stun_client.hpp"

extern char** environ;

using namespace overlayd::stun;
using namespace std::chrono_literals;
using overlayd::test::run;

namespace {

// A namespace with loopback up and coturn in STUN-only mode; everything is
// removed on destruction, even when a check failed.
class coturn_namespace {
public:
  coturn_namespace() {
    name_ = "ost-coturn-" + std::to_string(::getpid());
    dir_ = std::filesystem::temp_directory_path()
           / ("ost-coturn-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    ok_ = run({"ip", "netns", "add", name_}) == 0;
    created_ = ok_;
    ok_ = ok_ && run({"ip", "-n", name_, "link", "set", "lo", "up"}) == 0;
    if (!ok_)
      return;
    ok_ = run({"ip", "netns", "exec", name_, "turnserver", "-n", "--stun-only",
               "--listening-ip=127.0.0.1", "--listening-ip=::1",
               "--listening-port=3478", "--no-tls", "--no-dtls", "--no-cli",
               "--log-file=stdout", "--simple-log",
               "--db=" + (dir_ / "turndb").string(),
               "--pidfile=" + (dir_ / "turnserver.pid").string()},
              &pid_, (dir_ / "turnserver.log").string())
          == 0;
  }
  ~coturn_namespace() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      for (int i = 0; i < 50; ++i) {
        if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          break;
        }
        std::this_thread::sleep_for(100ms);
      }
      if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
    }
    if (created_)
      run({"ip", "netns", "del", name_});
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  bool ok() const { return ok_; }

  // Runs `fn` on a thread that lives in the namespace: sockets it opens
  // belong there.
  template <class Fn>
  void inside(Fn fn) {
    std::string path = "/var/run/netns/" + name_;
    std::thread t([&] {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      REQUIRE(::setns(fd, CLONE_NEWNET) == 0);
      ::close(fd);
      fn();
    });
    t.join();
  }

private:
  std::string name_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  bool ok_ = false, created_ = false;
};

} // namespace

TEST_CASE("STUN client against coturn (stun-only) in a namespace") {
  coturn_namespace ns;
  REQUIRE(ns.ok());
  ns.inside([] {
    stun_client_options o;
    o.timeout = 500ms;
    stun_client probe({{"127.0.0.1:3478", std::string("coturn")}}, o);
    // Wait for coturn to listen.
    bool up = false;
    for (int i = 0; i < 20 && !up; ++i)
      up = probe.discover().ok();
    REQUIRE_MESSAGE(up, "coturn did not answer");

    auto one
      = probe.query_server(*udp_endpoint::parse("127.0.0.1:3478"), "coturn");
    REQUIRE_MESSAGE(one.ok(), one.error().message());
    CHECK(one->address.ip.to_string() == "127.0.0.1");
    CHECK(one->address.port != 0);
    CHECK(one->server == "coturn");

    // Literal IPv4, literal IPv6 and a name, all at once; default timeout.
    stun_client all({{"127.0.0.1:3478", std::string("v4")},
                     {"[::1]:3478", std::string("v6")},
                     {"localhost:3478", std::nullopt}});
    auto d = all.discover();
    REQUIRE_MESSAGE(d.ok(), d.error().message());
    CHECK(d->results.size() == 3);
    for (const auto& r : d->results)
      CHECK(r.address.ip.is_loopback());

    // Pinned to the namespace's loopback.
    auto pinned = probe.query_server(*udp_endpoint::parse("[::1]:3478"),
                                     "coturn", std::string("lo"));
    REQUIRE(pinned.ok());
    CHECK(pinned->address.ip.to_string() == "::1");
  });
}
