#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "drivers/error.hpp"
#include "drivers/link_driver.hpp"

namespace overlayd::drivers {

// Pure rendering of the overlay's iptables rules as argv vectors. Nothing
// here runs a program; `iptables_firewall` executes what these functions
// render, and unit tests check the vectors.

using argv_t = std::vector<std::string>;

/// Chain letting cluster traffic through INPUT and FORWARD.
inline constexpr std::string_view allow_chain = "ZLAYER-OVERLAY";
/// Chain fencing isolated networks; its FORWARD jump sits above the allow
/// chain's.
inline constexpr std::string_view isolation_chain = "ZLAYER-OVERLAY-ISO";
/// nat-table chain masquerading cluster egress.
inline constexpr std::string_view masquerade_chain = "ZLAYER-OVERLAY-NAT";

/// One of the overlay's chains: its table, its name and the built-in chains
/// that jump to it, which is what removing it has to undo.
struct fw_chain {
  std::string_view table;
  std::string_view name;
  std::array<std::string_view, 2> entered_from; ///< unused slots are empty
};

inline constexpr fw_chain fw_allow{"filter", allow_chain, {"INPUT", "FORWARD"}};
inline constexpr fw_chain fw_isolation{"filter", isolation_chain, {"FORWARD"}};
inline constexpr fw_chain fw_masquerade{
  "nat", masquerade_chain, {"POSTROUTING"}};

/// A network in canonical form: the host bits are cleared, as iptables
/// prints it (`10.200.0.0/16`, `fd00:200::/48`, `10.0.0.5/32`).
struct ip_network {
  ip_address network;
  std::uint8_t prefix_len = 0;

  /// Parses `addr/len` (or a bare address as a host network) and clears the
  /// host bits. Errors name the text.
  static result<ip_network> parse(std::string_view text);
  /// A single host (`/32` or `/128`).
  static ip_network host(const ip_address& address);

  bool is_v6() const noexcept { return network.is_v6(); }
  std::string to_string() const;
  friend bool operator==(const ip_network&, const ip_network&) = default;
};

/// One rule: where it lives and its match/target words (everything after
/// the chain name in `iptables -A <chain> ...`).
struct fw_rule {
  std::string table; ///< "filter" or "nat"
  std::string chain;
  argv_t spec;
  friend bool operator==(const fw_rule&, const fw_rule&) = default;
};

/// Where a missing rule goes: appended, or inserted at a 1-based position.
struct fw_placement {
  std::optional<unsigned> insert_at; ///< empty: append
  friend bool operator==(const fw_placement&, const fw_placement&) = default;
};

/// A rule an `ensure_*` step makes sure of.
struct fw_wanted_rule {
  fw_rule rule;
  fw_placement placement;
};

/// The program for a family: "iptables" or "ip6tables".
std::string_view iptables_program(bool v6);

/// `iptables -w [-t table]`; the filter table is implied, so it is omitted.
argv_t fw_base(bool v6, std::string_view table);
argv_t fw_new_chain(bool v6, std::string_view table, std::string_view chain);
argv_t fw_flush_chain(bool v6, std::string_view table, std::string_view chain);
argv_t fw_delete_chain(bool v6, std::string_view table, std::string_view chain);
/// `-S <chain>`: lists a chain (exit 1 if it does not exist).
argv_t fw_list_chain(bool v6, std::string_view table, std::string_view chain);
argv_t fw_check(bool v6, const fw_rule& rule);
argv_t fw_add(bool v6, const fw_rule& rule, const fw_placement& placement);
argv_t fw_delete(bool v6, const fw_rule& rule);

/// The jump from a built-in chain to one of ours.
fw_rule fw_jump(std::string_view table, std::string_view from,
                std::string_view to);

/// `ensure_overlay_subnet_rules(C)`: jumps from INPUT and FORWARD (inserted
/// on top), then `-s C -j ACCEPT` and `-d C` RELATED,ESTABLISHED ACCEPT in
/// the allow chain.
std::vector<fw_wanted_rule> subnet_rules(const ip_network& cluster);

/// `ensure_overlay_masquerade(C)`: the POSTROUTING jump (appended) and
/// `-s C ! -d C -j MASQUERADE`.
std::vector<fw_wanted_rule> masquerade_rules(const ip_network& cluster);

/// `ensure_member_isolation`: the FORWARD jump to the isolation chain (on
/// top), ACCEPT between the member and each earlier peer in both directions
/// and from the member to the node (on top of the chain), then DROP between
/// the member and the rest of the cluster (appended), so a member reaches
/// its own network, the node and non-cluster egress only.
std::vector<fw_wanted_rule>
member_isolation_rules(const ip_address& member,
                       const std::vector<ip_address>& peers,
                       const ip_address& node_ip, const ip_network& cluster);

/// Splits one line of `iptables -S` output into words, honouring the double
/// quotes iptables puts around comments.
argv_t split_listing_line(std::string_view line);

/// From `iptables -S <chain>` output: the spec of every rule of `chain` whose
/// source or destination is `member` (as a host network). These are what
/// `remove_member_isolation` deletes, whichever peers they name.
std::vector<argv_t> rules_naming_member(std::string_view listing,
                                        std::string_view chain,
                                        const ip_address& member);

/// From `iptables -S <chain>` output of a built-in chain: the 1-based
/// position of the first `-j target` rule, if any.
std::optional<unsigned> jump_position(std::string_view listing,
                                      std::string_view chain,
                                      std::string_view target);

} // namespace overlayd::drivers
