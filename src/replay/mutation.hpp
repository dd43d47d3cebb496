#pragma once

// Broken companions of a well-formed request, sent as raw bytes on a
// throw-away connection: the daemon must survive each one, answer it the
// way the protocol says (spec/ipc.md §1.5-§1.8) and keep serving. None of
// them can execute a request, so the replay's exact comparison of the
// well-formed requests stays valid.

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

namespace overlayd::replay {

enum class mutation_kind : std::uint8_t {
  /// A connection that sends 0-3 bytes of a length prefix and hangs up.
  drop,
  /// The whole prefix, part of the body, then end of stream.
  truncate,
  /// One body byte replaced by 0x00 or 0xff: never valid JSON.
  corrupt_byte,
  /// A length prefix over 8 MiB.
  corrupt_length,
  /// A valid frame whose `op` is unknown: an `err` under the same id.
  corrupt_op,
  /// The request sent twice in a row on its own connection (only for
  /// requests that are idempotent; the replayer does this one itself).
  duplicate,
};

std::string_view to_string(mutation_kind kind) noexcept;

/// Whether sending `op` twice leaves the same state and answers the same.
bool is_idempotent_op(const std::string& op) noexcept;

/// Picks a mutation for a request with `op` (duplicate only if allowed).
mutation_kind pick_mutation(std::mt19937_64& rng, const std::string& op);

struct mutation_outcome {
  std::string description; ///< e.g. "truncate 17/120 bytes"
  bool ok = false;
  std::string problem; ///< what the daemon did wrong
};

/// Sends the mutated form of `body` on a fresh connection to `socket` and
/// checks the daemon's reaction, then checks that it still answers a
/// `status` on another fresh connection. `kind` must not be `duplicate`.
mutation_outcome run_mutation(const std::string& socket,
                              const std::string& body, mutation_kind kind,
                              std::mt19937_64& rng,
                              std::chrono::milliseconds timeout);

} // namespace overlayd::replay
