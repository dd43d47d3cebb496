// wg::device's control API on real TUNs: two devices in two namespaces
// (made by host/in_netns.sh) configured only through the C++ API.

#include "wg/io/device.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fcntl.h>
#include <future>
#include <sched.h>
#include <string>
#include <unistd.h>

using namespace overlayd::wg;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

// Runs `fn` on a thread that entered namespace `ns`: the TUN and the UDP
// sockets belong to the namespace of the thread that creates them.
template <class F>
auto in_netns(const std::string& ns, F fn) {
  return std::async(std::launch::async,
                    [ns, fn] {
                      int fd
                        = ::open(("/var/run/netns/" + ns).c_str(), O_RDONLY);
                      REQUIRE(fd >= 0);
                      REQUIRE(::setns(fd, CLONE_NEWNET) == 0);
                      ::close(fd);
                      return fn();
                    })
    .get();
}

int sh(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str());
}

bool ping(const std::string& ns, const std::string& addr, int count = 1) {
  return sh("ip netns exec " + ns + " ping -c " + std::to_string(count)
            + " -i 0.2 -W 2 " + addr)
         == 0;
}

bool ping_retry(const std::string& ns, const std::string& addr) {
  for (int i = 0; i < 3; ++i)
    if (ping(ns, addr))
      return true;
  return false;
}

struct two_devices {
  std::string ns_a = env("OWD_NS_A");
  std::string ns_b = env("OWD_NS_B");
  std::string sfx = env("OWD_SFX");
  key priv_a = key::generate_private();
  key priv_b = key::generate_private();
  key pub_a = priv_a.public_from_private();
  key pub_b = priv_b.public_from_private();
  std::unique_ptr<device> a;
  std::unique_ptr<device> b;

  std::unique_ptr<device> make(const std::string& ns, const std::string& name,
                               const key& priv) {
    return in_netns(ns, [name, priv] {
      device_config cfg;
      cfg.ifname = name;
      cfg.uapi_dir.clear(); // the C++ API only
      cfg.private_key = priv;
      auto dev = device::create(cfg);
      REQUIRE_MESSAGE(dev, (dev ? "" : dev.error().message));
      return std::move(*dev);
    });
  }

  two_devices() {
    REQUIRE_MESSAGE(!ns_a.empty(), "run through host/in_netns.sh");
    a = make(ns_a, "owdca" + sfx, priv_a);
    b = make(ns_b, "owdcb" + sfx, priv_b);
    a->start();
    b->start();
    REQUIRE(sh("ip -n " + ns_a + " addr add 10.242.0.1/24 dev " + a->name())
            == 0);
    REQUIRE(sh("ip -n " + ns_b + " addr add 10.242.0.2/24 dev " + b->name())
            == 0);
    REQUIRE(sh("ip -n " + ns_a + " link set " + a->name() + " up") == 0);
    REQUIRE(sh("ip -n " + ns_b + " link set " + b->name() + " up") == 0);
  }

  endpoint b_endpoint() const {
    return {*ip_address::parse("192.168.242.2"), b->listen_port()};
  }

  // A knows B's endpoint; B only knows A's key and address.
  void connect() {
    peer_config to_b;
    to_b.public_key = pub_b;
    to_b.endpoint = b_endpoint();
    to_b.allowed_ips = {*allowed_ip::parse("10.242.0.2/32")};
    REQUIRE(a->add_or_update_peer(to_b));
    peer_config to_a;
    to_a.public_key = pub_a;
    to_a.allowed_ips = {*allowed_ip::parse("10.242.0.1/32")};
    REQUIRE(b->add_or_update_peer(to_a));
  }
};

} // namespace

TEST_CASE("a device reports its identity and an ephemeral port") {
  two_devices t;
  CHECK(t.a->public_key() == t.pub_a);
  CHECK(t.a->listen_port() != 0);
  CHECK(t.a->status().empty());
}

TEST_CASE("peers are added, used, updated in place and removed") {
  two_devices t;
  auto since = std::chrono::system_clock::now() - 1s;
  t.connect();
  CHECK_FALSE(t.a->check_peer_handshake(t.pub_b, since));
  REQUIRE(ping_retry(t.ns_a, "10.242.0.2"));
  CHECK(ping(t.ns_b, "10.242.0.1"));
  CHECK(t.a->check_peer_handshake(t.pub_b, since));
  CHECK(t.b->check_peer_handshake(t.pub_a, since));
  CHECK_FALSE(
    t.a->check_peer_handshake(t.pub_b, std::chrono::system_clock::now() + 60s));

  auto st = t.b->status_of(t.pub_a);
  REQUIRE(st);
  // Absolute Unix seconds, not "seconds ago".
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count();
  CHECK(st->last_handshake_sec > now - 60);
  CHECK(st->last_handshake_sec <= now);
  CHECK(st->rx_bytes > 0);
  CHECK(st->tx_bytes > 0);
  REQUIRE(st->endpoint); // learned from the authenticated initiation
  CHECK(st->endpoint->address().to_string() == "192.168.242.1");
  CHECK(st->endpoint->port() == t.a->listen_port());

  // Update in place: the session survives, keepalive and IPs change.
  auto hs = st->last_handshake_sec;
  peer_config upd;
  upd.public_key = t.pub_a;
  upd.persistent_keepalive = 25;
  REQUIRE(t.b->add_or_update_peer(upd));
  REQUIRE(t.b->add_allowed_ip(t.pub_a, *allowed_ip::parse("10.99.0.0/16")));
  st = t.b->status_of(t.pub_a);
  REQUIRE(st);
  CHECK(st->persistent_keepalive == 25);
  CHECK(st->last_handshake_sec == hs);
  CHECK(st->allowed_ips.size() == 2);
  CHECK(ping(t.ns_b, "10.242.0.1"));
  REQUIRE(t.b->remove_allowed_ip(t.pub_a, *allowed_ip::parse("10.99.0.0/16")));
  CHECK(t.b->status_of(t.pub_a)->allowed_ips.size() == 1);

  // Removing the allowed IP that routes to A stops B->A.
  REQUIRE(t.b->remove_allowed_ip(t.pub_a, *allowed_ip::parse("10.242.0.1/32")));
  CHECK_FALSE(ping(t.ns_b, "10.242.0.1"));
  REQUIRE(t.b->add_allowed_ip(t.pub_a, *allowed_ip::parse("10.242.0.1/32")));
  CHECK(ping(t.ns_b, "10.242.0.1"));

  // Removal stops traffic; removing again is not an error.
  REQUIRE(t.a->remove_peer(t.pub_b));
  CHECK(t.a->remove_peer(t.pub_b));
  CHECK(t.a->status().empty());
  CHECK_FALSE(ping(t.ns_a, "10.242.0.2"));
}

TEST_CASE("set_endpoint points a peer somewhere else") {
  two_devices t;
  t.connect();
  // A wrong endpoint: no handshake can complete.
  REQUIRE(t.a->set_endpoint(
    t.pub_b, {*ip_address::parse("192.168.242.2"),
              static_cast<std::uint16_t>(t.b->listen_port() ^ 1)}));
  CHECK_FALSE(ping(t.ns_a, "10.242.0.2"));
  REQUIRE(t.a->set_endpoint(t.pub_b, t.b_endpoint()));
  CHECK(ping_retry(t.ns_a, "10.242.0.2"));
  CHECK(t.a->status_of(t.pub_b)->endpoint == t.b_endpoint());
  CHECK_FALSE(t.a->set_endpoint(key::generate_private(), t.b_endpoint()));
}

TEST_CASE("changing the listen port keeps the tunnel working") {
  two_devices t;
  t.connect();
  REQUIRE(ping_retry(t.ns_a, "10.242.0.2"));
  auto old_port = t.b->listen_port();
  auto res = in_netns(t.ns_b, [&] { return t.b->set_listen_port(0); });
  REQUIRE(res);
  CHECK(t.b->listen_port() != 0);
  CHECK(t.b->listen_port() != old_port);
  REQUIRE(t.a->set_endpoint(t.pub_b, t.b_endpoint()));
  CHECK(ping_retry(t.ns_a, "10.242.0.2"));
}

TEST_CASE("a listen port in use is refused and nothing is applied") {
  two_devices t;
  // Another device's socket holds the port in B's namespace.
  auto c = t.make(t.ns_b, "owdcc" + t.sfx, key::generate_private());
  uapi::set_request req;
  req.listen_port = c->listen_port();
  uapi::peer_change pc;
  pc.public_key = t.pub_a;
  req.peers.push_back(pc);
  auto before = t.b->listen_port();
  auto res = in_netns(t.ns_b, [&] { return t.b->uapi_set(req); });
  REQUIRE_FALSE(res);
  CHECK(res.error().code == EADDRINUSE);
  CHECK(t.b->listen_port() == before);
  CHECK(t.b->status().empty()); // the peer was not added either
}

TEST_CASE("stop frees the TUN") {
  two_devices t;
  auto name = t.a->name();
  t.a->stop();
  CHECK(sh("ip -n " + t.ns_a + " link show " + name) != 0);
  t.a->stop(); // idempotent
}
