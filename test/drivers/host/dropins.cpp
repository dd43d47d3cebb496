#include "drivers/host/dropins.hpp"

#include <doctest/doctest.h>

using namespace overlayd::drivers;

TEST_CASE("the networkd drop-in marks every overlay link unmanaged") {
  auto file = networkd_dropin();
  CHECK(file.path == "etc/systemd/network/00-zlayer-unmanaged.network");
  CHECK(file.path.starts_with(file.config_dir + "/"));
  CHECK(file.content
        == "# Written by overlayd: keep overlay links away from networkd.\n"
           "[Match]\nName=zl-* veth-* vc-*\n\n[Link]\nUnmanaged=yes\n");
  CHECK(file.reload_argv == std::vector<std::string>{"networkctl", "reload"});
}

TEST_CASE("the NetworkManager drop-in lists every glob as interface-name") {
  auto file = network_manager_dropin();
  CHECK(file.path == "etc/NetworkManager/conf.d/99-zlayer-unmanaged.conf");
  CHECK(file.path.starts_with(file.config_dir + "/"));
  CHECK(file.content.find("[keyfile]\nunmanaged-devices=interface-name:zl-*;"
                          "interface-name:veth-*;interface-name:vc-*\n")
        != std::string::npos);
  CHECK(file.reload_argv
        == std::vector<std::string>{"nmcli", "general", "reload"});
}

TEST_CASE("both drop-ins, networkd first") {
  auto all = overlay_dropins();
  REQUIRE(all.size() == 2);
  CHECK(all[0].manager == "systemd-networkd");
  CHECK(all[1].manager == "NetworkManager");
}
