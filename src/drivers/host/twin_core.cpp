#include <algorithm>
#include <thread>

#include "drivers/host/twin_state.hpp"

namespace overlayd::drivers::twin_detail {

namespace {

/// Per-device sysctls the twin models, as (family dir, leaf) → default.
const std::vector<std::pair<std::pair<std::string, std::string>, std::string>>&
device_conf_defaults() {
  static const std::vector<
    std::pair<std::pair<std::string, std::string>, std::string>>
    defaults{
      {{"ipv4", "forwarding"}, "0"},
      {{"ipv6", "forwarding"}, "0"},
      {{"ipv6", "disable_ipv6"}, "0"},
      {{"ipv6", "accept_ra"}, "1"},
    };
  return defaults;
}

} // namespace

std::shared_ptr<netns> core::make_netns() {
  auto ns = std::make_shared<netns>();
  ns->id = next_ns_id++;
  // Namespace-wide switches plus the "all"/"default" device entries; a
  // new device copies "default" (as the kernel's devconf_dflt).
  ns->sysctls["net/ipv4/ip_forward"] = "0";
  for (const auto& [key, value] : device_conf_defaults()) {
    for (auto which : {"all", "default"})
      ns->sysctls["net/" + key.first + "/conf/" + which + "/" + key.second]
        = value;
  }
  link lo;
  lo.name = "lo";
  lo.loopback = true;
  lo.mtu = 65536;
  lo.min_mtu = 0;
  lo.max_mtu = 0xffffffffu;
  add_link(*ns, std::move(lo));
  return ns;
}

std::optional<error> core::enter(std::string_view op, std::string_view object) {
  twin_fault fault;
  bool found = false;
  {
    std::lock_guard<std::mutex> guard{mtx};
    ++calls[std::string{op}];
    auto it = faults.find(op);
    if (it != faults.end() && it->second.times != 0
        && (it->second.object.empty() || it->second.object == object)) {
      fault = it->second;
      found = true;
      if (it->second.times > 0)
        --it->second.times;
    }
  }
  if (!found)
    return std::nullopt;
  if (fault.latency.count() > 0)
    std::this_thread::sleep_for(fault.latency);
  return fault.fail;
}

link* find_link(netns& ns, std::string_view name) {
  for (auto& [index, l] : ns.links)
    if (l.name == name)
      return &l;
  return nullptr;
}

link* find_link(netns& ns, int index) {
  auto it = ns.links.find(index);
  return it == ns.links.end() ? nullptr : &it->second;
}

link& add_link(netns& ns, link proto) {
  if (proto.index == 0 || ns.links.contains(proto.index))
    proto.index = ns.next_index;
  ns.next_index = std::max(ns.next_index, proto.index + 1);
  for (const auto& [key, value] : device_conf_defaults()) {
    auto dflt
      = ns.sysctls.find("net/" + key.first + "/conf/default/" + key.second);
    if (!proto.conf.contains(key))
      proto.conf[key] = dflt != ns.sysctls.end() ? dflt->second : value;
  }
  auto index = proto.index;
  return ns.links.emplace(index, std::move(proto)).first->second;
}

void remove_link(netns& ns, int index) {
  auto it = ns.links.find(index);
  if (it == ns.links.end())
    return;
  auto peer_ns = it->second.peer_ns.lock();
  auto peer_index = it->second.peer_index;
  ns.links.erase(it);
  std::erase_if(ns.routes, [&](const route& r) { return r.oif == index; });
  for (auto& [i, l] : ns.links)
    if (l.master == index)
      l.master = 0;
  if (peer_ns) {
    auto peer = peer_ns->links.find(peer_index);
    if (peer != peer_ns->links.end() && peer->second.kind == "veth") {
      peer->second.peer_ns.reset();
      remove_link(*peer_ns, peer_index);
    }
  }
}

void reap_dead_peers(netns& ns) {
  std::vector<int> dead;
  for (const auto& [index, l] : ns.links)
    if (l.kind == "veth" && l.peer_ns.expired())
      dead.push_back(index);
  for (int index : dead)
    remove_link(ns, index);
}

} // namespace overlayd::drivers::twin_detail
