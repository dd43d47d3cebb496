#pragma once

// Test doubles for the engine's children on the deterministic scheduler:
// an orchestration core on the in-memory twin, and a driver pool that runs
// jobs at once except on the resources a test holds back, which wait until
// the test sends `release` (a stand-in for a slow host call).

#include <deque>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/interfaces.hpp"
#include "drivers/host/twin.hpp"
#include "overlay/engine.hpp"
#include "overlay/fake_wg_control.hpp"

namespace overlayd::test {

/// A core on the twin with its own data directory.
struct twin_core {
  std::filesystem::path dir;
  drivers::twin_host twin;
  overlay::fake_wg_control wg{&twin};
  std::unique_ptr<overlay::engine> core;

  twin_core() {
    auto tmpl = (std::filesystem::temp_directory_path() / "actors-core-XXXXXX")
                  .string();
    dir = ::mkdtemp(tmpl.data());
    overlay::engine_options opts;
    opts.data_dir = dir;
    opts.pid_alive = [this](uint32_t pid) { return twin.pid_alive(pid); };
    core = std::make_unique<overlay::engine>(twin.root(), wg, opts);
  }

  ~twin_core() {
    core.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

using held_pool_actor
  = actors::driver_pool_actor::extend<caf::reacts_to<atom::release>>;

struct held_pool_state {
  drivers::host_driver* host = nullptr;
  /// Resource keys whose jobs wait for `release`; "*" holds every job.
  std::set<std::string> hold;
  struct held_job {
    actors::driver_job job;
    caf::typed_response_promise<actors::driver_outcome> promise;
  };
  std::deque<held_job> held;
  /// Resource keys of the jobs that reached the pool, in arrival order.
  std::vector<std::string> seen;

  bool holds(const actors::resource& r) const {
    return hold.count("*") > 0 || hold.count(r.key) > 0;
  }

  static inline const char* name = "test.held_pool";
};

inline held_pool_actor::behavior_type
held_pool(held_pool_actor::stateful_pointer<held_pool_state> self,
          drivers::host_driver* host, std::set<std::string> hold) {
  self->state.host = host;
  self->state.hold = std::move(hold);
  return {
    [self](atom::drv_run,
           actors::driver_job& job) -> caf::result<actors::driver_outcome> {
      auto& st = self->state;
      st.seen.push_back(job.order.key);
      if (!st.holds(job.order))
        return job.work(*st.host);
      auto rp = self->make_response_promise<actors::driver_outcome>();
      st.held.push_back({std::move(job), rp});
      return rp;
    },
    [self](atom::release) {
      auto& held = self->state.held;
      if (held.empty())
        return;
      auto next = std::move(held.front());
      held.pop_front();
      next.promise.deliver(next.job.work(*self->state.host));
    },
    [](atom::drv_stats) { return actors::driver_pool_stats{}; },
  };
}

using held_pool_impl
  = caf::stateful_actor<held_pool_state, held_pool_actor::base>;

} // namespace overlayd::test
