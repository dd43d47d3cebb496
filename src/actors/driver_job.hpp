#pragma once

// The unit of work a driver worker runs, and what it answers. A job is a
// closure over the host driver, tagged with the resource whose calls must
// stay in arrival order (a link, a bridge, a container's namespace). Its
// answer carries either the closure's value or the driver's own error, so
// a caller sees kind, errno and the kernel's text exactly as the driver
// reported them. Both types only ever travel inside this process.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>

#include "actors/request_gate.hpp"
#include "drivers/error.hpp"

namespace overlayd::drivers {
class host_driver;
} // namespace overlayd::drivers

namespace overlayd::actors {

/// What one driver job produced: the closure's value (none for a `status`
/// job) or the driver error it returned.
class driver_outcome {
public:
  /// Success without a value.
  driver_outcome() = default;

  /// A failure carrying the driver's error unchanged.
  explicit driver_outcome(drivers::error err) : error_(std::move(err)) {
    // nop
  }

  /// Wraps a driver result: its value, or its error.
  template <class T>
  static driver_outcome of(drivers::result<T> r) {
    if (!r)
      return driver_outcome{r.error()};
    driver_outcome out;
    out.value_ = std::make_shared<T>(std::move(r).value());
    out.type_ = &typeid(T);
    return out;
  }

  /// Wraps a driver status.
  static driver_outcome of(drivers::status s) {
    return s ? driver_outcome{} : driver_outcome{s.error()};
  }

  bool ok() const noexcept { return !error_.has_value(); }

  /// The driver's error; null on success.
  const drivers::error* failure() const noexcept {
    return error_ ? &*error_ : nullptr;
  }

  /// The outcome as the driver result the job's closure returned. Asking
  /// for another type than the closure's is a caller bug and comes back as
  /// an `invalid_argument` error that says so. Copyable values are copied
  /// (a message may be shared), move-only ones (a pinned namespace) are
  /// moved out, so those can be taken once.
  template <class T>
  drivers::result<T> get() {
    if (error_)
      return *error_;
    if (!value_ || *type_ != typeid(T))
      return type_mismatch(typeid(T).name());
    auto& value = *static_cast<T*>(value_.get());
    if constexpr (std::is_copy_constructible_v<T>)
      return drivers::result<T>{T{value}};
    else
      return drivers::result<T>{std::move(value)};
  }

private:
  drivers::error type_mismatch(const char* wanted) const;

  // A shared_ptr<void> rather than std::any: results such as a pinned
  // namespace handle are move-only.
  std::shared_ptr<void> value_;
  const std::type_info* type_ = nullptr;
  std::optional<drivers::error> error_;
};

/// `get<void>` is the job's status.
template <>
inline drivers::status driver_outcome::get<void>() {
  if (error_)
    return *error_;
  return {};
}

/// One call (or a short sequence of calls) to run against the host driver.
struct driver_job {
  /// Jobs on the same named resource run one at a time in arrival order;
  /// different resources run concurrently; a `global()` job runs alone.
  resource order;
  /// What the job does, for logs and for errors the pool itself reports
  /// ("create_bridge").
  std::string label;
  /// Runs on a worker thread. It must not touch actor state: it gets only
  /// the driver, and whatever it captured by value.
  std::function<driver_outcome(drivers::host_driver&)> work;
};

/// Builds a job from a closure returning a `drivers::result<T>` or a
/// `drivers::status`, e.g.
/// `make_driver_job(resource::named(br), "create_bridge",
///   [br](drivers::host_driver& h) { return h.links().create_bridge(br); })`.
template <class F>
driver_job make_driver_job(resource order, std::string label, F work) {
  return driver_job{std::move(order), std::move(label),
                    [f = std::move(work)](drivers::host_driver& host) mutable {
                      return driver_outcome::of(f(host));
                    }};
}

/// Counters of one worker (notes/style.md lesson 6).
struct driver_worker_stats {
  /// Position in the pool, from 0.
  uint32_t index = 0;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
};

/// What a pool is doing and has done.
struct driver_pool_stats {
  /// One entry per worker, by index.
  std::vector<driver_worker_stats> workers;
  /// Jobs handed to a worker and not answered yet.
  uint64_t running = 0;
  /// Jobs waiting for their resource or for a free worker.
  uint64_t waiting = 0;
};

} // namespace overlayd::actors

// Closures and driver errors never leave the process: no serialization.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::driver_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::driver_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::driver_worker_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(overlayd::actors::driver_pool_stats)
