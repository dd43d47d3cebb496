// The IPAM actor: node-slice allocation through messages, with the
// reference's values and error texts (ipc.md §10.3).
#include "actors/errors.hpp"
#include "actors/ipam.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <filesystem>
#include <fstream>

#include "deterministic.hpp"
#include "ipam/network_state.hpp"

using namespace overlayd;
using actors::ipam_actor;
using actors::ipam_state;

namespace {

net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

net::cidr cidr(const char* text) {
  return *net::cidr::parse(text);
}

struct ipam_fixture : test::deterministic_fixture {
  std::filesystem::path dir = std::filesystem::temp_directory_path()
                              / ("actors-ipam-" + std::to_string(::getpid()));
  ipam_actor ipam;

  ipam_fixture() {
    std::filesystem::create_directories(dir);
    ipam = sys.spawn(actors::ipam, dir);
    run();
  }

  ~ipam_fixture() {
    caf::anon_send_exit(ipam, caf::exit_reason::user_shutdown);
    run();
    std::filesystem::remove_all(dir);
  }

  net::ip_address allocate(const std::string& service = "web") {
    return ask<net::ip_address>(ipam, atom::allocate_v, service, false);
  }
};

} // namespace

TEST_CASE_FIXTURE(ipam_fixture,
                  "a fresh ipam hands out the default slice from .2 upwards") {
  CHECK(allocate() == ip("10.200.0.2"));
  CHECK(allocate("other") == ip("10.200.0.3"));
  CHECK(allocate() == ip("10.200.0.4"));
}

TEST_CASE_FIXTURE(ipam_fixture, "a released address is handed out first") {
  auto a = allocate();
  auto b = allocate();
  CHECK(a != b);
  caf::anon_send(ipam, atom::release_v, a);
  run();
  CHECK(allocate() == a);
  CHECK(allocate() == ip("10.200.0.4"));
}

TEST_CASE_FIXTURE(ipam_fixture, "the node IP is never taken back") {
  caf::anon_send(ipam, atom::release_v, ip("10.200.0.1"));
  run();
  CHECK(allocate() == ip("10.200.0.2"));
}

TEST_CASE_FIXTURE(ipam_fixture,
                  "rebinding answers the node IP and restarts the slice") {
  allocate();
  allocate();
  CHECK(ask<net::ip_address>(ipam, atom::rebind_v, cidr("10.200.0.0/28"))
        == ip("10.200.0.1"));
  CHECK(allocate() == ip("10.200.0.2"));
  CHECK(ask<net::ip_address>(ipam, atom::rebind_v, cidr("fd00:200::/64"))
        == ip("fd00:200::1"));
  CHECK(allocate() == ip("fd00:200::2"));
}

TEST_CASE_FIXTURE(ipam_fixture,
                  "exhaustion is an error with the reference's text") {
  ask<net::ip_address>(ipam, atom::rebind_v, cidr("10.9.0.0/30"));
  CHECK(allocate() == ip("10.9.0.2"));
  // 10.9.0.3 is the broadcast address of the /30.
  auto err = ask_error<net::ip_address>(ipam, atom::allocate_v,
                                        std::string{"web"}, false);
  CHECK(actors::wire_message(err)
        == "overlay engine error: IP allocator exhausted: next address "
           "10.9.0.3 is outside slice 10.9.0.0/30");
}

TEST_CASE("the ipam actor seeds dedicated ports from the marker file") {
  test::deterministic_fixture f;
  auto dir = std::filesystem::temp_directory_path()
             / ("actors-ipam-marker-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ipam::network_state state;
  ipam::managed_network net;
  net.owner = "service:web";
  net.kind = "wg-dedicated";
  net.name = "zl-prod-0-web-d";
  net.id = "PUB";
  net.subnet = "10.200.64.0/26";
  net.wg_port = 51421;
  state.upsert(net);
  REQUIRE(ipam::save_marker(ipam::marker_path(dir), state));
  auto hdl = f.sys.spawn(actors::ipam, dir);
  f.run();
  auto& st
    = f.deref<caf::stateful_actor<ipam_state, ipam_actor::base>>(hdl).state;
  CHECK(st.ports.is_used(51421));
  CHECK(*st.ports.allocate() == 51422);
  caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  f.run();
  std::filesystem::remove_all(dir);
}
