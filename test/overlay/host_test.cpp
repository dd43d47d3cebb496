// The orchestration core on real devices (root): each node is a namespace
// with its own engine over the real host driver and real WireGuard devices;
// containers are sleeping processes in namespaces of their own.

#include <doctest/doctest.h>

#include <net/if.h>

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
  sh("ip link add oot-u1 netns " + n1.ns.name()
     + " type veth peer name oot-u2"
       " netns "
     + n2.ns.name());
  n1.ns.exec("ip addr add 192.168.77.1/24 dev oot-u1");
  n1.ns.exec("ip link set oot-u1 up");
  n2.ns.exec("ip addr add 192.168.77.2/24 dev oot-u2");
  n2.ns.exec("ip link set oot-u2 up");
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
  // The first reply needs one handshake; since the TUN loop flushes
  // queued initiations (src/wg/io/device.cpp) it comes within ~1 s.
  auto t0 = std::chrono::steady_clock::now();
  auto out = c1.exec("ping -c 1 -w 10 " + ip2.to_string(), &st);
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
    MESSAGE(n1.ns.exec("ip -s link show oot-u1"));
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

namespace {

/// Joins two namespaces with a veth underlay (.1 and .2 on
/// 192.168.<net>.0/24) and waits until both ends carry traffic.
void underlay(const node_netns& n1, const node_netns& n2,
              const std::string& tag, int net) {
  auto a = "oot-" + tag + "a";
  auto b = "oot-" + tag + "b";
  auto prefix = "192.168." + std::to_string(net) + ".";
  // No IPv6 DAD: the link-local address would change state between the
  // fingerprints.
  for (auto* n : {&n1, &n2})
    n->exec("sysctl -qw net.ipv6.conf.default.accept_dad=0");
  sh("ip link add " + a + " netns " + n1.name() + " type veth peer name " + b
     + " netns " + n2.name());
  n1.exec("ip addr add " + prefix + "1/24 dev " + a);
  n1.exec("ip link set " + a + " up");
  n2.exec("ip addr add " + prefix + "2/24 dev " + b);
  n2.exec("ip link set " + b + " up");
  for (int i = 0; i < 50; ++i) {
    if ((n1.exec("ip -o link") + n2.exec("ip -o link")).find("NO-CARRIER")
        == std::string::npos)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
}

ipc::resp::service_overlay setup_service(node& n, const std::string& svc,
                                         ipc::overlay_mode mode) {
  auto r = n.run([&](engine& e) {
    return e.setup_service_overlay({svc, mode});
  });
  REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::service_overlay>(r),
                  error_of(r));
  return std::get<ipc::resp::service_overlay>(r);
}

/// Pings until the first reply (at most `secs`); the time it took in ms,
/// or -1 with the output logged.
long first_reply_ms(const container& c, const net::ip_address& to,
                    int secs = 10) {
  int st = -1;
  auto t0 = std::chrono::steady_clock::now();
  auto out = c.exec(
    "ping -c 1 -w " + std::to_string(secs) + " " + to.to_string(), &st);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - t0)
              .count();
  if (st != 0) {
    MESSAGE(out);
    return -1;
  }
  return ms;
}

} // namespace

TEST_CASE("dedicated mode across two nodes: service-scope keys, container "
          "to container over the dedicated device") {
  node n1{"dd1"};
  node n2{"dd2"};
  underlay(n1.ns, n2.ns, "dd", 78);
  auto before1 = n1.ns.fingerprint();
  auto before2 = n2.ns.fingerprint();
  n1.run([](engine& e) { return e.set_local_node_id(1); });
  n2.run([](engine& e) { return e.set_local_node_id(2); });
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n1.setup_global("10.200.0.0/28")));
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n2.setup_global("10.200.0.16/28")));
  auto d1 = setup_service(n1, "db", ipc::overlay_mode::dedicated);
  auto d2 = setup_service(n2, "db", ipc::overlay_mode::dedicated);
  REQUIRE(d1.subnet);
  REQUIRE(d2.subnet);
  CHECK(*d1.subnet != *d2.subnet);
  CHECK(*d1.wg_public_key != *d2.wg_public_key);
  container c1;
  container c2;
  auto ip1 = n1.attach(c1, "db");
  auto ip2 = n2.attach(c2, "db");
  auto peer
    = [](const ipc::resp::service_overlay& other, const std::string& host) {
        return ipc::req::add_peer{{*other.wg_public_key,
                                   host + ":" + std::to_string(*other.wg_port),
                                   *other.subnet,
                                   0,
                                   {}},
                                  ipc::peer_scope::of_service("db")};
      };
  REQUIRE(std::holds_alternative<ipc::resp::ok>(
    n1.run([&](engine& e) { return e.add_peer(peer(d2, "192.168.78.2")); })));
  REQUIRE(std::holds_alternative<ipc::resp::ok>(
    n2.run([&](engine& e) { return e.add_peer(peer(d1, "192.168.78.1")); })));
  // The engine routes each service peer's allowed IPs (the remote
  // subnet) onto the dedicated device; the cluster /16 would otherwise
  // carry them on the global device, which has no peer for them.
  CHECK(n1.ns.exec("ip route show " + *d2.subnet).find("zl-dep-i0-db-d")
        != std::string::npos);

  auto ms = first_reply_ms(c1, ip2);
  MESSAGE("first reply over the dedicated device after " << ms << " ms");
  CHECK(ms >= 0);
  CHECK(first_reply_ms(c2, ip1, 5) >= 0);
  if (ms < 0)
    for (auto* n : {&n1, &n2})
      MESSAGE(n->ns.exec("sh -c 'ip route; ip -s link show zl-dep-i0-db-d; "
                         "ip route get "
                         + ip1.to_string() + "; ip route get " + ip2.to_string()
                         + "'"));
  // Over the dedicated device: the global device has no peer at all.
  auto s1 = n1.status();
  CHECK(s1.peers.empty());
  REQUIRE(s1.dedicated_services.size() == 1);
  CHECK(s1.dedicated_services[0].peer_count == 1);

  for (auto* n : {&n1, &n2}) {
    n->run([](engine& e) { return e.teardown_service_overlay("db"); });
    REQUIRE(std::holds_alternative<ipc::resp::ok>(
      n->run([](engine& e) { return e.shutdown(); })));
  }
  CHECK(n1.ns.fingerprint() == before1);
  CHECK(n2.ns.fingerprint() == before2);
}

TEST_CASE("two isolated networks: allowed within, blocked across; the last "
          "leaver takes its rules") {
  node n{"iso"};
  auto before = n.ns.fingerprint();
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n.setup_global("10.200.0.0/28")));
  setup_service(n, "web", ipc::overlay_mode::automatic);
  setup_service(n, "api", ipc::overlay_mode::automatic);
  // Members on different bridges, so traffic is routed through the node's
  // FORWARD chain (same-bridge fencing would need br_netfilter, which is
  // host-wide).
  auto attach
    = [&](const container& c, const std::string& svc, const std::string& net) {
        ipc::req::attach_container a;
        a.handle = ipc::linux_pid_handle{static_cast<std::uint32_t>(c.pid())};
        a.service = svc;
        a.isolation_network = net;
        auto r = n.run([&](engine& e) { return e.attach_container(a); });
        REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::attached>(r),
                        error_of(r));
        return std::get<ipc::resp::attached>(r).ip;
      };
  container blue1;
  container blue2;
  container red1;
  auto b1 = attach(blue1, "web", "blue");
  auto b2 = attach(blue2, "api", "blue");
  auto r1 = attach(red1, "api", "red");
  CHECK(first_reply_ms(blue1, b2, 5) >= 0);
  CHECK(first_reply_ms(blue2, b1, 5) >= 0);
  int st = -1;
  blue1.exec("ping -c 2 -i 0.2 -w 2 " + r1.to_string(), &st);
  CHECK(st != 0);
  red1.exec("ping -c 2 -i 0.2 -w 2 " + b1.to_string(), &st);
  CHECK(st != 0);
  auto rules = n.ns.exec("iptables -S");
  CHECK(rules.find(r1.to_string()) != std::string::npos);
  n.run([&](engine& e) {
    return e.detach_container(
      {ipc::linux_pid_handle{static_cast<std::uint32_t>(red1.pid())}});
  });
  rules = n.ns.exec("iptables -S");
  CHECK(rules.find(r1.to_string()) == std::string::npos);
  CHECK(rules.find(b1.to_string()) != std::string::npos);
  n.run([](engine& e) { return e.shutdown(); });
  CHECK(n.ns.fingerprint() == before);
}

namespace {

/// wireguard-go serving `ifname` in namespace `ns`, in the foreground of a
/// child process that is killed on scope exit (its TUN goes with it).
class wireguard_go {
public:
  wireguard_go(const node_netns& ns, const std::string& ifname)
    : socket_("/var/run/wireguard/" + ifname + ".sock") {
    // A socket left by a killed run of this test would be taken as live.
    std::filesystem::remove(socket_);
    pid_ = ::fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      ::setenv("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1", 1);
      ::execlp("ip", "ip", "netns", "exec", ns.name().c_str(), "wireguard-go",
               "-f", ifname.c_str(), nullptr);
      ::_exit(127);
    }
    for (int i = 0; i < 100; ++i) {
      // `wg` talks to the UAPI socket, which comes after the TUN.
      if (ns.exec("ip -o link show dev " + ifname).find(ifname)
            != std::string::npos
          && std::filesystem::exists(socket_))
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    stop();
    throw std::runtime_error("wireguard-go did not create " + ifname);
  }
  ~wireguard_go() { stop(); }
  wireguard_go(const wireguard_go&) = delete;
  wireguard_go& operator=(const wireguard_go&) = delete;

private:
  void stop() {
    if (pid_ > 0) {
      // SIGTERM lets it remove its socket; SIGKILL if it lingers.
      ::kill(pid_, SIGTERM);
      bool reaped = false;
      for (int i = 0; i < 40 && !reaped; ++i) {
        reaped = ::waitpid(pid_, nullptr, WNOHANG) == pid_;
        if (!reaped)
          std::this_thread::sleep_for(std::chrono::milliseconds{50});
      }
      // Only while unreaped is the pid still surely ours.
      if (!reaped) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
      }
      pid_ = -1;
    }
    std::error_code ec;
    std::filesystem::remove(socket_, ec);
  }
  std::string socket_;
  pid_t pid_ = -1;
};

} // namespace

TEST_CASE("guest_managed: WireGuard guests brought up from the returned "
          "configs ping the node, from the slice and from a bridge pool") {
  node n{"gn"};
  node_netns guest{"gg"};
  underlay(n.ns, guest, "gu", 79);
  auto before = n.ns.fingerprint();
  REQUIRE(std::holds_alternative<ipc::resp::bridge_name>(
    n.setup_global("10.200.0.0/28")));
  REQUIRE(
    std::holds_alternative<ipc::resp::service_overlay>(n.run([](engine& e) {
      return e.setup_service_overlay({"web", ipc::overlay_mode::automatic});
    })));
  auto node_ip = *n.status().node_ip;

  // One guest per address source: "plain" has no bridge (node slice),
  // "web" has one (its pool; the node must route the guest's /32 into the
  // WireGuard device, not to the bridge that owns the subnet).
  auto run_guest = [&](const std::string& id, const std::string& service,
                       const std::string& ifname) {
    CAPTURE(service);
    ipc::req::attach_container a;
    a.handle = ipc::guest_managed_handle{id};
    a.service = service;
    auto r = n.run([&](engine& e) { return e.attach_container(a); });
    REQUIRE_MESSAGE(std::holds_alternative<ipc::resp::guest_config>(r),
                    error_of(r));
    auto cfg = std::get<ipc::resp::guest_config>(r);
    REQUIRE(cfg.peers.size() == 1);
    CHECK(cfg.peers[0].endpoint == node_ip.to_string() + ":51820");

    // The guest's config, except the endpoint: the node's overlay address
    // is what a guest behind the node's own network would dial; this guest
    // sits on the underlay, so it dials the node's underlay address.
    wireguard_go wg{guest, ifname};
    auto key_file = n.dir.path() / (id + ".key");
    {
      std::FILE* f = std::fopen(key_file.c_str(), "w");
      REQUIRE(f != nullptr);
      std::fputs(cfg.private_key.c_str(), f);
      std::fclose(f);
    }
    int st = -1;
    auto out = guest.exec(
      "wg set " + ifname + " private-key " + key_file.string() + " peer "
        + cfg.peers[0].public_key + " endpoint 192.168.79.1:51820 allowed-ips "
        + cfg.peers[0].allowed_ips + " persistent-keepalive "
        + std::to_string(cfg.peers[0].persistent_keepalive_secs),
      &st);
    REQUIRE_MESSAGE(st == 0, out);
    CHECK(guest.exec("wg show " + ifname + " public-key").find(cfg.public_key)
          != std::string::npos);
    guest.exec("ip addr add " + cfg.overlay_ip.to_string() + "/"
               + std::to_string(int{cfg.prefix_len}) + " dev " + ifname);
    guest.exec("ip link set " + ifname + " up");
    guest.exec("ip route replace " + cfg.peers[0].allowed_ips + " dev "
               + ifname);

    auto t0 = std::chrono::steady_clock::now();
    out = guest.exec("ping -c 1 -w 10 " + node_ip.to_string(), &st);
    MESSAGE(id << ": guest's first reply after "
               << std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - t0)
                    .count()
               << " ms");
    CHECK_MESSAGE(st == 0, out);
    // The node sees the guest as a peer that has shaken hands.
    bool handshaken = false;
    for (auto& p : n.status().peers)
      handshaken |= p.last_handshake_unix_secs > 0;
    CHECK(handshaken);

    n.run([&](engine& e) {
      return e.detach_container({ipc::guest_managed_handle{id}});
    });
    CHECK(n.status().peers.empty());
    // No route of the guest's address is left.
    CHECK(n.ns.exec("ip route show " + cfg.overlay_ip.to_string()) == "");
  };
  run_guest("vm1", "plain", "oot-wg0");
  run_guest("vm2", "web", "oot-wg1");

  n.run([](engine& e) { return e.shutdown(); });
  CHECK(n.ns.fingerprint() == before);
}

TEST_CASE("kill -9 mid-attach: a fresh engine sweeps the veths, prunes the "
          "bridge and the node is left as found") {
  node_netns ns{"kl"};
  temp_dir dir;
  auto before = ns.fingerprint();
  auto c1 = std::make_unique<container>();
  auto pid1 = static_cast<std::uint32_t>(c1->pid());
  auto veth1 = "veth-" + std::to_string(pid1) + "-s";

  // The daemon: its own process, killed once the attach's host veth exists.
  pid_t daemon = ::fork();
  if (daemon == 0) {
    int fd = ::open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0)
      ::_exit(2);
    drivers::real_host_options hopts;
    hopts.config_root = dir.path().string();
    hopts.reload_managers = false;
    hopts.rootless = false;
    auto host = drivers::make_real_host_driver(hopts);
    auto wg = make_device_wg_control();
    engine_options opts;
    opts.data_dir = dir.path();
    opts.rootless = false;
    engine e{*host, *wg, opts};
    ipc::req::setup_global_overlay g;
    g.deployment = "dep";
    g.instance_id = "i0";
    g.cluster_cidr = "10.200.0.0/16";
    g.slice_cidr = "10.200.0.0/28";
    g.wg_port = 51820;
    if (!std::holds_alternative<ipc::resp::bridge_name>(
          e.setup_global_overlay(g)))
      ::_exit(3);
    if (!std::holds_alternative<ipc::resp::service_overlay>(
          e.setup_service_overlay({"web", ipc::overlay_mode::automatic})))
      ::_exit(4);
    ipc::req::attach_container a;
    a.handle = ipc::linux_pid_handle{pid1};
    a.service = "web";
    a.join_global = true;
    e.attach_container(a);
    ::pause();
    ::_exit(0);
  }
  REQUIRE(daemon > 0);
  bool seen = false;
  in_netns(ns.path(), [&] {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
    while (std::chrono::steady_clock::now() < deadline) {
      if (::if_nametoindex(veth1.c_str()) != 0) {
        seen = true;
        break;
      }
    }
    ::kill(daemon, SIGKILL);
  });
  int wst = 0;
  ::waitpid(daemon, &wst, 0);
  REQUIRE_MESSAGE(seen, "daemon exit status " << wst);
  MESSAGE(
    "container eth0 at the kill: " << c1->exec("ip -o addr show dev eth0"));
  // The crash left the bridge, the veth and the firewall rules behind.
  CHECK(ns.exec("ip -o link show").find("zl-dep-i0-web-b")
        != std::string::npos);
  CHECK(ns.exec("iptables -S").find("ZLAYER-OVERLAY") != std::string::npos);
  // The container went down with it; a veth pair that was never moved
  // into it stays behind in the node.
  c1.reset();
  MESSAGE("left in the node after the container died: "
          << ns.exec("sh -c 'ip -o link show | grep -o \"v[a-z]*-"
                     + std::to_string(pid1) + "-[a-z]*\" || true'"));

  // Restart: a fresh engine on the same data directory.
  std::unique_ptr<drivers::host_driver> host;
  std::unique_ptr<wg_control> wg;
  std::unique_ptr<engine> eng;
  auto run = [&](const std::function<ipc::response(engine&)>& op) {
    ipc::response out;
    in_netns(ns.path(), [&] { out = op(*eng); });
    return out;
  };
  in_netns(ns.path(), [&] {
    drivers::real_host_options hopts;
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
  auto cleanup = [&] {
    in_netns(ns.path(), [&] {
      eng.reset();
      wg.reset();
      host.reset();
    });
  };
  ipc::req::setup_global_overlay g;
  g.deployment = "dep";
  g.instance_id = "i0";
  g.cluster_cidr = "10.200.0.0/16";
  g.slice_cidr = "10.200.0.0/28";
  g.wg_port = 51820;
  auto r = run([&](engine& e) { return e.setup_global_overlay(g); });
  CHECK_MESSAGE(std::holds_alternative<ipc::resp::bridge_name>(r), error_of(r));
  r = run([](engine& e) {
    return e.setup_service_overlay({"api", ipc::overlay_mode::automatic});
  });
  CHECK_MESSAGE(std::holds_alternative<ipc::resp::service_overlay>(r),
                error_of(r));
  // An attach sweeps the veths of dead processes first.
  container c2;
  ipc::req::attach_container a;
  a.handle = ipc::linux_pid_handle{static_cast<std::uint32_t>(c2.pid())};
  a.service = "api";
  r = run([&](engine& e) { return e.attach_container(a); });
  CHECK_MESSAGE(std::holds_alternative<ipc::resp::attached>(r), error_of(r));
  CHECK(ns.exec("ip -o link show").find("-" + std::to_string(pid1) + "-")
        == std::string::npos);
  r = run(
    [](engine& e) { return e.prune_orphan_bridges({"zl-dep-i0-api-b"}); });
  REQUIRE(std::holds_alternative<ipc::resp::pruned_bridges>(r));
  CHECK(std::get<ipc::resp::pruned_bridges>(r).reclaimed
        == std::vector<std::string>{"zl-dep-i0-web-b"});
  run([&](engine& e) { return e.detach_container({a.handle}); });
  run([](engine& e) { return e.teardown_service_overlay("api"); });
  run([](engine& e) { return e.shutdown(); });
  cleanup();
  CHECK(ns.fingerprint() == before);
}
