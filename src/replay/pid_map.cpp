#include "replay/pid_map.hpp"

#include <charconv>

#include <nlohmann/json.hpp>

namespace overlayd::replay {

using json = nlohmann::ordered_json;

namespace {

bool parse_pid(std::string_view text, std::uint32_t& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out > 0;
}

// Maps handles wherever they sit (attach and detach carry them at
// request.handle; walking everything keeps this independent of the op).
bool map_handles(json& j, const pid_map& pids) {
  bool changed = false;
  if (j.is_object()) {
    auto platform = j.find("platform");
    auto pid = j.find("pid");
    if (platform != j.end() && *platform == "linux_pid" && pid != j.end()
        && pid->is_number_unsigned()) {
      auto m = pids.find(static_cast<std::uint32_t>(pid->get<std::uint64_t>()));
      if (m != pids.end() && pid->get<std::uint64_t>() == m->first) {
        *pid = m->second;
        changed = true;
      }
    }
  }
  if (j.is_structured())
    for (auto& v : j)
      changed |= map_handles(v, pids);
  return changed;
}

} // namespace

net::expected<std::pair<std::uint32_t, std::uint32_t>>
parse_pid_mapping(std::string_view text) {
  auto eq = text.find('=');
  std::uint32_t sym = 0, real = 0;
  if (eq == std::string_view::npos || !parse_pid(text.substr(0, eq), sym)
      || !parse_pid(text.substr(eq + 1), real))
    return net::unexpected{"a pid mapping is SYMBOLIC=REAL (two pids), not \""
                           + std::string{text} + "\""};
  return std::pair{sym, real};
}

std::string substitute_pids(const std::string& request_body,
                            const pid_map& pids) {
  if (pids.empty())
    return request_body;
  json j = json::parse(request_body, nullptr, false);
  if (j.is_discarded() || !map_handles(j, pids))
    return request_body;
  return j.dump();
}

} // namespace overlayd::replay
