#pragma once

#include <string_view>
#include <vector>

#include "drivers/error.hpp"
#include "drivers/link_driver.hpp"

namespace overlayd::drivers {

/// The overlay's packet-filter rules (spec dataplane.md §7). Every `ensure_*`
/// is idempotent (check before insert); every `remove_*` is best-effort and
/// complete: it removes what any number of `ensure_*` calls added, treats
/// "already gone" as success and leaves the tables exactly as they were
/// before. The family (iptables or ip6tables) follows the cluster CIDR;
/// removals cover both families.
class firewall_driver {
public:
  virtual ~firewall_driver() = default;

  /// Lets traffic from and to `cluster_cidr` through INPUT and FORWARD
  /// (chain `ZLAYER-OVERLAY`), even under a DROP policy.
  virtual status ensure_overlay_subnet_rules(std::string_view cluster_cidr) = 0;
  /// Masquerades traffic from the cluster to non-cluster destinations
  /// (nat chain `ZLAYER-OVERLAY-NAT`).
  virtual status ensure_overlay_masquerade(std::string_view cluster_cidr) = 0;
  virtual status remove_overlay_masquerade() = 0;
  virtual status remove_overlay_subnet_rules() = 0;

  /// Fences `member` of the isolated network `network`: it reaches the
  /// members in `peers` (those present before it), the node and non-cluster
  /// destinations only. Chain `ZLAYER-OVERLAY-ISO`, jumped to from FORWARD
  /// above the allow chain. `network` is informational: rules are keyed by
  /// address.
  virtual status ensure_member_isolation(std::string_view network,
                                         const ip_address& member,
                                         const std::vector<ip_address>& peers,
                                         const ip_address& node_ip,
                                         std::string_view cluster_cidr)
    = 0;
  /// Removes every isolation rule naming `member`; leaves the chain and its
  /// jump for the remaining members.
  virtual status
  remove_member_isolation(std::string_view network, const ip_address& member,
                          const std::vector<ip_address>& remaining,
                          const ip_address& node_ip,
                          std::string_view cluster_cidr)
    = 0;
  /// Removes the isolation chain and its jump.
  virtual status remove_overlay_isolation() = 0;
};

} // namespace overlayd::drivers
