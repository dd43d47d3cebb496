// overlayd: the per-node overlay daemon. Reads the config, picks the data
// directory and socket by ZLayer's rules, starts the engine and serves the
// IPC until an in-band `shutdown`, SIGINT or SIGTERM (the reference ignores
// SIGTERM, which makes `systemctl stop` a kill; here both stop the daemon
// cleanly). A signal stops the daemon's own threads and devices but leaves
// the host plumbing (bridges, veths, rules) for the next start to adopt: a
// restart must not cut running containers off. `shutdown` reverts it all.

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <pthread.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/embedded.hpp"
#include "app/daemon_config.hpp"
#include "drivers/host/twin.hpp"
#include "ipc/socket_path.hpp"
#include "replay/recorder.hpp"

#ifndef OVERLAYD_VERSION
#define OVERLAYD_VERSION "0.0.0-dev"
#endif

namespace {

constexpr int exit_usage = 2;

constexpr std::string_view usage_text
  = "usage: overlayd [--config PATH] [--data-dir PATH] [--socket PATH]\n"
    "                [--log-level LEVEL] [--service] [-h|--help] "
    "[-V|--version]\n"
    "\n"
    "  --config PATH      TOML configuration (see conf/overlayd.toml)\n"
    "  --data-dir PATH    data directory (default: $ZLAYER_DATA_DIR, else\n"
    "                     /var/lib/zlayer for root, $HOME/.zlayer "
    "otherwise)\n"
    "  --socket PATH      IPC socket (default: derived from the data "
    "directory)\n"
    "  --log-level LEVEL  trace, debug, info, warn, error, critical, off\n"
    "  --record FILE      record every IPC exchange to FILE (JSON lines,\n"
    "                     secrets redacted) for overlay-replay\n"
    "  --service          accepted for ZLayer compatibility; no effect here\n";

struct options {
  std::optional<std::string> config;
  std::optional<std::string> data_dir;
  std::optional<std::string> socket;
  std::optional<std::string> log_level;
  std::optional<std::string> record;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "overlayd: %s\n\n%.*s", what.c_str(),
               static_cast<int>(usage_text.size()), usage_text.data());
  std::exit(exit_usage);
}

options parse_args(int argc, char** argv) {
  options opts;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != arg.npos) {
      inline_value = arg.substr(eq + 1);
      arg.resize(eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value)
        return *inline_value;
      if (i + 1 >= argc)
        usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fwrite(usage_text.data(), 1, usage_text.size(), stdout);
      std::exit(0);
    } else if (arg == "-V" || arg == "--version") {
      std::printf("overlayd %s\n", OVERLAYD_VERSION);
      std::exit(0);
    } else if (arg == "--config") {
      opts.config = value();
    } else if (arg == "--data-dir") {
      opts.data_dir = value();
    } else if (arg == "--socket") {
      opts.socket = value();
    } else if (arg == "--log-level") {
      opts.log_level = value();
      if (!overlayd::app::is_log_level(*opts.log_level))
        usage_error("unknown log level \"" + *opts.log_level + "\"");
    } else if (arg == "--record") {
      opts.record = value();
    } else if (arg == "--service") {
      // Windows SCM mode in ZLayer; nothing to do on Linux.
    } else {
      usage_error("unknown argument \"" + arg + "\"");
    }
  }
  return opts;
}

void setup_logging(const std::string& level) {
  // The reference logs to stdout.
  auto logger = spdlog::stdout_color_mt("overlayd");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %v",
                      spdlog::pattern_time_type::utc);
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::trace);
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse_args(argc, argv);
  overlayd::app::daemon_config cfg;
  if (opts.config) {
    auto loaded = overlayd::app::load_daemon_config(*opts.config);
    if (!loaded) {
      std::fprintf(stderr, "overlayd: %s\n", loaded.error().c_str());
      return exit_usage;
    }
    cfg = std::move(*loaded);
  }
  // Flag > config file > ZLayer's defaults (which read $ZLAYER_DATA_DIR).
  auto data_dir_flag = opts.data_dir;
  if (!data_dir_flag && !cfg.data_dir.empty())
    data_dir_flag = cfg.data_dir;
  auto socket_flag = opts.socket;
  if (!socket_flag && !cfg.socket.empty())
    socket_flag = cfg.socket;
  auto env = overlayd::ipc::path_env::from_process();
  auto where
    = overlayd::ipc::resolve_endpoints(data_dir_flag, socket_flag, env);
  setup_logging(opts.log_level.value_or(cfg.log_level));

  // Signals are taken by one thread with sigwait; every other thread,
  // including those the engine starts, inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  spdlog::info("starting overlayd data_dir={} socket={}", where.data_dir,
               where.socket);
  overlayd::actors::engine_config engine_cfg;
  engine_cfg.data_dir = where.data_dir;
  engine_cfg.workers = cfg.workers;
  engine_cfg.driver_workers = cfg.driver_workers;
  engine_cfg.uapi_dir = cfg.uapi_dir;
  engine_cfg.nat_self_tick = cfg.nat_self_tick;
  engine_cfg.backend = cfg.backend == "twin"
                         ? overlayd::actors::host_backend::twin
                         : overlayd::actors::host_backend::real;
  std::shared_ptr<overlayd::replay::recorder> rec;
  if (auto file = opts.record.value_or(cfg.record_file); !file.empty()) {
    auto opened = overlayd::replay::recorder::open(
      {file,
       where.data_dir,
       {{"socket", where.socket}, {"workers", cfg.workers}},
       cfg.record_secrets});
    if (!opened) {
      spdlog::error("cannot record: {}", opened.error());
      return 1;
    }
    rec = std::move(*opened);
    spdlog::info("recording IPC exchanges to {}", file);
    engine_cfg.on_request_frame
      = [rec](uint64_t c, std::string_view b) { rec->on_request(c, b); };
    engine_cfg.on_response_bytes
      = [rec](uint64_t c, std::string_view b) { rec->on_response_bytes(c, b); };
    engine_cfg.on_connection_gone = [rec](uint64_t c) { rec->on_closed(c); };
  }
  auto started = overlayd::actors::engine::start(std::move(engine_cfg));
  if (!started) {
    spdlog::error("cannot start the engine: {}", started.error());
    return 1;
  }
  std::shared_ptr<overlayd::actors::engine> eng = std::move(*started);
  // Container processes of a twin dry run (e.g. a replayed session's
  // linux_pid containers); a real host has real ones.
  if (auto* twin = eng->twin(); twin != nullptr)
    for (auto pid : cfg.twin_processes)
      if (auto added = twin->add_process(static_cast<pid_t>(pid)); !added) {
        spdlog::error("twin process {}: {}", pid, added.error().what());
        return 1;
      }
  if (auto listening = eng->listen(where.socket); !listening) {
    spdlog::error("cannot serve the IPC: {}", listening.error());
    return 1;
  }
  spdlog::info("listening on {}", where.socket);

  std::weak_ptr<overlayd::actors::engine> weak = eng;
  std::thread{[weak, stop_signals] {
    int sig = 0;
    if (sigwait(&stop_signals, &sig) != 0)
      return;
    spdlog::info("received {}; stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (auto e = weak.lock())
      e->request_stop();
  }}.detach();

  eng->wait();
  spdlog::info("stopping");
  eng.reset();
  spdlog::info("stopped");
  return 0;
}
