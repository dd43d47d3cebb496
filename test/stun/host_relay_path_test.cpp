// Host suite (root): WireGuard datagrams over a path other than the
// device's UDP sockets.
//
// 1. The device hook alone: two devices in two namespaces with no link at
//    all, joined only by an in-memory datagram_path; ping and a TCP
//    transfer cross, nothing leaves on UDP.
// 2. The relay path: two devices behind symmetric MASQUERADE routers that
//    drop unsolicited inbound traffic (nat_topology.hpp), our relay server
//    in the public namespace. A's endpoint for B is B's relay address; the
//    ping crosses the WireGuard tunnel through the relay, B's endpoint for
//    A roams to A's relay address, and a direct probe never arrives.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "nat_topology.hpp"
#include "stun/nat_runtime.hpp"
#include "stun/relay_path.hpp"
#include "stun/relay_server.hpp"
#include "stun/udp_socket.hpp"
#include "wg/io/datagram_path.hpp"
#include "wg/io/device.hpp"

using namespace overlayd;
using namespace std::chrono_literals;
using overlayd::test::exec_in;
using overlayd::test::inside_netns;
using overlayd::test::ip_in;
using overlayd::test::run;

namespace {

// A namespace of our own, deleted on destruction.
struct netns {
  std::string name;
  bool ok = false;
  explicit netns(std::string n) : name(std::move(n)) {
    ok
      = run({"ip", "netns", "add", name}) == 0 && ip_in(name, "link set lo up");
  }
  ~netns() { run({"ip", "netns", "del", name}); }
};

std::string unique(const std::string& what) {
  return "rp-" + what + "-" + std::to_string(::getpid() % 100000);
}

// Pings until one reply (or `tries` seconds pass, one ping each).
bool ping(const std::string& ns, const std::string& to, int tries = 20) {
  for (int i = 0; i < tries; ++i)
    if (exec_in(ns, {"ping", "-c", "1", "-W", "1", "-q", to}))
      return true;
  return false;
}

// UDP OutDatagrams of a namespace, from its /proc/net/snmp.
long udp_out_datagrams(const std::string& ns) {
  std::string file
    = std::filesystem::temp_directory_path() / (unique("snmp") + ".txt");
  run({"ip", "netns", "exec", ns, "cat", "/proc/net/snmp"}, nullptr, file);
  std::ifstream in(file);
  std::string header, values, line;
  while (std::getline(in, line))
    if (line.rfind("Udp: ", 0) == 0) {
      if (header.empty())
        header = line;
      else
        values = line;
    }
  std::filesystem::remove(file);
  std::istringstream h(header), v(values);
  std::string name, value;
  while (h >> name && v >> value)
    if (name == "OutDatagrams")
      return std::stol(value);
  return -1;
}

std::unique_ptr<wg::device> make_device(const std::string& ns,
                                        const std::string& ifname,
                                        const wg::key& priv,
                                        const std::string& cidr) {
  std::unique_ptr<wg::device> dev;
  inside_netns(ns, [&] {
    wg::device_config cfg;
    cfg.ifname = ifname;
    cfg.uapi_dir = "";
    cfg.private_key = priv;
    auto d = wg::device::create(cfg);
    REQUIRE_MESSAGE(static_cast<bool>(d), d.error().message);
    dev = std::move(*d);
  });
  REQUIRE(ip_in(ns, "addr add " + cidr + " dev " + dev->name()));
  REQUIRE(ip_in(ns, "link set " + dev->name() + " up"));
  return dev;
}

wg::peer_config peer_of(const wg::device& other, const std::string& ip,
                        std::optional<wg::endpoint> ep = std::nullopt) {
  wg::peer_config pc;
  pc.public_key = *other.public_key();
  pc.allowed_ips = {*wg::allowed_ip::parse(ip)};
  pc.endpoint = ep;
  return pc;
}

// An in-memory path: claims one endpoint and delivers what is sent there
// to another device as if it came from `self`. A thread in between keeps
// the two devices' receive paths from calling into each other.
class wire_path final : public wg::datagram_path {
public:
  wire_path(wg::endpoint claimed, wg::endpoint self)
    : claimed_(claimed), self_(self) {
    thread_ = std::thread([this] { deliver(); });
  }
  ~wire_path() override {
    {
      std::lock_guard l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void connect(wg::device* to) { to_ = to; }

  bool claims(const wg::endpoint& to) override { return to == claimed_; }
  void send(const wg::endpoint& to, std::span<const std::uint8_t> d) override {
    CHECK(to == claimed_);
    carried++;
    auto seen = largest.load();
    while (d.size() > seen && !largest.compare_exchange_weak(seen, d.size())) {
    }
    std::lock_guard l(mu_);
    queue_.emplace_back(d.begin(), d.end());
    cv_.notify_one();
  }

  std::atomic<std::uint64_t> carried{0};
  std::atomic<std::size_t> largest{0};

private:
  void deliver() {
    std::unique_lock l(mu_);
    for (;;) {
      cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
      if (stop_)
        return;
      auto d = std::move(queue_.front());
      queue_.pop_front();
      l.unlock();
      if (auto* dev = to_.load())
        dev->inject_datagram(self_, d);
      l.lock();
    }
  }

  wg::endpoint claimed_, self_;
  std::atomic<wg::device*> to_{nullptr};
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<std::uint8_t>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

} // namespace

TEST_CASE("device hook: a datagram_path carries the tunnel, UDP stays idle") {
  netns na(unique("fa")), nb(unique("fb"));
  REQUIRE(na.ok);
  REQUIRE(nb.ok);
  auto ka = wg::key::generate_private();
  auto kb = wg::key::generate_private();
  auto a = make_device(na.name, "rp-hook0", ka, "10.99.0.1/24");
  auto b = make_device(nb.name, "rp-hook1", kb, "10.99.0.2/24");
  // Addresses nobody owns; only the paths know where they lead.
  auto ep_a = *wg::endpoint::parse("192.0.2.1:4001");
  auto ep_b = *wg::endpoint::parse("192.0.2.2:4002");
  auto path_a = std::make_shared<wire_path>(ep_b, ep_a);
  auto path_b = std::make_shared<wire_path>(ep_a, ep_b);
  path_a->connect(b.get());
  path_b->connect(a.get());
  a->set_datagram_path(path_a);
  b->set_datagram_path(path_b);
  a->start();
  b->start();
  // Only A knows where B is; B learns A's endpoint by roaming.
  REQUIRE(static_cast<bool>(
    a->add_or_update_peer(peer_of(*b, "10.99.0.2/32", ep_b))));
  REQUIRE(
    static_cast<bool>(b->add_or_update_peer(peer_of(*a, "10.99.0.1/32"))));
  long udp_before = udp_out_datagrams(na.name);

  CHECK(ping(na.name, "10.99.0.2"));
  auto st = b->status_of(*a->public_key());
  REQUIRE(st.has_value());
  REQUIRE(st->endpoint.has_value());
  CHECK(*st->endpoint == ep_a);
  CHECK(path_a->carried.load() > 0);
  CHECK(path_b->carried.load() > 0);

  // A TCP stream: TSO from the TUN gives vectors of same-size datagrams to
  // one endpoint, which the UDP path would coalesce into GSO sends.
  pid_t server = -1;
  REQUIRE(run({"ip", "netns", "exec", nb.name, "iperf3", "-s", "-1", "-B",
               "10.99.0.2"},
              &server)
          == 0);
  bool sent = false;
  for (int i = 0; i < 20 && !sent; ++i) {
    std::this_thread::sleep_for(100ms); // until the server listens
    sent = exec_in(na.name, {"iperf3", "-c", "10.99.0.2", "-n", "8M"});
  }
  ::kill(server, SIGTERM);
  ::waitpid(server, nullptr, 0);
  CHECK(sent);
  // 8 MiB in datagrams of at most the MTU: thousands went by the path
  // (iperf3 may end before its last bytes left the socket buffer), one
  // WireGuard datagram at a time, never a GSO super-datagram.
  CHECK(path_a->carried.load() > 2000);
  CHECK(path_a->largest.load() <= 1420 + 32);
  CHECK(b->engine_stats().data_packets_received > 2000);
  // The sockets sent nothing; there is no link to send on anyway.
  CHECK(udp_out_datagrams(na.name) == udp_before);

  a->stop();
  b->stop();
  a->set_datagram_path(nullptr);
  b->set_datagram_path(nullptr);
}

TEST_CASE("relay path: WireGuard across two symmetric NATs through the relay") {
  test::nat_topology lab({"rp-", false});
  REQUIRE(lab.ok());

  stun::relay_server_options so;
  so.config = {3479, "198.51.100.1:3479", 10};
  so.credential = "cluster-secret";
  stun::relay_server server(so);
  lab.inside(lab.pub(), [&] { REQUIRE(server.start().ok()); });

  stun::nat_config cfg;
  cfg.stun_servers.clear(); // no STUN here: only host and relay candidates
  cfg.turn_servers
    = {{"198.51.100.1:3479", "node", "cluster-secret", std::nullopt}};

  struct node {
    std::unique_ptr<wg::device> dev;
    std::unique_ptr<stun::nat_runtime> rt;
    std::unique_ptr<stun::relay_path> path;
    stun::udp_endpoint relay;
  };
  auto make_node = [&](const std::string& ns, const std::string& ifname,
                       const std::string& cidr) {
    node n;
    n.dev = make_device(ns, ifname, wg::key::generate_private(), cidr);
    stun::nat_runtime_options o;
    o.wg_port = n.dev->listen_port();
    o.read_network = [] { return std::optional<stun::network_snapshot>{}; };
    n.rt = std::make_unique<stun::nat_runtime>(o);
    // The relay client's socket and thread come up in the home namespace.
    lab.inside(ns, [&] {
      auto g = n.rt->services().gather(cfg);
      REQUIRE_MESSAGE(g.ok(), g.error());
      bool found = false;
      for (const auto& c : g->candidates)
        if (c.type == stun::candidate_type::relay) {
          n.relay = c.address;
          found = true;
        }
      REQUIRE(found);
    });
    n.path = stun::make_relay_path(*n.rt, *n.dev);
    n.dev->start();
    return n;
  };
  node a = make_node(lab.h1(), "rp-wga", "10.99.0.1/24");
  node b = make_node(lab.h2(), "rp-wgb", "10.99.0.2/24");
  CHECK(a.relay.ip.to_string() == "198.51.100.1");
  CHECK(b.relay.ip.to_string() == "198.51.100.1");
  CHECK(a.relay.port != b.relay.port);

  // Each side learns the other's relay candidate (as add_peer would bring
  // it) and registers it: the permissions are created at once.
  CHECK(a.path->add_peer_relay(b.relay));
  CHECK(b.path->add_peer_relay(a.relay));
  // A remote node's loopback relay candidate is refused.
  CHECK_FALSE(
    a.path->add_peer_relay(*stun::udp_endpoint::parse("127.0.0.1:40000")));
  CHECK(a.path->claims(b.relay));

  // A direct path does not exist: a probe to where a port-preserving NAT
  // would have mapped B is sent first and never arrives, while the
  // relayed traffic below does.
  std::optional<stun::udp_socket> probe_rx;
  lab.inside(lab.h2(), [&] {
    auto s = stun::udp_socket::bind(
      AF_INET, *stun::udp_endpoint::parse("0.0.0.0:45000"));
    REQUIRE(s.ok());
    probe_rx = std::move(*s);
  });
  lab.inside(lab.h1(), [&] {
    auto s = stun::udp_socket::bind(
      AF_INET, *stun::udp_endpoint::parse("0.0.0.0:45000"));
    REQUIRE(s.ok());
    const std::uint8_t hi[] = {'d', 'i', 'r', 'e', 'c', 't'};
    CHECK(
      s->send_to(hi, *stun::udp_endpoint::parse("198.51.100.6:45000")).ok());
    CHECK(s->send_to(hi, *stun::udp_endpoint::parse("10.2.0.2:45000")).ok());
  });

  // A knows B only by B's relay address; B knows nothing of A's endpoint.
  REQUIRE(static_cast<bool>(a.dev->add_or_update_peer(
    peer_of(*b.dev, "10.99.0.2/32", stun::to_wg_endpoint(b.relay)))));
  REQUIRE(static_cast<bool>(
    b.dev->add_or_update_peer(peer_of(*a.dev, "10.99.0.1/32"))));

  CHECK(ping(lab.h1(), "10.99.0.2"));
  CHECK(ping(lab.h2(), "10.99.0.1")); // and back, on B's own initiative

  // It went through the relay: both paths carried DATA, the relay
  // forwarded it, B's endpoint for A roamed to A's relay address.
  auto st = b.dev->status_of(*a.dev->public_key());
  REQUIRE(st.has_value());
  REQUIRE(st->endpoint.has_value());
  CHECK(stun::to_udp_endpoint(*st->endpoint) == a.relay);
  auto ca = a.path->counters();
  auto cb = b.path->counters();
  CHECK(ca.sent > 0);
  CHECK(ca.received > 0);
  CHECK(cb.sent > 0);
  CHECK(cb.received > 0);
  CHECK(ca.permissions >= 1);
  CHECK(cb.permissions >= 1);
  CHECK(server.stats().to_client_packets >= ca.received + cb.received);
  CHECK(b.path->ready(a.relay));

  // A TCP stream through the relay: runs of equal-size datagrams leave in
  // batches (UDP GSO on the relay client's socket) and arrive in batches.
  auto before = b.dev->engine_stats().data_packets_received;
  pid_t iperf = -1;
  REQUIRE(run({"ip", "netns", "exec", lab.h2(), "iperf3", "-s", "-1", "-B",
               "10.99.0.2"},
              &iperf)
          == 0);
  bool streamed = false;
  for (int i = 0; i < 20 && !streamed; ++i) {
    std::this_thread::sleep_for(100ms); // until the server listens
    streamed = exec_in(lab.h1(), {"iperf3", "-c", "10.99.0.2", "-n", "8M"});
  }
  ::kill(iperf, SIGTERM);
  ::waitpid(iperf, nullptr, 0);
  CHECK(streamed);
  CHECK(b.dev->engine_stats().data_packets_received - before > 2000);
  CHECK(a.path->counters().sent > ca.sent + 2000);

  // The probe, sent before any of that, never came.
  std::uint8_t buf[64];
  CHECK(::recv(probe_rx->fd(), buf, sizeof buf, MSG_DONTWAIT) < 0);

  a.path.reset();
  b.path.reset();
  a.dev->stop();
  b.dev->stop();
  a.rt->shutdown();
  b.rt->shutdown();
  server.stop();
}
