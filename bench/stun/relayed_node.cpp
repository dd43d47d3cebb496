// A WireGuard node whose device can reach peers through our relay (not a
// test; used by bench/stun/relayed_path.sh).
//
//   stun_relayed_node relay LISTEN_PORT EXTERNAL_ADDR
//       runs our relay server until SIGTERM/SIGINT.
//   stun_relayed_node node IFNAME RELAY_ADDR STATE_DIR
//       creates the device IFNAME with a UAPI socket (configure it with
//       wg(8)), allocates on the relay, writes its relay address to
//       STATE_DIR/IFNAME.relay, installs stun::relay_path, and registers
//       every address listed in STATE_DIR/IFNAME.peers (one a line, read
//       again whenever the file changes) as a peer relay address. Prints
//       the relay path's counters on SIGTERM/SIGINT.
//
// The credential is "bench" on both sides.

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <sys/signalfd.h>
#include <thread>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "stun/nat_runtime.hpp"
#include "stun/relay_path.hpp"
#include "stun/relay_server.hpp"
#include "wg/io/device.hpp"

using namespace overlayd;

namespace {

int signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return ::signalfd(-1, &set, SFD_CLOEXEC);
}

// True once SIGTERM or SIGINT arrived; waits up to `ms`.
bool stopped(int sfd, int ms) {
  fd_set r;
  FD_ZERO(&r);
  FD_SET(sfd, &r);
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  return ::select(sfd + 1, &r, nullptr, nullptr, &tv) > 0;
}

int run_relay(int sfd, const std::string& port, const std::string& external) {
  stun::relay_server_options o;
  o.config = {static_cast<std::uint16_t>(std::stoi(port)), external, 100};
  o.credential = "bench";
  stun::relay_server server(o);
  auto bound = server.start();
  if (!bound) {
    std::fprintf(stderr, "relay: %s\n", bound.error().c_str());
    return 1;
  }
  while (!stopped(sfd, 1000)) {
  }
  auto s = server.stats();
  std::fprintf(stderr, "relay: to_peer %llu to_client %llu dropped %llu\n",
               static_cast<unsigned long long>(s.to_peer_packets),
               static_cast<unsigned long long>(s.to_client_packets),
               static_cast<unsigned long long>(s.dropped));
  server.stop();
  return 0;
}

int run_node(int sfd, const std::string& ifname, const std::string& relay,
             const std::filesystem::path& dir) {
  wg::device_config cfg;
  cfg.ifname = ifname;
  auto dev = wg::device::create(cfg);
  if (!dev) {
    std::fprintf(stderr, "device: %s\n", dev.error().message.c_str());
    return 1;
  }
  (*dev)->start();
  stun::nat_runtime_options ro;
  ro.wg_port = (*dev)->listen_port();
  ro.read_network = [] { return std::optional<stun::network_snapshot>{}; };
  ro.warn
    = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
  stun::nat_runtime rt(ro);
  stun::nat_config nc;
  nc.stun_servers.clear();
  nc.turn_servers = {{relay, "bench", "bench", std::nullopt}};
  auto g = rt.services().gather(nc);
  if (!g || rt.relay_addresses().empty()) {
    std::fprintf(stderr, "no relay allocation\n");
    return 1;
  }
  {
    std::ofstream out(dir / (ifname + ".relay.tmp"));
    out << rt.relay_addresses()[0].to_string() << "\n";
  }
  std::filesystem::rename(dir / (ifname + ".relay.tmp"),
                          dir / (ifname + ".relay"));
  auto path = stun::make_relay_path(rt, **dev);
  std::set<std::string> known;
  auto peers = dir / (ifname + ".peers");
  while (!stopped(sfd, 100)) {
    std::ifstream in(peers);
    std::string line;
    while (std::getline(in, line))
      if (!line.empty() && known.insert(line).second) {
        auto ep = stun::udp_endpoint::parse(line);
        if (!ep || !path->add_peer_relay(*ep))
          std::fprintf(stderr, "cannot use peer relay %s\n", line.c_str());
      }
  }
  auto c = path->counters();
  std::fprintf(stderr,
               "%s: relayed sent %llu received %llu dropped %llu "
               "permissions %llu\n",
               ifname.c_str(), static_cast<unsigned long long>(c.sent),
               static_cast<unsigned long long>(c.received),
               static_cast<unsigned long long>(c.dropped),
               static_cast<unsigned long long>(c.permissions));
  path.reset();
  (*dev)->stop();
  rt.shutdown();
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  int sfd = signal_fd();
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "relay" && argc == 4)
    return run_relay(sfd, argv[2], argv[3]);
  if (mode == "node" && argc == 5)
    return run_node(sfd, argv[2], argv[3], argv[4]);
  std::fprintf(stderr,
               "usage: %s relay LISTEN_PORT EXTERNAL_ADDR\n"
               "       %s node IFNAME RELAY_ADDR STATE_DIR\n",
               argv[0], argv[0]);
  return 2;
}
