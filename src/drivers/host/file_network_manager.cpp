#include "drivers/host/file_network_manager.hpp"

#include <cerrno>
#include <fcntl.h>
#include <optional>
#include <sys/stat.h>
#include <unistd.h>

namespace overlayd::drivers {

namespace {

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

/// The file's content, or nullopt when it cannot be read (e.g. missing).
std::optional<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0)
    out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  if (n < 0)
    return std::nullopt;
  return out;
}

/// Writes `content` to `path` through `path.tmp` and rename(2), so readers
/// never see a partial file.
status write_atomically(const std::string& path, const std::string& content) {
  auto tmp = path + ".overlayd-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return error::from_errno(errno, "write_dropin", path);
  size_t done = 0;
  while (done < content.size()) {
    auto n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      auto err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return error::from_errno(err, "write_dropin", path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    auto err = errno;
    ::unlink(tmp.c_str());
    return error::from_errno(err, "write_dropin", path);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno;
    ::unlink(tmp.c_str());
    return error::from_errno(err, "write_dropin", path);
  }
  return {};
}

} // namespace

file_network_manager::file_network_manager(std::string root,
                                           command_runner* reload_runner,
                                           bool rootless)
  : root_(std::move(root)), reload_runner_(reload_runner), rootless_(rootless) {
  while (root_.size() > 1 && root_.back() == '/')
    root_.pop_back();
}

std::string file_network_manager::absolute(const std::string& relative) const {
  return root_ == "/" ? "/" + relative : root_ + "/" + relative;
}

void file_network_manager::reload(const dropin_file& file) {
  if (reload_runner_ != nullptr)
    (void)reload_runner_->run(file.reload_argv);
}

status file_network_manager::mark_overlay_interfaces_unmanaged() {
  if (rootless_)
    return {};
  std::optional<error> first;
  for (const auto& file : overlay_dropins()) {
    if (!is_directory(absolute(file.config_dir)))
      continue; // manager not installed
    auto path = absolute(file.path);
    if (read_file(path) == file.content)
      continue; // unchanged: no write, no reload
    if (auto st = write_atomically(path, file.content); !st) {
      if (!first)
        first = st.error();
      continue;
    }
    reload(file);
  }
  if (first)
    return *first;
  return {};
}

status file_network_manager::unmark_overlay_interfaces_unmanaged() {
  if (rootless_)
    return {};
  std::optional<error> first;
  for (const auto& file : overlay_dropins()) {
    auto path = absolute(file.path);
    if (::unlink(path.c_str()) != 0) {
      if (errno != ENOENT && errno != ENOTDIR && !first)
        first = error::from_errno(errno, "remove_dropin", path);
      continue;
    }
    reload(file);
  }
  if (first)
    return *first;
  return {};
}

} // namespace overlayd::drivers
