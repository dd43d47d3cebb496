#pragma once

// DRIVER_WORKER and DRIVER_POOL: blocking host calls (netlink, setns,
// sysctl, firewall execs) run on a few workers spawned `caf::detached`, so
// a slow bridge or veth never stalls a scheduler thread (design §3,
// notes/style.md lesson 6). The pool is an ordinary scheduled actor that
// never blocks: it holds each job until its resource is free and a worker
// is idle, so
// - jobs on the same resource run one at a time, in arrival order;
// - jobs on different resources run in parallel, up to the pool size;
// - a `resource::global()` job runs alone (the request gate's barrier).
// Each worker gets at most one job at a time, so a job never waits behind
// a slow job on another resource while some worker is free.
//
// The supervisor spawns the pool linked (`self->spawn<caf::linked>(
// driver_pool, host, options)`) and sends `drv_run` requests with
// `request(...).then(...)`; when it exits the pool and its worker threads
// exit with it. Jobs the pool still holds then are answered with
// `sec::request_receiver_down`, so no caller waits forever.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/interfaces.hpp"
#include "actors/request_gate.hpp"

namespace overlayd::drivers {
class host_driver;
} // namespace overlayd::drivers

namespace overlayd::actors {

// -- worker -------------------------------------------------------------------

struct driver_worker_state {
  /// The shared driver; both backends are thread-safe.
  drivers::host_driver* host = nullptr;
  driver_worker_stats stats;

  static inline const char* name = "overlayd.driver_worker";
};

/// Runs jobs against `host` one at a time. A job that throws counts as a
/// failure (kind `system`, the exception's text) and the worker lives on.
/// @param self The actor handle.
/// @param index The worker's position in its pool (for its counters).
/// @param host Must outlive the worker.
driver_worker_actor::behavior_type
driver_worker(driver_worker_actor::stateful_pointer<driver_worker_state> self,
              uint32_t index, drivers::host_driver* host);

// -- pool ---------------------------------------------------------------------

struct driver_pool_options {
  /// How many workers (at least one). Three lets a slow firewall exec and
  /// a slow netlink call run while a third resource still makes progress,
  /// without a thread per resource.
  std::size_t workers = 3;
  /// Workers get their own threads. Deterministic tests turn this off:
  /// detached actors run on their own thread even under the testing
  /// scheduler (notes/style.md §3.3 item 7).
  bool detached = true;
};

struct driver_pool_state {
  explicit driver_pool_state(
    driver_pool_actor::stateful_pointer<driver_pool_state> self)
    : self(self) {
    // nop
  }

  /// Answers every job still held, so that no requester waits forever,
  /// and stops the workers.
  ~driver_pool_state();

  driver_pool_actor::stateful_pointer<driver_pool_state> self;
  std::vector<driver_worker_actor> workers;

  // -- scheduling ------------------------------------------------------------

  struct pending {
    driver_job job;
    caf::typed_response_promise<driver_outcome> promise;
  };

  /// Decides when a job's resource is free (same rules as the supervisor).
  request_gate gate;
  std::unordered_map<request_gate::ticket, pending> jobs;
  /// Jobs whose resource is free, waiting for a worker, in arrival order.
  std::deque<request_gate::ticket> ready;
  /// Workers without a job, longest idle first.
  std::deque<uint32_t> idle;

  static inline const char* name = "overlayd.driver_pool";

  /// Registers a job; it starts once its resource and a worker are free.
  void submit(driver_job job,
              caf::typed_response_promise<driver_outcome> promise);

private:
  /// Hands ready jobs to idle workers.
  void dispatch();
  /// Answers job `id`, frees `worker` and lets waiting jobs start.
  void complete(uint32_t worker, request_gate::ticket id,
                driver_outcome outcome);
};

/// Spawns `options.workers` workers over `host`, linked to the pool.
/// @param self The actor handle.
/// @param host Must outlive the pool and its workers (the actor system).
driver_pool_actor::behavior_type
driver_pool(driver_pool_actor::stateful_pointer<driver_pool_state> self,
            drivers::host_driver* host, driver_pool_options options);

/// A CAF-level failure of a driver request (the pool or a worker is gone,
/// a timeout) as a driver error, so that a caller can handle every failure
/// of `job` on one path. Kind `system`, operation `job.label`, object the
/// job's resource key, detail the rendered CAF error.
drivers::error driver_request_failed(const driver_job& job,
                                     const caf::error& err);

/// Runs `job` on `pool` from inside actor `self` and calls
/// `done(drivers::result<T>)` in `self`'s context with the job's result, a
/// driver error or, if the request itself failed, `driver_request_failed`:
/// one path for every outcome, and `self` never waits.
template <class T, class Self, class Done>
void run_driver_job(Self* self, const driver_pool_actor& pool, driver_job job,
                    Done done) {
  driver_job header{job.order, job.label, {}};
  self->request(pool, caf::infinite, atom::drv_run_v, std::move(job))
    .then([done](driver_outcome& out) mutable { done(out.template get<T>()); },
          [done, header](caf::error& err) mutable {
            done(drivers::result<T>{driver_request_failed(header, err)});
          });
}

} // namespace overlayd::actors
