#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "stun/net_address.hpp"
#include "stun/result.hpp"

namespace overlayd::stun {

// Declaration order is the reference's Ord: host < srflx < relay.
enum class candidate_type { host, server_reflexive, relay };
enum class connection_type { direct, hole_punched, relayed };

// Fixed per type; there is no ICE priority formula.
std::uint32_t default_priority(candidate_type t) noexcept;
connection_type connection_for(candidate_type t) noexcept;

// The three spellings (nat.md §2.1), one per channel:
// IPC wire: "host" / "server-reflexive" / "relay".
std::string_view wire_name(candidate_type t) noexcept;
std::optional<candidate_type> candidate_type_from_wire(std::string_view s);
// serde JSON: "Host" / "ServerReflexive" / "Relay".
std::string_view serde_name(candidate_type t) noexcept;
std::optional<candidate_type> candidate_type_from_serde(std::string_view s);
// Display (status, logs, NatPeerWire): "direct" / "hole-punched" /
// "relayed"; serde: "Direct" / "HolePunched" / "Relayed".
std::string_view display_name(connection_type c) noexcept;
std::string_view serde_name(connection_type c) noexcept;

struct candidate {
  candidate_type type = candidate_type::host;
  udp_endpoint address;
  std::uint32_t priority = 0;
  std::uint64_t discovered_at = 0; // Unix seconds

  // `Candidate::new`: the type's priority, discovered now.
  static candidate make(candidate_type t, const udp_endpoint& addr,
                        std::uint64_t now_unix);
  friend bool operator==(const candidate&, const candidate&) = default;
};

// `NatCandidateWire` on the IPC.
struct candidate_wire {
  std::string candidate_type;
  std::string address;
  std::uint32_t priority = 0;
  friend bool operator==(const candidate_wire&, const candidate_wire&)
    = default;
};

candidate_wire to_wire(const candidate& c);
// Unknown type or non-literal address -> nullopt; keeps the wire priority.
std::optional<candidate> from_wire(const candidate_wire& w,
                                   std::uint64_t now_unix);

nlohmann::json to_serde_json(const candidate& c);
result<candidate> candidate_from_serde_json(const nlohmann::json& j);

// Rust `Vec::dedup_by_key(address)`: only consecutive duplicates go.
void dedup_consecutive_by_address(std::vector<candidate>& cs);
// Stable, highest priority first.
void sort_by_priority(std::vector<candidate>& cs);

std::uint64_t unix_now();

} // namespace overlayd::stun
