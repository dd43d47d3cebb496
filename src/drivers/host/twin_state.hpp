#pragma once

// Internal state of the twin (twin.hpp). One mutex guards everything.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "drivers/host/firewall_rules.hpp"
#include "drivers/host/twin.hpp"
#include "drivers/link_driver.hpp"

namespace overlayd::drivers::twin_detail {

struct netns;

/// One network device.
struct link {
  int index = 0;
  std::string name;
  std::string kind; ///< "" (loopback), "bridge", "veth"
  std::uint32_t mtu = 1500;
  std::uint32_t min_mtu = 68;
  std::uint32_t max_mtu = 65535;
  bool up = false;
  bool loopback = false;
  int master = 0;
  bool stp = false;
  /// A bridge's MTU follows its smallest port until set explicitly.
  bool mtu_set_by_user = false;
  /// Insertion order, as the kernel reports them.
  std::vector<address_info> addresses;
  /// The other end of a veth pair (it may live in another namespace).
  std::weak_ptr<netns> peer_ns;
  int peer_index = 0;
  /// Per-device sysctls, leaf path below `net/` → value, e.g.
  /// "ipv6/conf/forwarding" is stored as {"ipv6", "forwarding"}.
  std::map<std::pair<std::string, std::string>, std::string> conf;
};

/// A main-table route; the device is kept by index.
struct route {
  route_info info;
  int oif = 0;
};

/// One iptables chain.
struct fw_chain {
  bool builtin = false;
  std::vector<argv_t> rules;
};

/// One iptables table of one family.
struct fw_table {
  std::map<std::string, fw_chain> chains;
  std::vector<std::string> builtin_order;
};

/// A network namespace.
struct netns {
  std::uint64_t id = 0;
  std::map<int, link> links;
  int next_index = 1;
  std::vector<route> routes;
  /// Namespace-wide sysctls, path below /proc/sys → value.
  std::map<std::string, std::string> sysctls;
  /// iptables state keyed by (v6, table name), created on first use.
  std::map<std::pair<bool, std::string>, fw_table> firewall;
};

/// Everything, behind one mutex.
struct core {
  mutable std::mutex mtx;
  std::uint64_t next_ns_id = 1;
  std::shared_ptr<netns> root;
  std::map<pid_t, std::shared_ptr<netns>> processes;
  std::map<std::string, std::shared_ptr<netns>> named;
  std::map<std::string, twin_fault, std::less<>> faults;
  std::map<std::string, std::size_t, std::less<>> calls;
  std::set<std::string> installed_managers{"systemd-networkd",
                                           "NetworkManager"};
  std::map<std::string, std::string> dropins;

  /// A fresh namespace with `lo` (down) and default sysctls.
  std::shared_ptr<netns> make_netns();

  /// Counts the call, then applies its fault (if the fault names no object
  /// or this `object`): sleeps (without the lock) and returns the injected
  /// error, if any. Call without holding `mtx`.
  std::optional<error> enter(std::string_view op, std::string_view object = {});
};

// -- helpers shared by the twin's parts (call with `mtx` held) -------------

/// The link named `name` in `ns`, or nullptr.
link* find_link(netns& ns, std::string_view name);
link* find_link(netns& ns, int index);

/// Adds a link with the next free index and default per-device sysctls.
link& add_link(netns& ns, link proto);

/// Removes a link and everything hanging off it (routes, enslavement,
/// sysctls); a veth's peer goes too, wherever it lives.
void remove_link(netns& ns, int index);

/// Drops veths whose peer's namespace no longer exists (the kernel deletes
/// both ends when a namespace dies).
void reap_dead_peers(netns& ns);

} // namespace overlayd::drivers::twin_detail
