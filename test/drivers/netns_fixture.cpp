#include "netns_fixture.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace odl {

using namespace overlayd::drivers;

std::string run(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) {
    if (status)
      *status = -1;
    return out;
  }
  std::array<char, 4096> buf;
  while (auto n = fread(buf.data(), 1, buf.size(), pipe))
    out.append(buf.data(), n);
  int rc = pclose(pipe);
  if (status)
    *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

std::string must_run(const std::string& command) {
  int status = 0;
  auto out = run(command, &status);
  INFO(command, " -> ", out);
  REQUIRE(status == 0);
  return out;
}

scoped_netns::scoped_netns(const std::string& tag)
  : name_("odl-" + tag + "-" + std::to_string(getpid())) {
  // A namespace left behind by an earlier crashed run of this pid: reuse
  // would hide leaks, so remove it first.
  run("ip netns del " + name_);
  must_run("ip netns add " + name_);
}

scoped_netns::~scoped_netns() {
  if (!removed_)
    run("ip netns del " + name_);
}

void scoped_netns::remove() {
  if (!removed_) {
    must_run("ip netns del " + name_);
    removed_ = true;
  }
}

std::string scoped_netns::ip(const std::string& args, int* status) const {
  return run("ip -n " + name_ + " " + args, status);
}

child_in_netns::child_in_netns(const std::string& netns_path) {
  int ready[2];
  REQUIRE(pipe2(ready, O_CLOEXEC) == 0);
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    // Only async-signal-safe calls in the child of a threaded process.
    int fd = open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
    char ok = (fd >= 0 && setns(fd, CLONE_NEWNET) == 0) ? '1' : '0';
    (void)!write(ready[1], &ok, 1);
    if (ok != '1')
      _exit(1);
    for (;;)
      pause();
  }
  close(ready[1]);
  char ok = '0';
  auto n = read(ready[0], &ok, 1);
  close(ready[0]);
  if (n != 1 || ok != '1') {
    kill();
    FAIL("child could not join ", netns_path);
  }
}

child_in_netns::~child_in_netns() {
  kill();
}

void child_in_netns::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

pid_t dead_pid() {
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0)
    _exit(0);
  waitpid(pid, nullptr, 0);
  return pid;
}

session::session(const std::string& tag) : ns(tag) {
  auto pinned = host.pin_netns(netns_spec::at_path(ns.path()));
  REQUIRE_MESSAGE(pinned, (pinned ? "" : pinned.error().what()));
  handle = *pinned;
  auto entered = host.enter_netns(handle);
  REQUIRE_MESSAGE(entered, (entered ? "" : entered.error().what()));
  drv = std::move(*entered);
}

namespace {

/// Removes `odl-<tag>-<pid>` namespaces left by a run that crashed: their
/// pid is gone. Namespaces of a live run (ours or a parallel one) stay.
void sweep_stale_namespaces() {
  static bool swept = false;
  if (swept)
    return;
  swept = true;
  DIR* dir = opendir("/var/run/netns");
  if (dir == nullptr)
    return;
  std::vector<std::string> stale;
  while (auto* entry = readdir(dir)) {
    std::string_view name{entry->d_name};
    auto dash = name.rfind('-');
    if (!name.starts_with("odl-") || dash == std::string_view::npos)
      continue;
    auto pid = std::string{name.substr(dash + 1)};
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos)
      continue;
    if (access(("/proc/" + pid).c_str(), F_OK) != 0)
      stale.emplace_back(name);
  }
  closedir(dir);
  for (auto& name : stale)
    run("ip netns del " + name);
}

} // namespace

host_unchanged::host_unchanged()
  : links_((sweep_stale_namespaces(), root_links())),
    namespaces_(odl_namespaces()) {
  // nop
}

host_unchanged::~host_unchanged() {
  CHECK(root_links() == links_);
  CHECK(odl_namespaces() == namespaces_);
}

std::set<std::string> host_unchanged::root_links() {
  std::set<std::string> out;
  // /sys/class/net of the test process is the root namespace's view.
  if (DIR* dir = opendir("/sys/class/net")) {
    while (auto* entry = readdir(dir))
      if (entry->d_name[0] != '.')
        out.insert(entry->d_name);
    closedir(dir);
  }
  return out;
}

std::set<std::string> host_unchanged::odl_namespaces() {
  std::set<std::string> out;
  if (DIR* dir = opendir("/var/run/netns")) {
    while (auto* entry = readdir(dir))
      if (std::string_view{entry->d_name}.starts_with("odl-"))
        out.insert(entry->d_name);
    closedir(dir);
  }
  return out;
}

ip_address ip(const char* text) {
  auto parsed = ip_address::parse(text);
  REQUIRE(parsed);
  return *parsed;
}

} // namespace odl
