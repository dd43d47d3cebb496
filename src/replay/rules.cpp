#include "replay/rules.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include <arpa/inet.h>

namespace overlayd::replay {

using json = nlohmann::ordered_json;
using net::unexpected;

namespace {

constexpr std::array<std::pair<rule_kind, std::string_view>, 9> kind_names{{
  {rule_kind::exact, "exact"},
  {rule_kind::base64_32, "base64-32"},
  {rule_kind::hex_32, "hex-32"},
  {rule_kind::any_u64, "any-u64"},
  {rule_kind::any_i64, "any-i64"},
  {rule_kind::any_string, "any-string"},
  {rule_kind::ip, "ip"},
  {rule_kind::same_as, "same-as"},
  {rule_kind::unordered, "unordered"},
}};

std::vector<std::string> split_path(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == '.') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(std::move(cur));
  return out;
}

std::string join_path(const std::vector<std::string>& p) {
  std::string out;
  for (const auto& s : p) {
    if (!out.empty())
      out += '.';
    out += s;
  }
  return out;
}

bool path_matches(const std::vector<std::string>& pattern,
                  const std::vector<std::string>& path) {
  if (pattern.size() != path.size())
    return false;
  for (std::size_t i = 0; i < path.size(); ++i)
    if (pattern[i] != "*" && pattern[i] != path[i])
      return false;
  return true;
}

bool is_base64_32(const std::string& s) {
  // 32 bytes encode to 43 characters plus one '='.
  if (s.size() != 44 || s[43] != '=')
    return false;
  for (std::size_t i = 0; i < 43; ++i) {
    char c = s[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok)
      return false;
  }
  // The last character carries 2 spare bits that must be zero.
  static constexpr std::string_view alphabet
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  return alphabet.find(s[42]) % 4 == 0;
}

bool is_hex_32(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1
         || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string short_text(const json& j) {
  auto s = j.dump();
  if (s.size() > 200)
    s = s.substr(0, 197) + "...";
  return s;
}

struct comparer {
  const std::vector<const rule*>& rules;
  capture_map& captures;
  std::vector<mismatch> out;

  const rule* rule_at(const std::vector<std::string>& path) const {
    for (const auto* r : rules)
      if (path_matches(r->path, path))
        return r;
    return nullptr;
  }

  void add(const std::vector<std::string>& path, std::string what) {
    out.push_back({join_path(path), std::move(what)});
  }

  void apply(const rule& r, const json& exp, const json& got,
             const std::vector<std::string>& path) {
    switch (r.kind) {
    case rule_kind::exact:
      walk_exact(exp, got, path);
      break;
    case rule_kind::unordered:
      walk_unordered(exp, got, path);
      break;
    case rule_kind::same_as: {
      auto c = captures.find(r.ref.value_or(""));
      if (c == captures.end())
        add(path, "rule same-as names capture `" + r.ref.value_or("")
                    + "`, which no earlier exchange made");
      else if (c->second.replayed != got)
        add(path, "expected the value captured as `" + *r.ref + "` ("
                    + short_text(c->second.replayed) + "), got "
                    + short_text(got));
      break;
    }
    default:
      if (!satisfies(r.kind, got))
        add(path, "rule " + std::string{to_string(r.kind)} + " not met by "
                    + short_text(got));
    }
    if (r.capture)
      captures[*r.capture] = captured{exp, got};
  }

  // Pairs each recorded element with an unused replayed one that matches
  // it completely (tried on a copy of the captures, then walked for real
  // so the captures are made); leftovers are reported in recorded order.
  void walk_unordered(const json& exp, const json& got,
                      const std::vector<std::string>& const_path) {
    if (!exp.is_array() || !got.is_array()) {
      walk_exact(exp, got, const_path);
      return;
    }
    if (exp.size() != got.size()) {
      add(const_path, "expected " + std::to_string(exp.size())
                        + " elements (any order), got "
                        + std::to_string(got.size()));
      return;
    }
    auto path = const_path;
    std::vector<bool> used(got.size(), false);
    for (std::size_t i = 0; i < exp.size(); ++i) {
      path.push_back(std::to_string(i));
      std::optional<std::size_t> match;
      for (std::size_t j = 0; j < got.size() && !match; ++j) {
        if (used[j])
          continue;
        capture_map scratch = captures;
        comparer trial{rules, scratch, {}};
        trial.walk(exp[i], got[j], path);
        if (trial.out.empty())
          match = j;
      }
      if (match) {
        used[*match] = true;
        walk(exp[i], got[*match], path);
      } else {
        add(path, "no element matches " + short_text(exp[i]) + " (any order)");
      }
      path.pop_back();
    }
  }

  void walk(const json& exp, const json& got, std::vector<std::string>& path) {
    if (const auto* r = rule_at(path)) {
      apply(*r, exp, got, path);
      return;
    }
    walk_exact(exp, got, path);
  }

  void walk_exact(const json& exp, const json& got,
                  const std::vector<std::string>& const_path) {
    auto path = const_path;
    if (exp.type() != got.type()) {
      add(path, "expected " + short_text(exp) + ", got " + short_text(got));
      return;
    }
    if (exp.is_object()) {
      auto before = out.size();
      // Key order is part of the wire contract (serde's declaration order).
      std::vector<std::string> ek, gk;
      for (auto& [k, v] : exp.items())
        ek.push_back(k);
      for (auto& [k, v] : got.items())
        gk.push_back(k);
      for (const auto& k : ek) {
        path.push_back(k);
        if (!got.contains(k)) {
          if (const auto* r = rule_at(path); r && r->capture)
            captures.erase(*r->capture);
          add(path, "missing (expected " + short_text(exp.at(k)) + ")");
        } else {
          walk(exp.at(k), got.at(k), path);
        }
        path.pop_back();
      }
      for (const auto& k : gk)
        if (!exp.contains(k)) {
          path.push_back(k);
          add(path, "unexpected field, got " + short_text(got.at(k)));
          path.pop_back();
        }
      if (out.size() == before && ek != gk)
        add(path, "fields in another order");
      return;
    }
    if (exp.is_array()) {
      if (exp.size() != got.size())
        add(path, "expected " + std::to_string(exp.size()) + " elements, got "
                    + std::to_string(got.size()));
      auto n = std::min(exp.size(), got.size());
      for (std::size_t i = 0; i < n; ++i) {
        path.push_back(std::to_string(i));
        walk(exp[i], got[i], path);
        path.pop_back();
      }
      return;
    }
    if (exp != got)
      add(path, "expected " + short_text(exp) + ", got " + short_text(got));
  }
};

void substitute(json& j, const capture_map& captures) {
  if (j.is_string()) {
    for (const auto& [name, c] : captures)
      if (c.recorded.is_string() && c.replayed.is_string() && j == c.recorded) {
        j = c.replayed;
        return;
      }
  } else if (j.is_structured()) {
    for (auto& v : j)
      substitute(v, captures);
  }
}

} // namespace

bool rule::applies_to(std::uint64_t seq, const std::string& request_op) const {
  if (op && *op != request_op)
    return false;
  return seqs.empty() || std::find(seqs.begin(), seqs.end(), seq) != seqs.end();
}

std::string_view to_string(rule_kind kind) noexcept {
  for (auto& [k, n] : kind_names)
    if (k == kind)
      return n;
  return "?";
}

std::optional<rule_kind> parse_rule_kind(std::string_view text) noexcept {
  for (auto& [k, n] : kind_names)
    if (n == text)
      return k;
  return std::nullopt;
}

bool satisfies(rule_kind kind, const json& v) {
  switch (kind) {
  case rule_kind::base64_32:
    return v.is_string() && is_base64_32(v.get<std::string>());
  case rule_kind::hex_32:
    return v.is_string() && is_hex_32(v.get<std::string>());
  case rule_kind::any_u64:
    return v.is_number_unsigned();
  case rule_kind::any_i64:
    return v.is_number_integer();
  case rule_kind::any_string:
    return v.is_string();
  case rule_kind::ip:
    return v.is_string() && is_ip(v.get<std::string>());
  case rule_kind::exact:
  case rule_kind::same_as:
  case rule_kind::unordered:
    return false;
  }
  return false;
}

net::expected<std::vector<rule>> parse_rules(const json& j) {
  std::vector<rule> out;
  if (!j.is_array())
    return unexpected{std::string{"rules must be an array"}};
  for (std::size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    auto where = "rule " + std::to_string(i) + ": ";
    if (!e.is_object())
      return unexpected{where + "not an object"};
    rule r;
    auto p = e.find("path");
    if (p == e.end() || !p->is_string() || p->get<std::string>().empty())
      return unexpected{where + "needs a non-empty string `path`"};
    r.path = split_path(p->get<std::string>());
    auto k = e.find("rule");
    if (k == e.end() || !k->is_string())
      return unexpected{where + "needs a string `rule`"};
    auto kind = parse_rule_kind(k->get<std::string>());
    if (!kind)
      return unexpected{where + "unknown rule `" + k->get<std::string>()
                        + "` (exact, base64-32, hex-32, any-u64, any-i64, "
                          "any-string, ip, same-as, unordered)"};
    r.kind = *kind;
    if (auto o = e.find("op"); o != e.end()) {
      if (!o->is_string())
        return unexpected{where + "`op` must be a string"};
      r.op = o->get<std::string>();
    }
    if (auto s = e.find("seq"); s != e.end()) {
      if (s->is_number_unsigned()) {
        r.seqs.push_back(s->get<std::uint64_t>());
      } else if (s->is_array()) {
        for (const auto& n : *s) {
          if (!n.is_number_unsigned())
            return unexpected{where + "`seq` must hold exchange numbers"};
          r.seqs.push_back(n.get<std::uint64_t>());
        }
      } else {
        return unexpected{where + "`seq` must be a number or an array"};
      }
    }
    if (auto c = e.find("capture"); c != e.end()) {
      if (!c->is_string())
        return unexpected{where + "`capture` must be a string"};
      r.capture = c->get<std::string>();
    }
    if (auto f = e.find("ref"); f != e.end()) {
      if (!f->is_string())
        return unexpected{where + "`ref` must be a string"};
      r.ref = f->get<std::string>();
    }
    if (r.kind == rule_kind::same_as && !r.ref)
      return unexpected{where + "rule same-as needs `ref` (a capture name)"};
    out.push_back(std::move(r));
  }
  return out;
}

json rule_to_json(const rule& r) {
  json j;
  j["path"] = join_path(r.path);
  j["rule"] = std::string{to_string(r.kind)};
  if (r.op)
    j["op"] = *r.op;
  if (r.seqs.size() == 1)
    j["seq"] = r.seqs.front();
  else if (!r.seqs.empty())
    j["seq"] = r.seqs;
  if (r.capture)
    j["capture"] = *r.capture;
  if (r.ref)
    j["ref"] = *r.ref;
  return j;
}

std::vector<mismatch> compare_bodies(const std::string& expected,
                                     const std::string& actual,
                                     const std::vector<const rule*>& rules,
                                     capture_map& captures) {
  json e = json::parse(expected, nullptr, false);
  json g = json::parse(actual, nullptr, false);
  if (e.is_discarded() || g.is_discarded()) {
    if (expected == actual)
      return {};
    return {{"", "bodies differ (not both JSON)"}};
  }
  comparer c{rules, captures, {}};
  std::vector<std::string> path;
  c.walk(e, g, path);
  // With no rule in play the bytes must match too (escaping, number
  // spelling), since the Rust client sees bytes, not values.
  if (c.out.empty() && rules.empty() && expected != actual)
    c.out.push_back({"", "same values but different bytes"});
  return c.out;
}

std::string substitute_captures(const std::string& request_body,
                                const capture_map& captures) {
  bool any = false;
  for (const auto& [name, c] : captures)
    any |= c.recorded != c.replayed && c.recorded.is_string();
  if (!any)
    return request_body;
  json j = json::parse(request_body, nullptr, false);
  if (j.is_discarded())
    return request_body;
  json before = j;
  substitute(j, captures);
  return j == before ? request_body : j.dump();
}

} // namespace overlayd::replay
