// Host suite: every standard conformance script against the real backend
// (netlink, /proc/sys, iptables, drop-in files) inside throwaway
// namespaces and against the twin; every recorded line must match.

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "drivers/host/conformance.hpp"
#include "drivers/host/file_network_manager.hpp"
#include "drivers/host/iptables_firewall.hpp"
#include "drivers/host/twin.hpp"
#include "drivers/netns_driver.hpp"
#include "host_support.hpp"

using namespace overlayd::drivers;
namespace fs = std::filesystem;

namespace {

std::map<std::string, std::string> files_under(const std::string& root) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec)) {
    if (!entry.is_regular_file())
      continue;
    std::ifstream in{entry.path()};
    std::stringstream ss;
    ss << in.rdbuf();
    out[fs::relative(entry.path(), root).string()] = ss.str();
  }
  return out;
}

std::vector<std::string> run_real(const conformance_script& script) {
  odh::scratch_netns main_ns{"cmain"};
  odh::scratch_netns c1{"c1"};
  REQUIRE(main_ns.ok());
  REQUIRE(c1.ok());
  auto pinned = pinned_netns::open(netns_spec::at_path(main_ns.path()));
  REQUIRE(pinned);
  auto links = netns_driver::start(*pinned);
  REQUIRE(links);
  auto thread = odh::thread_in(main_ns.path());
  REQUIRE(thread);
  odh::in_netns_runner runner{*thread};
  odh::scratch_dir root;
  fs::create_directories(root.path() + "/etc/systemd/network");
  fs::create_directories(root.path() + "/etc/NetworkManager/conf.d");
  composed_host_driver host{
    std::move(*links), std::make_unique<odh::in_netns_sysctls>(*thread),
    std::make_unique<iptables_firewall>(runner, false),
    std::make_unique<file_network_manager>(root.path(), nullptr, false)};
  conformance_target target;
  target.host = &host;
  target.netns_of = [&](std::string_view label) {
    return netns_spec::at_path(label == "c1" ? c1.path()
                                             : "/var/run/netns/odh-none");
  };
  target.destroy_netns = [&](std::string_view label) {
    if (label == "c1")
      c1.remove();
  };
  target.iptables = &runner;
  target.dropins = [&] { return files_under(root.path()); };
  return run_conformance(script, target);
}

std::vector<std::string> run_twin(const conformance_script& script) {
  twin_host twin;
  REQUIRE(twin.add_named_netns("/twin/c1"));
  conformance_target target;
  target.host = &twin.root();
  target.netns_of = [](std::string_view label) {
    return netns_spec::at_path(label == "c1" ? "/twin/c1" : "/twin/none");
  };
  target.destroy_netns = [&](std::string_view label) {
    if (label == "c1")
      (void)twin.remove_named_netns("/twin/c1");
  };
  target.iptables = &twin.iptables_runner();
  target.dropins = [&] { return twin.dropin_files(); };
  return run_conformance(script, target);
}

/// A line diff (longest common subsequence): "-real" and "+twin" lines.
std::string diff(const std::vector<std::string>& real,
                 const std::vector<std::string>& twin) {
  const size_t n = real.size();
  const size_t m = twin.size();
  std::vector<std::vector<unsigned>> lcs(n + 1,
                                         std::vector<unsigned>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      lcs[i][j] = real[i] == twin[j] ? lcs[i + 1][j + 1] + 1
                                     : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::string out;
  size_t i = 0;
  size_t j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && real[i] == twin[j]) {
      ++i;
      ++j;
    } else if (j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j])) {
      out += "  +twin " + twin[j++] + "\n";
    } else {
      out += "  -real " + real[i++] + "\n";
    }
  }
  return out;
}

} // namespace

TEST_CASE("the twin and the real backend record the same results") {
  auto root_before = odh::root_snapshot();
  for (const auto& script : standard_conformance_scripts()) {
    CAPTURE(script.name);
    auto real = run_real(script);
    auto twin = run_twin(script);
    INFO("differences:\n" << diff(real, twin));
    CHECK(real == twin);
  }
  CHECK(odh::root_snapshot() == root_before);
}
