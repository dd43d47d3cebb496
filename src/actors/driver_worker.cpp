#include "actors/driver_worker.hpp"

#include <exception>
#include <memory>
#include <utility>

#include <caf/error.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "drivers/host/host_driver.hpp"

namespace overlayd::actors {

namespace {

drivers::error job_error(const driver_job& job, std::string detail) {
  return drivers::error{drivers::error_kind::system, 0, job.label,
                        job.order.key, std::move(detail)};
}

// A throwing job must not take the worker (and, linked, the pool and its
// owner) down with it: the exception becomes the job's failure.
driver_outcome run_job(const driver_job& job, drivers::host_driver& host) {
  if (!job.work)
    return driver_outcome{job_error(job, "the job has nothing to run")};
  try {
    return job.work(host);
  } catch (const std::exception& e) {
    return driver_outcome{job_error(job, std::string{"threw: "} + e.what())};
  } catch (...) {
    return driver_outcome{job_error(job, "threw a non-standard exception")};
  }
}

} // namespace

drivers::error driver_outcome::type_mismatch(const char* wanted) const {
  std::string detail = "the job's result is ";
  detail += type_ ? type_->name() : "void";
  detail += ", not ";
  detail += wanted;
  return drivers::error{drivers::error_kind::invalid_argument, 0,
                        "driver_outcome", "", std::move(detail)};
}

drivers::error driver_request_failed(const driver_job& job,
                                     const caf::error& err) {
  return job_error(job, "driver request failed: " + caf::to_string(err));
}

// -- worker -------------------------------------------------------------------

driver_worker_actor::behavior_type
driver_worker(driver_worker_actor::stateful_pointer<driver_worker_state> self,
              uint32_t index, drivers::host_driver* host) {
  self->state.host = host;
  self->state.stats.index = index;
  return {
    [self](atom::drv_run, const driver_job& job) -> driver_outcome {
      auto out = run_job(job, *self->state.host);
      auto& stats = self->state.stats;
      if (out.ok())
        ++stats.succeeded;
      else
        ++stats.failed;
      return out;
    },
    [self](atom::drv_stats) { return self->state.stats; },
  };
}

// -- pool ---------------------------------------------------------------------

driver_pool_state::~driver_pool_state() {
  // CAF 0.17 drops a promise that is never delivered without telling the
  // requester, which would then wait forever.
  for (auto& [id, job] : jobs)
    job.promise.deliver(caf::make_error(caf::sec::request_receiver_down));
  // Linked workers already exit with any abnormal reason of the pool; this
  // also covers a normal exit, which links do not propagate.
  for (auto& worker : workers)
    caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
}

void driver_pool_state::submit(
  driver_job job, caf::typed_response_promise<driver_outcome> promise) {
  auto admission = gate.submit(job.order);
  jobs.emplace(admission.id, pending{std::move(job), std::move(promise)});
  if (admission.start_now)
    ready.push_back(admission.id);
  dispatch();
}

void driver_pool_state::dispatch() {
  while (!ready.empty() && !idle.empty()) {
    auto id = ready.front();
    ready.pop_front();
    auto worker = idle.front();
    idle.pop_front();
    auto& job = jobs.at(id).job;
    // The pool keeps the label and key for `driver_request_failed`; the
    // closure itself travels to the worker.
    driver_job header{job.order, job.label, {}};
    self
      ->request(workers[worker], caf::infinite, atom::drv_run_v, std::move(job))
      .then([this, worker,
             id](driver_outcome& out) { complete(worker, id, std::move(out)); },
            [this, worker, id, header](caf::error& err) {
              complete(worker, id,
                       driver_outcome{driver_request_failed(header, err)});
            });
  }
}

void driver_pool_state::complete(uint32_t worker, request_gate::ticket id,
                                 driver_outcome outcome) {
  auto node = jobs.extract(id);
  if (!node.empty())
    node.mapped().promise.deliver(std::move(outcome));
  idle.push_back(worker);
  for (auto next : gate.finish(id))
    ready.push_back(next);
  dispatch();
}

driver_pool_actor::behavior_type
driver_pool(driver_pool_actor::stateful_pointer<driver_pool_state> self,
            drivers::host_driver* host, driver_pool_options options) {
  auto& st = self->state;
  auto count = options.workers == 0 ? std::size_t{1} : options.workers;
  for (uint32_t i = 0; i < count; ++i) {
    st.workers.push_back(
      options.detached
        ? self->spawn<caf::detached + caf::linked>(driver_worker, i, host)
        : self->spawn<caf::linked>(driver_worker, i, host));
    st.idle.push_back(i);
  }
  return {
    [self](atom::drv_run, driver_job& job) -> caf::result<driver_outcome> {
      auto rp = self->make_response_promise<driver_outcome>();
      self->state.submit(std::move(job), rp);
      return rp;
    },
    [self](atom::drv_stats) -> caf::result<driver_pool_stats> {
      // Fan-in: each worker answers between two jobs, from its own state.
      auto& st = self->state;
      auto rp = self->make_response_promise<driver_pool_stats>();
      auto acc = std::make_shared<driver_pool_stats>();
      acc->workers.resize(st.workers.size());
      acc->running = st.workers.size() - st.idle.size();
      acc->waiting = st.jobs.size() - acc->running;
      auto left = std::make_shared<std::size_t>(st.workers.size());
      for (std::size_t i = 0; i < st.workers.size(); ++i) {
        self->request(st.workers[i], caf::infinite, atom::drv_stats_v)
          .then(
            [rp, acc, left, i](driver_worker_stats& s) mutable {
              acc->workers[i] = s;
              if (--*left == 0)
                rp.deliver(std::move(*acc));
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      }
      return rp;
    },
  };
}

} // namespace overlayd::actors
