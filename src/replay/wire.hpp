#pragma once

// A raw connection to an overlayd socket: whole frames or arbitrary bytes
// out, frame bodies in, with deadlines. Unlike ipc::client it sends bodies
// verbatim (replay must send exactly what was recorded) and can send
// broken frames on purpose (mutation).

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "ipc/framing.hpp"
#include "net/expected.hpp"

namespace overlayd::replay {

class raw_connection {
public:
  /// Connects, retrying for up to `patience` while the socket is absent or
  /// its backlog is full.
  static net::expected<raw_connection>
  connect(const std::string& socket_path,
          std::chrono::milliseconds patience = std::chrono::seconds{5});

  raw_connection(raw_connection&& other) noexcept;
  raw_connection& operator=(raw_connection&& other) noexcept;
  raw_connection(const raw_connection&) = delete;
  raw_connection& operator=(const raw_connection&) = delete;
  ~raw_connection();

  /// Length prefix + body.
  net::expected<void> send_frame(std::string_view body);
  /// Any bytes.
  net::expected<void> send_bytes(std::string_view bytes);
  /// Half-closes the write side (the server sees end of stream).
  void shutdown_write();

  /// What `read_frame` found.
  struct incoming {
    std::optional<std::string> body; ///< a frame body
    bool eof = false;                ///< the server closed the connection
    bool timed_out = false;
    std::string error; ///< broken framing or I/O error
  };
  /// Waits up to `timeout` for one whole frame.
  incoming read_frame(std::chrono::milliseconds timeout);

  void close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }

private:
  explicit raw_connection(int fd) noexcept : fd_(fd) {}

  int fd_ = -1;
  ipc::frame_decoder decoder_;
  bool eof_ = false;
  /// The SO_RCVTIMEO currently set (0: none, block forever).
  std::chrono::milliseconds rcv_timeout_{0};
};

} // namespace overlayd::replay
