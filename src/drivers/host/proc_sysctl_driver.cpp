#include "drivers/host/proc_sysctl_driver.hpp"

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

#include "drivers/host/sysctl_name.hpp"

namespace overlayd::drivers {

namespace {

/// Closes a file descriptor when the scope ends.
class fd_guard {
public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const noexcept { return fd_; }

private:
  int fd_;
};

} // namespace

proc_sysctl_driver::proc_sysctl_driver(std::string root)
  : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/')
    root_.pop_back();
}

result<std::string> proc_sysctl_driver::read(std::string_view key) {
  auto rel = sysctl_key_to_path(key);
  if (!rel)
    return rel.error();
  auto path = root_ + "/" + *rel;
  fd_guard fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.get() < 0)
    return error::from_errno(errno, "read_sysctl", std::string{key});
  std::string out;
  char buf[512];
  while (true) {
    auto n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return error::from_errno(errno, "read_sysctl", std::string{key});
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  return std::string{trim_sysctl_value(out)};
}

status proc_sysctl_driver::write(std::string_view key, std::string_view value) {
  auto rel = sysctl_key_to_path(key);
  if (!rel)
    return rel.error();
  auto path = root_ + "/" + *rel;
  // No O_CREAT: a key the kernel does not offer must fail, never appear.
  fd_guard fd{::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_TRUNC)};
  if (fd.get() < 0)
    return error::from_errno(errno, "write_sysctl", std::string{key});
  // procfs takes the whole value in one write; a short write is an error.
  auto n = ::write(fd.get(), value.data(), value.size());
  if (n < 0)
    return error::from_errno(errno, "write_sysctl", std::string{key});
  if (static_cast<size_t>(n) != value.size())
    return error{error_kind::system, EIO, "write_sysctl", std::string{key},
                 "short write"};
  return {};
}

} // namespace overlayd::drivers
