#pragma once

// Comparison of a replayed response with the recorded one. Everything is
// compared exactly (values, key order, bytes) unless a rule declared in the
// session header says how a field that legitimately changes per run is
// checked instead. Nothing is skipped silently: a rule still checks the
// shape of the value, and `same-as` ties it to a value seen earlier.
//
// A rule (one element of the header's "rules" array):
//   {"path":"response.private_key",   dotted path into the frame object;
//                                     `*` matches any key or array index
//    "rule":"base64-32",              see `rule_kind`
//    "op":"attach_container",         optional: only for this request op
//    "seq":[5,9],                     optional: only these exchanges
//    "capture":"guest_key_5",         optional: remember the value
//    "ref":"guest_key_5"}             for "same-as": the capture to match
//
// A capture remembers both the recorded and the replayed value. Later
// requests have every string equal to the recorded value replaced by the
// replayed one, so a key generated on this run flows into the requests
// that use it.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/expected.hpp"

namespace overlayd::replay {

enum class rule_kind : std::uint8_t {
  exact,     ///< equal to the recorded value (the default for everything)
  base64_32, ///< a base64 string of exactly 32 bytes (a WireGuard key)
  hex_32,    ///< 64 lowercase hex digits (a key in a UAPI dump)
  any_u64,   ///< any unsigned integer (counters, Unix times)
  any_i64,   ///< any integer
  any_string,
  ip,      ///< any IP address text
  same_as, ///< equal to the replayed value of capture `ref`
  /// An array whose order carries no meaning (the reference builds it
  /// from a hash map, e.g. status peers): the same elements in any order,
  /// each compared under the rules of its recorded position.
  unordered,
};

struct rule {
  std::vector<std::string> path;
  rule_kind kind = rule_kind::exact;
  std::optional<std::string> op;
  std::vector<std::uint64_t> seqs; ///< empty: every exchange
  std::optional<std::string> capture;
  std::optional<std::string> ref;

  bool applies_to(std::uint64_t seq, const std::string& request_op) const;
};

/// Parses the header's rules; errors name the rule index and field.
net::expected<std::vector<rule>> parse_rules(const nlohmann::ordered_json& j);
nlohmann::ordered_json rule_to_json(const rule& r);

struct captured {
  nlohmann::ordered_json recorded;
  nlohmann::ordered_json replayed;
};

/// Captured values by name, filled while a session replays.
using capture_map = std::map<std::string, captured>;

struct mismatch {
  std::string path; ///< e.g. "response.ip"
  std::string what; ///< e.g. `expected "10.200.0.2", got "10.200.0.3"`
};

/// Compares two frame bodies under `rules` (already filtered to the
/// exchange). Adds this exchange's captures to `captures`. Returns every
/// difference; empty means equal.
std::vector<mismatch> compare_bodies(const std::string& expected,
                                     const std::string& actual,
                                     const std::vector<const rule*>& rules,
                                     capture_map& captures);

/// The request body with captured recorded values replaced by replayed
/// ones (unchanged bytes if nothing matches).
std::string substitute_captures(const std::string& request_body,
                                const capture_map& captures);

/// Whether `value` satisfies a shape rule (not `exact`/`same_as`).
bool satisfies(rule_kind kind, const nlohmann::ordered_json& value);

std::string_view to_string(rule_kind kind) noexcept;
std::optional<rule_kind> parse_rule_kind(std::string_view text) noexcept;

} // namespace overlayd::replay
