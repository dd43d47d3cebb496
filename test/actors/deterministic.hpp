#pragma once

// The deterministic actor-test fixture of notes/style.md §3.4: CAF's
// `testing` scheduler runs jobs only when the test says so, which makes
// message order reproducible. CAF's own test DSL crashes under doctest, so
// this is the small hand-written replacement.

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/scheduler/test_coordinator.hpp>
#include <caf/scoped_actor.hpp>

#include <doctest/doctest.h>

#include "actors/system_config.hpp"

namespace overlayd::test {

struct deterministic_fixture {
  static caf::actor_system_config& init(caf::actor_system_config& c) {
    actors::configure(c, 1);
    c.set("scheduler.policy", caf::atom("testing"));
    c.set("logger.file-verbosity", caf::atom("quiet"));
    return c;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  /// Runs every pending job (the engine's actors arm no timers).
  void run() {
    while (sched.has_job())
      sched.run();
  }

  /// Sends one request from a scoped actor, runs the system and returns
  /// the reply (or fails the test).
  template <class Result, class Handle, class... Ts>
  Result ask(const Handle& dest, Ts&&... xs) {
    Result out{};
    caf::scoped_actor self{sys, true};
    auto rh = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    run();
    bool got = false;
    rh.receive(
      [&](Result& r) {
        out = std::move(r);
        got = true;
      },
      [&](caf::error& e) { FAIL("unexpected error: " << sys.render(e)); });
    REQUIRE(got);
    return out;
  }

  /// The same for a request that is expected to fail; returns the error.
  template <class Result, class Handle, class... Ts>
  caf::error ask_error(const Handle& dest, Ts&&... xs) {
    caf::error out;
    caf::scoped_actor self{sys, true};
    auto rh = self->request(dest, caf::infinite, std::forward<Ts>(xs)...);
    run();
    rh.receive([&](Result&) { FAIL("expected an error"); },
               [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  /// Access to an actor's state (`deref<T>(hdl).state`).
  template <class T, class Handle>
  T& deref(const Handle& hdl) {
    return dynamic_cast<T&>(*caf::actor_cast<caf::abstract_actor*>(hdl));
  }
};

} // namespace overlayd::test
