// The netlink backend against the real kernel, inside throwaway namespaces.
// Needs root. Each case covers one helper: success, the spec's idempotence
// row for it, and its refusals.

#include "netns_fixture.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <doctest/doctest.h>
#include <linux/rtnetlink.h>
#include <set>
#include <thread>

using namespace overlayd::drivers;
using odl::ip;

namespace {

#define REQUIRE_OK(expr)                                                       \
  do {                                                                         \
    auto&& res_ = (expr);                                                      \
    REQUIRE_MESSAGE(res_, (res_ ? std::string{} : res_.error().what()));       \
  } while (false)

#define CHECK_OK(expr)                                                         \
  do {                                                                         \
    auto&& res_ = (expr);                                                      \
    CHECK_MESSAGE(res_, (res_ ? std::string{} : res_.error().what()));         \
  } while (false)

template <class R>
void check_kind(const R& res, error_kind kind) {
  REQUIRE_FALSE(res);
  INFO(res.error().what());
  CHECK(res.error().kind() == kind);
}

link_info must_get(link_driver& drv, std::string_view name) {
  auto link = drv.get_link(name);
  REQUIRE_MESSAGE(link, (link ? std::string{} : link.error().what()));
  return *link;
}

bool has_address(const link_info& link, const char* address,
                 std::uint8_t prefix) {
  return std::find(link.addresses.begin(), link.addresses.end(),
                   address_info{ip(address), prefix})
         != link.addresses.end();
}

std::optional<route_info> find_route(link_driver& drv, const char* dst,
                                     std::uint8_t len) {
  auto routes = drv.list_routes();
  REQUIRE_MESSAGE(routes, (routes ? std::string{} : routes.error().what()));
  for (auto& r : *routes)
    if (r.destination == ip(dst) && r.destination_len == len)
      return r;
  return std::nullopt;
}

} // namespace

TEST_CASE("host: a fresh namespace lists only lo") {
  odl::host_unchanged guard;
  odl::session s{"list"};
  auto links = s.drv->list_links();
  REQUIRE_OK(links);
  REQUIRE(links->size() == 1);
  CHECK((*links)[0].name == "lo");
  CHECK((*links)[0].index == 1);
  CHECK_FALSE((*links)[0].up);
  CHECK((*links)[0].kind.empty());
  auto exists = s.drv->link_exists("lo");
  REQUIRE_OK(exists);
  CHECK(*exists);
  exists = s.drv->link_exists("nope0");
  REQUIRE_OK(exists);
  CHECK_FALSE(*exists);
  check_kind(s.drv->get_link("nope0"), error_kind::not_found);
  CHECK(s.drv->get_link("nope0").error().err_no() == ENODEV);
}

TEST_CASE("host: create_bridge makes a down bridge, STP off, idempotently") {
  odl::host_unchanged guard;
  odl::session s{"br"};
  REQUIRE_OK(s.drv->create_bridge("zl-dep-i0-web-b"));
  auto br = must_get(*s.drv, "zl-dep-i0-web-b");
  CHECK(br.kind == "bridge");
  CHECK_FALSE(br.up);
  CHECK(odl::must_run("ip netns exec " + s.ns.name()
                      + " cat /sys/class/net/zl-dep-i0-web-b/bridge/stp_state")
        == "0\n");
  // Spec: EEXIST is success, and the type of the existing link is not
  // checked.
  CHECK_OK(s.drv->create_bridge("zl-dep-i0-web-b"));
  REQUIRE_OK(s.drv->create_veth_pair("odl-v0", "odl-v1"));
  CHECK_OK(s.drv->create_bridge("odl-v0"));
  CHECK(must_get(*s.drv, "odl-v0").kind == "veth");

  REQUIRE_OK(s.drv->set_bridge_stp("zl-dep-i0-web-b", true));
  CHECK(odl::must_run("ip netns exec " + s.ns.name()
                      + " cat /sys/class/net/zl-dep-i0-web-b/bridge/stp_state")
        != "0\n");
  REQUIRE_OK(s.drv->set_bridge_stp("zl-dep-i0-web-b", false));
  CHECK(odl::must_run("ip netns exec " + s.ns.name()
                      + " cat /sys/class/net/zl-dep-i0-web-b/bridge/stp_state")
        == "0\n");
  check_kind(s.drv->set_bridge_stp("odl-v0", false),
             error_kind::invalid_argument);
  check_kind(s.drv->set_bridge_stp("nobr", false), error_kind::not_found);
}

TEST_CASE("host: create_veth_pair brings only the peer end up") {
  odl::host_unchanged guard;
  odl::session s{"veth"};
  REQUIRE_OK(s.drv->create_veth_pair("veth-42-s", "vc-42-s"));
  auto host_end = must_get(*s.drv, "veth-42-s");
  auto peer_end = must_get(*s.drv, "vc-42-s");
  CHECK(host_end.kind == "veth");
  CHECK(peer_end.kind == "veth");
  CHECK_FALSE(host_end.up);
  CHECK(peer_end.up);
  // Spec: EEXIST is an error, for either name.
  auto again = s.drv->create_veth_pair("veth-42-s", "vc-42-s");
  check_kind(again, error_kind::already_exists);
  CHECK(again.error().err_no() == EEXIST);
  CHECK(again.error().what().find("veth pair already exists: host=veth-42-s "
                                  "peer=vc-42-s")
        != std::string::npos);
  check_kind(s.drv->create_veth_pair("veth-42-s", "vc-43-s"),
             error_kind::already_exists);
  check_kind(s.drv->create_veth_pair("veth-43-s", "vc-42-s"),
             error_kind::already_exists);
  CHECK_FALSE(*s.drv->link_exists("veth-43-s"));
  CHECK_FALSE(*s.drv->link_exists("vc-43-s"));
  check_kind(s.drv->create_veth_pair("same0", "same0"),
             error_kind::invalid_argument);
}

TEST_CASE("host: delete_link removes a link and treats missing as success") {
  odl::host_unchanged guard;
  odl::session s{"del"};
  REQUIRE_OK(s.drv->create_veth_pair("veth-7-g", "vc-7-g"));
  REQUIRE_OK(s.drv->create_bridge("zl-x-b"));
  REQUIRE_OK(s.drv->delete_link("veth-7-g"));
  // Deleting one end of a veth pair removes both.
  CHECK_FALSE(*s.drv->link_exists("veth-7-g"));
  CHECK_FALSE(*s.drv->link_exists("vc-7-g"));
  REQUIRE_OK(s.drv->delete_link("zl-x-b"));
  CHECK_FALSE(*s.drv->link_exists("zl-x-b"));
  CHECK_OK(s.drv->delete_link("zl-x-b"));
  CHECK_OK(s.drv->delete_link("never-there"));
  CHECK(s.drv->list_links()->size() == 1);
}

TEST_CASE("host: bad interface names are refused before the kernel") {
  odl::host_unchanged guard;
  odl::session s{"names"};
  for (auto bad :
       {"sixteen-chars-xx", "", "a/b", "a b", "x:1", "..", "eth%d"}) {
    INFO("name '", bad, "'");
    check_kind(s.drv->create_bridge(bad), error_kind::invalid_argument);
    check_kind(s.drv->create_veth_pair(bad, "ok0"),
               error_kind::invalid_argument);
    check_kind(s.drv->create_veth_pair("ok0", bad),
               error_kind::invalid_argument);
    check_kind(s.drv->delete_link(bad), error_kind::invalid_argument);
    check_kind(s.drv->set_link_up(bad), error_kind::invalid_argument);
    check_kind(s.drv->get_link(bad), error_kind::invalid_argument);
    check_kind(s.drv->add_address(bad, ip("10.0.0.1"), 24),
               error_kind::invalid_argument);
    check_kind(s.drv->delete_route_via_dev(ip("10.0.0.1"), 32, bad),
               error_kind::invalid_argument);
  }
  CHECK(s.drv->create_bridge("sixteen-chars-xx")
          .error()
          .what()
          .find("exceeds the 15 character limit")
        != std::string::npos);
  // Nothing reached the kernel.
  CHECK(s.drv->list_links()->size() == 1);
  // What the kernel accepts, we accept: 15 bytes, UTF-8.
  REQUIRE_OK(s.drv->create_bridge("fifteen-chars-x"));
  REQUIRE_OK(s.drv->create_bridge("br-\xc3\xa9"));
  CHECK(*s.drv->link_exists("br-\xc3\xa9"));
}

TEST_CASE("host: set_link_up/down and set_mtu, missing link is an error") {
  odl::host_unchanged guard;
  odl::session s{"updown"};
  REQUIRE_OK(s.drv->create_veth_pair("ha0", "hb0"));
  REQUIRE_OK(s.drv->set_link_up("ha0"));
  CHECK(must_get(*s.drv, "ha0").up);
  REQUIRE_OK(s.drv->set_link_up("ha0"));
  REQUIRE_OK(s.drv->set_link_down("ha0"));
  CHECK_FALSE(must_get(*s.drv, "ha0").up);
  REQUIRE_OK(s.drv->set_link_up("lo"));
  CHECK(must_get(*s.drv, "lo").up);
  auto missing = s.drv->set_link_up("gone0");
  check_kind(missing, error_kind::not_found);
  CHECK(missing.error().err_no() == ENODEV);
  // The reference's NotFound text.
  CHECK(missing.error().what().find("link 'gone0' not found in current netns")
        != std::string::npos);
  check_kind(s.drv->set_link_down("gone0"), error_kind::not_found);

  REQUIRE_OK(s.drv->set_mtu("ha0", 1420));
  CHECK(must_get(*s.drv, "ha0").mtu == 1420);
  check_kind(s.drv->set_mtu("gone0", 1420), error_kind::not_found);
  // The kernel refuses an MTU below the device minimum and says why in its
  // extended ack; both reach the caller.
  auto tiny = s.drv->set_mtu("ha0", 10);
  REQUIRE_FALSE(tiny);
  CHECK(tiny.error().kind() == error_kind::kernel);
  CHECK(tiny.error().err_no() == EINVAL);
  CHECK_FALSE(tiny.error().ext_ack().empty());
  CHECK(tiny.error().what().find(tiny.error().ext_ack()) != std::string::npos);
  CHECK(must_get(*s.drv, "ha0").mtu == 1420);
}

TEST_CASE("host: set_master enslaves to a bridge and members are counted") {
  odl::host_unchanged guard;
  odl::session s{"master"};
  REQUIRE_OK(s.drv->create_bridge("zl-m-b"));
  CHECK(*s.drv->bridge_member_count("zl-m-b") == 0);
  REQUIRE_OK(s.drv->create_veth_pair("veth-1-s", "vc-1-s"));
  REQUIRE_OK(s.drv->create_veth_pair("veth-2-s", "vc-2-s"));
  REQUIRE_OK(s.drv->set_master("veth-1-s", "zl-m-b"));
  auto member = must_get(*s.drv, "veth-1-s");
  CHECK(member.master == "zl-m-b");
  CHECK(member.master_index == must_get(*s.drv, "zl-m-b").index);
  CHECK(*s.drv->bridge_member_count("zl-m-b") == 1);
  REQUIRE_OK(s.drv->set_master("veth-2-s", "zl-m-b"));
  CHECK(*s.drv->bridge_member_count("zl-m-b") == 2);
  // Same answer as the kernel's own sysfs view inside the namespace.
  CHECK(odl::must_run("ip netns exec " + s.ns.name()
                      + " ls /sys/class/net/zl-m-b/brif | wc -l")
        == "2\n");
  auto listed = s.drv->list_links();
  REQUIRE_OK(listed);
  CHECK(std::count_if(listed->begin(), listed->end(),
                      [](const link_info& l) { return l.master == "zl-m-b"; })
        == 2);
  REQUIRE_OK(s.drv->delete_link("veth-2-s"));
  CHECK(*s.drv->bridge_member_count("zl-m-b") == 1);
  // Spec: a missing bridge counts 0; a non-bridge counts its (no) members.
  CHECK(*s.drv->bridge_member_count("zl-none-b") == 0);
  CHECK(*s.drv->bridge_member_count("vc-1-s") == 0);
  check_kind(s.drv->set_master("nolink0", "zl-m-b"), error_kind::not_found);
  auto no_bridge = s.drv->set_master("vc-1-s", "zl-none-b");
  check_kind(no_bridge, error_kind::not_found);
  CHECK(no_bridge.error().object() == "zl-none-b");
}

TEST_CASE("host: add/delete/flush addresses with the spec's idempotence") {
  odl::host_unchanged guard;
  odl::session s{"addr"};
  REQUIRE_OK(s.drv->create_bridge("zl-a-b"));
  REQUIRE_OK(s.drv->add_address("zl-a-b", ip("10.251.0.1"), 26));
  REQUIRE_OK(s.drv->add_address("zl-a-b", ip("fd00:251::1"), 64));
  auto br = must_get(*s.drv, "zl-a-b");
  CHECK(has_address(br, "10.251.0.1", 26));
  CHECK(has_address(br, "fd00:251::1", 64));
  CHECK(odl::must_run("ip -n " + s.ns.name() + " -4 -o addr show dev zl-a-b")
          .find("brd 10.251.0.63")
        != std::string::npos);
  // Spec: EEXIST from add_address is an error (the caller decides).
  auto again = s.drv->add_address("zl-a-b", ip("10.251.0.1"), 26);
  check_kind(again, error_kind::already_exists);
  CHECK(again.error().err_no() == EEXIST);
  check_kind(s.drv->add_address("nolink0", ip("10.251.0.1"), 26),
             error_kind::not_found);
  check_kind(s.drv->add_address("zl-a-b", ip("10.251.0.1"), 33),
             error_kind::invalid_argument);
  check_kind(s.drv->add_address("zl-a-b", ip("fd00::1"), 129),
             error_kind::invalid_argument);

  REQUIRE_OK(s.drv->delete_address("zl-a-b", ip("10.251.0.1"), 26));
  CHECK_FALSE(has_address(must_get(*s.drv, "zl-a-b"), "10.251.0.1", 26));
  CHECK_OK(s.drv->delete_address("zl-a-b", ip("10.251.0.1"), 26));
  CHECK_OK(s.drv->delete_address("nolink0", ip("10.251.0.1"), 26));

  // Flush removes both families (the /28 + /26 restart case of the spec).
  REQUIRE_OK(s.drv->add_address("zl-a-b", ip("10.251.0.1"), 28));
  REQUIRE_OK(s.drv->add_address("zl-a-b", ip("10.251.0.2"), 28));
  REQUIRE_OK(s.drv->add_address("zl-a-b", ip("10.252.0.1"), 26));
  REQUIRE_OK(s.drv->flush_addresses("zl-a-b"));
  CHECK(must_get(*s.drv, "zl-a-b").addresses.empty());
  CHECK_OK(s.drv->flush_addresses("zl-a-b"));
  check_kind(s.drv->flush_addresses("nolink0"), error_kind::not_found);
  // Other links keep their addresses.
  REQUIRE_OK(s.drv->add_address("lo", ip("10.253.0.1"), 32));
  REQUIRE_OK(s.drv->add_address("zl-a-b", ip("10.251.0.1"), 26));
  auto with_own = must_get(*s.drv, "zl-a-b");
  CHECK(with_own.addresses.size() == 1);
  CHECK_FALSE(has_address(with_own, "10.253.0.1", 32));
  REQUIRE_OK(s.drv->flush_addresses("zl-a-b"));
  CHECK(has_address(must_get(*s.drv, "lo"), "10.253.0.1", 32));
}

TEST_CASE("host: default route via gateway; an existing default is an error") {
  odl::host_unchanged guard;
  odl::session s{"defrt"};
  REQUIRE_OK(s.drv->create_veth_pair("ra0", "eth0"));
  REQUIRE_OK(s.drv->add_address("eth0", ip("10.251.0.2"), 26));
  REQUIRE_OK(s.drv->set_link_up("eth0"));
  REQUIRE_OK(s.drv->add_default_route_via_gateway(ip("10.251.0.1")));
  auto def = find_route(*s.drv, "0.0.0.0", 0);
  REQUIRE(def);
  CHECK(def->gateway == ip("10.251.0.1"));
  CHECK(def->device == "eth0");
  CHECK(def->protocol == RTPROT_STATIC);
  auto again = s.drv->add_default_route_via_gateway(ip("10.251.0.1"));
  check_kind(again, error_kind::already_exists);
  CHECK(again.error().err_no() == EEXIST);
  // An unreachable gateway is the kernel's refusal, with its reason.
  auto unreachable = s.drv->add_default_route_via_gateway(ip("fd00:9::1"));
  REQUIRE_FALSE(unreachable);
  CHECK(unreachable.error().kind() != error_kind::already_exists);
}

TEST_CASE("host: routes via a device: add, replace with source, delete") {
  odl::host_unchanged guard;
  odl::session s{"devrt"};
  REQUIRE_OK(s.drv->create_veth_pair("veth-9-g", "vc-9-g"));
  REQUIRE_OK(s.drv->set_link_up("lo"));
  REQUIRE_OK(s.drv->add_address("lo", ip("10.200.0.1"), 32));
  REQUIRE_OK(s.drv->add_address("lo", ip("fd00:200::1"), 128));
  REQUIRE_OK(s.drv->set_link_up("veth-9-g"));
  // The kernel refuses a v6 source hint while the address is tentative;
  // wait for it to settle (loopback skips DAD, but asynchronously).
  for (int i = 0; i < 100; ++i) {
    if (s.ns.ip("-6 addr show tentative").empty())
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  REQUIRE_OK(s.drv->add_route_via_dev(ip("10.201.0.0"), 16, "veth-9-g"));
  auto added = find_route(*s.drv, "10.201.0.0", 16);
  REQUIRE(added);
  CHECK(added->device == "veth-9-g");
  CHECK(added->scope == RT_SCOPE_LINK);
  check_kind(s.drv->add_route_via_dev(ip("10.201.0.0"), 16, "veth-9-g"),
             error_kind::already_exists);
  check_kind(s.drv->add_route_via_dev(ip("10.201.0.0"), 16, "nolink0"),
             error_kind::not_found);

  REQUIRE_OK(s.drv->replace_route_via_dev(ip("10.200.0.9"), 32, "veth-9-g",
                                          ip("10.200.0.1")));
  auto host_route = find_route(*s.drv, "10.200.0.9", 32);
  REQUIRE(host_route);
  CHECK(host_route->device == "veth-9-g");
  CHECK(host_route->preferred_source == ip("10.200.0.1"));
  CHECK(host_route->scope == RT_SCOPE_LINK);
  CHECK(host_route->protocol == RTPROT_STATIC);
  // Replace is idempotent and may change the source.
  REQUIRE_OK(s.drv->replace_route_via_dev(ip("10.200.0.9"), 32, "veth-9-g",
                                          std::nullopt));
  host_route = find_route(*s.drv, "10.200.0.9", 32);
  REQUIRE(host_route);
  CHECK_FALSE(host_route->preferred_source);
  auto mismatch = s.drv->replace_route_via_dev(ip("10.200.0.9"), 32, "veth-9-g",
                                               ip("fd00:200::1"));
  check_kind(mismatch, error_kind::invalid_argument);
  CHECK(mismatch.error().what().find(
          "address family mismatch: dest=10.200.0.9 src=fd00:200::1")
        != std::string::npos);
  check_kind(
    s.drv->replace_route_via_dev(ip("10.200.0.9"), 32, "nolink0", std::nullopt),
    error_kind::not_found);

  REQUIRE_OK(s.drv->replace_route_via_dev(ip("fd00:200::9"), 128, "veth-9-g",
                                          ip("fd00:200::1")));
  REQUIRE(find_route(*s.drv, "fd00:200::9", 128));

  // Spec: ESRCH and a missing device are success.
  REQUIRE_OK(s.drv->delete_route_via_dev(ip("10.200.0.9"), 32, "veth-9-g"));
  CHECK_FALSE(find_route(*s.drv, "10.200.0.9", 32));
  CHECK_OK(s.drv->delete_route_via_dev(ip("10.200.0.9"), 32, "veth-9-g"));
  CHECK_OK(s.drv->delete_route_via_dev(ip("10.200.0.9"), 32, "nolink0"));
  REQUIRE_OK(s.drv->delete_route_via_dev(ip("fd00:200::9"), 128, "veth-9-g"));
  CHECK_FALSE(find_route(*s.drv, "fd00:200::9", 128));
  // Deleting the device takes its routes along.
  REQUIRE_OK(s.drv->delete_link("veth-9-g"));
  CHECK_FALSE(find_route(*s.drv, "10.201.0.0", 16));
}

TEST_CASE("host: dumps stay consistent while links change underneath") {
  odl::host_unchanged guard;
  odl::session s{"dump"};
  // A second session in the same namespace churns links while the first
  // dumps; an interrupted dump must be retried, never half-returned.
  netlink_driver host;
  auto churn_drv = host.enter_netns(s.handle);
  REQUIRE_OK(churn_drv);
  std::atomic<bool> stop{false};
  std::atomic<int> churn_errors{0};
  std::thread churn([&] {
    for (int i = 0; !stop; ++i) {
      auto name = "churn" + std::to_string(i % 8);
      if (!(*churn_drv)->create_bridge(name)
          || !(*churn_drv)->delete_link(name))
        ++churn_errors;
    }
  });
  for (int i = 0; i < 5; ++i)
    REQUIRE_OK(s.drv->create_bridge("stable" + std::to_string(i)));
  int dumps = 0;
  for (; dumps < 300; ++dumps) {
    auto links = s.drv->list_links();
    if (!links) {
      FAIL_CHECK(links.error().what());
      break;
    }
    std::set<int> indexes;
    int stable = 0;
    for (auto& l : *links) {
      indexes.insert(l.index);
      stable += l.name.starts_with("stable") ? 1 : 0;
    }
    CHECK(indexes.size() == links->size());
    CHECK(stable == 5);
  }
  stop = true;
  churn.join();
  CHECK(churn_errors == 0);
  CHECK(dumps == 300);
}
