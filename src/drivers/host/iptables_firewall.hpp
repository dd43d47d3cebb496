#pragma once

#include <string_view>

#include "drivers/host/command_runner.hpp"
#include "drivers/host/firewall_driver.hpp"
#include "drivers/host/firewall_rules.hpp"

namespace overlayd::drivers {

/// The firewall through `iptables -w` / `ip6tables -w`, run by a
/// `command_runner` in the caller's network namespace. In rootless mode
/// (pasta provides egress and port forwarding) every call succeeds without
/// touching anything, as the reference does.
class iptables_firewall final : public firewall_driver {
public:
  /// `runner` must outlive this object.
  iptables_firewall(command_runner& runner, bool rootless);

  /// Rootless iff the environment variable `ZLAYER_ROOTLESS` is set.
  static bool rootless_from_env();

  status ensure_overlay_subnet_rules(std::string_view cluster_cidr) override;
  status ensure_overlay_masquerade(std::string_view cluster_cidr) override;
  status remove_overlay_masquerade() override;
  status remove_overlay_subnet_rules() override;
  status ensure_member_isolation(std::string_view network,
                                 const ip_address& member,
                                 const std::vector<ip_address>& peers,
                                 const ip_address& node_ip,
                                 std::string_view cluster_cidr) override;
  status remove_member_isolation(std::string_view network,
                                 const ip_address& member,
                                 const std::vector<ip_address>& remaining,
                                 const ip_address& node_ip,
                                 std::string_view cluster_cidr) override;
  status remove_overlay_isolation() override;

private:
  /// Runs `argv`; a non-zero exit becomes an error carrying stderr.
  status run_checked(const argv_t& argv, std::string_view op);
  /// Runs `argv`; true iff it exited 0. Start failures are reported through
  /// `first_error` (if it is still empty).
  bool run_ok(const argv_t& argv, std::optional<error>& first_error);
  status ensure_chain(bool v6, std::string_view table, std::string_view chain,
                      std::string_view op);
  status ensure_rule(bool v6, const fw_wanted_rule& wanted,
                     std::string_view op);
  /// Creates `chain` if needed, then adds whichever of `rules` are missing,
  /// in order. Stops at the first error.
  status ensure_chain_rules(bool v6, const fw_chain& chain,
                            std::vector<fw_wanted_rule> rules,
                            std::string_view op);
  /// ensure_chain_rules for the rules `rules` renders for `cluster_cidr`
  /// (nothing in rootless mode).
  status
  ensure_cluster_rules(std::string_view cluster_cidr, const fw_chain& chain,
                       std::vector<fw_wanted_rule> (*rules)(const ip_network&),
                       std::string_view op);
  /// For both families: deletes every copy of each jump to `chain`, then
  /// flushes and deletes it. Best effort; returns the first error.
  status remove_chain(const fw_chain& chain);

  command_runner& runner_;
  bool rootless_;
};

} // namespace overlayd::drivers
