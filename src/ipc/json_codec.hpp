#pragma once

// JSON mapping of the IPC messages, byte-compatible with serde_json's
// compact output of the Rust types (spec/ipc.md §2): tag first, fields in
// declaration order, `None` options omitted, no whitespace.
//
// Decoding is lenient the way serde is (unknown fields ignored, `null` or
// missing for options, defaulted fields optional, structs also accepted
// as JSON arrays in field order) and strict where serde is (unknown tags,
// wrong types, out-of-range integers, duplicate keys, bad IP text).
// Error texts follow serde's wording, e.g. "missing field `pid`".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ipc/messages.hpp"
#include "net/expected.hpp"

namespace overlayd::ipc {

/// Why a frame body did not decode.
struct decode_error {
  /// serde-style description, e.g. "unknown variant `frob`, expected one
  /// of `set_local_node_id`, ...".
  std::string message;
  /// Set only when the body is a `request` frame whose `id` is certain
  /// (valid JSON, `"frame":"request"`, one u64 `id`), so the server may
  /// answer `err` under that id without ever using a wrong one (§1.8).
  std::optional<std::uint64_t> request_id;
};

// -- whole frames (the bytes between length prefixes) -------------------------

/// Parses one frame body (UTF-8 JSON; surrounding whitespace allowed).
net::expected<frame, decode_error> decode_frame(std::string_view body);

/// Compact JSON of a frame, exactly as serde_json would print it.
std::string encode_frame(const frame& f);
std::string encode_request_frame(std::uint64_t id, const request& r);
std::string encode_response_frame(std::uint64_t id, const response& r);

/// An `err` response frame, the server's answer to a request it could not
/// decode when `decode_error::request_id` is set.
std::string encode_error_frame(std::uint64_t id, std::string_view message);

// -- single messages (replay files, tests, tools) -----------------------------

net::expected<request> decode_request(std::string_view json_text);
net::expected<response> decode_response(std::string_view json_text);
net::expected<event> decode_event(std::string_view json_text);

/// Decoding from an already parsed document (duplicate keys are lost by
/// then and cannot be reported).
net::expected<request> decode_request_json(const nlohmann::json& j);
net::expected<response> decode_response_json(const nlohmann::json& j);

std::string encode_request(const request& r);
std::string encode_response(const response& r);
std::string encode_event(const event& e);

/// Parses JSON text with serde_json's extra rules: duplicate object keys
/// and nesting deeper than 128 levels are errors.
net::expected<nlohmann::json> parse_json_strict(std::string_view text);

} // namespace overlayd::ipc
