#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace overlayd::actors {

/// What a request holds while it runs (design §3, ordering rules 2-4).
struct resource {
  enum class kind : uint8_t {
    /// Touches no ordered resource (e.g. `status`); only barriers stop it.
    none,
    /// One named resource: a service, a container handle, a peer key.
    keyed,
    /// A global operation: runs alone, after everything before it.
    barrier,
  };

  kind what = kind::none;
  std::string key;

  static resource unordered() { return {kind::none, {}}; }
  static resource named(std::string key) {
    return {kind::keyed, std::move(key)};
  }
  static resource global() { return {kind::barrier, {}}; }

  friend bool operator==(const resource&, const resource&) = default;
};

/// Decides when each submitted request may start:
/// - requests on the same resource run one at a time, in arrival order;
/// - requests on different resources run concurrently;
/// - a barrier waits for everything submitted before it, runs alone, and
///   everything submitted after it waits for it.
/// Plain bookkeeping with no threads: the supervisor owns one and calls it
/// from its own handlers only.
class request_gate {
public:
  using ticket = uint64_t;

  struct admission {
    ticket id;
    bool start_now;
  };

  /// Registers a request on `res`. When `start_now` is false the ticket is
  /// returned later by `finish` once its turn has come.
  admission submit(resource res);

  /// Marks the running request `id` as finished and returns the tickets that
  /// may start now, in arrival order. Unknown tickets are ignored.
  std::vector<ticket> finish(ticket id);

  size_t running() const { return running_.size(); }
  size_t waiting() const { return waiting_.size(); }

private:
  struct entry {
    ticket id;
    resource res;
  };

  bool may_start_ahead_of_nothing(const resource& res) const;
  void start(ticket id, const resource& res);

  ticket next_ = 1;
  std::deque<entry> waiting_;
  std::unordered_map<ticket, resource> running_;
  std::unordered_set<std::string> running_keys_;
  bool barrier_running_ = false;
  // Summaries of `waiting_`, so that `submit` does not scan the queue.
  size_t waiting_barriers_ = 0;
  std::unordered_map<std::string, size_t> waiting_keys_;
};

} // namespace overlayd::actors
