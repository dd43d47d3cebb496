#pragma once

// The recorded-session format (JSON lines). Line 1 is the header; every
// further line is one exchange. Frame bodies are kept as JSON *strings*
// holding the exact bytes that crossed the socket, so a session can be
// compared byte for byte and replayed verbatim.
//
//   {"overlay_replay":1,"recorded_at":"...","data_dir":"...",
//    "config":{...},"redacted":true,"rules":[...],"pending":"issue 5",
//    "processes":[4242,4243]}
//   {"seq":0,"conn":1,"at_us":120,"latency_us":35,
//    "request":"{\"frame\":\"request\",...}",
//    "response":"{\"frame\":\"response\",...}","closed":false,
//    "pending":"issue 5","reference":"..."}

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/expected.hpp"

namespace overlayd::replay {

/// The format version this build reads and writes.
inline constexpr int format_version = 1;

struct session_header {
  int version = format_version;
  std::string recorded_at;
  std::string data_dir;
  /// Free-form description of the recording daemon's settings.
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  /// Whether secrets were replaced by "<redacted>".
  bool redacted = true;
  /// Comparison rules (see rules.hpp), kept as written.
  nlohmann::ordered_json rules = nlohmann::ordered_json::array();
  /// Set when the whole session waits on unfinished engine work.
  std::optional<std::string> pending;
  std::optional<std::string> description;
  /// Symbolic pids of the container processes the session attaches
  /// (`linux_pid` handles), each of which needs a network namespace of its
  /// own. A replay makes them exist before the first request: on the twin
  /// as twin processes, on a real host as real processes whose pids are
  /// substituted for the symbolic ones (see pid_map.hpp).
  std::vector<std::uint32_t> processes;
};

struct exchange {
  std::uint64_t seq = 0;
  /// Connection the request arrived on (numbering is the recorder's).
  std::uint64_t conn = 0;
  /// Arrival offset from the start of the recording, in microseconds.
  std::uint64_t at_us = 0;
  /// Arrival to response written, in microseconds (0 without response).
  std::uint64_t latency_us = 0;
  /// The request frame body as received.
  std::string request;
  /// The response frame body as sent; nullopt if the server sent none
  /// (a frame it ignores, or one it closes the connection over).
  std::optional<std::string> response;
  /// The server closed the connection after this frame.
  bool closed = false;
  /// The expectation is not known (a request script, not a recording).
  bool expectation_unknown = false;
  /// The recorded answer is our interim one; names the work it waits on.
  std::optional<std::string> pending;
  /// For pending exchanges: what the reference server answers.
  std::optional<std::string> reference;
};

struct session {
  session_header header;
  std::vector<exchange> exchanges;
};

/// One header line (no trailing newline).
std::string header_line(const session_header& h);
/// One exchange line (no trailing newline).
std::string exchange_line(const exchange& x);

net::expected<session_header> parse_header(const std::string& line);
net::expected<exchange> parse_exchange(const std::string& line);

/// Reads a whole session; errors name the file and line.
net::expected<session> load_session(const std::filesystem::path& file);
/// Writes a whole session (header first).
net::expected<void> save_session(const session& s,
                                 const std::filesystem::path& file);

/// The request's `op` (or a description like "<not json>").
std::string request_op(const std::string& request_body);

/// UTC now as RFC 3339 text.
std::string utc_now_text();

} // namespace overlayd::replay
