#include "wg/io/fork_join.hpp"

namespace overlayd::wg {

fork_join::fork_join() : thread_([this] { run(); }) {
  // nop
}

fork_join::~fork_join() {
  {
    std::lock_guard<std::mutex> guard{mu_};
    quit_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void fork_join::fork(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> guard{mu_};
    job_ = std::move(job);
    busy_ = true;
  }
  cv_.notify_all();
}

void fork_join::join() {
  std::unique_lock<std::mutex> guard{mu_};
  cv_.wait(guard, [this] { return !busy_; });
}

void fork_join::run() {
  std::unique_lock<std::mutex> guard{mu_};
  for (;;) {
    cv_.wait(guard, [this] { return quit_ || (busy_ && job_); });
    if (quit_)
      return;
    auto job = std::move(job_);
    job_ = nullptr;
    guard.unlock();
    job();
    guard.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

} // namespace overlayd::wg
