#include "drivers/host/conformance.hpp"

#include <algorithm>
#include <doctest/doctest.h>

#include "drivers/host/twin.hpp"

using namespace overlayd::drivers;

namespace {

/// Runs a script on a fresh twin with the namespace labels the scripts use.
std::vector<std::string> run_on_twin(const conformance_script& script) {
  twin_host twin;
  for (auto label : {"c1", "c2"})
    REQUIRE(twin.add_named_netns(std::string{"/twin/netns/"} + label));
  conformance_target target;
  target.host = &twin.root();
  target.netns_of = [](std::string_view label) {
    return netns_spec::at_path("/twin/netns/" + std::string{label});
  };
  target.destroy_netns = [&](std::string_view label) {
    (void)twin.remove_named_netns("/twin/netns/" + std::string{label});
  };
  target.iptables = &twin.iptables_runner();
  target.dropins = [&] { return twin.dropin_files(); };
  return run_conformance(script, target);
}

const conformance_script& script_named(std::string_view name) {
  static const auto scripts = standard_conformance_scripts();
  for (const auto& s : scripts)
    if (s.name == name)
      return s;
  FAIL("no script " << name);
  return scripts.front();
}

bool has(const std::vector<std::string>& lines, std::string_view line) {
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

} // namespace

TEST_CASE("every standard script runs on the twin without script errors") {
  for (const auto& script : standard_conformance_scripts()) {
    CAPTURE(script.name);
    auto lines = run_on_twin(script);
    CHECK(lines.size() > 3);
    for (const auto& line : lines) {
      CAPTURE(line);
      CHECK(line.find("script error") == std::string::npos);
    }
    // Deterministic: a second run on a fresh twin records the same.
    CHECK(run_on_twin(script) == lines);
  }
}

TEST_CASE("the recorded results carry kinds and errnos") {
  auto lines = run_on_twin(script_named("links and idempotence"));
  CHECK(has(lines, "create_bridge zl-t-b -> ok"));
  CHECK(has(lines, "create_veth_pair veth-1-s vc-1-x -> err already_exists "
                   "EEXIST"));
  CHECK(has(lines, "get_link nope0 -> err not_found ENODEV"));
  CHECK(has(lines, "set_mtu veth-1-s 67 -> err kernel EINVAL"));
  CHECK(has(lines, "bridge_member_count zl-t-b -> ok 1"));
  CHECK(has(lines, "bridge_member_count nope0 -> ok 0"));
  CHECK(has(lines, "delete_link vc-1-s -> ok"));
  CHECK(has(lines, "link_exists veth-1-s -> ok 0"));
  CHECK(has(lines, "  [main] link veth-1-s kind=veth mtu=1500 up=0 "
                   "master=zl-t-b addrs=-"));
}

TEST_CASE("the namespace script sees the namespace go") {
  auto lines = run_on_twin(script_named("namespaces"));
  CHECK(has(lines, "move_link vc-8-s c1 eth0 -> err already_exists EEXIST"));
  CHECK(has(lines, "move_link zl-n-b c1 br0 -> err kernel EINVAL"));
  CHECK(has(lines, "origin_alive c1 -> ok 0"));
  CHECK(has(lines, "@c1 get_link eth0 -> err namespace_gone -"));
  CHECK(has(lines, "link_exists veth-7-s -> ok 0"));
  CHECK(has(lines, "  [c1] link eth0 kind=veth mtu=1500 up=1 master=- "
                   "addrs=10.20.0.2/24"));
}

TEST_CASE("the firewall script ends with the tables as they began") {
  auto lines = run_on_twin(script_named("firewall"));
  CHECK(has(lines, "ensure_subnet_rules bogus -> err invalid_argument EINVAL"));
  auto fw_lines = std::count_if(lines.begin(), lines.end(), [](auto& l) {
    return l.starts_with("  fw -A") || l.starts_with("  fw -N");
  });
  CHECK(fw_lines > 0);
  // The final dump is after the last "state:" line: policies only.
  auto last = std::find(lines.rbegin(), lines.rend(), "state:");
  REQUIRE(last != lines.rend());
  for (auto it = lines.rbegin(); it != last; ++it) {
    CAPTURE(*it);
    CHECK_FALSE(it->starts_with("  fw -A"));
    CHECK_FALSE(it->starts_with("  fw -N"));
  }
}

TEST_CASE("a twin that misbehaves is caught by the comparison") {
  // The same script on a twin whose bridge creation fails must record a
  // different result: the comparison is able to fail.
  const auto& script = script_named("links and idempotence");
  auto honest = run_on_twin(script);
  twin_host twin;
  twin.inject("create_bridge",
              {std::chrono::milliseconds{0},
               error{error_kind::kernel, EOPNOTSUPP, "create_bridge", ""}, 1});
  conformance_target target;
  target.host = &twin.root();
  target.netns_of
    = [](std::string_view) { return netns_spec::at_path("/none"); };
  target.destroy_netns = [](std::string_view) {};
  target.iptables = &twin.iptables_runner();
  target.dropins = [&] { return twin.dropin_files(); };
  auto faulty = run_conformance(script, target);
  CHECK(faulty != honest);
  CHECK(has(faulty, "create_bridge zl-t-b -> err kernel EOPNOTSUPP"));
}

TEST_CASE("the forwarding script restores the first snapshot") {
  auto lines = run_on_twin(script_named("forwarding snapshot and restore"));
  CHECK(
    has(lines, "enable_forwarding v4 veth-9-s zl-f-b -> ok snapshot=1 v6="));
  CHECK(has(lines, "enable_forwarding v6 nope0 -> ok snapshot=1 "
                   "v6=veth-9-g,veth-9-s,zl-f-b,"));
  auto last = std::find(lines.begin(), lines.end(), "revert_forwarding -> ok");
  REQUIRE(last != lines.end());
  auto after
    = std::find(last, lines.end(), "  sysctl net.ipv4.ip_forward = ok 1");
  CHECK(after != lines.end());
  CHECK(std::find(last, lines.end(),
                  "  sysctl net.ipv6.conf.zl-f-b.forwarding = ok 0")
        != lines.end());
}
