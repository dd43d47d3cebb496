// Host suite (root): STUN and the relay across simulated home routers.
//
//   h1 (10.1.0.2) - r1 [MASQUERADE --random-fully] - pub (coturn -S and
//   h2 (10.2.0.2) - r2 [MASQUERADE --random-fully] - pub  our relay)
//
// The routers only let replies in (as home routers do) and their NAT is
// symmetric, so the hosts can only meet through the relay.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <mutex>
#include <sched.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "stun/relay_client.hpp"
#include "stun/relay_server.hpp"
#include "stun/stun_client.hpp"

extern char** environ;

using namespace overlayd::stun;
using namespace std::chrono_literals;

namespace {

int run(const std::vector<std::string>& argv, pid_t* child = nullptr,
        const std::string& log = "/dev/null") {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return -1;
  if (child) {
    *child = pid;
    return 0;
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Builds the topology; tears every namespace (and so every link, rule and
// socket in it) and coturn down in the destructor.
class nat_lab {
public:
  nat_lab() {
    std::string id = std::to_string(::getpid() % 100000);
    for (const char* n : {"pub", "r1", "r2", "h1", "h2"})
      ns_.push_back("ost-" + std::string(n) + "-" + id);
    dir_ = std::filesystem::temp_directory_path() / ("ost-nat-" + id);
    std::filesystem::create_directories(dir_);
    ok_ = build();
  }
  ~nat_lab() {
    if (coturn_ > 0) {
      ::kill(coturn_, SIGTERM);
      ::waitpid(coturn_, nullptr, 0);
    }
    for (const auto& n : created_)
      run({"ip", "netns", "del", n});
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  bool ok() const { return ok_; }
  const std::string& pub() const { return ns_[0]; }
  const std::string& h1() const { return ns_[3]; }
  const std::string& h2() const { return ns_[4]; }

  // Runs `fn` on a thread inside namespace `ns`; sockets and threads it
  // creates live there.
  template <class Fn>
  void inside(const std::string& ns, Fn fn) {
    std::thread t([&] {
      int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      REQUIRE(fd >= 0);
      REQUIRE(::setns(fd, CLONE_NEWNET) == 0);
      ::close(fd);
      fn();
    });
    t.join();
  }

private:
  bool sh(const std::string& ns, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    return run(argv) == 0;
  }
  bool ip(const std::string& ns, const std::string& args) {
    std::vector<std::string> argv = {"ip", "-n", ns};
    std::size_t p = 0;
    while (p < args.size()) {
      auto q = args.find(' ', p);
      if (q == std::string::npos)
        q = args.size();
      argv.push_back(args.substr(p, q - p));
      p = q + 1;
    }
    return run(argv) == 0;
  }

  bool router(const std::string& r, const std::string& h, int n,
              const std::string& pub_ip, const std::string& wan_ip) {
    std::string lan = "10." + std::to_string(n) + ".0.";
    std::string wan = "wan" + std::to_string(n);
    return ip(pub(), "link add up" + std::to_string(n) + " type veth peer name "
                       + wan + " netns " + r)
           && ip(pub(), "addr add " + pub_ip + "/30 dev up" + std::to_string(n))
           && ip(pub(), "link set up" + std::to_string(n) + " up")
           && ip(r, "addr add " + wan_ip + "/30 dev " + wan)
           && ip(r, "link set " + wan + " up")
           && ip(r, "link add lan type veth peer name eth0 netns " + h)
           && ip(r, "addr add " + lan + "1/24 dev lan")
           && ip(r, "link set lan up") && ip(r, "link set lo up")
           && ip(h, "addr add " + lan + "2/24 dev eth0")
           && ip(h, "link set eth0 up") && ip(h, "link set lo up")
           && ip(h, "route add default via " + lan + "1")
           && ip(r, "route add default via " + pub_ip)
           && sh(r, {"sysctl", "-qw", "net.ipv4.ip_forward=1"})
           && sh(r, {"iptables", "-t", "nat", "-A", "POSTROUTING", "-o", wan,
                     "-j", "MASQUERADE", "--random-fully"})
           && sh(r, {"iptables", "-A", "FORWARD", "-i", wan, "-m", "conntrack",
                     "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"})
           && sh(r, {"iptables", "-A", "FORWARD", "-i", wan, "-j", "DROP"});
  }

  bool build() {
    for (const auto& n : ns_) {
      if (run({"ip", "netns", "add", n}) != 0)
        return false;
      created_.push_back(n);
    }
    if (!ip(pub(), "link set lo up")
        || !router(ns_[1], ns_[3], 1, "198.51.100.1", "198.51.100.2")
        || !router(ns_[2], ns_[4], 2, "198.51.100.5", "198.51.100.6"))
      return false;
    // The relay's external address must be reachable from both routers.
    return sh(ns_[2],
              {"ip", "route", "add", "198.51.100.0/29", "via", "198.51.100.5"})
           && run({"ip", "netns", "exec", pub(), "turnserver", "-n",
                   "--stun-only", "--listening-ip=198.51.100.1",
                   "--listening-port=3478", "--no-tls", "--no-dtls", "--no-cli",
                   "--log-file=stdout", "--simple-log",
                   "--db=" + (dir_ / "turndb").string(),
                   "--pidfile=" + (dir_ / "turnserver.pid").string()},
                  &coturn_, (dir_ / "turnserver.log").string())
                == 0;
  }

  std::vector<std::string> ns_, created_;
  std::filesystem::path dir_;
  pid_t coturn_ = -1;
  bool ok_ = false;
};

struct inbox {
  std::mutex mu;
  std::vector<std::pair<udp_endpoint, std::string>> got;
  std::size_t size() {
    std::lock_guard l(mu);
    return got.size();
  }
};

} // namespace

TEST_CASE("behind MASQUERADE: STUN sees the router, the relay connects") {
  nat_lab lab;
  REQUIRE(lab.ok());

  // STUN from h1 reports r1's public address, with a NAT-chosen port.
  lab.inside(lab.h1(), [] {
    stun_client_options o;
    o.timeout = 500ms;
    stun_client c({{"198.51.100.1:3478", std::string("coturn")}}, o);
    result<stun_discovery, stun_error> d
      = result<stun_discovery, stun_error>::failure(
        {stun_error::kind::timeout, 0, 0, {}});
    for (int i = 0; i < 20 && !d.ok(); ++i)
      d = c.discover();
    REQUIRE_MESSAGE(d.ok(), d.error().message());
    CHECK(d->results.at(0).address.ip.to_string() == "198.51.100.2");
  });

  relay_server_options so;
  so.config = {3479, "198.51.100.1:3479", 10};
  so.credential = "cluster-secret";
  relay_server server(so);
  lab.inside(lab.pub(), [&] { REQUIRE(server.start().ok()); });

  inbox in1, in2;
  std::unique_ptr<relay_client> c1, c2;
  auto make = [&](inbox& in) {
    relay_client_options o;
    o.server = {"198.51.100.1:3479", "node", "cluster-secret", std::nullopt};
    o.request_timeout = 2000ms;
    o.on_data
      = [&in](const udp_endpoint& from, std::span<const std::uint8_t> d) {
          std::lock_guard l(in.mu);
          in.got.emplace_back(from, std::string(d.begin(), d.end()));
        };
    auto c = relay_client::create(o);
    REQUIRE(c.ok());
    return std::move(*c);
  };
  lab.inside(lab.h1(), [&] { c1 = make(in1); });
  lab.inside(lab.h2(), [&] { c2 = make(in2); });
  auto a1 = c1->allocate();
  auto a2 = c2->allocate();
  REQUIRE_MESSAGE(a1.ok(), a1.error());
  REQUIRE_MESSAGE(a2.ok(), a2.error());
  CHECK(a1->ip.to_string() == "198.51.100.1");
  REQUIRE(c1->ensure_permission(*a2).ok());
  REQUIRE(c2->ensure_permission(*a1).ok());

  for (int i = 0; i < 10; ++i) {
    std::string m = "ping " + std::to_string(i);
    REQUIRE(c1->send_data(*a2, {reinterpret_cast<const std::uint8_t*>(m.data()),
                                m.size()})
              .ok());
    REQUIRE(c2->send_data(*a1, {reinterpret_cast<const std::uint8_t*>(m.data()),
                                m.size()})
              .ok());
  }
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while ((in1.size() < 10 || in2.size() < 10)
         && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  CHECK(in1.size() == 10);
  CHECK(in2.size() == 10);
  {
    std::lock_guard l(in2.mu);
    REQUIRE_FALSE(in2.got.empty());
    CHECK(in2.got[0].first == *a1);
    CHECK(in2.got[0].second == "ping 0");
  }
  CHECK(c1->refresh().ok()); // control replies still reach us through NAT
  CHECK(server.session_count() == 2);
  c1.reset(); // deallocates on teardown
  c2.reset();
  auto until = std::chrono::steady_clock::now() + 2s;
  while (server.session_count() != 0
         && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(20ms);
  CHECK(server.session_count() == 0);
  server.stop();
}
