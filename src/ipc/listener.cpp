#include "ipc/listener.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace overlayd::ipc {

namespace {

std::string sys_error(const std::string& what, int err) {
  return "io error: " + what + ": " + std::strerror(err);
}

// `mkdir -p` with the default mode (umask applies).
bool make_dirs(const std::string& dir, std::string& error) {
  if (dir.empty())
    return true;
  for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/')
      continue;
    auto prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) {
      error = sys_error("creating directory " + prefix, errno);
      return false;
    }
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = "io error: " + dir + " is not a directory";
    return false;
  }
  return true;
}

} // namespace

net::expected<unix_listener> open_unix_listener(const std::string& path,
                                                const listener_options& opts) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return net::unexpected{
      "io error: socket path " + path + " is empty or longer than "
      + std::to_string(sizeof(addr.sun_path) - 1) + " bytes"};
  std::memcpy(addr.sun_path, path.data(), path.size());

  // 1. A stale socket (or anything else) at the path goes.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && ::unlink(path.c_str()) != 0)
    return net::unexpected{sys_error("removing stale " + path, errno)};

  // 2. Parent directories.
  if (auto slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    std::string err;
    if (!make_dirs(path.substr(0, slash), err))
      return net::unexpected{std::move(err)};
  }

  // 3. bind + listen.
  int type
    = SOCK_STREAM | SOCK_CLOEXEC | (opts.nonblocking ? SOCK_NONBLOCK : 0);
  int fd = ::socket(AF_UNIX, type, 0);
  if (fd < 0)
    return net::unexpected{sys_error("socket", errno)};
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0
      || ::listen(fd, opts.backlog) != 0) {
    auto err = sys_error("binding " + path, errno);
    ::close(fd);
    return net::unexpected{std::move(err)};
  }

  unix_listener out{fd, {}};
  // 4. Owner and group may connect; failures are not fatal.
  if (::chmod(path.c_str(), 0660) != 0)
    out.warnings.push_back(sys_error("chmod 0660 " + path, errno));
  // 5. The per-user main daemon connects as a member of this group.
  if (!opts.group.empty()) {
    if (const group* g = ::getgrnam(opts.group.c_str())) {
      if (::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
        out.warnings.push_back(
          sys_error("chgrp " + opts.group + " " + path, errno));
    }
  }
  return out;
}

} // namespace overlayd::ipc
