// Host suite: the iptables firewall inside a throwaway namespace.

#include <doctest/doctest.h>

#include "drivers/host/iptables_firewall.hpp"
#include "host_support.hpp"

using namespace overlayd::drivers;

namespace {

ip_address ip(std::string_view text) {
  return *ip_address::parse(text);
}

std::string listing(command_runner& r, std::vector<std::string> argv) {
  auto out = r.run(argv);
  return out ? out->out : std::string{};
}

} // namespace

TEST_CASE("firewall chains come and go leaving iptables-save as it was") {
  auto root_before = odh::root_snapshot();
  {
    odh::scratch_netns ns{"fw"};
    REQUIRE(ns.ok());
    auto thread = odh::thread_in(ns.path());
    REQUIRE(thread);
    odh::in_netns_runner r{*thread};
    // A host with rules of its own, which must survive untouched and in
    // order.
    for (auto argv : std::vector<std::vector<std::string>>{
           {"iptables", "-w", "-A", "INPUT", "-s", "192.0.2.1", "-j", "DROP"},
           {"iptables", "-w", "-A", "FORWARD", "-j", "ACCEPT"},
           {"iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-s",
            "192.0.2.0/24", "-j", "MASQUERADE"},
           {"ip6tables", "-w", "-A", "FORWARD", "-j", "ACCEPT"},
           {"ip6tables", "-w", "-t", "nat", "-A", "POSTROUTING", "-j",
            "ACCEPT"}}) {
      auto out = r.run(argv);
      REQUIRE(out);
      REQUIRE(out->exit_code == 0);
    }
    const auto before = odh::saved_tables(r);
    iptables_firewall fw{r, false};
    const std::string cidr = "10.200.0.0/16";
    REQUIRE(fw.ensure_overlay_subnet_rules(cidr));
    REQUIRE(fw.ensure_overlay_masquerade(cidr));
    REQUIRE(fw.ensure_overlay_subnet_rules("fd00:200::/48"));
    REQUIRE(fw.ensure_overlay_masquerade("fd00:200::/48"));
    REQUIRE(fw.ensure_member_isolation("n1", ip("10.200.1.2"), {},
                                       ip("10.200.0.1"), cidr));
    REQUIRE(fw.ensure_member_isolation(
      "n1", ip("10.200.1.3"), {ip("10.200.1.2")}, ip("10.200.0.1"), cidr));
    const auto ensured = odh::saved_tables(r);
    // Check before insert: ensuring again changes nothing.
    REQUIRE(fw.ensure_overlay_subnet_rules(cidr));
    REQUIRE(fw.ensure_overlay_masquerade(cidr));
    REQUIRE(fw.ensure_member_isolation(
      "n1", ip("10.200.1.3"), {ip("10.200.1.2")}, ip("10.200.0.1"), cidr));
    CHECK(odh::saved_tables(r) == ensured);

    auto forward = listing(r, {"iptables", "-w", "-S", "FORWARD"});
    CHECK(forward
          == "-P FORWARD ACCEPT\n"
             "-A FORWARD -j ZLAYER-OVERLAY-ISO\n"
             "-A FORWARD -j ZLAYER-OVERLAY\n"
             "-A FORWARD -j ACCEPT\n");
    CHECK(listing(r, {"iptables", "-w", "-t", "nat", "-S", "POSTROUTING"})
          == "-P POSTROUTING ACCEPT\n"
             "-A POSTROUTING -s 192.0.2.0/24 -j MASQUERADE\n"
             "-A POSTROUTING -j ZLAYER-OVERLAY-NAT\n");
    CHECK(
      listing(r, {"iptables", "-w", "-t", "nat", "-S", "ZLAYER-OVERLAY-NAT"})
      == "-N ZLAYER-OVERLAY-NAT\n"
         "-A ZLAYER-OVERLAY-NAT -s 10.200.0.0/16 ! -d 10.200.0.0/16 -j "
         "MASQUERADE\n");
    CHECK(listing(r, {"iptables", "-w", "-S", "ZLAYER-OVERLAY-ISO"})
          == "-N ZLAYER-OVERLAY-ISO\n"
             "-A ZLAYER-OVERLAY-ISO -s 10.200.1.3/32 -d 10.200.0.1/32 -j "
             "ACCEPT\n"
             "-A ZLAYER-OVERLAY-ISO -s 10.200.1.2/32 -d 10.200.1.3/32 -j "
             "ACCEPT\n"
             "-A ZLAYER-OVERLAY-ISO -s 10.200.1.3/32 -d 10.200.1.2/32 -j "
             "ACCEPT\n"
             "-A ZLAYER-OVERLAY-ISO -s 10.200.1.2/32 -d 10.200.0.1/32 -j "
             "ACCEPT\n"
             "-A ZLAYER-OVERLAY-ISO -s 10.200.1.2/32 -d 10.200.0.0/16 -j "
             "DROP\n"
             "-A ZLAYER-OVERLAY-ISO -s 10.200.0.0/16 -d 10.200.1.2/32 -j "
             "DROP\n"
             "-A ZLAYER-OVERLAY-ISO -s 10.200.1.3/32 -d 10.200.0.0/16 -j "
             "DROP\n"
             "-A ZLAYER-OVERLAY-ISO -s 10.200.0.0/16 -d 10.200.1.3/32 -j "
             "DROP\n");

    // A member leaving takes every rule naming it, the chain stays.
    REQUIRE(fw.remove_member_isolation(
      "n1", ip("10.200.1.2"), {ip("10.200.1.3")}, ip("10.200.0.1"), cidr));
    auto iso = listing(r, {"iptables", "-w", "-S", "ZLAYER-OVERLAY-ISO"});
    CHECK(iso.find("10.200.1.2/32") == std::string::npos);
    CHECK(iso.find("-s 10.200.1.3/32 -d 10.200.0.1/32 -j ACCEPT")
          != std::string::npos);

    CHECK(fw.remove_overlay_masquerade());
    CHECK(fw.remove_overlay_subnet_rules());
    CHECK(fw.remove_overlay_isolation());
    CHECK(odh::saved_tables(r) == before);
    // Removing again is harmless.
    CHECK(fw.remove_overlay_masquerade());
    CHECK(fw.remove_overlay_subnet_rules());
    CHECK(fw.remove_overlay_isolation());
    CHECK(odh::saved_tables(r) == before);

    // Rootless: nothing is touched at all.
    iptables_firewall rootless{r, true};
    CHECK(rootless.ensure_overlay_subnet_rules(cidr));
    CHECK(rootless.ensure_overlay_masquerade(cidr));
    CHECK(rootless.ensure_member_isolation("n1", ip("10.200.1.2"), {},
                                           ip("10.200.0.1"), cidr));
    CHECK(odh::saved_tables(r) == before);

    // A bad CIDR is refused before anything runs.
    auto bad = fw.ensure_overlay_subnet_rules("10.200.0.0/33");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().kind() == error_kind::invalid_argument);
    CHECK(odh::saved_tables(r) == before);
  }
  CHECK(odh::root_snapshot() == root_before);
}
