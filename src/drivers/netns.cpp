#include "drivers/netns.hpp"

#include <cerrno>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace overlayd::drivers {

namespace {

std::string origin_path_of(const netns_spec& spec) {
  if (auto* pid = std::get_if<pid_t>(&spec.where))
    return "/proc/" + std::to_string(*pid) + "/ns/net";
  return std::get<std::string>(spec.where);
}

bool is_pid_spec(const netns_spec& spec) {
  return std::holds_alternative<pid_t>(spec.where);
}

} // namespace

result<std::shared_ptr<pinned_netns>>
pinned_netns::open(const netns_spec& spec) {
  constexpr std::string_view op = "pin_netns";
  auto object = spec.describe();
  if (auto* pid = std::get_if<pid_t>(&spec.where); pid && *pid <= 0)
    return error{error_kind::invalid_argument, 0, std::string{op}, object,
                 "pid must be positive"};
  if (!is_pid_spec(spec) && std::get<std::string>(spec.where).empty())
    return error{error_kind::invalid_argument, 0, std::string{op}, object,
                 "empty namespace path"};
  auto path = origin_path_of(spec);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    // ENOENT: no such process / name. ESRCH: the process is exiting.
    // EACCES/EPERM on a zombie or non-dumpable process are reported as is.
    if (e == ENOENT || e == ESRCH)
      return error{error_kind::namespace_gone, e, std::string{op}, object,
                   is_pid_spec(spec)
                     ? "process does not exist (cannot open " + path + ")"
                     : "no network namespace at " + path};
    return error{kind_from_errno(e) == error_kind::permission_denied
                   ? error_kind::permission_denied
                   : error_kind::system,
                 e, std::string{op}, object, "cannot open " + path};
  }
  // Refuse anything that is not a network namespace (a regular file, a
  // mount namespace...) before it reaches setns() or IFLA_NET_NS_FD.
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    int e = type < 0 ? errno : 0;
    ::close(fd);
    return error{error_kind::invalid_argument, e, std::string{op}, object,
                 path + " is not a network namespace"};
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return error{error_kind::system, e, std::string{op}, object,
                 "fstat " + path};
  }
  return std::shared_ptr<pinned_netns>{
    new pinned_netns{spec, std::move(path), fd, st.st_dev, st.st_ino}};
}

pinned_netns::pinned_netns(netns_spec spec, std::string path, int fd, dev_t dev,
                           ino_t ino)
  : spec_(std::move(spec)), path_(std::move(path)), fd_(fd), dev_(dev),
    ino_(ino) {
  // nop
}

pinned_netns::~pinned_netns() {
  ::close(fd_);
}

bool pinned_netns::origin_alive() const {
  // The origin still names our namespace iff it resolves to the same nsfs
  // inode: a dead pid fails to resolve, a reused pid or a re-created name
  // resolves to another inode.
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0)
    return false;
  return st.st_dev == dev_ && st.st_ino == ino_;
}

error pinned_netns::gone_error(std::string_view op,
                               std::string_view object) const {
  std::string detail
    = is_pid_spec(spec_)
        ? "the network namespace of " + spec_.describe()
            + " disappeared (the process exited)"
        : "the network namespace " + path_ + " disappeared (it was removed)";
  return error{error_kind::namespace_gone, 0, std::string{op},
               std::string{object}, std::move(detail)};
}

// -- netns_thread -------------------------------------------------------------

netns_thread::netns_thread(std::shared_ptr<pinned_netns> ns)
  : ns_(std::move(ns)) {
  // nop
}

result<std::unique_ptr<netns_thread>>
netns_thread::start(std::shared_ptr<pinned_netns> ns) {
  std::unique_ptr<netns_thread> self{new netns_thread{std::move(ns)}};
  std::promise<status> entered;
  auto entered_future = entered.get_future();
  try {
    self->thread_
      = std::thread([raw = self.get(), &entered] { raw->loop(entered); });
  } catch (const std::system_error& e) {
    return error{error_kind::system, e.code().value(), "enter_netns",
                 self->ns_->spec().describe(), "cannot start thread"};
  }
  auto st = entered_future.get();
  if (!st)
    return st.error(); // ~netns_thread joins the finished thread
  return self;
}

void netns_thread::loop(std::promise<status>& entered) {
  // setns() affects only this thread; the thread is ours alone and dies with
  // this object, so no pooled or caller thread ever changes namespace.
  if (setns(ns_->fd(), CLONE_NEWNET) != 0) {
    int e = errno;
    entered.set_value(error{kind_from_errno(e) == error_kind::permission_denied
                              ? error_kind::permission_denied
                              : error_kind::system,
                            e, "enter_netns", ns_->spec().describe(),
                            "setns failed"});
    return;
  }
  entered.set_value({});
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock guard{mtx_};
      cv_.wait(guard, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty())
        return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void netns_thread::run(const std::function<void()>& work) {
  std::promise<void> done;
  auto done_future = done.get_future();
  {
    std::lock_guard guard{mtx_};
    queue_.emplace_back([&work, &done] {
      try {
        work();
        done.set_value();
      } catch (...) {
        done.set_exception(std::current_exception());
      }
    });
  }
  cv_.notify_one();
  done_future.get();
}

netns_thread::~netns_thread() {
  {
    std::lock_guard guard{mtx_};
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable())
    thread_.join();
}

} // namespace overlayd::drivers
