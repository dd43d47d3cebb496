#include "replay/corpus.hpp"

#include <map>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "replay/redact.hpp"
#include "replay/rules.hpp"

namespace overlayd::replay {

namespace {

using json = nlohmann::ordered_json;

struct volatile_field {
  const char* result; ///< response `result` it appears in
  const char* path;   ///< rule path ('*' for array elements)
  rule_kind kind;
  bool capture; ///< later requests or answers may reuse it
};

// The fields the engine fills with fresh values on every run.
constexpr volatile_field volatile_fields[] = {
  {"guest_config", "response.private_key", rule_kind::base64_32, false},
  {"guest_config", "response.public_key", rule_kind::base64_32, true},
  {"guest_config", "response.peers.*.public_key", rule_kind::base64_32, true},
  {"service_overlay", "response.wg_public_key", rule_kind::base64_32, true},
  {"status", "response.public_key", rule_kind::base64_32, true},
  {"status", "response.peers.*.last_handshake_unix_secs", rule_kind::any_i64,
   false},
  {"status", "response.dedicated_services.*.public_key", rule_kind::base64_32,
   true},
  {"nat_status", "response.last_refresh", rule_kind::any_u64, false},
};

// Every concrete path under `j` matching the dotted `pattern`.
void expand(const json& j, const std::vector<std::string>& pattern,
            std::size_t at, std::string prefix,
            std::vector<std::pair<std::string, json>>& out) {
  if (at == pattern.size()) {
    out.emplace_back(prefix, j);
    return;
  }
  auto join = [&](const std::string& k) {
    return prefix.empty() ? k : prefix + "." + k;
  };
  const auto& seg = pattern[at];
  if (seg == "*" && j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i)
      expand(j[i], pattern, at + 1, join(std::to_string(i)), out);
  } else if (j.is_object() && j.contains(seg)) {
    expand(j.at(seg), pattern, at + 1, join(seg), out);
  }
}

std::vector<std::string> split(const std::string& p) {
  std::vector<std::string> out{""};
  for (char c : p) {
    if (c == '.')
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

// The lowercase hex of a base64 WireGuard key ("" if it is not one): how
// a key sent in a request shows in a UAPI-derived status.
std::string base64_key_to_hex(const std::string& b64) {
  static constexpr std::string_view alphabet
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (b64.size() != 44 || b64[43] != '=')
    return {};
  std::string bytes;
  unsigned acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < 43; ++i) {
    auto v = alphabet.find(b64[i]);
    if (v == std::string_view::npos)
      return {};
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : bytes.substr(0, 32)) {
    hex += digits[c >> 4];
    hex += digits[c & 15];
  }
  return hex;
}

// Every string in `j` that is a base64 key, as hex, into `out`.
void collect_key_hex(const json& j, std::set<std::string>& out) {
  if (j.is_string()) {
    if (auto hex = base64_key_to_hex(j.get<std::string>()); !hex.empty())
      out.insert(hex);
  } else if (j.is_structured()) {
    for (const auto& v : j)
      collect_key_hex(v, out);
  }
}

bool has_rule(const json& rules, const json& r) {
  for (const auto& e : rules)
    if (e == r)
      return true;
  return false;
}

} // namespace

session to_corpus(session s, const corpus_options& opts) {
  s.header.redacted = true;
  if (!opts.description.empty())
    s.header.description = opts.description;
  // Recorded (redacted) value of each capture, to spot later reuse.
  std::map<std::string, std::string> captured_values;
  // Keys this session sent, in the hex a status shows them in; any other
  // peer key in a status was generated on the run (a guest's).
  std::set<std::string> sent_keys_hex;
  for (auto& x : s.exchanges) {
    x.request = redact_body(x.request);
    if (json req = json::parse(x.request, nullptr, false); !req.is_discarded())
      collect_key_hex(req, sent_keys_hex);
    if (!x.response)
      continue;
    x.response = redact_body(*x.response);
    json body = json::parse(*x.response, nullptr, false);
    if (body.is_discarded() || !body.contains("response"))
      continue;
    auto result = body["response"].value("result", "");
    if (result == "err") {
      auto msg = body["response"].value("message", "");
      if (msg.find("is not available yet") != std::string::npos)
        x.pending = opts.pending_label;
      continue;
    }
    // The reference lists peers and dedicated devices from hash maps (the
    // device's peer table, the service transports): no order to compare.
    for (const char* list : {"peers", "dedicated_services"}) {
      if (result != "status" || !body["response"].contains(list)
          || body["response"][list].size() < 2)
        continue;
      rule r;
      r.path = {"response", list};
      r.kind = rule_kind::unordered;
      r.seqs = {x.seq};
      if (auto j = rule_to_json(r); !has_rule(s.header.rules, j))
        s.header.rules.push_back(std::move(j));
    }
    if (result == "status" && body["response"].contains("peers")) {
      const auto& peers = body["response"]["peers"];
      for (std::size_t i = 0; i < peers.size(); ++i) {
        auto key = peers[i].value("public_key", "");
        if (sent_keys_hex.count(key) != 0)
          continue;
        rule r;
        r.path = {"response", "peers", std::to_string(i), "public_key"};
        r.kind = rule_kind::hex_32;
        r.seqs = {x.seq};
        if (auto j = rule_to_json(r); !has_rule(s.header.rules, j))
          s.header.rules.push_back(std::move(j));
      }
    }
    for (const auto& f : volatile_fields) {
      if (result != f.result)
        continue;
      std::vector<std::pair<std::string, json>> hits;
      expand(body, split(f.path), 0, "", hits);
      for (const auto& [path, value] : hits) {
        // 0 means "never" (no handshake, no refresh yet): deterministic,
        // so it stays compared exactly.
        bool is_time
          = f.kind == rule_kind::any_u64 || f.kind == rule_kind::any_i64;
        if (is_time && value.is_number() && value == 0)
          continue;
        rule r;
        r.path = split(path);
        r.kind = f.kind;
        r.seqs = {x.seq};
        if (value.is_string()) {
          for (const auto& [name, recorded] : captured_values)
            if (recorded == value.get<std::string>()) {
              r.kind = rule_kind::same_as;
              r.ref = name;
              break;
            }
        }
        if (f.capture && !r.ref && value.is_string()
            && value.get<std::string>() != redacted_text) {
          r.capture = path + "@" + std::to_string(x.seq);
          captured_values[*r.capture] = value.get<std::string>();
        }
        auto j = rule_to_json(r);
        if (!has_rule(s.header.rules, j))
          s.header.rules.push_back(std::move(j));
      }
    }
  }
  return s;
}

} // namespace overlayd::replay
