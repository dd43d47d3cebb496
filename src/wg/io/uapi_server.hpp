#pragma once

#include "wg/io/result.hpp"
#include "wg/io/uapi.hpp"

#include <atomic>
#include <functional>
#include <string>
#include <thread>

namespace overlayd::wg {

/// What the UAPI server asks of the device it serves.
class uapi_handler {
public:
  virtual ~uapi_handler() = default;
  /// The `get=1` reply body (no errno line).
  virtual std::string uapi_get() = 0;
  /// Applies a parsed `set=1` request atomically.
  virtual result<void> uapi_set(const uapi::set_request& req) = 0;
};

/// Listens on `<dir>/<ifname>.sock` and serves the UAPI protocol on its own
/// thread, one connection at a time (wg(8) connections are short).
class uapi_server {
public:
  uapi_server() = default;
  uapi_server(const uapi_server&) = delete;
  uapi_server& operator=(const uapi_server&) = delete;
  ~uapi_server();

  /// Creates `dir` and its parents if needed, replaces a stale socket file and
  /// starts listening. Does not start the thread yet, so a daemon can fork
  /// between listen() and start().
  result<void> listen(const std::string& dir, const std::string& ifname);

  /// Starts serving requests through `handler` on a new thread.
  void start(uapi_handler& handler);

  /// Stops the thread, closes the socket and removes the socket file.
  void stop();

  const std::string& path() const noexcept { return path_; }

  /// Serves the operations on one connected stream until EOF. Exposed for
  /// tests, which drive it over a socketpair.
  static void serve_connection(int fd, uapi_handler& handler);

private:
  void run(uapi_handler& handler);

  std::string path_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

} // namespace overlayd::wg
