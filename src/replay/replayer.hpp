#pragma once

// Replays a session against a target and compares every response with the
// recorded one (rules.hpp), optionally keeping the recorded pace and
// optionally mixing in mutated frames (mutation.hpp).

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "net/expected.hpp"
#include "replay/pid_map.hpp"
#include "replay/session.hpp"

namespace overlayd::replay {

class recorder;

struct replay_options {
  /// Sleep so that each request leaves at its recorded offset.
  bool pace = false;
  /// Mix mutated frames in, from this seed.
  std::optional<std::uint64_t> mutate_seed;
  /// Chance that an exchange gets a mutated companion (0..1).
  double mutate_rate = 0.5;
  /// How long to wait for one response.
  std::chrono::milliseconds response_timeout{10000};
  /// If set, every exchange seen on this run is written here.
  recorder* record_to = nullptr;
  /// Print each exchange as it passes.
  bool verbose = false;
  /// Real pids for the session's symbolic container pids.
  pid_map pids;
};

enum class outcome : std::uint8_t { pass, pending, fail };

struct replay_result {
  std::size_t exchanges = 0;
  std::size_t passed = 0;
  /// Matched an answer marked pending (unfinished engine work).
  std::size_t pending = 0;
  std::size_t failed = 0;
  std::size_t mutations = 0;
  std::size_t mutation_failures = 0;
  std::vector<double> latencies_us;
  double seconds = 0;

  outcome overall() const noexcept {
    if (failed > 0 || mutation_failures > 0)
      return outcome::fail;
    return pending > 0 ? outcome::pending : outcome::pass;
  }
};

/// Replays `s` against the daemon at `socket`. Mismatches and pending
/// notes go to `report` as readable diffs. Fails only when the session
/// itself is unusable (bad rules) or the target cannot be reached at all.
net::expected<replay_result> replay_session(const session& s,
                                            const std::string& socket,
                                            const replay_options& opts,
                                            std::ostream& report);

/// p in [0,100] of `samples` (sorted copy); 0 when empty.
double percentile(std::vector<double> samples, double p);

} // namespace overlayd::replay
