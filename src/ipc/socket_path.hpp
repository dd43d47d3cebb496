#pragma once

// Where overlayd listens (spec/ipc.md §1.2-§1.3), byte for byte as
// zlayer-paths computes it, because ZLayer's installed services start the
// daemon with only `--data-dir` while clients derive the socket on their
// own. Linux rules only (the project's platform). Pure functions of an
// explicit environment, so daemon, CLI and tests all agree.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace overlayd::ipc {

/// The bits of the process environment the rules depend on.
struct path_env {
  bool is_root = false;                       ///< geteuid() == 0
  std::optional<std::string> home;            ///< $HOME (set, maybe empty)
  std::optional<std::string> zlayer_data_dir; ///< $ZLAYER_DATA_DIR

  /// Reads geteuid(), $HOME and $ZLAYER_DATA_DIR of this process.
  static path_env from_process();
};

/// Unix socket paths must fit `sun_path` (104 bytes on macOS with NUL).
inline constexpr std::size_t max_socket_path_bytes = 103;

/// FNV-1a 64 over `data` followed by `label`.
std::uint64_t fnv1a64(std::string_view data, std::string_view label) noexcept;

/// 16 lowercase hex digits, zero padded.
std::string hex16(std::uint64_t v);

/// Rust `PathBuf::push`: a relative `component` is appended with one '/'
/// unless `base` is empty or already ends in '/'; an absolute one
/// replaces `base`.
std::string path_join(std::string_view base, std::string_view component);

/// Rust `Path ==`: component-wise (repeated and trailing '/' and interior
/// '.' components do not matter; '..' is kept; no symlink resolution).
bool path_equal(std::string_view a, std::string_view b);

/// `platform_default_data_dir()`: /var/lib/zlayer for root, else
/// $HOME/.zlayer (/var/lib/zlayer if HOME is unset). Ignores
/// $ZLAYER_DATA_DIR.
std::string platform_default_data_dir(const path_env& env);

/// `default_data_dir()`: $ZLAYER_DATA_DIR if set and non-empty, else the
/// platform default. What the daemon uses without `--data-dir`.
std::string default_data_dir(const path_env& env);

/// `default_overlayd_socket_path_for(data_dir)`:
/// `/var/run/zlayer-overlayd.sock` if `data_dir` equals the *platform*
/// default, else `{data_dir}/run/zlayer-overlayd.sock`, or
/// `/tmp/zlayer-overlayd-{hex16(fnv1a64(data_dir, "overlayd"))}.sock`
/// when that is longer than 103 bytes.
std::string default_overlayd_socket_path_for(std::string_view data_dir,
                                             const path_env& env);

/// `ZLayerDirs::wireguard()` (WireGuard UAPI socket dir):
/// `/var/run/wireguard` if `data_dir` equals `default_data_dir()` (this
/// one honours $ZLAYER_DATA_DIR), else `{data_dir}/run/wireguard`, or
/// `/tmp/zlayer-wg-{hex16(fnv1a64(data_dir, "wg"))}` past 82 bytes.
std::string wireguard_dir_for(std::string_view data_dir, const path_env& env);

/// The daemon's endpoints after applying its flags.
struct endpoints {
  std::string data_dir;
  std::string socket;
};

/// `--data-dir` (default `default_data_dir()`) and `--socket` (default
/// `default_overlayd_socket_path_for(data_dir)`); an empty flag value is
/// taken literally, as clap does.
endpoints resolve_endpoints(const std::optional<std::string>& data_dir_flag,
                            const std::optional<std::string>& socket_flag,
                            const path_env& env);

} // namespace overlayd::ipc
