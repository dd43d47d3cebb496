#pragma once

// What a replay talks to: a fresh engine started in this process (its own
// temporary data directory, serving a private socket, so replies are the
// exact bytes the daemon would send) or a daemon already running.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "net/expected.hpp"

namespace overlayd::actors {
class engine;
}

namespace overlayd::replay {

class target {
public:
  /// Starts an engine on a new temporary data directory, listening on a
  /// socket inside it, with the session's container `processes` existing
  /// on its twin host (each in a namespace of its own). Everything is
  /// removed again by the destructor.
  static net::expected<std::unique_ptr<target>>
  in_process(const std::vector<std::uint32_t>& processes = {});
  /// A daemon already serving `socket`.
  static std::unique_ptr<target> external(std::string socket);

  ~target();
  target(const target&) = delete;
  target& operator=(const target&) = delete;

  const std::string& socket() const noexcept { return socket_; }
  bool is_in_process() const noexcept { return engine_ != nullptr; }
  /// The engine's data directory ("" for an external daemon).
  const std::filesystem::path& data_dir() const noexcept { return dir_; }

  target() = default;

private:
  std::string socket_;
  std::filesystem::path dir_;
  std::unique_ptr<actors::engine> engine_;
};

} // namespace overlayd::replay
