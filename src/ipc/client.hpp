#pragma once

// Blocking Unix-socket client for overlayd (spec/ipc.md §1.7), behaving
// like ZLayer's Rust client: ids start at 1 and count up per connection,
// one request in flight, responses with another id are skipped, events
// dropped. Unlike the Rust client it can time out (optional).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "ipc/framing.hpp"
#include "ipc/messages.hpp"
#include "net/expected.hpp"

namespace overlayd::ipc {

/// A client-side failure (the Rust `OverlaydError` plus timeouts).
struct error {
  enum class code : std::uint8_t {
    io,              ///< socket errors, EOF inside a frame
    codec,           ///< a frame body that does not decode
    frame_too_large, ///< a frame over max_frame_bytes (either direction)
    closed,          ///< the server hung up between frames
    overlay,         ///< the server answered `err` (only from `call`)
    timeout,         ///< connect or call deadline passed
    protocol,        ///< the server sent a request frame
  };
  code what = code::io;
  std::string detail;

  /// Display text, with the Rust prefixes: `io error: …`, `frame codec
  /// error: …`, `frame too large: N bytes (max 8388608)`, `connection
  /// closed by peer`, `overlay engine error: …`, `timed out: …`,
  /// `protocol error: …`.
  std::string message() const;
};

struct client_options {
  /// Bound on one connect attempt.
  std::chrono::milliseconds connect_timeout{5000};
  /// Bound on one request/response exchange; nullopt waits forever, as
  /// ZLayer's client does. After a timeout the connection stays usable:
  /// the late response carries an old id and is skipped.
  std::optional<std::chrono::milliseconds> call_timeout;
};

class client {
public:
  /// One connect attempt (Rust `connect`).
  static net::expected<client, error> connect(const std::string& socket_path,
                                              client_options opts = {});

  /// `max(attempts, 1)` attempts, sleeping 100, 200, 400, 800, then 1000 ms
  /// between them (Rust `connect_with_attempts`; ZLayer's
  /// `connect_with_backoff` uses 20).
  static net::expected<client, error>
  connect_with_attempts(const std::string& socket_path, unsigned attempts,
                        client_options opts = {});

  client(client&& other) noexcept;
  client& operator=(client&& other) noexcept;
  client(const client&) = delete;
  client& operator=(const client&) = delete;
  ~client();

  /// Sends `r` under the next id and waits for the response with that id.
  /// An `err` response is a successful result here.
  net::expected<response, error> request(const ipc::request& r);

  /// Like `request`, but an `err` response becomes `error::code::overlay`
  /// with the server's message (Rust `call`).
  net::expected<response, error> call(const ipc::request& r);

  /// The id the next request will use (starts at 1, wraps at u64 max).
  std::uint64_t next_id() const noexcept { return next_id_; }
  /// For tests: continue numbering from `id`.
  void set_next_id(std::uint64_t id) noexcept { next_id_ = id; }

  /// Responses skipped because their id was not the awaited one.
  std::uint64_t skipped_responses() const noexcept { return skipped_; }
  /// Events dropped while waiting.
  std::uint64_t dropped_events() const noexcept { return dropped_events_; }

  bool is_open() const noexcept { return fd_ >= 0; }
  void close() noexcept;

private:
  client(int fd, client_options opts) noexcept;

  net::expected<void, error>
  send_all(std::string_view bytes,
           std::chrono::steady_clock::time_point deadline);
  net::expected<std::string, error>
  read_body(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  client_options opts_;
  std::uint64_t next_id_ = 1;
  std::uint64_t skipped_ = 0;
  std::uint64_t dropped_events_ = 0;
  frame_decoder decoder_;
};

} // namespace overlayd::ipc
