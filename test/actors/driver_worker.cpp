// The driver pool with real detached workers over the twin: a slow call on
// one link does not hold up a call on another while calls on one link keep
// their order; driver errors arrive as values with the driver's message
// and are counted; the pool and its threads end with their owner.
#include "actors/driver_worker.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/sec.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "actors/system_config.hpp"
#include "drivers/host/twin.hpp"

using namespace overlayd;
using namespace std::chrono_literals;
using actors::driver_job;
using actors::driver_outcome;
using actors::driver_pool_actor;
using actors::resource;
using clock_type = std::chrono::steady_clock;

// Long enough for a loaded machine; a broken pool fails instead of hanging.
constexpr auto reply_timeout = std::chrono::seconds(20);

namespace {

struct twin_holder {
  drivers::twin_host twin;
};

// Real scheduler threads; the twin is declared first so it outlives them.
struct threaded_fixture : twin_holder {
  static caf::actor_system_config& init(caf::actor_system_config& c) {
    actors::configure(c, 2);
    c.set("logger.file-verbosity", caf::atom("quiet"));
    return c;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};

  driver_pool_actor spawn_pool(std::size_t workers) {
    return sys.spawn(actors::driver_pool, &twin.root(),
                     actors::driver_pool_options{workers, true});
  }
};

// What the jobs did, from several worker threads.
class journal {
public:
  void note(std::string what) {
    std::lock_guard<std::mutex> guard{mx_};
    entries_.push_back(std::move(what));
  }
  std::vector<std::string> entries() const {
    std::lock_guard<std::mutex> guard{mx_};
    return entries_;
  }
  bool has(const std::string& what) const {
    auto xs = entries();
    return std::find(xs.begin(), xs.end(), what) != xs.end();
  }

private:
  mutable std::mutex mx_;
  std::vector<std::string> entries_;
};

template <class Handle>
driver_outcome await_outcome(caf::actor_system& sys, Handle& rh) {
  driver_outcome out{drivers::error{}};
  rh.receive([&](driver_outcome& o) { out = std::move(o); },
             [&](caf::error& e) { FAIL("pool error: " << sys.render(e)); });
  return out;
}

std::size_t thread_count() {
  std::size_t n = 0;
  for ([[maybe_unused]] auto& entry :
       std::filesystem::directory_iterator("/proc/self/task"))
    ++n;
  return n;
}

} // namespace

TEST_CASE_FIXTURE(threaded_fixture,
                  "a slow call on one link does not delay another link, and "
                  "calls on one link complete in order") {
  // Only create_bridge on zl-slow is slow.
  twin.inject("create_bridge", drivers::twin_fault{800ms, {}, 1, "zl-slow"});
  auto pool = spawn_pool(3);
  journal log;
  auto job = [&log](std::string key, std::string label, auto call) {
    return actors::make_driver_job(
      resource::named(key), label,
      [&log, label, call](drivers::host_driver& h) {
        log.note("start " + label);
        auto r = call(h);
        log.note("done " + label);
        return r;
      });
  };
  {
    caf::scoped_actor self{sys};
    auto t0 = clock_type::now();
    auto a1 = self->request(pool, reply_timeout, atom::drv_run_v,
                            job("zl-slow", "a1", [](drivers::host_driver& h) {
                              return h.links().create_bridge("zl-slow");
                            }));
    // Would fail with not_found if it ran before a1.
    auto a2 = self->request(pool, reply_timeout, atom::drv_run_v,
                            job("zl-slow", "a2", [](drivers::host_driver& h) {
                              return h.links().set_link_up("zl-slow");
                            }));
    auto b1 = self->request(pool, reply_timeout, atom::drv_run_v,
                            job("zl-fast", "b1", [](drivers::host_driver& h) {
                              return h.links().create_bridge("zl-fast");
                            }));
    CHECK(await_outcome(sys, b1).ok());
    auto b_done = clock_type::now() - t0;
    // B's answer is in while A's first call still sleeps in the twin.
    CHECK_FALSE(log.has("done a1"));
    CHECK(b_done < 800ms);
    CHECK(await_outcome(sys, a1).ok());
    CHECK(await_outcome(sys, a2).ok());
    CHECK(clock_type::now() - t0 >= 800ms);
    MESSAGE(
      "b1 answered after "
      << std::chrono::duration_cast<std::chrono::microseconds>(b_done).count()
      << " us; a1 sleeps 800 ms");
  }
  auto xs = log.entries();
  auto at = [&xs](const std::string& what) {
    return std::find(xs.begin(), xs.end(), what) - xs.begin();
  };
  CHECK(at("done a1") < at("start a2"));
  CHECK(at("done b1") < at("done a1"));
  auto link = twin.root().links().get_link("zl-slow");
  REQUIRE(link);
  CHECK(link->up);
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(threaded_fixture,
                  "driver errors arrive as values with the driver's message "
                  "and are counted") {
  twin.inject(
    "create_bridge",
    drivers::twin_fault{0ms,
                        drivers::error{drivers::error_kind::permission_denied,
                                       EPERM, "create_bridge", "zl-denied"},
                        1, "zl-denied"});
  auto pool = spawn_pool(2);
  {
    caf::scoped_actor self{sys};
    auto ask = [&](driver_job j) {
      auto rh
        = self->request(pool, reply_timeout, atom::drv_run_v, std::move(j));
      return await_outcome(sys, rh);
    };
    auto missing = ask(
      actors::make_driver_job(resource::named("zl-missing"), "set_link_up",
                              [](drivers::host_driver& h) {
                                return h.links().set_link_up("zl-missing");
                              }));
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.failure()->kind() == drivers::error_kind::not_found);
    CHECK(missing.failure()->what().find("zl-missing") != std::string::npos);
    auto status = missing.get<void>();
    CHECK_FALSE(status);

    auto denied = ask(
      actors::make_driver_job(resource::named("zl-denied"), "create_bridge",
                              [](drivers::host_driver& h) {
                                return h.links().create_bridge("zl-denied");
                              }));
    REQUIRE_FALSE(denied.ok());
    CHECK(denied.failure()->err_no() == EPERM);
    CHECK(denied.failure()->what()
          == drivers::error(drivers::error_kind::permission_denied, EPERM,
                            "create_bridge", "zl-denied")
               .what());

    // A job that throws fails as a value; its worker lives on.
    auto threw = ask(
      actors::make_driver_job(resource::named("zl-x"), "explode",
                              [](drivers::host_driver&) -> drivers::status {
                                throw std::runtime_error("boom");
                              }));
    REQUIRE_FALSE(threw.ok());
    CHECK(threw.failure()->what().find("boom") != std::string::npos);
    CHECK(threw.failure()->operation() == "explode");

    auto lo = ask(actors::make_driver_job(
      resource::named("lo"), "get_link",
      [](drivers::host_driver& h) { return h.links().get_link("lo"); }));
    auto info = lo.get<drivers::link_info>();
    REQUIRE(info);
    CHECK(info->name == "lo");
    // Asking for the wrong type is an error value, not a crash.
    auto wrong = lo.get<bool>();
    REQUIRE_FALSE(wrong);
    CHECK(wrong.error().kind() == drivers::error_kind::invalid_argument);

    CHECK(ask(actors::make_driver_job(resource::named("zl-ok"), "create_bridge",
                                      [](drivers::host_driver& h) {
                                        return h.links().create_bridge("zl-ok");
                                      }))
            .ok());

    auto stats_rh = self->request(pool, reply_timeout, atom::drv_stats_v);
    actors::driver_pool_stats stats;
    stats_rh.receive(
      [&](actors::driver_pool_stats& s) { stats = std::move(s); },
      [&](caf::error& e) { FAIL("stats error: " << sys.render(e)); });
    REQUIRE(stats.workers.size() == 2);
    uint64_t ok = 0;
    uint64_t failed = 0;
    for (std::size_t i = 0; i < stats.workers.size(); ++i) {
      CHECK(stats.workers[i].index == i);
      ok += stats.workers[i].succeeded;
      failed += stats.workers[i].failed;
    }
    CHECK(ok == 2);
    CHECK(failed == 3);
    CHECK(stats.running == 0);
    CHECK(stats.waiting == 0);
  }
  caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
}

namespace {

// An owner that runs its jobs on a pool it spawned linked, as the
// supervisor does.
caf::behavior pool_owner(caf::event_based_actor* self,
                         drivers::host_driver* host) {
  auto pool = self->spawn<caf::linked>(actors::driver_pool, host,
                                       actors::driver_pool_options{2, true});
  return {
    [self, pool](atom::drv_run run, driver_job& job) {
      return self->delegate(pool, run, std::move(job));
    },
  };
}

} // namespace

TEST_CASE_FIXTURE(threaded_fixture,
                  "the pool and its worker threads end with their owner") {
  twin.inject("create_bridge", drivers::twin_fault{300ms, {}, 1, "zl-slow"});
  auto baseline = thread_count();
  auto started = clock_type::now();
  {
    auto owner = sys.spawn(pool_owner, &twin.root());
    caf::scoped_actor self{sys};
    auto quick = self->request(
      owner, reply_timeout, atom::drv_run_v,
      actors::make_driver_job(
        resource::named("lo"), "link_exists",
        [](drivers::host_driver& h) { return h.links().link_exists("lo"); }));
    quick.receive([](driver_outcome& o) { CHECK(o.ok()); },
                  [&](caf::error& e) { FAIL(sys.render(e)); });
    // Two workers are up now.
    CHECK(thread_count() >= baseline + 2);
    auto slow = [](drivers::host_driver& h) {
      return h.links().create_bridge("zl-slow");
    };
    // The first job sleeps on a worker; the second waits in the pool.
    auto busy = self->request(
      owner, reply_timeout, atom::drv_run_v,
      actors::make_driver_job(resource::named("zl-slow"), "a1", slow));
    auto queued = self->request(
      owner, reply_timeout, atom::drv_run_v,
      actors::make_driver_job(resource::named("zl-slow"), "a2", slow));
    std::this_thread::sleep_for(50ms);
    caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
    // Neither requester is left waiting: the pool answers what it held.
    for (auto* rh : {&busy, &queued}) {
      caf::error err;
      rh->receive([](driver_outcome&) { FAIL("expected an error"); },
                  [&](caf::error& e) { err = std::move(e); });
      CHECK(err == caf::sec::request_receiver_down);
    }
  }
  sys.await_all_actors_done();
  // The sleeping worker finishes its call before its thread ends.
  CHECK(clock_type::now() - started >= 300ms);
  // A detached actor is done a moment before its thread has exited.
  auto deadline = clock_type::now() + 5s;
  while (thread_count() > baseline && clock_type::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK(thread_count() == baseline);
}
