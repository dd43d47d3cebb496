#include "stun/candidate.hpp"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>

namespace overlayd::stun {

std::uint32_t default_priority(candidate_type t) noexcept {
  switch (t) {
  case candidate_type::host:
    return 100;
  case candidate_type::server_reflexive:
    return 50;
  case candidate_type::relay:
    return 10;
  }
  return 0;
}

connection_type connection_for(candidate_type t) noexcept {
  switch (t) {
  case candidate_type::host:
    return connection_type::direct;
  case candidate_type::server_reflexive:
    return connection_type::hole_punched;
  case candidate_type::relay:
    return connection_type::relayed;
  }
  return connection_type::direct;
}

std::string_view wire_name(candidate_type t) noexcept {
  switch (t) {
  case candidate_type::host:
    return "host";
  case candidate_type::server_reflexive:
    return "server-reflexive";
  case candidate_type::relay:
    return "relay";
  }
  return "";
}

std::optional<candidate_type> candidate_type_from_wire(std::string_view s) {
  for (auto t : {candidate_type::host, candidate_type::server_reflexive,
                 candidate_type::relay})
    if (wire_name(t) == s)
      return t;
  return std::nullopt;
}

std::string_view serde_name(candidate_type t) noexcept {
  switch (t) {
  case candidate_type::host:
    return "Host";
  case candidate_type::server_reflexive:
    return "ServerReflexive";
  case candidate_type::relay:
    return "Relay";
  }
  return "";
}

std::optional<candidate_type> candidate_type_from_serde(std::string_view s) {
  for (auto t : {candidate_type::host, candidate_type::server_reflexive,
                 candidate_type::relay})
    if (serde_name(t) == s)
      return t;
  return std::nullopt;
}

std::string_view display_name(connection_type c) noexcept {
  switch (c) {
  case connection_type::direct:
    return "direct";
  case connection_type::hole_punched:
    return "hole-punched";
  case connection_type::relayed:
    return "relayed";
  }
  return "";
}

std::string_view serde_name(connection_type c) noexcept {
  switch (c) {
  case connection_type::direct:
    return "Direct";
  case connection_type::hole_punched:
    return "HolePunched";
  case connection_type::relayed:
    return "Relayed";
  }
  return "";
}

candidate candidate::make(candidate_type t, const udp_endpoint& addr,
                          std::uint64_t now_unix) {
  return {t, addr, default_priority(t), now_unix};
}

candidate_wire to_wire(const candidate& c) {
  return {std::string(wire_name(c.type)), c.address.to_string(), c.priority};
}

std::optional<candidate> from_wire(const candidate_wire& w,
                                   std::uint64_t now_unix) {
  auto addr = udp_endpoint::parse(w.address);
  if (!addr)
    return std::nullopt;
  auto type = candidate_type_from_wire(w.candidate_type);
  if (!type)
    return std::nullopt;
  auto c = candidate::make(*type, *addr, now_unix);
  c.priority = w.priority;
  return c;
}

nlohmann::json to_serde_json(const candidate& c) {
  return {{"candidate_type", std::string(serde_name(c.type))},
          {"address", c.address.to_string()},
          {"priority", c.priority},
          {"discovered_at", c.discovered_at}};
}

result<candidate> candidate_from_serde_json(const nlohmann::json& j) {
  using r = result<candidate>;
  if (!j.is_object() || !j.contains("candidate_type")
      || !j["candidate_type"].is_string() || !j.contains("address")
      || !j["address"].is_string() || !j.contains("priority")
      || !j["priority"].is_number_unsigned())
    return r::failure("candidate: need string candidate_type, string "
                      "address and unsigned priority");
  auto type = candidate_type_from_serde(j["candidate_type"].get<std::string>());
  if (!type)
    return r::failure("candidate: unknown candidate_type "
                      + j["candidate_type"].dump());
  auto addr = udp_endpoint::parse(j["address"].get<std::string>());
  if (!addr)
    return r::failure("candidate: bad socket address " + j["address"].dump());
  candidate c{*type, *addr, j["priority"].get<std::uint32_t>(), 0};
  if (auto it = j.find("discovered_at");
      it != j.end() && it->is_number_unsigned())
    c.discovered_at = it->get<std::uint64_t>();
  return c;
}

void dedup_consecutive_by_address(std::vector<candidate>& cs) {
  auto last = std::unique(cs.begin(), cs.end(),
                          [](const candidate& a, const candidate& b) {
                            return a.address == b.address;
                          });
  cs.erase(last, cs.end());
}

void sort_by_priority(std::vector<candidate>& cs) {
  std::stable_sort(cs.begin(), cs.end(),
                   [](const candidate& a, const candidate& b) {
                     return a.priority > b.priority;
                   });
}

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

} // namespace overlayd::stun
