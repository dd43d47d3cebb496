#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "stun/candidate.hpp"
#include "stun/egress.hpp"
#include "stun/result.hpp"
#include "stun/stun_client.hpp"

namespace overlayd::stun {

// Everything `gather_candidates` consults, injectable so the order and the
// failure paths can be tested without a network.
struct gather_sources {
  std::uint16_t wg_port = 0;
  // Physical egress (driver netlink + detect_physical_egress, falling back
  // to the UDP-connect trick); nullopt = unknown.
  std::optional<physical_egress> egress;
  // UDP-connect trick per family, pinned to the egress interface if any.
  std::function<std::optional<ip_address>(
    ip_address::family_t, const std::optional<std::string>& iface)>
    local_ip;
  // STUN pass (stun_client::discover); empty = no STUN.
  std::function<result<stun_discovery, stun_error>()> stun;
  // Relay addresses allocated from `turn_servers`, in config order; called
  // after STUN, as the reference allocates after querying STUN.
  std::function<std::vector<udp_endpoint>()> relays;
  std::function<void(const std::string&)> warn;
  std::uint64_t now_unix = 0;
};

struct gathered_candidates {
  std::vector<candidate> candidates; // deduped, sorted
  std::vector<reflexive_address> reflexive;
  nat_behavior behavior = nat_behavior::endpoint_independent;
};

// §2.2 in the reference's order: host v4, host v6, one srflx per STUN
// result (observed IP : wg_port), relays, consecutive dedup, stable sort.
result<gathered_candidates> gather_candidates(const gather_sources& src);

struct refreshed_candidates {
  bool changed = false;
  std::vector<candidate> candidates;
};

// §7.4 step 3-4: `changed` when the count or the set of observed IPs
// differs; then host + new srflx + relay, dedup, sort.
refreshed_candidates
refresh_candidates(const std::vector<candidate>& current,
                   const std::vector<reflexive_address>& old_reflexive,
                   const std::vector<reflexive_address>& fresh,
                   std::uint16_t wg_port, std::uint64_t now_unix);

} // namespace overlayd::stun
