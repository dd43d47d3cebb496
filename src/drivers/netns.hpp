#pragma once

// Network namespaces: pinning one by fd and running work inside it on a
// dedicated thread, so that no caller's thread ever changes namespace.

#include "drivers/error.hpp"
#include "drivers/link_driver.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <sys/types.h>
#include <thread>

namespace overlayd::drivers {

/// A network namespace opened once (`/proc/<pid>/ns/net` or a named path) and
/// kept open by fd: the namespace stays alive and the same one is reached by
/// every later operation, however the pid or name changes meanwhile.
class pinned_netns : public netns_handle,
                     public std::enable_shared_from_this<pinned_netns> {
public:
  /// Opens the namespace. A pid that does not exist (or whose namespace is no
  /// longer reachable) or a missing path is `namespace_gone`; a pid <= 0 or a
  /// path that is not a network namespace is `invalid_argument`.
  static result<std::shared_ptr<pinned_netns>> open(const netns_spec& spec);

  ~pinned_netns() override;
  pinned_netns(const pinned_netns&) = delete;
  pinned_netns& operator=(const pinned_netns&) = delete;

  const netns_spec& spec() const noexcept override { return spec_; }
  bool origin_alive() const override;

  /// The pinned fd (owned by this object).
  int fd() const noexcept { return fd_; }
  /// The path opened: `/proc/<pid>/ns/net` or the named path.
  const std::string& origin_path() const noexcept { return path_; }

  /// The error calls report once `origin_alive()` is false.
  error gone_error(std::string_view op, std::string_view object) const;

private:
  pinned_netns(netns_spec spec, std::string path, int fd, dev_t dev, ino_t ino);

  netns_spec spec_;
  std::string path_;
  int fd_;
  dev_t dev_;
  ino_t ino_;
};

/// A thread that entered a namespace with setns() and runs submitted work
/// there, one item at a time, until destroyed.
class netns_thread {
public:
  /// Starts the thread and enters `ns`; setns failure is returned here.
  static result<std::unique_ptr<netns_thread>>
  start(std::shared_ptr<pinned_netns> ns);

  ~netns_thread();
  netns_thread(const netns_thread&) = delete;
  netns_thread& operator=(const netns_thread&) = delete;

  /// Runs `work` on the namespace thread and waits for it.
  void run(const std::function<void()>& work);

  /// Runs `work` on the namespace thread and returns what it returned.
  template <class F>
  auto call(F&& work) -> decltype(work()) {
    std::optional<decltype(work())> out;
    run([&] { out.emplace(work()); });
    return std::move(*out);
  }

  const pinned_netns& netns() const noexcept { return *ns_; }

private:
  explicit netns_thread(std::shared_ptr<pinned_netns> ns);
  void loop(std::promise<status>& entered);

  std::shared_ptr<pinned_netns> ns_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace overlayd::drivers
