#pragma once

// Helpers for the host suite: throwaway named namespaces, threads inside
// them, and drivers that run there. Everything a test makes is removed by
// a destructor, also when the test fails.

#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include "drivers/host/command_runner.hpp"
#include "drivers/host/proc_sysctl_driver.hpp"
#include "drivers/netns.hpp"

namespace odh {

using namespace overlayd::drivers;

/// Runs a command and returns its stdout ("" if it could not start).
inline std::string run_out(const std::vector<std::string>& argv) {
  exec_command_runner runner;
  auto out = runner.run(argv);
  return out ? out->out : std::string{};
}

/// A named namespace `odh-<tag>-<pid>` (`ip netns add`), deleted on scope
/// exit unless it is already gone.
class scratch_netns {
public:
  explicit scratch_netns(const std::string& tag)
    : name_("odh-" + tag + "-" + std::to_string(::getpid())) {
    exec_command_runner runner;
    (void)runner.run({"ip", "netns", "del", name_}); // stale from a crash
    auto made = runner.run({"ip", "netns", "add", name_});
    ok_ = made && made->exit_code == 0;
  }
  ~scratch_netns() { remove(); }
  scratch_netns(const scratch_netns&) = delete;
  scratch_netns& operator=(const scratch_netns&) = delete;

  bool ok() const noexcept { return ok_; }
  const std::string& name() const noexcept { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  /// `ip netns del` now (the namespace lives on while something pins it).
  void remove() {
    if (std::filesystem::exists(path()))
      (void)exec_command_runner{}.run({"ip", "netns", "del", name_});
  }

private:
  std::string name_;
  bool ok_ = false;
};

/// A thread that entered a namespace, for work that must run there.
inline std::unique_ptr<netns_thread> thread_in(const std::string& path) {
  auto pinned = pinned_netns::open(netns_spec::at_path(path));
  if (!pinned)
    return nullptr;
  auto thread = netns_thread::start(*pinned);
  return thread ? std::move(*thread) : nullptr;
}

/// Sysctls read and written from a thread inside a namespace (`net.*` files
/// resolve in the namespace of the thread that opens them).
class in_netns_sysctls final : public sysctl_driver {
public:
  explicit in_netns_sysctls(netns_thread& thread) : thread_(thread) {}
  result<std::string> read(std::string_view key) override {
    return thread_.call([&] { return inner_.read(key); });
  }
  status write(std::string_view key, std::string_view value) override {
    return thread_.call([&] { return inner_.write(key, value); });
  }

private:
  netns_thread& thread_;
  proc_sysctl_driver inner_;
};

/// Commands started from a thread inside a namespace; the child inherits
/// that thread's namespaces.
class in_netns_runner final : public command_runner {
public:
  explicit in_netns_runner(netns_thread& thread) : thread_(thread) {}
  result<command_output> run(const std::vector<std::string>& argv) override {
    return thread_.call([&] { return inner_.run(argv); });
  }

private:
  netns_thread& thread_;
  exec_command_runner inner_;
};

/// A scratch directory, removed with its content on scope exit.
class scratch_dir {
public:
  scratch_dir() {
    char tmpl[] = "/tmp/odh-root-XXXXXX";
    if (::mkdtemp(tmpl) != nullptr)
      path_ = tmpl;
  }
  ~scratch_dir() {
    if (!path_.empty())
      std::filesystem::remove_all(path_);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::string& path() const noexcept { return path_; }

private:
  std::string path_;
};

/// `iptables-save` and `ip6tables-save` without the timestamp comments.
inline std::string saved_tables(command_runner& runner) {
  std::string out;
  for (auto prog : {"iptables-save", "ip6tables-save"}) {
    auto saved = runner.run({prog});
    std::string text = saved ? saved->out : "(cannot run)";
    std::string line;
    for (char c : text) {
      if (c != '\n') {
        line += c;
        continue;
      }
      if (!line.starts_with("#"))
        out += line + "\n";
      line.clear();
    }
  }
  return out;
}

/// What the host's own namespace looks like in the places these tests
/// could touch: firewall tables, forwarding sysctls, links, namespaces and
/// drop-in folders. Equal before and after each test.
inline std::string root_snapshot() {
  exec_command_runner runner;
  std::string out = saved_tables(runner);
  proc_sysctl_driver sysctls;
  for (auto key : {"net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding",
                   "net.ipv6.conf.default.forwarding"})
    out += std::string{key} + "=" + sysctls.read(key).value_or("?") + "\n";
  // Other suites may run meanwhile and make their own links and
  // namespaces; only names these tests could have made are compared.
  auto mine = [](const std::string& name) {
    for (auto prefix : {"odh", "zl-", "veth-", "vc-", "vh", "vp"})
      if (name.starts_with(prefix))
        return true;
    return false;
  };
  for (const auto& entry :
       std::filesystem::directory_iterator("/sys/class/net"))
    if (auto name = entry.path().filename().string(); mine(name))
      out += "link " + name + "\n";
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/var/run/netns", ec))
    if (auto name = entry.path().filename().string(); name.starts_with("odh"))
      out += "netns " + name + "\n";
  for (auto dir : {"/etc/systemd/network", "/run/systemd/network",
                   "/etc/NetworkManager/conf.d"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
      out += entry.path().string() + "\n";
  }
  return out;
}

} // namespace odh
