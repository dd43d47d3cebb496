// The exact iptables commands the firewall runs, recorded over the twin's
// iptables: check before insert, -w everywhere, removal loops.

#include "drivers/host/iptables_firewall.hpp"

#include <algorithm>
#include <doctest/doctest.h>

#include "drivers/host/twin.hpp"

using namespace overlayd::drivers;

namespace {

/// Forwards to another runner and records every argv.
class recording_runner final : public command_runner {
public:
  explicit recording_runner(command_runner& inner) : inner_(inner) {}
  result<command_output> run(const std::vector<std::string>& argv) override {
    calls.push_back(describe_argv(argv));
    return inner_.run(argv);
  }
  std::vector<std::string> calls;

private:
  command_runner& inner_;
};

ip_address ip(std::string_view text) {
  return *ip_address::parse(text);
}

/// A firewall over the twin's iptables whose every command is recorded.
struct recorded_firewall {
  twin_host twin;
  recording_runner r{twin.iptables_runner()};
  iptables_firewall fw{r, false};
};

} // namespace

TEST_CASE_FIXTURE(recorded_firewall,
                  "ensure checks before it inserts, and only inserts what is "
                  "missing") {
  REQUIRE(fw.ensure_overlay_subnet_rules("10.200.0.0/16"));
  CHECK(r.calls
        == std::vector<std::string>{
          "iptables -w -N ZLAYER-OVERLAY",
          "iptables -w -C INPUT -j ZLAYER-OVERLAY",
          "iptables -w -I INPUT 1 -j ZLAYER-OVERLAY",
          "iptables -w -S FORWARD",
          "iptables -w -C FORWARD -j ZLAYER-OVERLAY",
          "iptables -w -I FORWARD 1 -j ZLAYER-OVERLAY",
          "iptables -w -C ZLAYER-OVERLAY -s 10.200.0.0/16 -j ACCEPT",
          "iptables -w -A ZLAYER-OVERLAY -s 10.200.0.0/16 -j ACCEPT",
          "iptables -w -C ZLAYER-OVERLAY -d 10.200.0.0/16 -m conntrack "
          "--ctstate RELATED,ESTABLISHED -j ACCEPT",
          "iptables -w -A ZLAYER-OVERLAY -d 10.200.0.0/16 -m conntrack "
          "--ctstate RELATED,ESTABLISHED -j ACCEPT",
        });
  r.calls.clear();
  REQUIRE(fw.ensure_overlay_subnet_rules("10.200.0.0/16"));
  CHECK(r.calls
        == std::vector<std::string>{
          "iptables -w -N ZLAYER-OVERLAY",
          "iptables -w -S ZLAYER-OVERLAY", // -N failed: does it exist?
          "iptables -w -C INPUT -j ZLAYER-OVERLAY",
          "iptables -w -S FORWARD",
          "iptables -w -C FORWARD -j ZLAYER-OVERLAY",
          "iptables -w -C ZLAYER-OVERLAY -s 10.200.0.0/16 -j ACCEPT",
          "iptables -w -C ZLAYER-OVERLAY -d 10.200.0.0/16 -m conntrack "
          "--ctstate RELATED,ESTABLISHED -j ACCEPT",
        });
}

TEST_CASE_FIXTURE(
  recorded_firewall,
  "the allow jump goes right below an existing isolation jump") {
  REQUIRE(r.run({"iptables", "-w", "-A", "FORWARD", "-j", "ACCEPT"})->exit_code
          == 0);
  REQUIRE(fw.ensure_member_isolation("n", ip("10.200.1.2"), {},
                                     ip("10.200.0.1"), "10.200.0.0/16"));
  r.calls.clear();
  REQUIRE(fw.ensure_overlay_subnet_rules("10.200.0.0/16"));
  CHECK(std::find(r.calls.begin(), r.calls.end(),
                  "iptables -w -I FORWARD 2 -j ZLAYER-OVERLAY")
        != r.calls.end());
  CHECK(r.run({"iptables", "-w", "-S", "FORWARD"})->out
        == "-P FORWARD ACCEPT\n-A FORWARD -j ZLAYER-OVERLAY-ISO\n"
           "-A FORWARD -j ZLAYER-OVERLAY\n-A FORWARD -j ACCEPT\n");
}

TEST_CASE_FIXTURE(
  recorded_firewall,
  "removal deletes every copy of a jump, then flushes and deletes "
  "the chain, in both families") {
  REQUIRE(fw.ensure_overlay_masquerade("10.200.0.0/16"));
  // A second copy of the jump, e.g. from an older daemon.
  REQUIRE(r.run({"iptables", "-w", "-t", "nat", "-A", "POSTROUTING", "-j",
                 "ZLAYER-OVERLAY-NAT"})
            ->exit_code
          == 0);
  r.calls.clear();
  REQUIRE(fw.remove_overlay_masquerade());
  CHECK(r.calls
        == std::vector<std::string>{
          "iptables -w -t nat -D POSTROUTING -j ZLAYER-OVERLAY-NAT",
          "iptables -w -t nat -D POSTROUTING -j ZLAYER-OVERLAY-NAT",
          "iptables -w -t nat -D POSTROUTING -j ZLAYER-OVERLAY-NAT",
          "iptables -w -t nat -F ZLAYER-OVERLAY-NAT",
          "iptables -w -t nat -X ZLAYER-OVERLAY-NAT",
          "ip6tables -w -t nat -D POSTROUTING -j ZLAYER-OVERLAY-NAT",
          "ip6tables -w -t nat -F ZLAYER-OVERLAY-NAT",
          "ip6tables -w -t nat -X ZLAYER-OVERLAY-NAT",
        });
  CHECK(r.run({"iptables", "-w", "-t", "nat", "-S"})->out
        == "-P PREROUTING ACCEPT\n-P INPUT ACCEPT\n-P OUTPUT ACCEPT\n"
           "-P POSTROUTING ACCEPT\n");
}

TEST_CASE_FIXTURE(
  recorded_firewall,
  "removing the allow and isolation chains undoes every jump into "
  "them, in order") {
  REQUIRE(fw.ensure_overlay_subnet_rules("10.200.0.0/16"));
  REQUIRE(fw.ensure_member_isolation("n", ip("10.200.1.2"), {},
                                     ip("10.200.0.1"), "10.200.0.0/16"));
  r.calls.clear();
  REQUIRE(fw.remove_overlay_isolation());
  REQUIRE(fw.remove_overlay_subnet_rules());
  CHECK(r.calls
        == std::vector<std::string>{
          "iptables -w -D FORWARD -j ZLAYER-OVERLAY-ISO",
          "iptables -w -D FORWARD -j ZLAYER-OVERLAY-ISO",
          "iptables -w -F ZLAYER-OVERLAY-ISO",
          "iptables -w -X ZLAYER-OVERLAY-ISO",
          "ip6tables -w -D FORWARD -j ZLAYER-OVERLAY-ISO",
          "ip6tables -w -F ZLAYER-OVERLAY-ISO",
          "ip6tables -w -X ZLAYER-OVERLAY-ISO",
          "iptables -w -D INPUT -j ZLAYER-OVERLAY",
          "iptables -w -D INPUT -j ZLAYER-OVERLAY",
          "iptables -w -D FORWARD -j ZLAYER-OVERLAY",
          "iptables -w -D FORWARD -j ZLAYER-OVERLAY",
          "iptables -w -F ZLAYER-OVERLAY",
          "iptables -w -X ZLAYER-OVERLAY",
          "ip6tables -w -D INPUT -j ZLAYER-OVERLAY",
          "ip6tables -w -D FORWARD -j ZLAYER-OVERLAY",
          "ip6tables -w -F ZLAYER-OVERLAY",
          "ip6tables -w -X ZLAYER-OVERLAY",
        });
  CHECK(r.run({"iptables", "-w", "-S"})->out
        == "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n");
}

TEST_CASE("rootless runs nothing; bad input runs nothing") {
  twin_host twin;
  recording_runner r{twin.iptables_runner()};
  iptables_firewall rootless{r, true};
  CHECK(rootless.ensure_overlay_subnet_rules("10.200.0.0/16"));
  CHECK(rootless.ensure_overlay_masquerade("10.200.0.0/16"));
  CHECK(rootless.ensure_member_isolation("n", ip("10.200.1.2"), {},
                                         ip("10.200.0.1"), "10.200.0.0/16"));
  CHECK(rootless.remove_member_isolation("n", ip("10.200.1.2"), {},
                                         ip("10.200.0.1"), "10.200.0.0/16"));
  CHECK(rootless.remove_overlay_masquerade());
  CHECK(rootless.remove_overlay_subnet_rules());
  CHECK(rootless.remove_overlay_isolation());
  CHECK(r.calls.empty());
  iptables_firewall fw{r, false};
  auto bad = fw.ensure_overlay_masquerade("10.200.0.0/40");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().kind() == error_kind::invalid_argument);
  auto mixed = fw.ensure_member_isolation("n", ip("fd00::2"), {},
                                          ip("10.200.0.1"), "10.200.0.0/16");
  REQUIRE_FALSE(mixed);
  CHECK(mixed.error().kind() == error_kind::invalid_argument);
  CHECK(mixed.error().object() == "n");
  CHECK(r.calls.empty());
}

TEST_CASE_FIXTURE(
  recorded_firewall,
  "a missing ip6tables is an error; removal still cleans IPv4") {
  // A host without ip6tables: the program cannot be started.
  class no_ip6tables final : public command_runner {
  public:
    explicit no_ip6tables(command_runner& inner) : inner_(inner) {}
    result<command_output> run(const std::vector<std::string>& argv) override {
      if (argv[0] == "ip6tables")
        return error::from_errno(ENOENT, "run_command", describe_argv(argv));
      return inner_.run(argv);
    }

  private:
    command_runner& inner_;
  } missing{r};
  iptables_firewall fw6{missing, false};
  auto st = fw6.ensure_overlay_subnet_rules("fd00:200::/48");
  REQUIRE_FALSE(st);
  CHECK(st.error().err_no() == ENOENT);
  // Removal is best-effort: IPv4 is still cleaned, the IPv6 failure is
  // reported.
  REQUIRE(fw.ensure_overlay_subnet_rules("10.200.0.0/16"));
  auto removed = fw6.remove_overlay_subnet_rules();
  REQUIRE_FALSE(removed);
  CHECK(removed.error().err_no() == ENOENT);
  CHECK(r.run({"iptables", "-w", "-S", "ZLAYER-OVERLAY"})->exit_code == 1);
}

TEST_CASE("a refused insert is an error naming the command and iptables' "
          "message") {
  twin_host twin;
  class refuses_append final : public command_runner {
  public:
    explicit refuses_append(command_runner& inner) : inner_(inner) {}
    result<command_output> run(const std::vector<std::string>& argv) override {
      if (std::find(argv.begin(), argv.end(), "-A") != argv.end())
        return command_output{4, {}, "iptables: Resource busy.\n"};
      return inner_.run(argv);
    }

  private:
    command_runner& inner_;
  } r{twin.iptables_runner()};
  iptables_firewall fw{r, false};
  auto st = fw.ensure_overlay_subnet_rules("10.200.0.0/16");
  REQUIRE_FALSE(st);
  CHECK(st.error().operation() == "ensure_overlay_subnet_rules");
  CHECK(st.error().object()
        == "iptables -w -A ZLAYER-OVERLAY -s 10.200.0.0/16 -j ACCEPT");
  CHECK(st.error().detail() == "exit 4: iptables: Resource busy.");
}
