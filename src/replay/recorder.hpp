#pragma once

// Records IPC exchanges as a session file (session.hpp) while a daemon
// serves them. Built to be fed from two taps on the daemon's byte stream,
// so wiring it in needs no knowledge of requests or responses:
//
//   on every received frame body:   rec.on_request(conn, body);
//   on every write to a connection: rec.on_response_bytes(conn, bytes);
//   when a connection is gone:      rec.on_closed(conn);
//
// It pairs responses with requests in order per connection (the server
// answers in request order, design §3 rule 1), knowing which frames get no
// answer the same way the server does: non-request frames are ignored, and
// an undecodable frame without a certain id ends the connection. Every
// method is thread-safe and cheap apart from one JSON decode per request;
// lines go to the file as soon as an exchange completes.

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "ipc/framing.hpp"
#include "net/expected.hpp"
#include "replay/session.hpp"

namespace overlayd::replay {

struct recorder_options {
  std::filesystem::path file;
  /// Data directory and settings of the recording daemon, for the header.
  std::string data_dir;
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  /// Keep private keys and credentials (only for local debugging).
  bool keep_secrets = false;
};

class recorder {
public:
  using clock = std::chrono::steady_clock;

  /// Creates (truncates) the file and writes the header line.
  static net::expected<std::unique_ptr<recorder>> open(recorder_options opts);

  ~recorder();
  recorder(const recorder&) = delete;
  recorder& operator=(const recorder&) = delete;

  // -- byte-stream taps -----------------------------------------------------

  /// A complete frame body arrived on `conn`.
  void on_request(std::uint64_t conn, std::string_view body);
  /// Bytes (zero or more whole length-prefixed frames) written to `conn`.
  void on_response_bytes(std::uint64_t conn, std::string_view bytes);
  /// `conn` is gone: unanswered requests are written with no response.
  void on_closed(std::uint64_t conn);

  // -- direct use -----------------------------------------------------------

  /// Writes one complete exchange (for servers that know the pairing).
  void record(std::uint64_t conn, std::string_view request_body,
              std::optional<std::string_view> response_body,
              clock::time_point arrival, clock::duration latency,
              bool closed = false);

  /// Exchanges written so far.
  std::uint64_t count() const;
  /// Flushes the file.
  void flush();

  explicit recorder(recorder_options opts);

private:
  struct pending_request {
    std::string body;
    clock::time_point arrival;
    bool expects_answer = true;
  };
  struct connection {
    std::deque<pending_request> waiting;
    ipc::frame_decoder responses;
    bool ended = false;
  };

  void write_locked(std::uint64_t conn, const std::string& request,
                    std::optional<std::string> response,
                    clock::time_point arrival, clock::duration latency,
                    bool closed);
  void drain_unanswered_locked(std::uint64_t conn, connection& c, bool closed);

  recorder_options opts_;
  mutable std::mutex mtx_;
  std::ofstream out_;
  clock::time_point start_ = clock::now();
  std::uint64_t seq_ = 0;
  std::map<std::uint64_t, connection> conns_;
};

} // namespace overlayd::replay
