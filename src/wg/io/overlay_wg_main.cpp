// overlay-wg: a standalone userspace WireGuard interface that behaves like
// `wireguard-go IFNAME`, so wg(8) and wg-quick(8) can drive it
// (WG_QUICK_USERSPACE_IMPLEMENTATION=overlay-wg).
//
// Environment: LOG_LEVEL=verbose|debug|error|silent and
// WG_PROCESS_FOREGROUND=1 as for wireguard-go; OVERLAY_WG_NO_OFFLOAD=1
// turns off the TUN and UDP offloads, OVERLAY_WG_SERIAL_CRYPTO=1 keeps the
// crypto on the reader threads (both for diagnosis and comparison).

#include "wg/io/device.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <string>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace {

void usage(const char* argv0) {
  std::fprintf(stderr, "Usage: %s [-f/--foreground] INTERFACE-NAME\n", argv0);
}

void apply_log_level() {
  // Same variable and values as wireguard-go.
  const char* level = std::getenv("LOG_LEVEL");
  std::string value = level != nullptr ? level : "error";
  if (value == "verbose" || value == "debug")
    spdlog::set_level(spdlog::level::debug);
  else if (value == "silent")
    spdlog::set_level(spdlog::level::off);
  else
    spdlog::set_level(spdlog::level::warn); // wireguard-go: errors only
}

// Detaches from the terminal; the parent returns only after the device
// exists and its UAPI socket listens, so `wg setconf` may follow at once.
bool daemonize() {
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    return false;
  }
  if (pid > 0)
    ::_exit(0); // no destructors: the child owns the device now
  ::setsid();
  if (::chdir("/") != 0) {
    // keep going: the working directory does not matter
  }
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::close(null);
  }
  return true;
}

} // namespace

int main(int argc, char** argv) {
  bool foreground = false;
  std::string ifname;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-f" || arg == "--foreground") {
      foreground = true;
    } else if (arg == "--version") {
      std::printf("overlay-wg (overlayd userspace WireGuard)\n");
      return 0;
    } else if (ifname.empty() && !arg.empty() && arg[0] != '-') {
      ifname = arg;
    } else {
      usage(argv[0]);
      return 1;
    }
  }
  if (ifname.empty()) {
    usage(argv[0]);
    return 1;
  }
  if (const char* env = std::getenv("WG_PROCESS_FOREGROUND");
      env != nullptr && std::string{env} == "1")
    foreground = true;
  apply_log_level();

  // Block the stop signals in every thread; the main thread takes them
  // from a signalfd.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  int gone_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  overlayd::wg::device_config cfg;
  cfg.ifname = ifname;
  if (const char* off = std::getenv("OVERLAY_WG_NO_OFFLOAD");
      off != nullptr && std::string{off} == "1")
    cfg.offloads = false;
  if (const char* one = std::getenv("OVERLAY_WG_SERIAL_CRYPTO");
      one != nullptr && std::string{one} == "1")
    cfg.parallel_crypto = false;
  cfg.on_interface_gone = [gone_fd] {
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(gone_fd, &one, sizeof one);
  };
  auto dev = overlayd::wg::device::create(std::move(cfg));
  if (!dev) {
    std::fprintf(stderr, "overlay-wg: failed to create interface %s: %s\n",
                 ifname.c_str(), dev.error().message.c_str());
    return 1;
  }
  if (!foreground && !daemonize())
    return 1;
  (*dev)->start();
  spdlog::debug("{}: device started, listening on UDP port {}", (*dev)->name(),
                (*dev)->listen_port());

  int sig_fd = ::signalfd(-1, &stop_signals, SFD_CLOEXEC);
  for (;;) {
    pollfd fds[2] = {{sig_fd, POLLIN, 0}, {gone_fd, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno == EINTR)
      continue;
    if (fds[0].revents != 0 || fds[1].revents != 0)
      break;
  }
  auto c = (*dev)->counters();
  spdlog::debug("{}: shutting down; tun reads {}, tun writes {}, udp batches {}"
                ", datagrams in {}, datagrams out {}",
                (*dev)->name(), c.tun_reads, c.tun_writes,
                c.udp_batches_received, c.datagrams_received, c.datagrams_sent);
  (*dev)->stop();
  return 0;
}
