#include "drivers/host/dropins.hpp"

namespace overlayd::drivers {

dropin_file networkd_dropin() {
  std::string names;
  for (auto glob : overlay_link_globs) {
    if (!names.empty())
      names += ' ';
    names += glob;
  }
  return {
    "systemd-networkd",
    "etc/systemd/network",
    "etc/systemd/network/00-zlayer-unmanaged.network",
    "# Written by overlayd: keep overlay links away from networkd.\n"
    "[Match]\n"
    "Name="
      + names
      + "\n"
        "\n"
        "[Link]\n"
        "Unmanaged=yes\n",
    {"networkctl", "reload"},
  };
}

dropin_file network_manager_dropin() {
  std::string devices;
  for (auto glob : overlay_link_globs) {
    if (!devices.empty())
      devices += ';';
    devices += "interface-name:";
    devices += glob;
  }
  return {
    "NetworkManager",
    "etc/NetworkManager/conf.d",
    "etc/NetworkManager/conf.d/99-zlayer-unmanaged.conf",
    "# Written by overlayd: keep overlay links away from NetworkManager.\n"
    "[keyfile]\n"
    "unmanaged-devices="
      + devices + "\n",
    {"nmcli", "general", "reload"},
  };
}

std::vector<dropin_file> overlay_dropins() {
  return {networkd_dropin(), network_manager_dropin()};
}

} // namespace overlayd::drivers
