#pragma once

// Root-only helpers for the overlay host tests: throwaway namespaces named
// oot-*, "containers" (sleeping processes in a namespace of their own), and
// running code on a thread inside a node's namespace so the real backend
// (netlink, /proc/sys, iptables, the TUN) acts there and nowhere else.

#include <array>
#include <cstdio>
#include <fcntl.h>
#include <functional>
#include <sched.h>
#include <signal.h>
#include <stdexcept>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace overlayd::overlay::testing {

/// Runs a shell command; returns its stdout, sets *status to the exit code.
inline std::string sh(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr)
    throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0)
    out.append(buf.data(), n);
  int rc = ::pclose(p);
  if (status != nullptr)
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

/// `ip netns add oor-<tag>`; removed (with what is left in it) on scope
/// exit, even when the test fails.
class node_netns {
public:
  explicit node_netns(std::string tag) : name_("oot-" + std::move(tag)) {
    sh("ip netns del " + name_);
    int st = 0;
    auto out = sh("ip netns add " + name_, &st);
    if (st != 0)
      throw std::runtime_error("ip netns add " + name_ + ": " + out);
    sh("ip netns exec " + name_ + " ip link set lo up");
  }
  ~node_netns() { sh("ip netns del " + name_); }
  node_netns(const node_netns&) = delete;
  node_netns& operator=(const node_netns&) = delete;
  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  /// A command run inside the namespace.
  std::string exec(const std::string& command, int* status = nullptr) const {
    return sh("ip netns exec " + name_ + " " + command, status);
  }
  /// Links, addresses, routes, rules, iptables and forwarding: what a
  /// teardown must leave as it found.
  std::string fingerprint() const {
    return exec("sh -c 'ip -o link show | sed \"s/link-netns [^ ]*//\"; "
                "ip -o addr show; ip route show table all; ip -6 route show; "
                "ip rule show; iptables -S; iptables -t nat -S; "
                "sysctl net.ipv4.ip_forward'");
  }

private:
  std::string name_;
};

/// Runs `work` on a fresh thread that entered the namespace at `path`.
inline void in_netns(const std::string& path,
                     const std::function<void()>& work) {
  std::exception_ptr failure;
  std::thread t([&] {
    try {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0)
        throw std::runtime_error("cannot enter " + path);
      ::close(fd);
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  t.join();
  if (failure)
    std::rethrow_exception(failure);
}

/// A sleeping process in a network namespace of its own; killed on scope
/// exit.
class container {
public:
  container() {
    int fds[2];
    if (::pipe(fds) != 0)
      throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      if (::unshare(CLONE_NEWNET) != 0)
        ::_exit(1);
      char ok = 1;
      (void)!::write(fds[1], &ok, 1);
      ::close(fds[1]);
      ::execlp("sleep", "sleep", "600", nullptr);
      ::_exit(1);
    }
    ::close(fds[1]);
    char ok = 0;
    (void)!::read(fds[0], &ok, 1);
    ::close(fds[0]);
    if (ok != 1)
      throw std::runtime_error("container did not start");
  }
  ~container() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  container(const container&) = delete;
  container& operator=(const container&) = delete;
  pid_t pid() const { return pid_; }
  std::string exec(const std::string& command, int* status = nullptr) const {
    return sh("nsenter -t " + std::to_string(pid_) + " -n " + command, status);
  }

private:
  pid_t pid_ = -1;
};

} // namespace overlayd::overlay::testing
