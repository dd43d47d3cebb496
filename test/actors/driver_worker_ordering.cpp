// The driver pool's ordering rules on the deterministic scheduler, with
// workers spawned without `detached` so the test decides which actor runs
// when: a job on one resource never overtakes an earlier job on the same
// resource, a job on another resource does not wait for it, and a global
// job runs alone.
#include "actors/driver_worker.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <map>
#include <string>
#include <vector>

#include "deterministic.hpp"
#include "drivers/host/twin.hpp"

using namespace overlayd;
using actors::driver_job;
using actors::driver_outcome;
using actors::driver_pool_actor;
using actors::driver_pool_state;
using actors::resource;

namespace {

// Sends each job to the pool and files its answer under the job's name,
// so that a missing answer fails the test instead of blocking it.
caf::behavior collect(caf::event_based_actor* self, driver_pool_actor pool,
                      std::map<std::string, driver_outcome>* outcomes) {
  return {
    [=](std::string& name, driver_job& job) {
      self->request(pool, caf::infinite, atom::drv_run_v, std::move(job))
        .then(
          [=](driver_outcome& out) {
            outcomes->insert_or_assign(name, std::move(out));
          },
          [=](caf::error& err) {
            outcomes->insert_or_assign(
              name, driver_outcome{drivers::error{drivers::error_kind::system,
                                                  0, "pool", name,
                                                  caf::to_string(err)}});
          });
    },
  };
}

// A base listed before the actor system, so the twin outlives the actors
// that point at it.
struct twin_holder {
  drivers::twin_host twin;
};

struct ordering_fixture : twin_holder, test::deterministic_fixture {
  // Jobs run on the test thread here, so a plain vector is enough.
  std::vector<std::string> ran;
  driver_pool_actor pool = sys.spawn(actors::driver_pool, &twin.root(),
                                     actors::driver_pool_options{2, false});
  // Outcomes by job name, as the collector received them.
  std::map<std::string, driver_outcome> outcomes;
  caf::actor collector = sys.spawn(collect, pool, &outcomes);

  ~ordering_fixture() {
    caf::anon_send_exit(collector, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(pool, caf::exit_reason::user_shutdown);
    run();
  }

  using pool_impl
    = caf::stateful_actor<driver_pool_state, driver_pool_actor::base>;
  driver_pool_state& pool_state() { return deref<pool_impl>(pool).state; }

  /// Runs `hdl` until its mailbox is empty, and nothing else.
  template <class Handle>
  void drain(const Handle& hdl) {
    while (sched.prioritize(hdl))
      sched.run_once();
  }

  template <class Handle>
  bool has_mail(const Handle& hdl) {
    auto* a = caf::actor_cast<caf::abstract_actor*>(hdl);
    return dynamic_cast<caf::scheduled_actor&>(*a)
             .peek_at_next_mailbox_element()
           != nullptr;
  }

  driver_job bridge(std::string key, std::string name) {
    return actors::make_driver_job(resource::named(key), "create_bridge",
                                   [this, name](drivers::host_driver& h) {
                                     ran.push_back("create " + name);
                                     return h.links().create_bridge(name);
                                   });
  }

  driver_job up(std::string key, std::string name) {
    return actors::make_driver_job(resource::named(key), "set_link_up",
                                   [this, name](drivers::host_driver& h) {
                                     ran.push_back("up " + name);
                                     return h.links().set_link_up(name);
                                   });
  }

  /// Hands `job` to the pool through the collector, as job `name`.
  void submit(std::string name, driver_job job) {
    caf::anon_send(collector, std::move(name), std::move(job));
    drain(collector);
  }

  /// The answer to job `name`; fails the test if there is none yet.
  driver_outcome outcome(const std::string& name) {
    auto i = outcomes.find(name);
    REQUIRE_MESSAGE(i != outcomes.end(), "no answer to " << name);
    return i->second;
  }
};

} // namespace

TEST_CASE_FIXTURE(ordering_fixture,
                  "a job on another link overtakes a waiting job on a busy "
                  "link, and same-link jobs keep their order") {
  run();
  submit("a1", bridge("zl-a", "zl-a"));
  submit("a2", up("zl-a", "zl-a"));
  submit("b1", bridge("zl-b", "zl-b"));
  drain(pool);
  auto& st = pool_state();
  auto w0 = st.workers.at(0);
  auto w1 = st.workers.at(1);
  // Both workers got a job; the second job on zl-a waits in the pool.
  CHECK(st.idle.empty());
  CHECK(st.ready.empty());
  CHECK(st.gate.waiting() == 1);
  CHECK(has_mail(w0));
  CHECK(has_mail(w1));
  CHECK(ran.empty());
  // zl-b's worker finishes first; its answer leaves while zl-a is busy.
  drain(w1);
  drain(pool);
  CHECK(ran == std::vector<std::string>{"create zl-b"});
  drain(collector);
  CHECK(outcome("b1").ok());
  CHECK(outcomes.count("a1") == 0);
  // The free worker does not take zl-a's second job ahead of its first.
  CHECK_FALSE(has_mail(w1));
  CHECK(st.gate.waiting() == 1);
  run();
  CHECK(ran
        == std::vector<std::string>{"create zl-b", "create zl-a", "up zl-a"});
  CHECK(outcome("a1").ok());
  CHECK(outcome("a2").ok());
  CHECK(st.jobs.empty());
  CHECK(st.idle.size() == 2);
  auto link = twin.root().links().get_link("zl-a");
  REQUIRE(link);
  CHECK(link->up);
}

TEST_CASE_FIXTURE(ordering_fixture,
                  "without the pool's ordering the second call would fail") {
  // The control for the test above: run on its own, `up` finds no link.
  run();
  submit("a2", up("zl-a", "zl-a"));
  run();
  auto out = outcome("a2");
  REQUIRE_FALSE(out.ok());
  CHECK(out.failure()->kind() == drivers::error_kind::not_found);
}

TEST_CASE_FIXTURE(ordering_fixture,
                  "a global job waits for earlier jobs and holds back later "
                  "ones") {
  run();
  submit("a1", bridge("zl-a", "zl-a"));
  submit("g", actors::make_driver_job(resource::global(), "list_links",
                                      [this](drivers::host_driver& h) {
                                        ran.push_back("global");
                                        return h.links().list_links();
                                      }));
  submit("b1", bridge("zl-b", "zl-b"));
  drain(pool);
  auto& st = pool_state();
  // Only zl-a's job is out, although the second worker is free.
  CHECK(st.idle.size() == 1);
  CHECK(st.gate.waiting() == 2);
  run();
  CHECK(ran
        == std::vector<std::string>{"create zl-a", "global", "create zl-b"});
  auto links = outcome("g").get<std::vector<drivers::link_info>>();
  REQUIRE(links);
  // The global job saw zl-a (before it) and not zl-b (after it).
  std::vector<std::string> names;
  for (auto& l : *links)
    names.push_back(l.name);
  CHECK(names == std::vector<std::string>{"lo", "zl-a"});
  CHECK(outcome("a1").ok());
  CHECK(outcome("b1").ok());
}

TEST_CASE_FIXTURE(ordering_fixture,
                  "unordered jobs take any free worker, in arrival order") {
  run();
  auto probe = [this](int i) {
    return actors::make_driver_job(
      resource::unordered(), "link_exists", [this, i](drivers::host_driver& h) {
        ran.push_back("probe " + std::to_string(i));
        return h.links().link_exists("lo");
      });
  };
  submit("p1", probe(1));
  submit("p2", probe(2));
  submit("p3", probe(3));
  drain(pool);
  auto& st = pool_state();
  CHECK(st.idle.empty());
  CHECK(st.ready.size() == 1);
  run();
  CHECK(ran == std::vector<std::string>{"probe 1", "probe 2", "probe 3"});
  for (auto* name : {"p1", "p2", "p3"}) {
    auto exists = outcome(name).get<bool>();
    REQUIRE(exists);
    CHECK(*exists);
  }
}

namespace {

// A client that uses `run_driver_job`, as the supervisor would: it files
// each typed result under a name.
caf::behavior typed_client(caf::event_based_actor* self, driver_pool_actor pool,
                           std::map<std::string, std::string>* seen) {
  return {
    [=](const std::string& link) {
      actors::run_driver_job<drivers::link_info>(
        self, pool,
        actors::make_driver_job(
          resource::named(link), "get_link",
          [link](drivers::host_driver& h) { return h.links().get_link(link); }),
        [=](drivers::result<drivers::link_info> r) {
          seen->insert_or_assign(link, r ? "ok " + r->name
                                         : "err " + r.error().what());
        });
    },
  };
}

} // namespace

TEST_CASE_FIXTURE(ordering_fixture,
                  "run_driver_job hands the caller the typed result or the "
                  "driver's error") {
  run();
  std::map<std::string, std::string> seen;
  auto client = sys.spawn(typed_client, pool, &seen);
  caf::anon_send(client, std::string{"lo"});
  caf::anon_send(client, std::string{"zl-none"});
  run();
  REQUIRE(seen.size() == 2);
  CHECK(seen["lo"] == "ok lo");
  CHECK(seen["zl-none"].rfind("err ", 0) == 0);
  CHECK(seen["zl-none"].find("zl-none") != std::string::npos);
  caf::anon_send_exit(client, caf::exit_reason::user_shutdown);
  run();
}
