#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "drivers/host/command_runner.hpp"
#include "drivers/host/host_driver.hpp"

namespace overlayd::drivers {

namespace twin_detail {
struct core;
} // namespace twin_detail

/// A fault injected into the twin for one operation.
struct twin_fault {
  /// Slept before the call runs (outside any lock, so other calls proceed).
  std::chrono::milliseconds latency{0};
  /// Returned instead of running the call.
  std::optional<error> fail;
  /// How many calls it applies to; negative means until cleared.
  int times = -1;
  /// Only calls on this object (link name, sysctl key); empty: any call.
  std::string object = {};
};

/// An in-memory machine that behaves like the kernel and host tools for
/// every driver interface: links (bridges, veth pairs across namespaces,
/// loopback), addresses, main-table routes, network namespaces reached by
/// pid or path, per-namespace sysctls, iptables/ip6tables (as a command
/// runner that interprets the argv overlayd renders) and network-manager
/// drop-in files. It refuses what the kernel refuses, with the same error
/// kinds and errnos; the conformance test holds it to that against the real
/// backend. Thread-safe. Faults (latency, errors) can be injected per
/// operation name, e.g. "create_bridge", "ensure_member_isolation",
/// "write_sysctl".
class twin_host {
public:
  twin_host();
  ~twin_host();
  twin_host(const twin_host&) = delete;
  twin_host& operator=(const twin_host&) = delete;

  /// The host driver of the twin's initial namespace (only `lo` at first).
  host_driver& root();

  /// A host driver acting inside the namespace bound at `path` (like a
  /// thread that entered it), for tests that run whole scripts there.
  /// `not_found`-like `namespace_gone` if there is no such path.
  result<std::unique_ptr<host_driver>> host_in(const std::string& path);

  // -- processes and named namespaces ----------------------------------------

  /// `ip netns add`: a fresh namespace (with `lo`) bound at `path`.
  /// `already_exists` if the path is taken.
  status add_named_netns(const std::string& path);
  /// `ip netns del`: unbinds the path; the namespace lives on while pinned.
  status remove_named_netns(const std::string& path);
  /// A process with a fresh namespace of its own (a container).
  status add_process(pid_t pid);
  /// A process living in the namespace bound at `path`.
  status add_process_in(pid_t pid, const std::string& path);
  /// The process exits; its namespace lives on while pinned.
  void kill_process(pid_t pid);
  bool pid_alive(pid_t pid) const;

  /// Adds a device the link driver cannot create itself, e.g. the TUN of a
  /// WireGuard transport (`kind` "tun"), in the initial namespace, so that
  /// engine tests can address and route through it. `already_exists` if the
  /// name is taken, `invalid_argument` for a bad name.
  status add_device(std::string_view name, std::string_view kind, bool up);

  /// Which managers look installed (their config directory exists); both
  /// by default.
  void set_manager_installed(std::string_view manager, bool installed);

  // -- faults ----------------------------------------------------------------

  void inject(std::string operation, twin_fault fault);
  void clear_faults();
  /// How many calls of `operation` reached the twin (faulted ones too).
  std::size_t call_count(std::string_view operation) const;

  // -- observation
  // -------------------------------------------------------------

  /// The drop-in files that exist, path (relative to the root) → content.
  std::map<std::string, std::string> dropin_files() const;
  /// The runner that answers iptables/ip6tables argv in the initial
  /// namespace (for listings in tests).
  command_runner& iptables_runner();

private:
  std::shared_ptr<twin_detail::core> core_;
  std::unique_ptr<host_driver> root_;
  std::unique_ptr<command_runner> root_runner_;
};

} // namespace overlayd::drivers
