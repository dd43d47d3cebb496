#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace overlayd::drivers {

/// One drop-in file that marks the overlay's links unmanaged.
struct dropin_file {
  /// The manager it is for ("systemd-networkd", "NetworkManager").
  std::string manager;
  /// The directory that must already exist for the manager to be
  /// considered installed, relative to the root (no leading '/').
  std::string config_dir;
  /// The file, relative to the root.
  std::string path;
  std::string content;
  /// What makes the manager re-read its configuration (failure ignored).
  std::vector<std::string> reload_argv;
};

/// The glob patterns of the links overlayd creates.
inline constexpr std::string_view overlay_link_globs[]
  = {"zl-*", "veth-*", "vc-*"};

/// `etc/systemd/network/00-zlayer-unmanaged.network`: `[Match] Name=` the
/// globs, `[Link] Unmanaged=yes`. The `00-` prefix sorts it before any
/// catch-all `.network` file, and networkd uses the first match.
dropin_file networkd_dropin();

/// `etc/NetworkManager/conf.d/99-zlayer-unmanaged.conf`: `[keyfile]
/// unmanaged-devices=interface-name:<glob>;...`.
dropin_file network_manager_dropin();

/// Both, networkd first.
std::vector<dropin_file> overlay_dropins();

} // namespace overlayd::drivers
