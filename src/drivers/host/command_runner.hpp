#pragma once

#include <string>
#include <vector>

#include "drivers/error.hpp"

namespace overlayd::drivers {

/// What a finished command produced.
struct command_output {
  /// The exit status, or 128 + signal number when killed by a signal.
  int exit_code = 0;
  std::string out;
  std::string err;
};

/// Runs external programs from an argv vector, never through a shell. The
/// firewall talks to iptables through this seam, so tests and the twin can
/// answer in its place.
class command_runner {
public:
  virtual ~command_runner() = default;

  /// Runs `argv` (argv[0] looked up in PATH) to completion. A program that
  /// cannot be started is an error (`not_found` for ENOENT); a program that
  /// runs and fails is a value with a non-zero `exit_code`.
  virtual result<command_output> run(const std::vector<std::string>& argv) = 0;
};

/// fork/exec in the caller's network namespace (the child inherits the
/// namespaces of the calling thread), with stdin from /dev/null and stdout
/// and stderr captured.
class exec_command_runner final : public command_runner {
public:
  result<command_output> run(const std::vector<std::string>& argv) override;
};

/// The argv joined with spaces, for messages.
std::string describe_argv(const std::vector<std::string>& argv);

} // namespace overlayd::drivers
