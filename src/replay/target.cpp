#include "replay/target.hpp"

#include <cstdlib>
#include <system_error>

#include "actors/embedded.hpp"
#include "drivers/host/twin.hpp"

namespace overlayd::replay {

using net::unexpected;

net::expected<std::unique_ptr<target>>
target::in_process(const std::vector<std::uint32_t>& processes) {
  std::string tmpl
    = (std::filesystem::temp_directory_path() / "overlay-replay-XXXXXX")
        .string();
  if (::mkdtemp(tmpl.data()) == nullptr)
    return unexpected{"cannot create a temporary data directory from " + tmpl};
  auto t = std::make_unique<target>();
  t->dir_ = tmpl;
  t->socket_ = (t->dir_ / "run" / "overlayd.sock").string();
  actors::engine_config cfg;
  cfg.data_dir = t->dir_ / "data";
  // Two workers: enough for the ordering rules, light on a shared box.
  cfg.workers = 2;
  // Replays compare answers, so they run on the deterministic in-memory
  // host and never touch this machine.
  cfg.backend = actors::host_backend::twin;
  auto eng = actors::engine::start(cfg);
  if (!eng)
    return unexpected{"cannot start the engine: " + eng.error()};
  t->engine_ = std::move(*eng);
  // Before the socket opens, so the first request already finds them.
  for (auto pid : processes)
    if (auto added = t->engine_->twin()->add_process(static_cast<pid_t>(pid));
        !added)
      return unexpected{"cannot create container process " + std::to_string(pid)
                        + " on the twin: " + added.error().what()};
  if (auto l = t->engine_->listen(t->socket_); !l)
    return unexpected{"cannot serve the replay socket: " + l.error()};
  return t;
}

std::unique_ptr<target> target::external(std::string socket) {
  auto t = std::make_unique<target>();
  t->socket_ = std::move(socket);
  return t;
}

target::~target() {
  engine_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

} // namespace overlayd::replay
