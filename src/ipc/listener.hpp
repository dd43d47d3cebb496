#pragma once

// Opening overlayd's listening socket exactly as ZLayer's transport does
// (spec/ipc.md §1.4), as a plain function so the IPC server actor only
// has to accept on the returned descriptor.

#include <string>
#include <vector>

#include "net/expected.hpp"

namespace overlayd::ipc {

struct listener_options {
  int backlog = 1024;
  /// Non-blocking accept socket (for an event loop).
  bool nonblocking = true;
  /// Group that gets the socket (chgrp) if it exists; "" skips the step.
  std::string group = "zlayer";
};

struct unix_listener {
  int fd = -1;
  /// Best-effort steps that failed (chmod, chgrp), for the caller to log;
  /// ZLayer only logs them too.
  std::vector<std::string> warnings;
};

/// 1. unlinks whatever is at `path` (no liveness check: a new instance
///    takes over), 2. creates the parent directories, 3. binds and
///    listens, 4. chmod 0660, 5. chgrp `group` if that group exists.
/// Errors name the path and the failing step. The socket file is left in
/// place on close, as ZLayer does.
net::expected<unix_listener>
open_unix_listener(const std::string& path, const listener_options& opts = {});

} // namespace overlayd::ipc
