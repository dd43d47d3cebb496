#pragma once

// Load mode: N closed-loop connections each send the session's requests
// (in recorded order, as fast as the daemon answers, or at the recorded
// pace) and time every exchange. Responses are checked for shape (a
// response frame under the request's id), not content: concurrent
// clients interleave, so the recorded values no longer apply.

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "net/expected.hpp"
#include "replay/pid_map.hpp"
#include "replay/session.hpp"

namespace overlayd::replay {

struct load_options {
  unsigned concurrency = 1;
  /// Passes over the session per connection (ignored with `duration`).
  std::uint64_t repeat = 1;
  /// Run for this long instead of a number of passes (0: use `repeat`).
  std::chrono::milliseconds duration{0};
  bool pace = false;
  std::chrono::milliseconds response_timeout{10000};
  /// Real pids for the session's symbolic container pids.
  pid_map pids;
};

struct load_result {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  double seconds = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;
  std::string first_error;

  double rate() const noexcept {
    return seconds > 0 ? static_cast<double>(requests) / seconds : 0;
  }
};

/// Runs the load. `shutdown` requests and frames the server would not
/// answer are left out (they would stop the daemon or stall a loop).
net::expected<load_result> run_load(const session& s, const std::string& socket,
                                    const load_options& opts);

/// One line: requests, req/s, p50/p90/p99/max in µs, errors.
void print_load(std::ostream& out, const std::string& label,
                const load_result& r);

} // namespace overlayd::replay
