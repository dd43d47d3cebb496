#include "drivers/host/command_runner.hpp"

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace overlayd::drivers {

namespace {

/// A pipe whose ends close on scope exit unless released.
struct pipe_pair {
  int fds[2] = {-1, -1};
  ~pipe_pair() {
    for (int fd : fds)
      if (fd >= 0)
        ::close(fd);
  }
  bool open() { return ::pipe2(fds, O_CLOEXEC) == 0; }
  void close_write() {
    ::close(fds[1]);
    fds[1] = -1;
  }
};

/// Reads both pipes until both reach EOF, without deadlocking when the child
/// fills one of them.
void drain(int out_fd, int err_fd, std::string& out, std::string& err) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  std::string* sinks[2] = {&out, &err};
  int open_count = 2;
  char buf[4096];
  while (open_count > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0)
        continue;
      auto n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
}

} // namespace

std::string describe_argv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty())
      out += ' ';
    out += a;
  }
  return out;
}

result<command_output>
exec_command_runner::run(const std::vector<std::string>& argv) {
  const auto what = describe_argv(argv);
  if (argv.empty())
    return error{error_kind::invalid_argument, EINVAL, "run_command", what,
                 "empty argv"};
  pipe_pair out_pipe, err_pipe;
  if (!out_pipe.open() || !err_pipe.open())
    return error::from_errno(errno, "run_command", what);
  // posix_spawn (vfork-like in glibc) instead of fork: it is safe from a
  // multi-threaded process and fails cleanly when argv[0] is missing.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe.fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe.fds[1], 2);
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc
    = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return error::from_errno(rc, "run_command", what);
  out_pipe.close_write();
  err_pipe.close_write();
  command_output result;
  drain(out_pipe.fds[0], err_pipe.fds[0], result.out, result.err);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0) {
    if (errno != EINTR)
      return error::from_errno(errno, "run_command", what);
  }
  if (WIFEXITED(wstatus))
    result.exit_code = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus))
    result.exit_code = 128 + WTERMSIG(wstatus);
  return result;
}

} // namespace overlayd::drivers
