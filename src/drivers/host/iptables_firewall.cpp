#include "drivers/host/iptables_firewall.hpp"

#include <cerrno>
#include <cstdlib>

namespace overlayd::drivers {

namespace {

/// Each removal loop stops after this many copies of a jump; more would
/// mean something keeps re-adding it.
constexpr int max_duplicate_jumps = 64;

std::string trimmed(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.remove_suffix(1);
  return std::string{text};
}

/// Keeps the first error of a best-effort sequence.
void keep_first(std::optional<error>& first, const status& st) {
  if (!st && !first)
    first = st.error();
}

status to_status(std::optional<error>& first) {
  if (first)
    return *first;
  return {};
}

} // namespace

iptables_firewall::iptables_firewall(command_runner& runner, bool rootless)
  : runner_(runner), rootless_(rootless) {
  // nop
}

bool iptables_firewall::rootless_from_env() {
  return std::getenv("ZLAYER_ROOTLESS") != nullptr;
}

status iptables_firewall::run_checked(const argv_t& argv, std::string_view op) {
  auto out = runner_.run(argv);
  if (!out)
    return out.error();
  if (out->exit_code != 0)
    return error{error_kind::system, 0, std::string{op}, describe_argv(argv),
                 "exit " + std::to_string(out->exit_code) + ": "
                   + trimmed(out->err)};
  return {};
}

bool iptables_firewall::run_ok(const argv_t& argv,
                               std::optional<error>& first_error) {
  auto out = runner_.run(argv);
  if (!out) {
    if (!first_error)
      first_error = out.error();
    return false;
  }
  return out->exit_code == 0;
}

status iptables_firewall::ensure_chain(bool v6, std::string_view table,
                                       std::string_view chain,
                                       std::string_view op) {
  auto created = runner_.run(fw_new_chain(v6, table, chain));
  if (!created)
    return created.error();
  if (created->exit_code == 0)
    return {};
  // -N fails when the chain exists; confirm by listing it instead of
  // matching iptables' message text.
  auto listed = run_checked(fw_list_chain(v6, table, chain), op);
  if (!listed)
    return error{error_kind::system, 0, std::string{op},
                 describe_argv(fw_new_chain(v6, table, chain)),
                 trimmed(created->err)};
  return {};
}

status iptables_firewall::ensure_rule(bool v6, const fw_wanted_rule& wanted,
                                      std::string_view op) {
  auto check = runner_.run(fw_check(v6, wanted.rule));
  if (!check)
    return check.error();
  if (check->exit_code == 0)
    return {};
  return run_checked(fw_add(v6, wanted.rule, wanted.placement), op);
}

status iptables_firewall::ensure_chain_rules(bool v6, const fw_chain& chain,
                                             std::vector<fw_wanted_rule> rules,
                                             std::string_view op) {
  if (auto st = ensure_chain(v6, chain.table, chain.name, op); !st)
    return st;
  for (auto& wanted : rules) {
    // The isolation jump must stay above the general ACCEPT: if it exists,
    // the allow jump goes right below it instead of on top.
    if (wanted.rule == fw_jump("filter", "FORWARD", allow_chain)) {
      auto listing = runner_.run(fw_list_chain(v6, "filter", "FORWARD"));
      if (listing && listing->exit_code == 0)
        if (auto pos = jump_position(listing->out, "FORWARD", isolation_chain))
          wanted.placement.insert_at = *pos + 1;
    }
    if (auto st = ensure_rule(v6, wanted, op); !st)
      return st;
  }
  return {};
}

status iptables_firewall::remove_chain(const fw_chain& chain) {
  std::optional<error> first;
  for (bool v6 : {false, true}) {
    for (auto from : chain.entered_from) {
      if (from.empty())
        continue;
      auto jump = fw_jump(chain.table, from, chain.name);
      for (int i = 0; i < max_duplicate_jumps; ++i)
        if (!run_ok(fw_delete(v6, jump), first))
          break;
    }
    run_ok(fw_flush_chain(v6, chain.table, chain.name), first);
    run_ok(fw_delete_chain(v6, chain.table, chain.name), first);
  }
  return to_status(first);
}

status iptables_firewall::ensure_cluster_rules(
  std::string_view cluster_cidr, const fw_chain& chain,
  std::vector<fw_wanted_rule> (*rules)(const ip_network&),
  std::string_view op) {
  if (rootless_)
    return {};
  auto cluster = ip_network::parse(cluster_cidr);
  if (!cluster)
    return cluster.error();
  return ensure_chain_rules(cluster->is_v6(), chain, rules(*cluster), op);
}

status
iptables_firewall::ensure_overlay_subnet_rules(std::string_view cluster_cidr) {
  return ensure_cluster_rules(cluster_cidr, fw_allow, subnet_rules,
                              "ensure_overlay_subnet_rules");
}

status
iptables_firewall::ensure_overlay_masquerade(std::string_view cluster_cidr) {
  return ensure_cluster_rules(cluster_cidr, fw_masquerade, masquerade_rules,
                              "ensure_overlay_masquerade");
}

status iptables_firewall::remove_overlay_masquerade() {
  if (rootless_)
    return {};
  return remove_chain(fw_masquerade);
}

status iptables_firewall::remove_overlay_subnet_rules() {
  if (rootless_)
    return {};
  return remove_chain(fw_allow);
}

status iptables_firewall::ensure_member_isolation(
  std::string_view network, const ip_address& member,
  const std::vector<ip_address>& peers, const ip_address& node_ip,
  std::string_view cluster_cidr) {
  constexpr std::string_view op = "ensure_member_isolation";
  if (rootless_)
    return {};
  auto cluster = ip_network::parse(cluster_cidr);
  if (!cluster)
    return cluster.error();
  const bool v6 = cluster->is_v6();
  auto mismatch = [&](const ip_address& addr) -> status {
    if (addr.is_v6() == v6)
      return {};
    return error{error_kind::invalid_argument, EINVAL, std::string{op},
                 std::string{network},
                 "address family mismatch: " + addr.to_string() + " vs cluster "
                   + cluster->to_string()};
  };
  if (auto st = mismatch(member); !st)
    return st;
  if (auto st = mismatch(node_ip); !st)
    return st;
  for (const auto& p : peers)
    if (auto st = mismatch(p); !st)
      return st;
  return ensure_chain_rules(
    v6, fw_isolation, member_isolation_rules(member, peers, node_ip, *cluster),
    op);
}

status iptables_firewall::remove_member_isolation(
  std::string_view, const ip_address& member, const std::vector<ip_address>&,
  const ip_address&, std::string_view) {
  if (rootless_)
    return {};
  // Every rule naming the member goes, whichever peer it pairs it with: the
  // peer list at attach time may differ from `remaining` now.
  const bool v6 = member.is_v6();
  auto listing = runner_.run(fw_list_chain(v6, "filter", isolation_chain));
  if (!listing)
    return listing.error();
  if (listing->exit_code != 0)
    return {}; // no isolation chain: nothing to remove
  std::optional<error> first;
  for (auto& spec : rules_naming_member(listing->out, isolation_chain, member))
    keep_first(
      first, run_checked(fw_delete(v6, {"filter", std::string{isolation_chain},
                                        std::move(spec)}),
                         "remove_member_isolation"));
  return to_status(first);
}

status iptables_firewall::remove_overlay_isolation() {
  if (rootless_)
    return {};
  return remove_chain(fw_isolation);
}

} // namespace overlayd::drivers
