#pragma once

// A simulated internet for the host suite (root):
//
//   h1 (10.1.0.2) - r1 [MASQUERADE --random-fully] - pub (198.51.100.1)
//   h2 (10.2.0.2) - r2 [MASQUERADE --random-fully] - pub
//
// r1's WAN is 198.51.100.2 and r2's 198.51.100.6. The routers only let
// replies in (as home routers do) and their NAT is symmetric, so two hosts
// can meet only through something in `pub`. Every namespace (and so every
// link, rule and socket in it) and every process started here is removed
// by the destructor, also when a test fails.

#include <doctest/doctest.h>

#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <sched.h>
#include <spawn.h>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace overlayd::test {

// Runs argv (PATH lookup) with stdout and stderr to `log`; waits and returns
// the exit code unless `child` is given, which then receives the pid.
inline int run(const std::vector<std::string>& argv, pid_t* child = nullptr,
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

// Runs `fn` on a thread inside namespace `ns`; sockets and TUN devices it
// creates live there (threads started later may run anywhere).
template <class Fn>
void inside_netns(const std::string& ns, Fn fn) {
  std::thread t([&] {
    int fd = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::setns(fd, CLONE_NEWNET) == 0);
    ::close(fd);
    fn();
  });
  t.join();
}

// `ip -n NS <words>`; true on success.
inline bool ip_in(const std::string& ns, const std::string& args) {
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

// `ip netns exec NS argv...`; true on success.
inline bool exec_in(const std::string& ns, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
  return run(argv) == 0;
}

struct nat_topology_options {
  // Namespace names are `<prefix><role>-<pid>`; the prefix keeps tests of
  // different suites apart.
  std::string prefix;
  // coturn as a STUN-only server on 198.51.100.1:3478 in `pub`.
  bool coturn = false;
};

class nat_topology {
public:
  explicit nat_topology(nat_topology_options options)
    : options_(std::move(options)) {
    std::string id = std::to_string(::getpid() % 100000);
    for (const char* n : {"pub", "r1", "r2", "h1", "h2"})
      ns_.push_back(options_.prefix + n + "-" + id);
    dir_ = std::filesystem::temp_directory_path()
           / (options_.prefix + "nat-" + id);
    std::filesystem::create_directories(dir_);
    ok_ = build();
  }
  ~nat_topology() {
    if (coturn_ > 0) {
      ::kill(coturn_, SIGTERM);
      ::waitpid(coturn_, nullptr, 0);
    }
    for (const auto& n : created_)
      run({"ip", "netns", "del", n});
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  nat_topology(const nat_topology&) = delete;
  nat_topology& operator=(const nat_topology&) = delete;

  bool ok() const { return ok_; }
  const std::string& pub() const { return ns_[0]; }
  const std::string& r1() const { return ns_[1]; }
  const std::string& r2() const { return ns_[2]; }
  const std::string& h1() const { return ns_[3]; }
  const std::string& h2() const { return ns_[4]; }
  const std::filesystem::path& dir() const { return dir_; }

  template <class Fn>
  void inside(const std::string& ns, Fn fn) {
    inside_netns(ns, std::move(fn));
  }

private:
  bool router(const std::string& r, const std::string& h, int n,
              const std::string& pub_ip, const std::string& wan_ip) {
    std::string lan = "10." + std::to_string(n) + ".0.";
    std::string wan = "wan" + std::to_string(n);
    std::string up = "up" + std::to_string(n);
    return ip_in(pub(), "link add " + up + " type veth peer name " + wan
                          + " netns " + r)
           && ip_in(pub(), "addr add " + pub_ip + "/30 dev " + up)
           && ip_in(pub(), "link set " + up + " up")
           && ip_in(r, "addr add " + wan_ip + "/30 dev " + wan)
           && ip_in(r, "link set " + wan + " up")
           && ip_in(r, "link add lan type veth peer name eth0 netns " + h)
           && ip_in(r, "addr add " + lan + "1/24 dev lan")
           && ip_in(r, "link set lan up") && ip_in(r, "link set lo up")
           && ip_in(h, "addr add " + lan + "2/24 dev eth0")
           && ip_in(h, "link set eth0 up") && ip_in(h, "link set lo up")
           && ip_in(h, "route add default via " + lan + "1")
           && ip_in(r, "route add default via " + pub_ip)
           && exec_in(r, {"sysctl", "-qw", "net.ipv4.ip_forward=1"})
           && exec_in(r, {"iptables", "-t", "nat", "-A", "POSTROUTING", "-o",
                          wan, "-j", "MASQUERADE", "--random-fully"})
           && exec_in(r, {"iptables", "-A", "FORWARD", "-i", wan, "-m",
                          "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j",
                          "ACCEPT"})
           && exec_in(r,
                      {"iptables", "-A", "FORWARD", "-i", wan, "-j", "DROP"});
  }

  bool build() {
    for (const auto& n : ns_) {
      if (run({"ip", "netns", "add", n}) != 0)
        return false;
      created_.push_back(n);
    }
    if (!ip_in(pub(), "link set lo up")
        || !router(r1(), h1(), 1, "198.51.100.1", "198.51.100.2")
        || !router(r2(), h2(), 2, "198.51.100.5", "198.51.100.6"))
      return false;
    // The relay's external address must be reachable from both routers.
    if (!exec_in(r2(), {"ip", "route", "add", "198.51.100.0/29", "via",
                        "198.51.100.5"}))
      return false;
    if (!options_.coturn)
      return true;
    return run({"ip", "netns", "exec", pub(), "turnserver", "-n", "--stun-only",
                "--listening-ip=198.51.100.1", "--listening-port=3478",
                "--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout",
                "--simple-log", "--db=" + (dir_ / "turndb").string(),
                "--pidfile=" + (dir_ / "turnserver.pid").string()},
               &coturn_, (dir_ / "turnserver.log").string())
           == 0;
  }

  nat_topology_options options_;
  std::vector<std::string> ns_, created_;
  std::filesystem::path dir_;
  pid_t coturn_ = -1;
  bool ok_ = false;
};

} // namespace overlayd::test
