// Host suite: the production host driver, used from a thread inside a
// throwaway namespace (it acts on the calling thread's namespace).

#include <doctest/doctest.h>
#include <filesystem>

#include "drivers/host/conformance.hpp"
#include "drivers/host/orphan_sweep.hpp"
#include "drivers/host/real_host.hpp"
#include "drivers/netns_driver.hpp"
#include "host_support.hpp"
#include <sys/wait.h>

using namespace overlayd::drivers;
namespace fs = std::filesystem;

TEST_CASE("the real host driver acts on the caller's namespace only") {
  auto root_before = odh::root_snapshot();
  {
    odh::scratch_netns ns{"real"};
    REQUIRE(ns.ok());
    auto thread = odh::thread_in(ns.path());
    REQUIRE(thread);
    odh::scratch_dir config;
    fs::create_directories(config.path() + "/etc/systemd/network");
    real_host_options options;
    options.config_root = config.path();
    options.reload_managers = false;
    options.rootless = false;
    thread->run([&] {
      auto host = make_real_host_driver(options);
      // A fresh namespace has no nf_tables tables at all and iptables can
      // create but never delete one, so compare the chain listings here
      // (host_firewall.cpp compares iptables-save on a primed namespace).
      exec_command_runner r;
      auto tables_before = iptables_listing(r);
      REQUIRE(host->links().create_bridge("zl-real-b"));
      CHECK(host->links().get_link("zl-real-b")->kind == "bridge");
      REQUIRE(host->sysctls().write("net.ipv6.conf.zl-real-b.forwarding", "1"));
      CHECK(*host->sysctls().read("net.ipv6.conf.zl-real-b.forwarding") == "1");
      REQUIRE(host->firewall().ensure_overlay_subnet_rules("10.200.0.0/16"));
      REQUIRE(host->firewall().ensure_overlay_masquerade("10.200.0.0/16"));
      REQUIRE(host->network_manager().mark_overlay_interfaces_unmanaged());
      CHECK(fs::exists(config.path()
                       + "/etc/systemd/network/00-zlayer-unmanaged.network"));
      CHECK(host->firewall().remove_overlay_masquerade());
      CHECK(host->firewall().remove_overlay_subnet_rules());
      CHECK(host->network_manager().unmark_overlay_interfaces_unmanaged());
      CHECK(host->links().delete_link("zl-real-b"));
      CHECK(iptables_listing(r) == tables_before);
    });
  }
  CHECK(odh::root_snapshot() == root_before);
}

TEST_CASE("the orphan sweep deletes veths of exited processes for real") {
  auto root_before = odh::root_snapshot();
  {
    odh::scratch_netns ns{"sweep"};
    REQUIRE(ns.ok());
    auto pinned = pinned_netns::open(netns_spec::at_path(ns.path()));
    REQUIRE(pinned);
    auto links = netns_driver::start(*pinned);
    REQUIRE(links);
    auto& l = **links;
    // A pid that certainly existed and is gone now.
    pid_t child = ::fork();
    if (child == 0)
      ::_exit(0);
    REQUIRE(child > 0);
    int wstatus = 0;
    REQUIRE(::waitpid(child, &wstatus, 0) == child);
    auto dead = std::to_string(child);
    auto alive = std::to_string(::getpid());
    REQUIRE(l.create_veth_pair("veth-" + dead + "-s", "vc-" + dead + "-s"));
    REQUIRE(l.create_veth_pair("veth-" + alive + "-s", "vc-" + alive + "-s"));
    REQUIRE(l.create_bridge("zl-sweep-b"));
    auto report = sweep_orphan_veths(l, proc_pid_exists);
    REQUIRE(report);
    CHECK(report->failures.empty());
    CHECK_FALSE(*l.link_exists("veth-" + dead + "-s"));
    CHECK_FALSE(*l.link_exists("vc-" + dead + "-s"));
    CHECK(*l.link_exists("veth-" + alive + "-s"));
    CHECK(*l.link_exists("zl-sweep-b"));
  }
  CHECK(odh::root_snapshot() == root_before);
}
