#pragma once

// The IPC listener and its connections (ipc.md §1.4-§1.6), driven by one
// plain I/O thread with epoll. Blocking socket work never runs on the actor
// scheduler: this thread splits the byte stream into frames and hands them
// up through callbacks; replies come back through `send` from any thread.
// No CAF here, so the transport can be tested on its own.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "net/expected.hpp"

namespace overlayd::actors {

using conn_id = uint64_t;

/// What to do with a connection once bytes handed to `send` are written.
enum class after_write : uint8_t {
  keep_open,
  /// Close the connection (protocol error, end of stream).
  close,
  /// Close it, then call `on_shutdown_sent`: the in-band `shutdown` reply
  /// must reach the client before the process exits (§1.9).
  close_and_signal,
};

/// Where encoded response frames go. The socket server is one; tests use
/// a recorder.
class frame_sink {
public:
  virtual ~frame_sink() = default;

  /// Queues `bytes` (whole frames, possibly none) for `conn`. Thread-safe.
  virtual void send(conn_id conn, std::string bytes, after_write then) = 0;
};

/// Callbacks, all invoked on the I/O thread. They must not block.
struct socket_handlers {
  /// One complete frame body (the JSON text without the length prefix).
  std::function<void(conn_id, std::string body)> on_frame;
  /// No further frames will come on this connection: the peer closed it
  /// (`error` empty) or the stream broke (`error` says why: I/O error,
  /// oversized frame, truncated body). The connection stays open for
  /// writing until the owner sends `after_write::close`.
  std::function<void(conn_id, std::string error)> on_end;
  /// The connection is gone for good (closed by us or by the peer).
  std::function<void(conn_id)> on_gone;
  /// A `close_and_signal` write completed (or could not be completed).
  std::function<void()> on_shutdown_sent;
  /// Everything one wake-up of the I/O thread brought has been handed to
  /// the callbacks above; a caller that buffers frames passes them on here,
  /// one hand-off per wake-up instead of one per frame.
  std::function<void()> on_round_end;
};

class socket_server : public frame_sink {
public:
  struct impl;

  /// Prepares the socket exactly as ZLayer's overlayd does: unlink any file
  /// at `path` (no liveness check), `mkdir -p` its parent, bind, listen,
  /// chmod 0660, and chgrp to `zlayer` when that group exists (a failure
  /// there is only logged). Connections queue until `start`.
  static net::expected<std::shared_ptr<socket_server>>
  bind(const std::filesystem::path& path);

  explicit socket_server(std::unique_ptr<impl> ptr);

  /// Stops the I/O thread and closes every connection and the listener.
  /// The socket file stays, as in the reference.
  ~socket_server() override;

  socket_server(const socket_server&) = delete;
  socket_server& operator=(const socket_server&) = delete;

  /// Starts the I/O thread with `handlers`. Call once.
  void start(socket_handlers handlers);

  /// Bytes for a connection that is already gone are dropped (but a
  /// `close_and_signal` still signals).
  void send(conn_id conn, std::string bytes, after_write then) override;

  /// Stops the I/O thread and closes every connection; idempotent. Drops
  /// the handlers and what they hold.
  void stop();

  const std::filesystem::path& path() const noexcept;

  /// Connections currently open.
  size_t connections() const noexcept;

private:
  std::unique_ptr<impl> impl_;
};

} // namespace overlayd::actors
