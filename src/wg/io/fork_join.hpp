#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace overlayd::wg {

/// One helper thread for fork-join parallelism on the data path: a reader
/// thread hands half of a packet vector to the helper, works on the other
/// half itself, then joins. Outputs are emitted in vector order afterwards,
/// which keeps per-peer packet order while the crypto runs on two cores.
class fork_join {
public:
  fork_join();
  ~fork_join();
  fork_join(const fork_join&) = delete;
  fork_join& operator=(const fork_join&) = delete;

  /// Starts `job` on the helper thread. At most one job runs at a time.
  void fork(std::function<void()> job);
  /// Waits for the job started by fork().
  void join();

private:
  void run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool busy_ = false;
  bool quit_ = false;
  std::thread thread_;
};

} // namespace overlayd::wg
