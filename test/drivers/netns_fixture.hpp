#pragma once

// Throwaway network namespaces for the host suite. Everything made here is
// named `odl-...` and removed by RAII, also when a check fails.

#include "drivers/link_driver.hpp"
#include "drivers/netlink_driver.hpp"

#include <memory>
#include <set>
#include <string>
#include <sys/types.h>

namespace odl {

/// Runs `command` through /bin/sh; returns its stdout. `status` gets the
/// exit code.
std::string run(const std::string& command, int* status = nullptr);

/// Runs `command` and fails the test if it exits non-zero.
std::string must_run(const std::string& command);

/// `ip netns add odl-<tag>-<pid>`, deleted on destruction.
class scoped_netns {
public:
  explicit scoped_netns(const std::string& tag);
  ~scoped_netns();
  scoped_netns(const scoped_netns&) = delete;
  scoped_netns& operator=(const scoped_netns&) = delete;

  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }
  /// Removes the namespace now (`ip netns del`); the destructor then skips.
  void remove();
  /// `ip -n <name> <args>`, output.
  std::string ip(const std::string& args, int* status = nullptr) const;

private:
  std::string name_;
  bool removed_ = false;
};

/// A forked child that joined a namespace and sleeps until killed.
class child_in_netns {
public:
  explicit child_in_netns(const std::string& netns_path);
  ~child_in_netns();
  child_in_netns(const child_in_netns&) = delete;
  child_in_netns& operator=(const child_in_netns&) = delete;

  pid_t pid() const { return pid_; }
  /// SIGKILL and reap now.
  void kill();

private:
  pid_t pid_ = -1;
};

/// A pid that belonged to a process that has exited and been reaped.
pid_t dead_pid();

/// A named namespace and a driver session running inside it.
struct session {
  explicit session(const std::string& tag);

  scoped_netns ns;
  overlayd::drivers::netlink_driver host;
  std::shared_ptr<overlayd::drivers::netns_handle> handle;
  std::unique_ptr<overlayd::drivers::link_driver> drv;
};

/// Link names of the root namespace and the `odl-` namespaces; a test case
/// that holds one checks on exit that both are as they were.
class host_unchanged {
public:
  host_unchanged();
  ~host_unchanged();

private:
  static std::set<std::string> root_links();
  static std::set<std::string> odl_namespaces();

  std::set<std::string> links_;
  std::set<std::string> namespaces_;
};

/// Parses an address or fails the test.
overlayd::drivers::ip_address ip(const char* text);

} // namespace odl
