#include <algorithm>
#include <cerrno>

#include "drivers/host/iptables_firewall.hpp"
#include "drivers/host/twin_parts.hpp"

namespace overlayd::drivers::twin_detail {

namespace {

const std::vector<std::string>* builtin_chains(std::string_view table) {
  static const std::vector<std::string> filter{"INPUT", "FORWARD", "OUTPUT"};
  static const std::vector<std::string> nat{"PREROUTING", "INPUT", "OUTPUT",
                                            "POSTROUTING"};
  if (table == "filter")
    return &filter;
  if (table == "nat")
    return &nat;
  return nullptr;
}

bool is_builtin_target(std::string_view target) {
  for (auto t : {"ACCEPT", "DROP", "RETURN", "REJECT", "MASQUERADE", "LOG",
                 "SNAT", "DNAT", "MARK", "CONNMARK"})
    if (target == t)
      return true;
  return false;
}

std::string quote_word(const std::string& word) {
  if (word.find_first_of(" \"\t") == std::string::npos && !word.empty())
    return word;
  std::string out = "\"";
  for (char c : word) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string rule_line(const std::string& chain, const argv_t& spec) {
  std::string out = "-A " + chain;
  for (const auto& w : spec)
    out += " " + quote_word(w);
  return out + "\n";
}

command_output done(int code, std::string out = {}, std::string err = {}) {
  return {code, std::move(out), std::move(err)};
}

class twin_iptables final : public command_runner {
public:
  twin_iptables(std::shared_ptr<core> c, std::shared_ptr<netns> ns)
    : core_(std::move(c)), ns_(std::move(ns)) {
    // nop
  }

  result<command_output> run(const argv_t& argv) override {
    if (argv.empty() || (argv[0] != "iptables" && argv[0] != "ip6tables"))
      return error::from_errno(ENOENT, "run_command", describe_argv(argv));
    std::lock_guard<std::mutex> guard{core_->mtx};
    return interpret(argv);
  }

private:
  command_output interpret(const argv_t& argv) {
    const bool v6 = argv[0] == "ip6tables";
    const std::string prog = argv[0];
    std::string table = "filter";
    std::string command;
    std::string chain;
    std::optional<long> position;
    argv_t spec;
    size_t i = 1;
    for (; i < argv.size(); ++i) {
      const auto& a = argv[i];
      if (a == "-w")
        continue;
      if (a == "-t" && i + 1 < argv.size()) {
        table = argv[++i];
        continue;
      }
      if (a.size() == 2 && a[0] == '-'
          && std::string_view{"NXFSCAID"}.find(a[1]) != std::string::npos) {
        command = a;
        if (i + 1 < argv.size() && argv[i + 1][0] != '-')
          chain = argv[++i];
        if (command == "-I" && i + 1 < argv.size()
            && std::all_of(argv[i + 1].begin(), argv[i + 1].end(),
                           [](char c) { return c >= '0' && c <= '9'; })
            && !argv[i + 1].empty())
          position = std::stol(argv[++i]);
        ++i;
        break;
      }
      return done(2, {},
                  prog + " v1.8.9 (nf_tables): unknown option \"" + a + "\"\n");
    }
    for (; i < argv.size(); ++i)
      spec.push_back(argv[i]);
    auto* builtins = builtin_chains(table);
    if (builtins == nullptr)
      return done(3, {},
                  prog + " v1.8.9 (nf_tables): table '" + table
                    + "' does not exist\n");
    auto& t = table_of(v6, table, *builtins);
    if (command.empty())
      return done(2, {}, prog + " v1.8.9 (nf_tables): no command specified\n");
    const std::string no_chain
      = prog + ": No chain/target/match by that name.\n";
    if (command == "-S") {
      if (chain.empty())
        return done(0, list_all(t));
      auto it = t.chains.find(chain);
      if (it == t.chains.end())
        return done(1, {},
                    prog + " v1.8.9 (nf_tables): chain `" + chain
                      + "' in table `" + table + "' is incompatible, use "
                      + "'nft' tool.\n");
      return done(0, list_chain(chain, it->second));
    }
    if (command == "-N") {
      if (t.chains.contains(chain))
        return done(1, {}, prog + ": Chain already exists.\n");
      t.chains[chain] = fw_chain{};
      return done(0);
    }
    if (command == "-F") {
      if (chain.empty()) {
        for (auto& [name, c] : t.chains)
          c.rules.clear();
        return done(0);
      }
      auto it = t.chains.find(chain);
      if (it == t.chains.end())
        return done(1, {}, no_chain);
      it->second.rules.clear();
      return done(0);
    }
    if (command == "-X") {
      auto it = t.chains.find(chain);
      if (it == t.chains.end() || it->second.builtin)
        return done(1, {}, no_chain);
      if (!it->second.rules.empty() || referenced(t, chain))
        return done(4, {},
                    prog
                      + " v1.8.9 (nf_tables):  CHAIN_DEL failed (Device "
                        "or resource busy): chain "
                      + chain + "\n");
      t.chains.erase(it);
      return done(0);
    }
    // -C, -A, -I, -D take a rule.
    auto canonical = canonicalise(spec, v6);
    if (!canonical)
      return done(2, {},
                  prog + " v1.8.9 (nf_tables): host/network not found\n");
    auto it = t.chains.find(chain);
    if (it == t.chains.end())
      return done(1, {}, no_chain);
    if (auto target = jump_target(*canonical);
        target && !is_builtin_target(*target) && !t.chains.contains(*target))
      return done(2, {},
                  prog + " v1.8.9 (nf_tables): Chain '" + *target
                    + "' does not exist\n");
    auto& rules = it->second.rules;
    auto found = std::find(rules.begin(), rules.end(), *canonical);
    const std::string bad_rule = prog
                                 + ": Bad rule (does a matching rule exist "
                                   "in that chain?).\n";
    if (command == "-C")
      return found != rules.end() ? done(0) : done(1, {}, bad_rule);
    if (command == "-D") {
      if (found == rules.end())
        return done(1, {}, bad_rule);
      rules.erase(found);
      return done(0);
    }
    if (command == "-A") {
      rules.push_back(*canonical);
      return done(0);
    }
    // -I
    long pos = position.value_or(1);
    if (pos < 1)
      return done(2, {}, prog + " v1.8.9 (nf_tables): Invalid rule number\n");
    if (static_cast<size_t>(pos) > rules.size() + 1)
      return done(1, {}, prog + ": Index of insertion too big.\n");
    rules.insert(rules.begin() + (pos - 1), *canonical);
    return done(0);
  }

  fw_table& table_of(bool v6, const std::string& name,
                     const std::vector<std::string>& builtins) {
    auto& t = ns_->firewall[{v6, name}];
    if (t.builtin_order.empty()) {
      t.builtin_order = builtins;
      for (const auto& b : builtins)
        t.chains[b].builtin = true;
    }
    return t;
  }

  /// Addresses as iptables stores them (host bits cleared, /32 added);
  /// nullopt for an address of the wrong family.
  static std::optional<argv_t> canonicalise(const argv_t& spec, bool v6) {
    argv_t out = spec;
    for (size_t i = 0; i + 1 < out.size(); ++i) {
      if (out[i] != "-s" && out[i] != "-d" && out[i] != "--source"
          && out[i] != "--destination")
        continue;
      out[i] = out[i].size() == 2 ? out[i] : (out[i][2] == 's' ? "-s" : "-d");
      auto net = ip_network::parse(out[i + 1]);
      if (!net || net->is_v6() != v6)
        return std::nullopt;
      out[i + 1] = net->to_string();
      ++i;
    }
    return out;
  }

  static std::optional<std::string> jump_target(const argv_t& spec) {
    for (size_t i = 0; i + 1 < spec.size(); ++i)
      if (spec[i] == "-j")
        return spec[i + 1];
    return std::nullopt;
  }

  static bool referenced(const fw_table& t, const std::string& chain) {
    for (const auto& [name, c] : t.chains)
      for (const auto& rule : c.rules)
        if (jump_target(rule) == chain)
          return true;
    return false;
  }

  static std::string list_chain(const std::string& name, const fw_chain& c) {
    std::string out
      = c.builtin ? "-P " + name + " ACCEPT\n" : "-N " + name + "\n";
    for (const auto& rule : c.rules)
      out += rule_line(name, rule);
    return out;
  }

  /// `-S` of a whole table: policies of the built-in chains in their order,
  /// user chains sorted by name, then every rule in that chain order.
  static std::string list_all(const fw_table& t) {
    std::vector<std::string> order = t.builtin_order;
    std::string out;
    for (const auto& b : t.builtin_order)
      out += "-P " + b + " ACCEPT\n";
    for (const auto& [name, c] : t.chains) {
      if (c.builtin)
        continue;
      out += "-N " + name + "\n";
      order.push_back(name);
    }
    for (const auto& name : order)
      for (const auto& rule : t.chains.at(name).rules)
        out += rule_line(name, rule);
    return out;
  }

  std::shared_ptr<core> core_;
  std::shared_ptr<netns> ns_;
};

/// `iptables_firewall` over the twin's iptables, faults per operation.
class twin_firewall final : public firewall_driver {
public:
  twin_firewall(std::shared_ptr<core> c, std::shared_ptr<netns> ns)
    : core_(c), runner_(make_twin_iptables(c, std::move(ns))),
      impl_(*runner_, false) {
    // nop
  }

  status ensure_overlay_subnet_rules(std::string_view cidr) override {
    if (auto f = core_->enter("ensure_overlay_subnet_rules", cidr))
      return *f;
    return impl_.ensure_overlay_subnet_rules(cidr);
  }
  status ensure_overlay_masquerade(std::string_view cidr) override {
    if (auto f = core_->enter("ensure_overlay_masquerade", cidr))
      return *f;
    return impl_.ensure_overlay_masquerade(cidr);
  }
  status remove_overlay_masquerade() override {
    if (auto f = core_->enter("remove_overlay_masquerade"))
      return *f;
    return impl_.remove_overlay_masquerade();
  }
  status remove_overlay_subnet_rules() override {
    if (auto f = core_->enter("remove_overlay_subnet_rules"))
      return *f;
    return impl_.remove_overlay_subnet_rules();
  }
  status ensure_member_isolation(std::string_view network,
                                 const ip_address& member,
                                 const std::vector<ip_address>& peers,
                                 const ip_address& node_ip,
                                 std::string_view cidr) override {
    if (auto f = core_->enter("ensure_member_isolation", network))
      return *f;
    return impl_.ensure_member_isolation(network, member, peers, node_ip, cidr);
  }
  status remove_member_isolation(std::string_view network,
                                 const ip_address& member,
                                 const std::vector<ip_address>& remaining,
                                 const ip_address& node_ip,
                                 std::string_view cidr) override {
    if (auto f = core_->enter("remove_member_isolation", network))
      return *f;
    return impl_.remove_member_isolation(network, member, remaining, node_ip,
                                         cidr);
  }
  status remove_overlay_isolation() override {
    if (auto f = core_->enter("remove_overlay_isolation"))
      return *f;
    return impl_.remove_overlay_isolation();
  }

private:
  std::shared_ptr<core> core_;
  std::unique_ptr<command_runner> runner_;
  iptables_firewall impl_;
};

} // namespace

std::unique_ptr<command_runner> make_twin_iptables(std::shared_ptr<core> c,
                                                   std::shared_ptr<netns> ns) {
  return std::make_unique<twin_iptables>(std::move(c), std::move(ns));
}

std::unique_ptr<firewall_driver> make_twin_firewall(std::shared_ptr<core> c,
                                                    std::shared_ptr<netns> ns) {
  return std::make_unique<twin_firewall>(std::move(c), std::move(ns));
}

} // namespace overlayd::drivers::twin_detail
