#include "replay/redact.hpp"

#include <array>

#include <nlohmann/json.hpp>

namespace overlayd::replay {

namespace {

using json = nlohmann::ordered_json;

constexpr std::array<std::string_view, 6> secret_keys{
  "private_key",   "wg_private_key", "psk",
  "preshared_key", "credential",     "auth_credential",
};

bool redact(json& j) {
  bool changed = false;
  if (j.is_object()) {
    for (auto& [key, value] : j.items()) {
      if (is_secret_key(key) && value.is_string()
          && value.get<std::string>() != redacted_text) {
        value = std::string{redacted_text};
        changed = true;
      } else {
        changed |= redact(value);
      }
    }
  } else if (j.is_array()) {
    for (auto& v : j)
      changed |= redact(v);
  }
  return changed;
}

} // namespace

bool is_secret_key(std::string_view key) noexcept {
  for (auto k : secret_keys)
    if (key == k)
      return true;
  return false;
}

std::string redact_body(const std::string& body) {
  // Cheap pre-check: most frames carry no secret at all.
  bool maybe = false;
  for (auto k : secret_keys)
    maybe |= body.find(k) != std::string::npos;
  if (!maybe)
    return body;
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !redact(j))
    return body;
  return j.dump();
}

} // namespace overlayd::replay
