// The relay_server actor with real sockets, all on 127.0.0.1.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include <doctest/doctest.h>

#include "actors/relay_server.hpp"
#include "actors/system_config.hpp"
#include "stun/relay_client.hpp"

using namespace overlayd;
using namespace overlayd::actors;

namespace {

struct relay_fixture {
  static caf::actor_system_config& init(caf::actor_system_config& c) {
    actors::configure(c, 2);
    return c;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{init(cfg)};

  template <class R, class... Ts>
  R ask(const relay_server_actor& a, Ts... xs) {
    caf::scoped_actor self{sys};
    R out{};
    bool got = false;
    self->request(a, std::chrono::seconds(10), xs...)
      .receive(
        [&](R& r) {
          out = std::move(r);
          got = true;
        },
        [&](caf::error& e) { FAIL("unexpected error: " << sys.render(e)); });
    REQUIRE(got);
    return out;
  }
};

stun::relay_server_options loopback_options() {
  stun::relay_server_options o;
  o.config.listen_port = 0;
  o.config.external_addr = "127.0.0.1:3478";
  o.config.max_sessions = 4;
  o.credential = "cluster-secret";
  o.bind_ip = stun::ip_address::parse("127.0.0.1");
  o.socket_buffer_bytes = 0;
  return o;
}

// Whether a UDP socket can bind 127.0.0.1:port (i.e. nobody holds it).
bool port_free(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

} // namespace

TEST_CASE_FIXTURE(relay_fixture, "relay starts once, relays, and stops") {
  auto r = spawn_relay_server(sys, loopback_options());
  CHECK(ask<stun::relay_server_stats>(r, atom::relay_stat_v).sessions == 0);

  auto up = ask<relay_started>(r, atom::relay_up_v);
  REQUIRE(up.error == "");
  REQUIRE(up.address);
  CHECK(up.address->port != 0);
  CHECK(up.address->to_string().rfind("127.0.0.1:", 0) == 0);
  // Started once: the second request answers the same address.
  auto again = ask<relay_started>(r, atom::relay_up_v);
  REQUIRE(again.address);
  CHECK(*again.address == *up.address);
  CHECK(!port_free(up.address->port));

  // A real client allocation shows up in the stats.
  stun::relay_client_options co;
  co.server.address = up.address->to_string();
  co.server.credential = "cluster-secret";
  co.request_timeout = std::chrono::milliseconds(2000);
  auto client = stun::relay_client::create(co);
  REQUIRE(client);
  auto alloc = (*client)->allocate();
  REQUIRE_MESSAGE(alloc.ok(), alloc.error());
  CHECK(ask<stun::relay_server_stats>(r, atom::relay_stat_v).sessions == 1);
  auto relay_port = alloc->port;
  (*client).reset(); // deallocates

  CHECK(ask<bool>(r, atom::relay_down_v));
  CHECK(!ask<bool>(r, atom::relay_down_v)); // idempotent
  CHECK(port_free(up.address->port));
  CHECK(port_free(relay_port));
  CHECK(ask<stun::relay_server_stats>(r, atom::relay_stat_v).sessions == 0);
}

TEST_CASE_FIXTURE(relay_fixture, "a bad external address is an error value") {
  auto o = loopback_options();
  o.config.external_addr = "not-an-address";
  auto r = spawn_relay_server(sys, o);
  auto up = ask<relay_started>(r, atom::relay_up_v);
  CHECK(!up.address);
  CHECK(up.error.find("Invalid external addr") != std::string::npos);
  CHECK(ask<stun::relay_server_stats>(r, atom::relay_stat_v).sessions == 0);
}

TEST_CASE_FIXTURE(relay_fixture, "exiting the actor frees every socket") {
  auto r = spawn_relay_server(sys, loopback_options());
  auto up = ask<relay_started>(r, atom::relay_up_v);
  REQUIRE(up.address);
  auto port = up.address->port;
  {
    caf::scoped_actor self{sys};
    self->monitor(r);
    self->send_exit(r, caf::exit_reason::user_shutdown);
    self->receive([](caf::down_msg&) {});
  }
  r = nullptr;
  // The state (and with it the server) goes when the last handle does.
  for (int i = 0; i < 50 && !port_free(port); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(port_free(port));
}
