// Drop-in files under a scratch root: nothing here needs privileges.

#include "drivers/host/file_network_manager.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "host_support.hpp"

using namespace overlayd::drivers;
namespace fs = std::filesystem;

namespace {

/// Records the commands it is asked to run.
class recording_runner final : public command_runner {
public:
  result<command_output> run(const std::vector<std::string>& argv) override {
    calls.push_back(argv);
    return command_output{0, {}, {}};
  }
  std::vector<std::vector<std::string>> calls;
};

std::string slurp(const fs::path& p) {
  std::ifstream in{p};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

TEST_CASE("drop-ins are written where managers live and removed again") {
  odh::scratch_dir root;
  REQUIRE_FALSE(root.path().empty());
  fs::create_directories(root.path() + "/etc/systemd/network");
  fs::create_directories(root.path() + "/etc/NetworkManager/conf.d");
  recording_runner reloads;
  file_network_manager nm{root.path(), &reloads, false};

  REQUIRE(nm.mark_overlay_interfaces_unmanaged());
  auto networkd = fs::path{root.path()} / networkd_dropin().path;
  auto nmconf = fs::path{root.path()} / network_manager_dropin().path;
  CHECK(slurp(networkd) == networkd_dropin().content);
  CHECK(slurp(nmconf) == network_manager_dropin().content);
  CHECK((fs::status(networkd).permissions() & fs::perms::others_read)
        != fs::perms::none);
  CHECK(reloads.calls
        == std::vector<std::vector<std::string>>{
          {"networkctl", "reload"}, {"nmcli", "general", "reload"}});

  // Unchanged content: no rewrite, no reload.
  auto mtime = fs::last_write_time(networkd);
  REQUIRE(nm.mark_overlay_interfaces_unmanaged());
  CHECK(fs::last_write_time(networkd) == mtime);
  CHECK(reloads.calls.size() == 2);
  // No temporary files are left behind.
  CHECK(std::distance(fs::directory_iterator(networkd.parent_path()),
                      fs::directory_iterator{})
        == 1);

  // A stale or edited file is put right.
  { std::ofstream{networkd} << "[Match]\nName=*\n"; }
  REQUIRE(nm.mark_overlay_interfaces_unmanaged());
  CHECK(slurp(networkd) == networkd_dropin().content);
  CHECK(reloads.calls.size() == 3);

  REQUIRE(nm.unmark_overlay_interfaces_unmanaged());
  CHECK_FALSE(fs::exists(networkd));
  CHECK_FALSE(fs::exists(nmconf));
  CHECK(reloads.calls.size() == 5);
  REQUIRE(nm.unmark_overlay_interfaces_unmanaged()); // missing: success
  CHECK(reloads.calls.size() == 5);
}

TEST_CASE("no manager directory, no drop-in") {
  odh::scratch_dir root;
  fs::create_directories(root.path() + "/etc/systemd/network");
  file_network_manager nm{root.path(), nullptr, false};
  REQUIRE(nm.mark_overlay_interfaces_unmanaged());
  CHECK(fs::exists(fs::path{root.path()} / networkd_dropin().path));
  CHECK_FALSE(fs::exists(root.path() + "/etc/NetworkManager"));
}

TEST_CASE("rootless mode writes nothing") {
  odh::scratch_dir root;
  fs::create_directories(root.path() + "/etc/systemd/network");
  file_network_manager nm{root.path(), nullptr, true};
  REQUIRE(nm.mark_overlay_interfaces_unmanaged());
  CHECK_FALSE(fs::exists(fs::path{root.path()} / networkd_dropin().path));
}

TEST_CASE("a write failure is reported with the path") {
  odh::scratch_dir root;
  // The config dir exists but the drop-in's place is a directory.
  fs::create_directories(root.path() + "/etc/systemd/network/"
                         + "00-zlayer-unmanaged.network/x");
  file_network_manager nm{root.path(), nullptr, false};
  auto st = nm.mark_overlay_interfaces_unmanaged();
  REQUIRE_FALSE(st);
  CHECK(st.error().object().ends_with("00-zlayer-unmanaged.network"));
}
