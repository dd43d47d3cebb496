#include "drivers/host/conformance.hpp"

#include <algorithm>
#include <memory>
#include <sstream>

#include "drivers/host/firewall_rules.hpp"
#include "drivers/host/forwarding.hpp"
#include "drivers/host/sysctl_name.hpp"

namespace overlayd::drivers {

namespace {

std::vector<std::string> words_of(std::string_view line) {
  std::vector<std::string> out;
  std::istringstream in{std::string{line}};
  std::string w;
  while (in >> w)
    out.push_back(w);
  return out;
}

std::string outcome(const status& st) {
  if (st)
    return "ok";
  return "err " + std::string{to_string(st.error().kind())} + " "
         + (st.error().err_no() != 0 ? errno_name(st.error().err_no())
                                     : std::string{"-"});
}

template <class T>
std::string outcome(const result<T>& r,
                    const std::function<std::string(const T&)>& show) {
  if (r)
    return "ok " + show(*r);
  return outcome(status{r.error()});
}

bool is_link_local(const ip_address& a) {
  return a.is_v6() && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80;
}

std::string show_link(const link_info& l) {
  std::string out
    = l.name + " kind=" + (l.kind.empty() ? "-" : l.kind)
      + " mtu=" + std::to_string(l.mtu) + " up=" + (l.up ? "1" : "0")
      + " master=" + (l.master.empty() ? "-" : l.master) + " addrs=";
  bool first = true;
  for (const auto& a : l.addresses) {
    if (is_link_local(a.address))
      continue;
    out += (first ? "" : ",") + a.address.to_string() + "/"
           + std::to_string(a.prefix_len);
    first = false;
  }
  return out + (first ? "-" : "");
}

std::string show_route(const route_info& r) {
  std::string out
    = r.destination.to_string() + "/" + std::to_string(r.destination_len);
  if (r.gateway)
    out += " via " + r.gateway->to_string();
  out += " dev " + (r.device.empty() ? std::string{"-"} : r.device);
  if (r.preferred_source)
    out += " src " + r.preferred_source->to_string();
  out += " scope " + std::to_string(r.scope) + " proto "
         + std::to_string(r.protocol) + " metric " + std::to_string(r.metric);
  return out;
}

/// `a.b.c.d/len` into an address and a prefix length.
result<std::pair<ip_address, std::uint8_t>>
parse_prefixed(std::string_view text) {
  auto slash = text.find('/');
  auto addr = ip_address::parse(text.substr(0, slash));
  if (!addr)
    return addr.error();
  unsigned len = addr->max_prefix();
  if (slash != std::string_view::npos)
    len
      = static_cast<unsigned>(std::stoul(std::string{text.substr(slash + 1)}));
  return std::pair{*addr, static_cast<std::uint8_t>(len)};
}

std::vector<ip_address> parse_list(std::string_view text) {
  std::vector<ip_address> out;
  if (text == "-")
    return out;
  std::string item;
  std::istringstream in{std::string{text}};
  while (std::getline(in, item, ','))
    if (auto a = ip_address::parse(item))
      out.push_back(*a);
  return out;
}

class runner {
public:
  runner(const conformance_script& script, const conformance_target& target)
    : script_(script), target_(target) {
    // nop
  }

  std::vector<std::string> run() {
    std::istringstream in{script_.text};
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (auto hash = line.find('#'); hash != std::string::npos)
        line.erase(hash);
      auto words = words_of(line);
      if (words.empty())
        continue;
      std::string where;
      if (words[0].starts_with("@")) {
        where = words[0].substr(1);
        words.erase(words.begin());
      }
      std::string call;
      for (const auto& w : words)
        call += (call.empty() ? "" : " ") + w;
      if (!where.empty())
        call = "@" + where + " " + call;
      if (words[0] == "dump") {
        dump();
        continue;
      }
      out_.push_back(call + " -> " + step(where, words));
    }
    dump();
    return std::move(out_);
  }

private:
  link_driver* links_in(const std::string& where) {
    if (where.empty())
      return &target_.host->links();
    auto it = entered_.find(where);
    return it == entered_.end() ? nullptr : it->second.get();
  }

  std::string step(const std::string& where,
                   const std::vector<std::string>& w) {
    auto arg = [&](size_t i) -> std::string {
      return i < w.size() ? w[i] : std::string{};
    };
    const auto& op = w[0];
    auto* links = links_in(where);
    if (links == nullptr)
      return "script error: namespace " + where + " not entered";
    auto& host = *target_.host;
    // -- links ---------------------------------------------------------------
    if (op == "get_link")
      return outcome<link_info>(links->get_link(arg(1)), show_link);
    if (op == "link_exists")
      return outcome<bool>(links->link_exists(arg(1)),
                           [](const bool& b) { return b ? "1" : "0"; });
    if (op == "list_links_count")
      return outcome<std::vector<link_info>>(
        links->list_links(), [](const std::vector<link_info>& all) {
          return std::to_string(all.size());
        });
    if (op == "create_bridge")
      return outcome(links->create_bridge(arg(1)));
    if (op == "set_bridge_stp")
      return outcome(links->set_bridge_stp(arg(1), arg(2) == "1"));
    if (op == "create_veth_pair")
      return outcome(links->create_veth_pair(arg(1), arg(2)));
    if (op == "delete_link")
      return outcome(links->delete_link(arg(1)));
    if (op == "set_link_up")
      return outcome(links->set_link_up(arg(1)));
    if (op == "set_link_down")
      return outcome(links->set_link_down(arg(1)));
    if (op == "set_mtu")
      return outcome(
        links->set_mtu(arg(1), static_cast<std::uint32_t>(std::stoul(arg(2)))));
    if (op == "set_master")
      return outcome(links->set_master(arg(1), arg(2)));
    if (op == "bridge_member_count")
      return outcome<std::size_t>(
        links->bridge_member_count(arg(1)),
        [](const std::size_t& n) { return std::to_string(n); });
    // -- addresses and routes ------------------------------------------------
    if (op == "add_address" || op == "delete_address") {
      auto a = parse_prefixed(arg(2));
      if (!a)
        return "script error: " + arg(2);
      return outcome(op == "add_address"
                       ? links->add_address(arg(1), a->first, a->second)
                       : links->delete_address(arg(1), a->first, a->second));
    }
    if (op == "flush_addresses")
      return outcome(links->flush_addresses(arg(1)));
    if (op == "add_default_route") {
      auto gw = ip_address::parse(arg(1));
      if (!gw)
        return "script error: " + arg(1);
      return outcome(links->add_default_route_via_gateway(*gw));
    }
    if (op == "add_route" || op == "replace_route" || op == "delete_route") {
      auto d = parse_prefixed(arg(1));
      if (!d)
        return "script error: " + arg(1);
      if (op == "add_route")
        return outcome(links->add_route_via_dev(d->first, d->second, arg(2)));
      if (op == "delete_route")
        return outcome(
          links->delete_route_via_dev(d->first, d->second, arg(2)));
      std::optional<ip_address> src;
      if (!arg(3).empty()) {
        auto s = ip_address::parse(arg(3));
        if (!s)
          return "script error: " + arg(3);
        src = *s;
      }
      return outcome(
        links->replace_route_via_dev(d->first, d->second, arg(2), src));
    }
    // -- namespaces ----------------------------------------------------------
    if (op == "pin") {
      auto h = links->pin_netns(target_.netns_of(arg(1)));
      if (!h)
        return outcome(status{h.error()});
      pinned_[arg(1)] = *h;
      return "ok";
    }
    if (op == "pin_pid") {
      auto h = links->pin_netns(
        netns_spec::of_pid(static_cast<pid_t>(std::stol(arg(1)))));
      return h ? std::string{"ok"} : outcome(status{h.error()});
    }
    if (op == "move_link") {
      auto it = pinned_.find(arg(2));
      if (it == pinned_.end())
        return "script error: " + arg(2) + " not pinned";
      return outcome(links->move_link_to_netns(arg(1), *it->second, arg(3)));
    }
    if (op == "enter") {
      auto it = pinned_.find(arg(1));
      if (it == pinned_.end())
        return "script error: " + arg(1) + " not pinned";
      auto d = links->enter_netns(it->second);
      if (!d)
        return outcome(status{d.error()});
      entered_[arg(1)] = std::move(*d);
      return "ok";
    }
    if (op == "origin_alive") {
      auto it = pinned_.find(arg(1));
      if (it == pinned_.end())
        return "script error: " + arg(1) + " not pinned";
      return it->second->origin_alive() ? "ok 1" : "ok 0";
    }
    if (op == "destroy") {
      target_.destroy_netns(arg(1));
      return "ok";
    }
    // -- sysctls -------------------------------------------------------------
    if (op == "read_sysctl")
      return outcome<std::string>(host.sysctls().read(arg(1)),
                                  [](const std::string& v) { return v; });
    if (op == "write_sysctl")
      return outcome(host.sysctls().write(arg(1), arg(2)));
    if (op == "enable_forwarding") {
      // enable_forwarding v4|v6 <veth> [<bridge>]: records what it kept.
      std::optional<std::string_view> bridge;
      if (!arg(3).empty())
        bridge = w[3];
      forwarding_.enable_for_attach(host.sysctls(), arg(1) == "v6", arg(2),
                                    bridge);
      std::string kept
        = "ok snapshot=" + forwarding_.ipv4_snapshot().value_or("-") + " v6=";
      for (const auto& dev : forwarding_.ipv6_devices())
        kept += dev + ",";
      return kept;
    }
    if (op == "revert_forwarding") {
      forwarding_.revert(host.sysctls());
      return "ok";
    }
    // -- firewall ------------------------------------------------------------
    if (op == "iptables" || op == "ip6tables") {
      // Exit code and output; iptables' error text is not compared.
      auto ran = target_.iptables->run(w);
      if (!ran)
        return outcome(status{ran.error()});
      std::string out = ran->out;
      std::replace(out.begin(), out.end(), '\n', '|');
      return "exit " + std::to_string(ran->exit_code)
             + (out.empty() ? "" : " " + out);
    }
    auto& fw = host.firewall();
    if (op == "ensure_subnet_rules")
      return outcome(fw.ensure_overlay_subnet_rules(arg(1)));
    if (op == "ensure_masquerade")
      return outcome(fw.ensure_overlay_masquerade(arg(1)));
    if (op == "remove_masquerade")
      return outcome(fw.remove_overlay_masquerade());
    if (op == "remove_subnet_rules")
      return outcome(fw.remove_overlay_subnet_rules());
    if (op == "remove_isolation")
      return outcome(fw.remove_overlay_isolation());
    if (op == "ensure_member_isolation" || op == "remove_member_isolation") {
      // <net> <member> <peers,...|-> <node> <cidr>
      auto member = ip_address::parse(arg(2));
      auto node = ip_address::parse(arg(4));
      if (!member || !node)
        return "script error: bad address";
      auto peers = parse_list(arg(3));
      return outcome(
        op == "ensure_member_isolation"
          ? fw.ensure_member_isolation(arg(1), *member, peers, *node, arg(5))
          : fw.remove_member_isolation(arg(1), *member, peers, *node, arg(5)));
    }
    // -- network managers ----------------------------------------------------
    if (op == "mark_unmanaged")
      return outcome(
        host.network_manager().mark_overlay_interfaces_unmanaged());
    if (op == "unmark_unmanaged")
      return outcome(
        host.network_manager().unmark_overlay_interfaces_unmanaged());
    return "script error: unknown operation " + op;
  }

  void dump_links(const std::string& label, link_driver& links) {
    auto listed = links.list_links();
    if (!listed) {
      out_.push_back("  [" + label + "] links -> "
                     + outcome(status{listed.error()}));
      return;
    }
    auto sorted = *listed;
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (const auto& l : sorted)
      out_.push_back("  [" + label + "] link " + show_link(l));
    auto routes = links.list_routes();
    if (!routes) {
      out_.push_back("  [" + label + "] routes -> "
                     + outcome(status{routes.error()}));
      return;
    }
    std::vector<std::string> lines;
    for (const auto& r : *routes)
      if (!(is_link_local(r.destination) && r.destination_len == 64))
        lines.push_back("  [" + label + "] route " + show_route(r));
    std::sort(lines.begin(), lines.end());
    out_.insert(out_.end(), lines.begin(), lines.end());
    if (label == "main")
      dump_sysctls(sorted);
  }

  void dump_sysctls(const std::vector<link_info>& links) {
    std::vector<std::string> keys{std::string{ipv4_forward_key},
                                  "net.ipv6.conf.all.forwarding",
                                  "net.ipv6.conf.default.forwarding"};
    for (const auto& l : links) {
      keys.push_back("net.ipv4.conf." + sysctl_escape_component(l.name)
                     + ".forwarding");
      keys.push_back(ipv6_forwarding_key(l.name));
    }
    for (const auto& key : keys)
      out_.push_back(
        "  sysctl " + key + " = "
        + outcome<std::string>(target_.host->sysctls().read(key),
                               [](const std::string& v) { return v; }));
  }

  void dump() {
    out_.push_back("state:");
    dump_links("main", target_.host->links());
    for (const auto& [label, driver] : entered_)
      dump_links(label, *driver);
    std::istringstream fw{iptables_listing(*target_.iptables)};
    std::string line;
    while (std::getline(fw, line))
      if (!line.empty())
        out_.push_back("  fw " + line);
    for (const auto& [path, content] : target_.dropins()) {
      std::string flat = content;
      std::replace(flat.begin(), flat.end(), '\n', '|');
      out_.push_back("  dropin " + path + " = " + flat);
    }
  }

  const conformance_script& script_;
  const conformance_target& target_;
  std::vector<std::string> out_;
  std::map<std::string, std::shared_ptr<netns_handle>> pinned_;
  std::map<std::string, std::unique_ptr<link_driver>> entered_;
  forwarding_state forwarding_;
};

} // namespace

std::string iptables_listing(command_runner& runner) {
  std::string out;
  for (bool v6 : {false, true}) {
    for (std::string_view table : {"filter", "nat"}) {
      out += "[" + std::string{iptables_program(v6)} + " " + std::string{table}
             + "]\n";
      auto argv = fw_base(v6, table);
      argv.push_back("-S");
      auto listed = runner.run(argv);
      if (!listed)
        out += outcome(status{listed.error()}) + "\n";
      else
        out += listed->out
               + (listed->exit_code != 0
                    ? "exit " + std::to_string(listed->exit_code) + "\n"
                    : "");
    }
  }
  return out;
}

std::vector<std::string> run_conformance(const conformance_script& script,
                                         const conformance_target& target) {
  return runner{script, target}.run();
}

} // namespace overlayd::drivers
