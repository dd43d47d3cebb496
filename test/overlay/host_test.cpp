// The orchestration core on real devices (root): each node is a namespace
// with its own engine over the real host driver and real WireGuard devices;
// containers are sleeping processes in namespaces of their own.

#include <doctest/doctest.h>

#include "drivers/host/real_host.hpp"
#include "test/overlay/host_support.hpp"
#include "test/overlay/twin_fixture.hpp"

using namespace overlayd;
using namespace overlayd::overlay;
using namespace overlayd::overlay::testing;

namespace {

/// One node: a namespace, a data directory and an engine living in it.
struct node {
  node_netns ns;
  temp_dir dir;
  std::unique_ptr<drivers::host_driver> host;
  std::unique_ptr<wg_control> wg;
  std::unique_ptr<engine> eng;

  explicit node(const std::string& tag) : ns(tag) {
    in_netns(ns.path(), [&] {
      drivers::real_host_options hopts;
      // Drop-ins go to a private root whose manager directories do not
      // exist: nothing is written, nothing outside the test is touched.
      hopts.config_root = dir.path().string();
      hopts.reload_managers = false;
      hopts.rootless = false;
      host = drivers::make_real_host_driver(hopts);
      wg = make_device_wg_control();
      engine_options opts;
      opts.data_dir = dir.path();
      opts.rootless = false;
      eng = std::make_unique<engine>(*host, *wg, opts);
    });
  }

  ~node() {
    in_netns(ns.path(), [&] {
      eng.reset();
      wg.reset();
      host.reset();
    });
  }

  ipc::response run(const std::function<ipc::response(engine&)>& op) {
    ipc::response out;
    in_netns(ns.path(), [&] { out = op(*eng); });
    return out;
  }

  ipc::response setup_global(const std::string& slice) {
    return run([&](engine& e) {
      ipc::req::setup_global_overlay r;
      r.deployment = "dep";
      r.instance_id = "i0";
      r.cluster_cidr = "10.200.0.0/16";
      r.slice_cidr = slice;
      r.wg_port = 51820;
      return e.setup_global_overlay(r);
    });
  }

  net::ip_address attach(const container& c, const std::string& service) {
    auto r = run([&](engine& e) {
      ipc::req::attach_container a;
      a.handle = ipc::linux_pid_handle{static_cast<std::uint32_t>(c.pid())};
      a.service = service;
      return e.attach_container(a);
    });
    REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::attached>(r),
                    error_of(r));
    return std::get<ipc::resp::attached>(r).ip;
  }

  ipc::resp::status status() {
    return std::get<ipc::resp::status>(
      run([](engine& e) { return e.status(); }));
  }
};

std::string subnet26(const net::ip_address& ip) {
  return net::cidr::make(ip, 26)->trunc().to_string();
}

} // namespace

TEST_CASE("global setup creates a working device; teardown leaves the node "
          "as it was") {
  node n{"g1"};
  auto before = n.ns.fingerprint();
  auto r = n.setup_global("10.200.0.0/28");
  REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::bridge_name>(r),
                  error_of(r));
  auto link = n.ns.exec("ip -o addr show dev zl-dep-i0-g");
  CHECK(link.find("10.200.0.1/16") != std::string::npos);
  CHECK(n.ns.exec("ip -o link show dev zl-dep-i0-g").find("mtu 1420")
        != std::string::npos);
  CHECK(n.ns.exec("iptables -S").find("ZLAYER-OVERLAY") != std::string::npos);
  auto st = n.status();
  CHECK(st.interface == "zl-dep-i0-g");
  CHECK(st.public_key.has_value());
  REQUIRE(std::holds_alternative<ipc::resp::ok>(
    n.run([](engine& e) { return e.shutdown(); })));
  CHECK(n.ns.fingerprint() == before);
}

TEST_CASE("two nodes: keys exchanged, container to container across the "
          "overlay, then everything reverted") {
  node n1{"n1"};
  node n2{"n2"};
  // No IPv6 DAD on the underlay: its link-local address would change
  // state between the two fingerprints.
  for (auto* n : {&n1, &n2})
    n->ns.exec("sysctl -qw net.ipv6.conf.default.accept_dad=0");
  sh("ip link add oor-u1 netns " + n1.ns.name()
     + " type veth peer name oor-u2"
       " netns "
     + n2.ns.name());
  n1.ns.exec("ip addr add 192.168.77.1/24 dev oor-u1");
  n1.ns.exec("ip link set oor-u1 up");
  n2.ns.exec("ip addr add 192.168.77.2/24 dev oor-u2");
  n2.ns.exec("ip link set oor-u2 up");
  // Let both ends report carrier before taking the reference picture.
  for (int i = 0; i < 50; ++i) {
    auto links = n1.ns.exec("ip -o link") + n2.ns.exec("ip -o link")
                 + n1.ns.exec("ip -o addr") + n2.ns.exec("ip -o addr");
    if (links.find("NO-CARRIER") == std::string::npos
        && links.find("tentative") == std::string::npos
        && n2.ns.exec("ip -6 route show table local").find("fe80")
             != std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  auto before1 = n1.ns.fingerprint();
  auto before2 = n2.ns.fingerprint();

  n1.run([](engine& e) { return e.set_local_node_id(1); });
  n2.run([](engine& e) { return e.set_local_node_id(2); });
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n1.setup_global("10.200.0.0/28")));
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n2.setup_global("10.200.0.16/28")));
  for (auto* n : {&n1, &n2})
    REQUIRE(
      std::holds_alternative<ipc::resp::service_overlay>(n->run([](engine& e) {
        return e.setup_service_overlay({"web", ipc::overlay_mode::automatic});
      })));
  container c1;
  container c2;
  auto ip1 = n1.attach(c1, "web");
  auto ip2 = n2.attach(c2, "web");
  CHECK(subnet26(ip1) != subnet26(ip2));

  auto key1 = *n1.status().public_key;
  auto key2 = *n2.status().public_key;
  auto peer = [](const std::string& key, const std::string& endpoint,
                 const std::string& allowed) {
    return ipc::req::add_peer{{key, endpoint, allowed, 0, {}},
                              ipc::peer_scope::global()};
  };
  REQUIRE(std::holds_alternative<ipc::resp::ok>(n1.run([&](engine& e) {
    return e.add_peer(
      peer(key2, "192.168.77.2:51820", "10.200.0.16/28," + subnet26(ip2)));
  })));
  REQUIRE(std::holds_alternative<ipc::resp::ok>(n2.run([&](engine& e) {
    return e.add_peer(
      peer(key1, "192.168.77.1:51820", "10.200.0.0/28," + subnet26(ip1)));
  })));

  int st = -1;
  // The first reply takes 5-35 s (measured): wg::device's TUN loop queues
  // the handshake initiation in its batch outbox but only flushes after
  // sealing transport jobs, and before the first handshake there are none
  // (src/wg/io/device.cpp tun_loop; UdpOutDatagrams stays 0 meanwhile).
  // Reported to the wg module; until it is fixed, wait up to 90 s for the
  // first reply, then require a steady tunnel.
  auto t0 = std::chrono::steady_clock::now();
  auto out = c1.exec("ping -c 1 -w 90 " + ip2.to_string(), &st);
  MESSAGE("first reply after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now() - t0)
               .count()
          << " ms");
  if (st != 0) {
    auto s = n1.status();
    MESSAGE("n1 peers: " << s.peers.size() << " hs "
                         << (s.peers.empty()
                               ? -1
                               : s.peers[0].last_handshake_unix_secs));
    MESSAGE(n1.ns.exec("ip route get " + ip2.to_string()));
    MESSAGE(n1.ns.exec("ip -s link show zl-dep-i0-g"));
    MESSAGE(n2.ns.exec("ip -s link show zl-dep-i0-g"));
    MESSAGE(n1.ns.exec("ip -s link show oor-u1"));
    MESSAGE(n1.ns.exec("ss -uanp"));
    MESSAGE(n2.ns.exec("ss -uanp"));
    MESSAGE(sh("ss -uanp | grep 51820"));
  }
  CHECK_MESSAGE(st == 0, out);
  out = c1.exec("ping -c 3 -i 0.2 -w 5 " + ip2.to_string(), &st);
  CHECK_MESSAGE(st == 0, out);
  out = c2.exec("ping -c 1 -w 5 " + ip1.to_string(), &st);
  CHECK_MESSAGE(st == 0, out);
  auto s1 = n1.status();
  REQUIRE(s1.peers.size() == 1);
  CHECK(s1.peers[0].last_handshake_unix_secs > 0);
  CHECK(s1.peers[0].endpoint == "192.168.77.2:51820");

  for (auto* n : {&n1, &n2})
    REQUIRE(std::holds_alternative<ipc::resp::ok>(
      n->run([](engine& e) { return e.shutdown(); })));
  CHECK(n1.ns.fingerprint() == before1);
  CHECK(n2.ns.fingerprint() == before2);
}

TEST_CASE("shared mode: two services on the node-wide bridge reach each "
          "other") {
  node n{"s1"};
  auto before = n.ns.fingerprint();
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n.setup_global("10.200.0.0/28")));
  for (auto svc : {"api", "web"})
    REQUIRE(
      std::holds_alternative<ipc::resp::service_overlay>(n.run([&](engine& e) {
        return e.setup_service_overlay({svc, ipc::overlay_mode::shared});
      })));
  container a;
  container b;
  auto ipa = n.attach(a, "api");
  auto ipb = n.attach(b, "web");
  CHECK(subnet26(ipa) == subnet26(ipb));
  int st = -1;
  auto out = a.exec("ping -c 2 -i 0.2 -w 5 " + ipb.to_string(), &st);
  CHECK_MESSAGE(st == 0, out);
  // The node reaches its containers through the bridge.
  out = n.ns.exec("ping -c 1 -w 5 " + ipa.to_string(), &st);
  CHECK_MESSAGE(st == 0, out);
  n.run([](engine& e) { return e.shutdown(); });
  CHECK(n.ns.fingerprint() == before);
}

TEST_CASE("dedicated and host_shared on real devices; the dedicated identity "
          "survives a restart") {
  node n{"d1"};
  auto before = n.ns.fingerprint();
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n.setup_global("10.200.0.0/28")));
  auto setup_db = [&] {
    auto r = n.run([](engine& e) {
      return e.setup_service_overlay({"db", ipc::overlay_mode::dedicated});
    });
    REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::service_overlay>(r),
                    error_of(r));
    return std::get<ipc::resp::service_overlay>(r);
  };
  auto info = setup_db();
  CHECK(info.wg_port == std::optional<std::uint16_t>{51421});
  CHECK(n.ns.exec("ss -uan").find(":51421") != std::string::npos);
  CHECK(n.ns.exec("ip -o link show dev zl-dep-i0-db-d").find("UP")
        != std::string::npos);

  ipc::req::attach_container hs;
  hs.handle = ipc::host_shared_handle{"h1"};
  hs.service = "web";
  auto r = n.run([&](engine& e) { return e.attach_container(hs); });
  REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::attached>(r), error_of(r));
  auto alias = std::get<ipc::resp::attached>(r).ip.to_string();
  CHECK(n.ns.exec("ip -o addr show dev zl-dep-i0-g").find(alias + "/32")
        != std::string::npos);
  int st = -1;
  n.ns.exec("ping -c 1 -w 3 " + alias, &st);
  CHECK(st == 0);
  n.run([](engine& e) {
    return e.detach_container({ipc::host_shared_handle{"h1"}});
  });
  CHECK(n.ns.exec("ip -o addr show dev zl-dep-i0-g").find(alias + "/32")
        == std::string::npos);

  // Restart: the daemon stops, a new engine on the same data directory.
  n.run([](engine& e) { return e.shutdown(); });
  in_netns(n.ns.path(), [&] {
    n.eng.reset();
    engine_options opts;
    opts.data_dir = n.dir.path();
    opts.rootless = false;
    n.eng = std::make_unique<engine>(*n.host, *n.wg, opts);
  });
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n.setup_global("10.200.0.0/28")));
  auto again = setup_db();
  CHECK(again.wg_public_key == info.wg_public_key);
  CHECK(again.wg_port == info.wg_port);
  n.run([](engine& e) { return e.teardown_service_overlay("db"); });
  n.run([](engine& e) { return e.shutdown(); });
  CHECK(n.ns.fingerprint() == before);
}
