#pragma once

// `overlayctl raw`: sends a request object exactly as typed, so that the
// daemon (not the CLI) judges it, and returns the daemon's response.

#include <string>
#include <string_view>

#include "ipc/messages.hpp"
#include "net/expected.hpp"

namespace overlayd::app {

struct raw_error {
  std::string message;
  /// The input itself is unusable (not JSON, not an object).
  bool usage = false;
};

/// Wraps `json_text` (a request object, or a whole request frame when it
/// has a "frame" key) into a frame with id 1, sends it to `socket` and
/// waits for the response frame.
net::expected<ipc::response, raw_error> raw_call(const std::string& socket,
                                                 std::string_view json_text);

} // namespace overlayd::app
