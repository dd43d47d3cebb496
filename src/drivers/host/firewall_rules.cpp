#include "drivers/host/firewall_rules.hpp"

#include <cerrno>
#include <charconv>

namespace overlayd::drivers {

namespace {

void clear_host_bits(ip_address& addr, unsigned prefix_len) {
  for (unsigned i = 0; i < addr.size(); ++i) {
    unsigned first_bit = i * 8;
    if (first_bit >= prefix_len)
      addr.bytes[i] = 0;
    else if (prefix_len - first_bit < 8)
      addr.bytes[i]
        &= static_cast<std::uint8_t>(0xff << (8 - (prefix_len - first_bit)));
  }
}

argv_t with(argv_t base, std::initializer_list<std::string_view> words) {
  for (auto w : words)
    base.emplace_back(w);
  return base;
}

fw_wanted_rule on_top(fw_rule rule) {
  return {std::move(rule), fw_placement{1}};
}

fw_wanted_rule at_end(fw_rule rule) {
  return {std::move(rule), fw_placement{}};
}

fw_rule iso_rule(argv_t spec) {
  return {"filter", std::string{isolation_chain}, std::move(spec)};
}

} // namespace

result<ip_network> ip_network::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = ip_address::parse(text.substr(0, slash));
  if (!addr)
    return error{error_kind::invalid_argument, EINVAL, "parse_ip_network",
                 std::string{text}, "not an address/prefix"};
  ip_network out{*addr, static_cast<std::uint8_t>(addr->max_prefix())};
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec]
      = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (digits.empty() || ec != std::errc{}
        || end != digits.data() + digits.size() || len > addr->max_prefix())
      return error{error_kind::invalid_argument, EINVAL, "parse_ip_network",
                   std::string{text}, "bad prefix length"};
    out.prefix_len = static_cast<std::uint8_t>(len);
  }
  clear_host_bits(out.network, out.prefix_len);
  return out;
}

ip_network ip_network::host(const ip_address& address) {
  return {address, static_cast<std::uint8_t>(address.max_prefix())};
}

std::string ip_network::to_string() const {
  return network.to_string() + "/" + std::to_string(prefix_len);
}

std::string_view iptables_program(bool v6) {
  return v6 ? "ip6tables" : "iptables";
}

argv_t fw_base(bool v6, std::string_view table) {
  argv_t out{std::string{iptables_program(v6)}, "-w"};
  if (table != "filter") {
    out.emplace_back("-t");
    out.emplace_back(table);
  }
  return out;
}

argv_t fw_new_chain(bool v6, std::string_view table, std::string_view chain) {
  return with(fw_base(v6, table), {"-N", chain});
}

argv_t fw_flush_chain(bool v6, std::string_view table, std::string_view chain) {
  return with(fw_base(v6, table), {"-F", chain});
}

argv_t fw_delete_chain(bool v6, std::string_view table,
                       std::string_view chain) {
  return with(fw_base(v6, table), {"-X", chain});
}

argv_t fw_list_chain(bool v6, std::string_view table, std::string_view chain) {
  return with(fw_base(v6, table), {"-S", chain});
}

argv_t fw_check(bool v6, const fw_rule& rule) {
  auto out = with(fw_base(v6, rule.table), {"-C", rule.chain});
  out.insert(out.end(), rule.spec.begin(), rule.spec.end());
  return out;
}

argv_t fw_add(bool v6, const fw_rule& rule, const fw_placement& placement) {
  argv_t out;
  if (placement.insert_at)
    out = with(fw_base(v6, rule.table),
               {"-I", rule.chain, std::to_string(*placement.insert_at)});
  else
    out = with(fw_base(v6, rule.table), {"-A", rule.chain});
  out.insert(out.end(), rule.spec.begin(), rule.spec.end());
  return out;
}

argv_t fw_delete(bool v6, const fw_rule& rule) {
  auto out = with(fw_base(v6, rule.table), {"-D", rule.chain});
  out.insert(out.end(), rule.spec.begin(), rule.spec.end());
  return out;
}

fw_rule fw_jump(std::string_view table, std::string_view from,
                std::string_view to) {
  return {std::string{table}, std::string{from}, {"-j", std::string{to}}};
}

std::vector<fw_wanted_rule> subnet_rules(const ip_network& cluster) {
  const auto c = cluster.to_string();
  const std::string chain{allow_chain};
  return {
    on_top(fw_jump("filter", "INPUT", allow_chain)),
    on_top(fw_jump("filter", "FORWARD", allow_chain)),
    at_end({"filter", chain, {"-s", c, "-j", "ACCEPT"}}),
    at_end({"filter",
            chain,
            {"-d", c, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED",
             "-j", "ACCEPT"}}),
  };
}

std::vector<fw_wanted_rule> masquerade_rules(const ip_network& cluster) {
  const auto c = cluster.to_string();
  return {
    at_end(fw_jump("nat", "POSTROUTING", masquerade_chain)),
    at_end({"nat",
            std::string{masquerade_chain},
            {"-s", c, "!", "-d", c, "-j", "MASQUERADE"}}),
  };
}

std::vector<fw_wanted_rule>
member_isolation_rules(const ip_address& member,
                       const std::vector<ip_address>& peers,
                       const ip_address& node_ip, const ip_network& cluster) {
  const auto m = ip_network::host(member).to_string();
  const auto c = cluster.to_string();
  std::vector<fw_wanted_rule> out;
  out.push_back(on_top(fw_jump("filter", "FORWARD", isolation_chain)));
  for (const auto& peer : peers) {
    if (peer == member)
      continue;
    const auto p = ip_network::host(peer).to_string();
    out.push_back(on_top(iso_rule({"-s", m, "-d", p, "-j", "ACCEPT"})));
    out.push_back(on_top(iso_rule({"-s", p, "-d", m, "-j", "ACCEPT"})));
  }
  out.push_back(on_top(iso_rule(
    {"-s", m, "-d", ip_network::host(node_ip).to_string(), "-j", "ACCEPT"})));
  out.push_back(at_end(iso_rule({"-s", m, "-d", c, "-j", "DROP"})));
  out.push_back(at_end(iso_rule({"-s", c, "-d", m, "-j", "DROP"})));
  return out;
}

argv_t split_listing_line(std::string_view line) {
  argv_t words;
  std::string word;
  bool in_word = false;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char ch = line[i];
    if (quoted) {
      if (ch == '\\' && i + 1 < line.size()) {
        word += line[++i];
      } else if (ch == '"') {
        quoted = false;
      } else {
        word += ch;
      }
    } else if (ch == '"') {
      quoted = true;
      in_word = true;
    } else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      if (in_word)
        words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += ch;
      in_word = true;
    }
  }
  if (in_word)
    words.push_back(std::move(word));
  return words;
}

namespace {

/// Calls `fn(spec)` for each `-A <chain> spec...` line of a listing.
template <class Fn>
void for_each_rule(std::string_view listing, std::string_view chain, Fn fn) {
  while (!listing.empty()) {
    auto eol = listing.find('\n');
    auto line = listing.substr(0, eol);
    listing.remove_prefix(eol == std::string_view::npos ? listing.size()
                                                        : eol + 1);
    auto words = split_listing_line(line);
    if (words.size() < 2 || words[0] != "-A" || words[1] != chain)
      continue;
    fn(argv_t(words.begin() + 2, words.end()));
  }
}

} // namespace

std::vector<argv_t> rules_naming_member(std::string_view listing,
                                        std::string_view chain,
                                        const ip_address& member) {
  const auto m = ip_network::host(member).to_string();
  std::vector<argv_t> out;
  for_each_rule(listing, chain, [&](argv_t spec) {
    for (size_t i = 0; i + 1 < spec.size(); ++i) {
      if ((spec[i] == "-s" || spec[i] == "-d") && spec[i + 1] == m) {
        out.push_back(std::move(spec));
        return;
      }
    }
  });
  return out;
}

std::optional<unsigned> jump_position(std::string_view listing,
                                      std::string_view chain,
                                      std::string_view target) {
  unsigned pos = 0;
  std::optional<unsigned> found;
  for_each_rule(listing, chain, [&](const argv_t& spec) {
    ++pos;
    if (found)
      return;
    for (size_t i = 0; i + 1 < spec.size(); ++i)
      if (spec[i] == "-j" && spec[i + 1] == target)
        found = pos;
  });
  return found;
}

} // namespace overlayd::drivers
