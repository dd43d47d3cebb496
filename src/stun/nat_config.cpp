#include "stun/nat_config.hpp"

#include <nlohmann/json.hpp>

namespace overlayd::stun {

std::vector<stun_server_config> default_stun_servers() {
  return {{"stun.l.google.com:19302", "Google STUN 1"},
          {"stun1.l.google.com:19302", "Google STUN 2"}};
}

namespace {

using nlohmann::json;

// Reads an optional field of type T; a present field of the wrong type is
// an error that names the field.
template <class T>
bool read_field(const json& j, const char* key, T& out, std::string& err) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    return true;
  try {
    out = it->get<T>();
    return true;
  } catch (const json::exception& e) {
    err = std::string("nat config: field '") + key + "': " + e.what();
    return false;
  }
}

template <class T>
bool read_required(const json& j, const char* key, T& out, std::string& err,
                   const char* what) {
  if (!j.contains(key)) {
    err = std::string("nat config: ") + what + " is missing '" + key + "'";
    return false;
  }
  return read_field(j, key, out, err);
}

} // namespace

result<nat_config> nat_config_from_json(const nlohmann::json& j) {
  using r = result<nat_config>;
  if (!j.is_object())
    return r::failure("nat config: expected a JSON object");
  nat_config c;
  c.enabled = false; // serde(default) on the field, not the Default impl
  std::string err;
  if (!read_field(j, "enabled", c.enabled, err)
      || !read_field(j, "hole_punch_timeout_secs", c.hole_punch_timeout_secs,
                     err)
      || !read_field(j, "stun_refresh_interval_secs",
                     c.stun_refresh_interval_secs, err)
      || !read_field(j, "max_candidate_pairs", c.max_candidate_pairs, err))
    return r::failure(err);
  if (auto it = j.find("stun_servers"); it != j.end() && !it->is_null()) {
    if (!it->is_array())
      return r::failure("nat config: 'stun_servers' must be an array");
    c.stun_servers.clear();
    for (const auto& s : *it) {
      stun_server_config sc;
      if (!s.is_object()
          || !read_required(s, "address", sc.address, err, "a STUN server"))
        return r::failure(err.empty() ? "nat config: bad STUN server entry"
                                      : err);
      std::string label;
      if (s.contains("label") && !s["label"].is_null()) {
        if (!read_field(s, "label", label, err))
          return r::failure(err);
        sc.label = label;
      }
      c.stun_servers.push_back(std::move(sc));
    }
  }
  if (auto it = j.find("turn_servers"); it != j.end() && !it->is_null()) {
    if (!it->is_array())
      return r::failure("nat config: 'turn_servers' must be an array");
    for (const auto& s : *it) {
      turn_server_config t;
      if (!s.is_object()
          || !read_required(s, "address", t.address, err, "a TURN server")
          || !read_required(s, "username", t.username, err, "a TURN server")
          || !read_required(s, "credential", t.credential, err,
                            "a TURN server"))
        return r::failure(err.empty() ? "nat config: bad TURN server entry"
                                      : err);
      if (s.contains("region") && !s["region"].is_null()) {
        std::string region;
        if (!read_field(s, "region", region, err))
          return r::failure(err);
        t.region = region;
      }
      c.turn_servers.push_back(std::move(t));
    }
  }
  if (auto it = j.find("relay_server"); it != j.end() && !it->is_null()) {
    relay_server_config rs;
    if (!it->is_object()
        || !read_required(*it, "listen_port", rs.listen_port, err,
                          "relay_server")
        || !read_required(*it, "external_addr", rs.external_addr, err,
                          "relay_server")
        || !read_field(*it, "max_sessions", rs.max_sessions, err))
      return r::failure(err.empty() ? "nat config: bad relay_server" : err);
    c.relay_server = rs;
  }
  return c;
}

nlohmann::json nat_config_to_json(const nat_config& c) {
  json j;
  j["enabled"] = c.enabled;
  j["stun_servers"] = json::array();
  for (const auto& s : c.stun_servers)
    j["stun_servers"].push_back(
      {{"address", s.address},
       {"label", s.label ? json(*s.label) : json(nullptr)}});
  j["turn_servers"] = json::array();
  for (const auto& t : c.turn_servers)
    j["turn_servers"].push_back(
      {{"address", t.address},
       {"username", t.username},
       {"credential", t.credential},
       {"region", t.region ? json(*t.region) : json(nullptr)}});
  j["hole_punch_timeout_secs"] = c.hole_punch_timeout_secs;
  j["stun_refresh_interval_secs"] = c.stun_refresh_interval_secs;
  j["max_candidate_pairs"] = c.max_candidate_pairs;
  if (c.relay_server)
    j["relay_server"] = {{"listen_port", c.relay_server->listen_port},
                         {"external_addr", c.relay_server->external_addr},
                         {"max_sessions", c.relay_server->max_sessions}};
  else
    j["relay_server"] = nullptr;
  return j;
}

converted_nat_config nat_config_from_spec(const nat_config_spec& spec) {
  const nat_config defaults;
  converted_nat_config out;
  nat_config& c = out.config;
  c.enabled = spec.enabled;
  if (!spec.stun_servers.empty()) {
    c.stun_servers.clear();
    for (const auto& s : spec.stun_servers)
      c.stun_servers.push_back({s, std::nullopt});
  }
  for (const auto& t : spec.turn_servers)
    c.turn_servers.push_back({t.addr, t.username, t.credential, std::nullopt});
  c.hole_punch_timeout_secs = spec.hole_punch_timeout_secs
                                ? spec.hole_punch_timeout_secs
                                : defaults.hole_punch_timeout_secs;
  c.stun_refresh_interval_secs = spec.stun_refresh_interval_secs
                                   ? spec.stun_refresh_interval_secs
                                   : defaults.stun_refresh_interval_secs;
  c.max_candidate_pairs = spec.max_candidate_pairs
                            ? spec.max_candidate_pairs
                            : defaults.max_candidate_pairs;
  if (spec.relay_server) {
    const auto& r = *spec.relay_server;
    c.relay_server = relay_server_config{
      r.listen_port, r.external_addr,
      r.max_sessions ? r.max_sessions : default_max_relay_sessions};
    out.relay_credential = r.auth_credential;
  }
  return out;
}

} // namespace overlayd::stun
