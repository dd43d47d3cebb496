// Namespaces against the real kernel: pinning by pid and by path, sessions
// on their own thread, move-and-rename, and namespaces that disappear while
// in use. Needs root.

#include "drivers/netns.hpp"
#include "netns_fixture.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace overlayd::drivers;
using odl::ip;

namespace {

#define REQUIRE_OK(expr)                                                       \
  do {                                                                         \
    auto&& res_ = (expr);                                                      \
    REQUIRE_MESSAGE(res_, (res_ ? std::string{} : res_.error().what()));       \
  } while (false)

template <class R>
void check_kind(const R& res, error_kind kind) {
  REQUIRE_FALSE(res);
  INFO(res.error().what());
  CHECK(res.error().kind() == kind);
}

ino_t netns_inode_of_this_thread() {
  struct stat st {};
  REQUIRE(stat("/proc/thread-self/ns/net", &st) == 0);
  return st.st_ino;
}

ino_t netns_inode_of_path(const std::string& path) {
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_ino;
}

} // namespace

TEST_CASE("host: pinning a missing or bogus namespace fails clearly") {
  odl::host_unchanged guard;
  netlink_driver host;
  auto dead = host.pin_netns(netns_spec::of_pid(odl::dead_pid()));
  check_kind(dead, error_kind::namespace_gone);
  CHECK(dead.error().what().find("process does not exist")
        != std::string::npos);
  check_kind(host.pin_netns(netns_spec::of_pid(0)),
             error_kind::invalid_argument);
  check_kind(host.pin_netns(netns_spec::of_pid(-4)),
             error_kind::invalid_argument);
  auto missing = host.pin_netns(netns_spec::at_path("/var/run/netns/odl-none"));
  check_kind(missing, error_kind::namespace_gone);
  CHECK(missing.error().what().find("/var/run/netns/odl-none")
        != std::string::npos);
  auto not_netns = host.pin_netns(netns_spec::at_path("/proc/self/ns/mnt"));
  check_kind(not_netns, error_kind::invalid_argument);
  CHECK(not_netns.error().what().find("is not a network namespace")
        != std::string::npos);
  check_kind(host.pin_netns(netns_spec::at_path("/etc/hostname")),
             error_kind::invalid_argument);
  check_kind(host.pin_netns(netns_spec::at_path("")),
             error_kind::invalid_argument);
}

TEST_CASE("host: a pid's namespace is the one the process lives in") {
  odl::host_unchanged guard;
  odl::session named{"pid"};
  odl::child_in_netns child{named.ns.path()};
  netlink_driver host;
  auto pinned = host.pin_netns(netns_spec::of_pid(child.pid()));
  REQUIRE_OK(pinned);
  CHECK((*pinned)->origin_alive());
  CHECK((*pinned)->spec().describe() == "pid " + std::to_string(child.pid()));
  auto by_pid = host.enter_netns(*pinned);
  REQUIRE_OK(by_pid);
  REQUIRE_OK(named.drv->create_bridge("zl-seen-b"));
  auto seen = (*by_pid)->link_exists("zl-seen-b");
  REQUIRE_OK(seen);
  CHECK(*seen);
  // And not in the namespace of the test process.
  auto root_seen = host.link_exists("zl-seen-b");
  REQUIRE_OK(root_seen);
  CHECK_FALSE(*root_seen);
}

TEST_CASE("host: the caller's thread never changes namespace") {
  odl::host_unchanged guard;
  odl::session s{"thread"};
  auto before = netns_inode_of_this_thread();
  REQUIRE_OK(s.drv->create_bridge("zl-t-b"));
  REQUIRE_OK(s.drv->list_links());
  CHECK(netns_inode_of_this_thread() == before);

  auto pinned = pinned_netns::open(netns_spec::at_path(s.ns.path()));
  REQUIRE_OK(pinned);
  auto thread = netns_thread::start(*pinned);
  REQUIRE_OK(thread);
  auto inside = (*thread)->call([] { return netns_inode_of_this_thread(); });
  CHECK(inside == netns_inode_of_path(s.ns.path()));
  CHECK(inside != before);
  CHECK(netns_inode_of_this_thread() == before);
}

TEST_CASE("host: one session serves several caller threads") {
  odl::host_unchanged guard;
  odl::session s{"conc"};
  REQUIRE_OK(s.drv->create_bridge("zl-c-b"));
  std::atomic<int> failures{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([&, t] {
      auto name = "cv" + std::to_string(t);
      for (int i = 0; i < 25; ++i) {
        if (!s.drv->create_veth_pair(name + "a", name + "b")
            || !s.drv->set_master(name + "a", "zl-c-b")
            || !s.drv->delete_link(name + "a"))
          ++failures;
      }
    });
  for (auto& c : callers)
    c.join();
  CHECK(failures == 0);
  CHECK(*s.drv->bridge_member_count("zl-c-b") == 0);
}

TEST_CASE("host: move_link_to_netns moves and renames in one step") {
  odl::host_unchanged guard;
  odl::session host_side{"mvh"};
  odl::scoped_netns container_ns{"mvc"};
  odl::child_in_netns container{container_ns.path()};
  auto target = host_side.drv->pin_netns(netns_spec::of_pid(container.pid()));
  REQUIRE_OK(target);
  auto inside = host_side.host.enter_netns(*target);
  REQUIRE_OK(inside);

  REQUIRE_OK(host_side.drv->create_veth_pair("veth-5-s", "vc-5-s"));
  REQUIRE_OK(host_side.drv->move_link_to_netns("vc-5-s", **target, "eth0"));
  CHECK_FALSE(*host_side.drv->link_exists("vc-5-s"));
  auto eth0 = (*inside)->get_link("eth0");
  REQUIRE_OK(eth0);
  CHECK(eth0->kind == "veth");
  // The spec: the link arrives down, though it was created up.
  CHECK_FALSE(eth0->up);
  CHECK_FALSE(*(*inside)->link_exists("vc-5-s"));

  // Name collision in the target: an error, and the link stays home.
  REQUIRE_OK(host_side.drv->create_veth_pair("veth-6-s", "vc-6-s"));
  auto clash = host_side.drv->move_link_to_netns("vc-6-s", **target, "eth0");
  check_kind(clash, error_kind::already_exists);
  CHECK(clash.error().err_no() == EEXIST);
  CHECK(*host_side.drv->link_exists("vc-6-s"));
  check_kind(host_side.drv->move_link_to_netns("vc-9-s", **target, "eth1"),
             error_kind::not_found);
  check_kind(host_side.drv->move_link_to_netns("vc-6-s", **target, "bad name"),
             error_kind::invalid_argument);
  // The move also works from the host driver (caller's own namespace is
  // not involved: the link is looked up in the session's namespace).
  REQUIRE_OK(host_side.drv->move_link_to_netns("vc-6-s", **target, "eth1"));
  CHECK(*(*inside)->link_exists("eth1"));
}

TEST_CASE("host: a move racing a name's creation never strands the link") {
  odl::host_unchanged guard;
  odl::session home{"racea"};
  odl::session target{"raceb"};
  // The kernel renames after moving when the old name is free in the
  // target, so a name created between our check and the move makes the
  // rename fail after the move. Whatever the interleaving, the link must end
  // up either renamed in the target or back home under its own name.
  std::atomic<bool> stop{false};
  std::thread racer([&] {
    while (!stop) {
      (void)target.drv->create_veth_pair("eth0", "peer0");
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
      (void)target.drv->delete_link("eth0");
    }
  });
  int moved = 0;
  int refused = 0;
  for (int i = 0; i < 60; ++i) {
    REQUIRE_OK(home.drv->create_veth_pair("veth-1-s", "vc-1-s"));
    auto st = home.drv->move_link_to_netns("vc-1-s", *target.handle, "eth0");
    if (st) {
      ++moved;
      CHECK_FALSE(*home.drv->link_exists("vc-1-s"));
    } else {
      INFO(st.error().what());
      CHECK(st.error().kind() == error_kind::already_exists);
      ++refused;
      CHECK(*home.drv->link_exists("vc-1-s"));
      CHECK_FALSE(*target.drv->link_exists("vc-1-s"));
    }
    REQUIRE_OK(home.drv->delete_link("veth-1-s"));
  }
  stop = true;
  racer.join();
  MESSAGE("moves: ", moved, " renamed, ", refused, " refused");
  CHECK(moved + refused == 60);
}

TEST_CASE("host: a named namespace removed mid-operation is reported") {
  odl::host_unchanged guard;
  odl::session s{"gone"};
  odl::session other{"gone2"};
  REQUIRE_OK(s.drv->create_bridge("zl-g-b"));
  REQUIRE_OK(other.drv->create_veth_pair("veth-3-s", "vc-3-s"));
  s.ns.remove();
  CHECK_FALSE(s.handle->origin_alive());
  auto after = s.drv->create_bridge("zl-g2-b");
  check_kind(after, error_kind::namespace_gone);
  CHECK(after.error().what().find("disappeared") != std::string::npos);
  CHECK(after.error().what().find(s.ns.path()) != std::string::npos);
  check_kind(s.drv->list_links(), error_kind::namespace_gone);
  check_kind(s.drv->delete_link("zl-g-b"), error_kind::namespace_gone);
  // Moving a link into it would lose the link with the namespace: refused,
  // and the link stays where it was.
  check_kind(other.drv->move_link_to_netns("vc-3-s", *s.handle, "eth0"),
             error_kind::namespace_gone);
  CHECK(*other.drv->link_exists("vc-3-s"));
  check_kind(s.host.enter_netns(s.handle), error_kind::namespace_gone);
}

TEST_CASE("host: a process that exits mid-operation is reported") {
  odl::host_unchanged guard;
  odl::scoped_netns ns{"exit"};
  odl::session host_side{"exith"};
  auto child = std::make_unique<odl::child_in_netns>(ns.path());
  pid_t pid = child->pid();
  auto pinned = host_side.host.pin_netns(netns_spec::of_pid(pid));
  REQUIRE_OK(pinned);
  auto inside = host_side.host.enter_netns(*pinned);
  REQUIRE_OK(inside);
  REQUIRE_OK((*inside)->set_link_up("lo"));
  REQUIRE_OK(host_side.drv->create_veth_pair("veth-8-s", "vc-8-s"));

  child->kill();
  CHECK_FALSE((*pinned)->origin_alive());
  auto after = (*inside)->add_address("lo", ip("10.9.0.1"), 32);
  check_kind(after, error_kind::namespace_gone);
  CHECK(after.error().what().find("pid " + std::to_string(pid))
        != std::string::npos);
  CHECK(after.error().what().find("process exited") != std::string::npos);
  check_kind(host_side.drv->move_link_to_netns("vc-8-s", **pinned, "eth0"),
             error_kind::namespace_gone);
  CHECK(*host_side.drv->link_exists("vc-8-s"));
  check_kind(host_side.host.pin_netns(netns_spec::of_pid(pid)),
             error_kind::namespace_gone);
}

TEST_CASE("host: with_netns runs work inside and returns its status") {
  odl::host_unchanged guard;
  odl::session s{"with"};
  netlink_driver host;
  auto st = with_netns(host, s.handle, [](link_driver& inside) {
    return inside.create_bridge("zl-w-b");
  });
  REQUIRE_OK(st);
  CHECK(*s.drv->link_exists("zl-w-b"));
  auto failed = with_netns(host, s.handle, [](link_driver& inside) {
    return inside.set_link_up("missing0");
  });
  check_kind(failed, error_kind::not_found);
}

// The reference's attach_to_interface (spec §5.4) end to end: a "host"
// namespace with a service bridge, a "container" process in its own
// namespace, and traffic between them.
TEST_CASE("host: the container attach sequence gives a working link") {
  odl::host_unchanged guard;
  odl::session node{"node"};
  odl::scoped_netns container_ns{"ctr"};
  odl::child_in_netns container{container_ns.path()};
  auto& drv = *node.drv;
  std::string pid = std::to_string(container.pid());
  std::string veth = "veth-" + pid + "-s";
  std::string vc = "vc-" + pid + "-s";

  REQUIRE_OK(drv.set_link_up("lo"));
  // create_service_bridge
  REQUIRE_OK(drv.create_bridge("zl-d-i-web-b"));
  REQUIRE_OK(drv.set_bridge_stp("zl-d-i-web-b", false));
  REQUIRE_OK(drv.flush_addresses("zl-d-i-web-b"));
  REQUIRE_OK(drv.add_address("zl-d-i-web-b", ip("10.200.0.65"), 26));
  REQUIRE_OK(drv.set_link_up("zl-d-i-web-b"));
  // attach_to_interface
  auto ns = drv.pin_netns(netns_spec::of_pid(container.pid()));
  REQUIRE_OK(ns);
  REQUIRE_OK(drv.delete_link(veth));
  REQUIRE_OK(drv.delete_link(vc));
  REQUIRE_OK(drv.create_veth_pair(veth, vc));
  REQUIRE_OK(drv.move_link_to_netns(vc, **ns, "eth0"));
  auto st = with_netns(node.host, *ns, [](link_driver& inside) -> status {
    if (auto r = inside.add_address("eth0", ip("10.200.0.66"), 26); !r)
      return r;
    if (auto r = inside.set_link_up("eth0"); !r)
      return r;
    if (auto r = inside.set_link_up("lo"); !r)
      return r;
    return inside.add_default_route_via_gateway(ip("10.200.0.65"));
  });
  REQUIRE_OK(st);
  REQUIRE_OK(drv.set_link_up(veth));
  REQUIRE_OK(drv.set_master(veth, "zl-d-i-web-b"));
  CHECK(*drv.bridge_member_count("zl-d-i-web-b") == 1);

  // Traffic stays inside our two namespaces.
  int rc = -1;
  auto out = odl::run("ip netns exec " + container_ns.name()
                        + " ping -c 1 -W 5 10.200.0.65",
                      &rc);
  INFO(out);
  CHECK(rc == 0);

  // Detach: deleting the host end removes the pair from both namespaces.
  REQUIRE_OK(drv.delete_link(veth));
  CHECK(*drv.bridge_member_count("zl-d-i-web-b") == 0);
  auto inside = node.host.enter_netns(*ns);
  REQUIRE_OK(inside);
  CHECK_FALSE(*(*inside)->link_exists("eth0"));
}
