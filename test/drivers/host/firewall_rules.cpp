#include "drivers/host/firewall_rules.hpp"

#include <doctest/doctest.h>

using namespace overlayd::drivers;

namespace {

ip_address ip(std::string_view text) {
  return *ip_address::parse(text);
}

ip_network net(std::string_view text) {
  return *ip_network::parse(text);
}

} // namespace

TEST_CASE("networks are canonical as iptables prints them") {
  CHECK(net("10.200.0.0/16").to_string() == "10.200.0.0/16");
  CHECK(net("10.200.7.9/16").to_string() == "10.200.0.0/16");
  CHECK(net("10.200.7.9/21").to_string() == "10.200.0.0/21");
  CHECK(net("10.0.0.5").to_string() == "10.0.0.5/32");
  CHECK(net("fd00:200::17/48").to_string() == "fd00:200::/48");
  CHECK(net("fd00:200:0:66:accd:2e09:8fe2:ee77/120").to_string()
        == "fd00:200:0:66:accd:2e09:8fe2:ee00/120");
  CHECK(net("0.0.0.0/0").to_string() == "0.0.0.0/0");
  for (auto bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0/8", "fd00::/129", "x/8",
                   "10.0.0.0/8x", ""}) {
    CAPTURE(bad);
    auto r = ip_network::parse(bad);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == error_kind::invalid_argument);
    CHECK(r.error().object() == bad);
  }
}

TEST_CASE("commands use -w, the family's program and -t only off filter") {
  CHECK(fw_new_chain(false, "filter", "ZLAYER-OVERLAY")
        == argv_t{"iptables", "-w", "-N", "ZLAYER-OVERLAY"});
  CHECK(fw_new_chain(true, "nat", "ZLAYER-OVERLAY-NAT")
        == argv_t{"ip6tables", "-w", "-t", "nat", "-N", "ZLAYER-OVERLAY-NAT"});
  CHECK(fw_flush_chain(false, "nat", "X")
        == argv_t{"iptables", "-w", "-t", "nat", "-F", "X"});
  CHECK(fw_delete_chain(false, "filter", "X")
        == argv_t{"iptables", "-w", "-X", "X"});
  CHECK(fw_list_chain(false, "filter", "FORWARD")
        == argv_t{"iptables", "-w", "-S", "FORWARD"});
  fw_rule r{"filter", "ZLAYER-OVERLAY", {"-s", "10.0.0.0/8", "-j", "ACCEPT"}};
  CHECK(fw_check(false, r)
        == argv_t{"iptables", "-w", "-C", "ZLAYER-OVERLAY", "-s", "10.0.0.0/8",
                  "-j", "ACCEPT"});
  CHECK(fw_add(false, r, {})
        == argv_t{"iptables", "-w", "-A", "ZLAYER-OVERLAY", "-s", "10.0.0.0/8",
                  "-j", "ACCEPT"});
  CHECK(fw_add(false, r, {1})
        == argv_t{"iptables", "-w", "-I", "ZLAYER-OVERLAY", "1", "-s",
                  "10.0.0.0/8", "-j", "ACCEPT"});
  CHECK(fw_delete(false, r)
        == argv_t{"iptables", "-w", "-D", "ZLAYER-OVERLAY", "-s", "10.0.0.0/8",
                  "-j", "ACCEPT"});
}

TEST_CASE("subnet rules: one jump each from INPUT and FORWARD, on top") {
  auto rules = subnet_rules(net("10.200.0.0/16"));
  REQUIRE(rules.size() == 4);
  CHECK(rules[0].rule == fw_rule{"filter", "INPUT", {"-j", "ZLAYER-OVERLAY"}});
  CHECK(rules[0].placement.insert_at == 1u);
  CHECK(rules[1].rule
        == fw_rule{"filter", "FORWARD", {"-j", "ZLAYER-OVERLAY"}});
  CHECK(rules[1].placement.insert_at == 1u);
  CHECK(rules[2].rule
        == fw_rule{
          "filter", "ZLAYER-OVERLAY", {"-s", "10.200.0.0/16", "-j", "ACCEPT"}});
  CHECK_FALSE(rules[2].placement.insert_at);
  CHECK(rules[3].rule
        == fw_rule{"filter",
                   "ZLAYER-OVERLAY",
                   {"-d", "10.200.0.0/16", "-m", "conntrack", "--ctstate",
                    "RELATED,ESTABLISHED", "-j", "ACCEPT"}});
}

TEST_CASE("masquerade only cluster sources leaving for non-cluster") {
  auto rules = masquerade_rules(net("fd00:200::/48"));
  REQUIRE(rules.size() == 2);
  CHECK(rules[0].rule
        == fw_rule{"nat", "POSTROUTING", {"-j", "ZLAYER-OVERLAY-NAT"}});
  CHECK(rules[1].rule
        == fw_rule{"nat",
                   "ZLAYER-OVERLAY-NAT",
                   {"-s", "fd00:200::/48", "!", "-d", "fd00:200::/48", "-j",
                    "MASQUERADE"}});
}

TEST_CASE("member isolation: accepts on top, drops at the end") {
  auto rules = member_isolation_rules(ip("10.200.1.5"),
                                      {ip("10.200.1.3"), ip("10.200.1.5")},
                                      ip("10.200.0.1"), net("10.200.0.0/16"));
  std::vector<argv_t> specs;
  for (const auto& r : rules) {
    if (r.rule.chain != "FORWARD")
      CHECK(r.rule.chain == "ZLAYER-OVERLAY-ISO");
    specs.push_back(r.rule.spec);
  }
  CHECK(specs
        == std::vector<argv_t>{
          {"-j", "ZLAYER-OVERLAY-ISO"},
          // the member itself in the peer list is skipped
          {"-s", "10.200.1.5/32", "-d", "10.200.1.3/32", "-j", "ACCEPT"},
          {"-s", "10.200.1.3/32", "-d", "10.200.1.5/32", "-j", "ACCEPT"},
          {"-s", "10.200.1.5/32", "-d", "10.200.0.1/32", "-j", "ACCEPT"},
          {"-s", "10.200.1.5/32", "-d", "10.200.0.0/16", "-j", "DROP"},
          {"-s", "10.200.0.0/16", "-d", "10.200.1.5/32", "-j", "DROP"},
        });
  CHECK(rules[0].rule.chain == "FORWARD");
  CHECK(rules[0].placement.insert_at == 1u);
  CHECK(rules[3].placement.insert_at == 1u);
  CHECK_FALSE(rules[4].placement.insert_at);
  CHECK_FALSE(rules[5].placement.insert_at);
}

TEST_CASE("listing lines split into words, quotes kept together") {
  CHECK(split_listing_line(
          "-A X -s 10.0.0.1/32 -m comment --comment \"a b\\\"c\" -j ACCEPT")
        == argv_t{"-A", "X", "-s", "10.0.0.1/32", "-m", "comment", "--comment",
                  "a b\"c", "-j", "ACCEPT"});
  CHECK(split_listing_line("") == argv_t{});
}

TEST_CASE("rules naming a member are found in a chain listing") {
  std::string listing = "-N ZLAYER-OVERLAY-ISO\n"
                        "-A ZLAYER-OVERLAY-ISO -s 10.200.1.5/32 -d "
                        "10.200.1.3/32 -j ACCEPT\n"
                        "-A ZLAYER-OVERLAY-ISO -s 10.200.1.3/32 -d "
                        "10.200.1.5/32 -j ACCEPT\n"
                        "-A ZLAYER-OVERLAY-ISO -s 10.200.1.3/32 -d "
                        "10.200.0.1/32 -j ACCEPT\n"
                        "-A ZLAYER-OVERLAY-ISO -s 10.200.1.55/32 -d "
                        "10.200.0.0/16 -j DROP\n"
                        "-A OTHER -s 10.200.1.5/32 -j DROP\n"
                        "-A ZLAYER-OVERLAY-ISO -s 10.200.0.0/16 -d "
                        "10.200.1.5/32 -j DROP";
  auto found
    = rules_naming_member(listing, "ZLAYER-OVERLAY-ISO", ip("10.200.1.5"));
  CHECK(found
        == std::vector<argv_t>{
          {"-s", "10.200.1.5/32", "-d", "10.200.1.3/32", "-j", "ACCEPT"},
          {"-s", "10.200.1.3/32", "-d", "10.200.1.5/32", "-j", "ACCEPT"},
          {"-s", "10.200.0.0/16", "-d", "10.200.1.5/32", "-j", "DROP"},
        });
}

TEST_CASE("the position of a jump in a built-in chain") {
  std::string listing = "-P FORWARD DROP\n"
                        "-A FORWARD -j DOCKER-USER\n"
                        "-A FORWARD -j ZLAYER-OVERLAY-ISO\n"
                        "-A FORWARD -j ZLAYER-OVERLAY\n";
  CHECK(jump_position(listing, "FORWARD", "ZLAYER-OVERLAY-ISO") == 2u);
  CHECK(jump_position(listing, "FORWARD", "ZLAYER-OVERLAY") == 3u);
  CHECK_FALSE(jump_position(listing, "FORWARD", "NOPE"));
  CHECK_FALSE(jump_position(listing, "INPUT", "DOCKER-USER"));
}
