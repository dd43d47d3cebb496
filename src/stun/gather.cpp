#include "stun/gather.hpp"

#include <set>

namespace overlayd::stun {

result<gathered_candidates> gather_candidates(const gather_sources& src) {
  auto warn = [&src](const std::string& m) {
    if (src.warn)
      src.warn(m);
  };
  gathered_candidates out;
  auto& cs = out.candidates;
  std::optional<std::string> iface;
  if (src.egress && !src.egress->iface.empty())
    iface = src.egress->iface;

  for (auto fam : {ip_address::family_t::v4, ip_address::family_t::v6}) {
    std::optional<ip_address> ip;
    if (src.egress && src.egress->ip.family == fam)
      ip = src.egress->ip;
    else if (src.local_ip)
      ip = src.local_ip(fam, iface);
    if (ip)
      cs.push_back(candidate::make(candidate_type::host, {*ip, src.wg_port},
                                   src.now_unix));
    else if (fam == ip_address::family_t::v4)
      warn("could not discover a local IPv4 address");
  }

  if (src.stun) {
    auto d = src.stun();
    if (d) {
      out.behavior = d->behavior;
      for (const auto& r : d->results)
        cs.push_back(candidate::make(candidate_type::server_reflexive,
                                     {r.address.ip, src.wg_port},
                                     src.now_unix));
      out.reflexive = d->results;
    } else {
      warn("STUN discovery failed: " + d.error().message());
    }
  }

  if (src.relays)
    for (const auto& addr : src.relays())
      cs.push_back(candidate::make(candidate_type::relay, addr, src.now_unix));

  dedup_consecutive_by_address(cs);
  sort_by_priority(cs);
  if (cs.empty())
    return result<gathered_candidates>::failure(
      "STUN discovery failed: No candidates gathered (local IP discovery and "
      "STUN both failed)");
  return out;
}

refreshed_candidates
refresh_candidates(const std::vector<candidate>& current,
                   const std::vector<reflexive_address>& old_reflexive,
                   const std::vector<reflexive_address>& fresh,
                   std::uint16_t wg_port, std::uint64_t now_unix) {
  refreshed_candidates out;
  if (fresh.size() != old_reflexive.size()) {
    out.changed = true;
  } else {
    std::set<ip_address> a, b;
    for (const auto& r : old_reflexive)
      a.insert(r.address.ip);
    for (const auto& r : fresh)
      b.insert(r.address.ip);
    out.changed = a != b;
  }
  if (!out.changed) {
    out.candidates = current;
    return out;
  }
  for (const auto& c : current)
    if (c.type == candidate_type::host)
      out.candidates.push_back(c);
  for (const auto& r : fresh)
    out.candidates.push_back(candidate::make(
      candidate_type::server_reflexive, {r.address.ip, wg_port}, now_unix));
  for (const auto& c : current)
    if (c.type == candidate_type::relay)
      out.candidates.push_back(c);
  dedup_consecutive_by_address(out.candidates);
  sort_by_priority(out.candidates);
  return out;
}

} // namespace overlayd::stun
