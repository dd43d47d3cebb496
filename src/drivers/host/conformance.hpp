#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/host/command_runner.hpp"
#include "drivers/host/host_driver.hpp"

namespace overlayd::drivers {

/// A scripted sequence of driver calls, one call per line:
///
///     create_bridge zl-a-b
///     add_address zl-a-b 10.1.0.1/24
///     pin c1                      # pins the namespace labelled c1
///     move_link vc-1-s c1 eth0    # moves into c1, renamed
///     enter c1                    # a link driver inside c1
///     @c1 set_link_up eth0        # runs in c1
///     destroy c1                  # the namespace's origin disappears
///     iptables -w -A FORWARD -j ACCEPT   # a rule of the host's own
///     dump                        # records the normalised state here
///
/// Blank lines and text after '#' are ignored. Every operation of every
/// driver interface has a line form; see `conformance.cpp`.
struct conformance_script {
  std::string name;
  std::string text;
};

/// What the runner needs from a backend besides its `host_driver`.
struct conformance_target {
  host_driver* host = nullptr;
  /// The namespace a label stands for (e.g. a path under /var/run/netns).
  std::function<netns_spec(std::string_view label)> netns_of;
  /// Makes the labelled namespace's origin disappear (`ip netns del`).
  std::function<void(std::string_view label)> destroy_netns;
  /// Runs iptables/ip6tables in the target's namespace: for `iptables`
  /// script lines (a host's own rules) and the `-S` listings in each dump.
  command_runner* iptables = nullptr;
  /// The drop-in files that exist, path relative to the root → content.
  std::function<std::map<std::string, std::string>()> dropins;
};

/// Runs `script` against `target` and returns every observable result, one
/// line per call (`create_bridge zl-a-b -> ok`, `... -> err already_exists
/// EEXIST`, `... -> ok 2`), followed by the normalised state at each `dump`
/// and at the end: links (sorted by name, without ifindex and without IPv6
/// link-local addresses), main-table routes (sorted, without fe80::/64),
/// forwarding sysctls, the iptables listings and the drop-in files. Two
/// backends conform when these lines are equal.
std::vector<std::string> run_conformance(const conformance_script& script,
                                         const conformance_target& target);

/// The `-S` listings of the filter and nat tables of both families, through
/// `runner` (the real iptables or the twin's), each under a header line.
std::string iptables_listing(command_runner& runner);

/// The scripts both backends must agree on.
std::vector<conformance_script> standard_conformance_scripts();

} // namespace overlayd::drivers
