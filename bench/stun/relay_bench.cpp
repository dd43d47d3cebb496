// Relay forwarding rate: our relay server against coturn, same topology.
//
// Two clients A and B each hold an allocation on the relay; A blasts
// 1400-byte datagrams to B's relay address, so every packet crosses the
// relay twice (client->relay A->relay B->client), as a relayed WireGuard
// path between two nodes does. The relay's event loop is pinned to CPU 0,
// the load generator and the receiver share CPU 1. Runs in a private
// network namespace when root (coturn included), loopback only.
//
//   relay_bench [--seconds N] [--size BYTES] [--no-coturn]
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "stun/relay_protocol.hpp"
#include "stun/relay_server.hpp"
#include "stun/udp_socket.hpp"

extern char** environ;

using namespace overlayd::stun;
using namespace std::chrono_literals;
namespace rp = overlayd::stun::relay;
using clk = std::chrono::steady_clock;

namespace {

constexpr int burst = 32;

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

udp_endpoint ep(const std::string& s) {
  return *udp_endpoint::parse(s);
}

udp_socket open_client() {
  auto s = udp_socket::bind(AF_INET, ep("127.0.0.1:0"));
  if (!s) {
    std::fprintf(stderr, "bind: %s\n", s.error().c_str());
    std::exit(1);
  }
  int big = 8 << 20;
  ::setsockopt(s->fd(), SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  ::setsockopt(s->fd(), SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  return std::move(*s);
}

std::vector<std::uint8_t> recv_one(const udp_socket& s,
                                   std::chrono::milliseconds t = 2000ms) {
  pollfd p{s.fd(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(t.count())) <= 0)
    return {};
  std::vector<std::uint8_t> b(65536);
  ssize_t n = ::recv(s.fd(), b.data(), b.size(), 0);
  b.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
  return b;
}

struct result_row {
  std::string name;
  double pps = 0, mbit = 0, loss = 0;
  double cpu = 0; // relay CPU seconds per wall second
};

// utime+stime of a /proc/.../stat file, in seconds.
double stat_cpu_seconds(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (!f)
    return 0;
  char buf[1024] = {};
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the parenthesised name: state is field 3, utime 14.
  const char* p = std::strrchr(buf, ')');
  if (!p)
    return 0;
  unsigned long long ut = 0, st = 0;
  std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
              &ut, &st);
  return static_cast<double>(ut + st)
         / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// The relay server's loop thread, found by the name it gives itself.
std::string relay_thread_stat() {
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    FILE* f = std::fopen((e.path() / "comm").c_str(), "r");
    if (!f)
      continue;
    char name[32] = {};
    if (!std::fgets(name, sizeof name, f))
      name[0] = 0;
    std::fclose(f);
    if (std::string(name).rfind("relay-server", 0) == 0)
      return (e.path() / "stat").string();
  }
  return {};
}

// Blasts `frame` from `tx` to `to` for `secs` while `rx` counts arrivals
// whose size is `expect`; returns packets/s and payload Mbit/s at B.
result_row blast(const std::string& name, const udp_socket& tx,
                 const udp_endpoint& to, const std::vector<std::uint8_t>& frame,
                 const udp_socket& rx, std::size_t payload, double secs,
                 const std::string& cpu_stat) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> got{0}, sent{0};
  std::thread receiver([&] {
    pin_to(1);
    std::vector<std::uint8_t> bufs(burst * 2048);
    mmsghdr m[burst];
    iovec iov[burst];
    while (!stop) {
      for (int i = 0; i < burst; ++i) {
        iov[i] = {bufs.data() + i * 2048, 2048};
        std::memset(&m[i], 0, sizeof m[i]);
        m[i].msg_hdr.msg_iov = &iov[i];
        m[i].msg_hdr.msg_iovlen = 1;
      }
      pollfd p{rx.fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      int n = ::recvmmsg(rx.fd(), m, burst, MSG_DONTWAIT, nullptr);
      if (n > 0)
        got += static_cast<std::uint64_t>(n);
    }
  });
  std::thread sender([&] {
    pin_to(1);
    sockaddr_storage ss;
    socklen_t len = to.to_sockaddr(ss, AF_INET);
    mmsghdr m[burst];
    iovec iov = {const_cast<std::uint8_t*>(frame.data()), frame.size()};
    for (auto& x : m) {
      std::memset(&x, 0, sizeof x);
      x.msg_hdr.msg_name = &ss;
      x.msg_hdr.msg_namelen = len;
      x.msg_hdr.msg_iov = &iov;
      x.msg_hdr.msg_iovlen = 1;
    }
    while (!stop) {
      int n = ::sendmmsg(tx.fd(), m, burst, 0);
      if (n > 0)
        sent += static_cast<std::uint64_t>(n);
    }
  });
  std::this_thread::sleep_for(500ms); // warm-up
  std::uint64_t g0 = got, s0 = sent;
  double c0 = stat_cpu_seconds(cpu_stat);
  auto t0 = clk::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(secs));
  std::uint64_t g1 = got, s1 = sent;
  double c1 = stat_cpu_seconds(cpu_stat);
  double dt = std::chrono::duration<double>(clk::now() - t0).count();
  stop = true;
  sender.join();
  receiver.join();
  result_row r;
  r.name = name;
  r.pps = static_cast<double>(g1 - g0) / dt;
  r.mbit = r.pps * static_cast<double>(payload) * 8 / 1e6;
  double offered = static_cast<double>(s1 - s0);
  r.loss = offered > 0 ? 1.0 - static_cast<double>(g1 - g0) / offered : 0;
  r.cpu = (c1 - c0) / dt;
  return r;
}

// ---- ours -----------------------------------------------------------------

result_row bench_ours(std::size_t size, double secs, bool to_peer) {
  const std::string secret = "bench";
  auto key = rp::derive_auth_key(secret);
  relay_server_options o;
  o.config = {0, "127.0.0.1:0", 10};
  o.credential = secret;
  relay_server server(o);
  auto bound = server.start();
  if (!bound) {
    std::fprintf(stderr, "relay start: %s\n", bound.error().c_str());
    std::exit(1);
  }
  udp_endpoint s = ep("127.0.0.1:" + std::to_string(bound->port));
  udp_socket a = open_client(), b = open_client();
  auto allocate = [&](udp_socket& c) {
    (void)c.send_to(rp::build_control(rp::msg_type::allocate_req,
                                      rp::allocate_req_payload("bench"), key),
                    s);
    auto m = recv_one(c);
    auto ctl = rp::parse_control(m, key);
    auto r = ctl ? rp::parse_allocate_resp(ctl->payload) : std::nullopt;
    if (!r) {
      std::fprintf(stderr, "allocate failed\n");
      std::exit(1);
    }
    return *r;
  };
  auto ra = allocate(a), rb = allocate(b);
  auto permit = [&](udp_socket& c, const rp::allocate_resp& mine,
                    const udp_endpoint& peer) {
    (void)c.send_to(rp::build_control(rp::msg_type::permission_req,
                                      rp::permission_req_payload(mine.id, peer),
                                      key),
                    s);
    recv_one(c);
  };
  udp_socket p = open_client();
  udp_endpoint target = to_peer ? *p.local_endpoint() : rb.relay_addr;
  permit(a, ra, target);
  permit(b, rb, ra.relay_addr);
  std::this_thread::sleep_for(50ms);
  std::vector<std::uint8_t> payload(size, 0x5a);
  auto frame = rp::build_data(target, payload);
  auto r = blast(to_peer ? "overlayd  client->relay->peer"
                         : "overlayd  client->relay->client",
                 a, s, frame, to_peer ? p : b, size, secs, relay_thread_stat());
  server.stop();
  return r;
}

// ---- coturn (RFC 5766 TURN, no auth, channels) ---------------------------

std::vector<std::uint8_t> stun_msg(std::uint16_t type,
                                   std::vector<std::uint8_t> attrs) {
  std::vector<std::uint8_t> m = {static_cast<std::uint8_t>(type >> 8),
                                 static_cast<std::uint8_t>(type),
                                 static_cast<std::uint8_t>(attrs.size() >> 8),
                                 static_cast<std::uint8_t>(attrs.size()),
                                 0x21,
                                 0x12,
                                 0xa4,
                                 0x42};
  for (int i = 0; i < 12; ++i)
    m.push_back(static_cast<std::uint8_t>(std::rand()));
  m.insert(m.end(), attrs.begin(), attrs.end());
  return m;
}

void put_attr(std::vector<std::uint8_t>& a, std::uint16_t type,
              const std::vector<std::uint8_t>& v) {
  a.push_back(static_cast<std::uint8_t>(type >> 8));
  a.push_back(static_cast<std::uint8_t>(type));
  a.push_back(static_cast<std::uint8_t>(v.size() >> 8));
  a.push_back(static_cast<std::uint8_t>(v.size()));
  a.insert(a.end(), v.begin(), v.end());
  while (a.size() % 4)
    a.push_back(0);
}

std::vector<std::uint8_t> xor_v4(const udp_endpoint& e) {
  std::uint16_t port = e.port ^ 0x2112;
  std::uint32_t ip = e.ip.v4_u32() ^ 0x2112A442;
  return {0,
          1,
          static_cast<std::uint8_t>(port >> 8),
          static_cast<std::uint8_t>(port),
          static_cast<std::uint8_t>(ip >> 24),
          static_cast<std::uint8_t>(ip >> 16),
          static_cast<std::uint8_t>(ip >> 8),
          static_cast<std::uint8_t>(ip)};
}

std::optional<udp_endpoint> find_xor_v4(const std::vector<std::uint8_t>& m,
                                        std::uint16_t want) {
  std::size_t off = 20;
  while (off + 4 <= m.size()) {
    std::uint16_t t = static_cast<std::uint16_t>(m[off] << 8 | m[off + 1]);
    std::size_t len = static_cast<std::size_t>(m[off + 2] << 8 | m[off + 3]);
    if (t == want && len >= 8) {
      std::uint16_t port
        = static_cast<std::uint16_t>((m[off + 6] << 8 | m[off + 7]) ^ 0x2112);
      std::uint32_t ip = rp::read_be32(&m[off + 8]) ^ 0x2112A442;
      return udp_endpoint{ip_address::v4_from_u32(ip), port};
    }
    off += 4 + ((len + 3) & ~std::size_t{3});
  }
  return std::nullopt;
}

int spawn(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ) != 0)
    pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

std::optional<result_row> bench_coturn(std::size_t size, double secs,
                                       bool to_peer) {
  auto dir = std::filesystem::temp_directory_path()
             / ("ost-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  pid_t pid = spawn({"taskset",
                     "-c",
                     "0",
                     "turnserver",
                     "-n",
                     "--no-auth",
                     "--listening-ip=127.0.0.1",
                     "--relay-ip=127.0.0.1",
                     "--listening-port=34780",
                     "--allow-loopback-peers",
                     "--no-tls",
                     "--no-dtls",
                     "--no-cli",
                     "--relay-threads=1",
                     "--no-tcp-relay",
                     "--log-file=stdout",
                     "--simple-log",
                     "--realm=bench",
                     "--db=" + (dir / "turndb").string(),
                     "--pidfile=" + (dir / "pid").string()},
                    (dir / "turnserver.log").string());
  struct cleanup {
    pid_t pid;
    std::filesystem::path dir;
    ~cleanup() {
      if (pid > 0) {
        ::kill(pid, SIGTERM);
        ::waitpid(pid, nullptr, 0);
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } guard{pid, dir};
  if (pid < 0)
    return std::nullopt;
  udp_endpoint s = ep("127.0.0.1:34780");
  udp_socket a = open_client(), b = open_client();
  auto allocate = [&](udp_socket& c) -> std::optional<udp_endpoint> {
    std::vector<std::uint8_t> attrs;
    put_attr(attrs, 0x0019, {17, 0, 0, 0}); // REQUESTED-TRANSPORT UDP
    for (int i = 0; i < 50; ++i) {
      (void)c.send_to(stun_msg(0x0003, attrs), s);
      auto m = recv_one(c, 100ms);
      if (m.size() >= 20 && m[0] == 0x01 && m[1] == 0x03)
        return find_xor_v4(m, 0x0016); // XOR-RELAYED-ADDRESS
    }
    return std::nullopt;
  };
  auto ra = allocate(a), rb = allocate(b);
  if (!ra || !rb) {
    std::fprintf(stderr, "coturn: Allocate failed\n");
    return std::nullopt;
  }
  auto bind = [&](udp_socket& c, const udp_endpoint& peer) {
    // Drop late answers to retried Allocates (started before coturn was up).
    while (!recv_one(c, 50ms).empty()) {
    }
    std::vector<std::uint8_t> attrs;
    put_attr(attrs, 0x000C, {0x40, 0x00, 0, 0}); // CHANNEL-NUMBER
    put_attr(attrs, 0x0012, xor_v4(peer));       // XOR-PEER-ADDRESS
    (void)c.send_to(stun_msg(0x0009, attrs), s);
    auto m = recv_one(c);
    if (m.size() >= 20 && m[0] == 0x01 && m[1] == 0x09)
      return true;
    std::fprintf(stderr, "coturn ChannelBind reply:");
    for (auto x : m)
      std::fprintf(stderr, " %02x", x);
    std::fprintf(stderr, "\n");
    return false;
  };
  udp_socket p = open_client();
  udp_endpoint target = to_peer ? *p.local_endpoint() : *rb;
  if (!bind(a, target) || !bind(b, *ra)) {
    std::fprintf(stderr, "coturn: ChannelBind failed\n");
    return std::nullopt;
  }
  std::vector<std::uint8_t> frame
    = {0x40, 0x00, static_cast<std::uint8_t>(size >> 8),
       static_cast<std::uint8_t>(size)};
  frame.resize(4 + size, 0x5a);
  return blast(to_peer ? "coturn    client->relay->peer"
                       : "coturn    client->relay->client",
               a, s, frame, to_peer ? p : b, size, secs,
               "/proc/" + std::to_string(pid) + "/stat");
}

bool enter_private_netns() {
  if (::geteuid() != 0 || ::unshare(CLONE_NEWNET) != 0)
    return false;
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  ::ioctl(fd, SIOCGIFFLAGS, &ifr);
  ifr.ifr_flags |= IFF_UP;
  bool ok = ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
  ::close(fd);
  return ok;
}

} // namespace

int main(int argc, char** argv) {
  double secs = 3;
  std::size_t size = 1400;
  bool coturn = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--seconds" && i + 1 < argc)
      secs = std::stod(argv[++i]);
    else if (a == "--size" && i + 1 < argc)
      size = std::stoul(argv[++i]);
    else if (a == "--no-coturn")
      coturn = false;
  }
  bool netns = enter_private_netns();
  std::signal(SIGPIPE, SIG_IGN);
  // Pin everything we start from here (the relay loop included) to CPU 0,
  // then move the load threads to CPU 1 inside blast().
  pin_to(0);
  std::vector<result_row> rows;
  // client->relay->peer: one relayed hop (a TURN client and a plain
  // peer). client->relay->client: both ends hold allocations on the same
  // relay, as two relayed overlay nodes do; coturn hairpins through the
  // kernel, ours delivers locally.
  for (bool to_peer : {true, false}) {
    rows.push_back(bench_ours(size, secs, to_peer));
    if (!coturn)
      continue;
    if (auto r = bench_coturn(size, secs, to_peer))
      rows.push_back(*r);
    else
      std::fprintf(stderr, "coturn run failed\n");
  }
  std::printf(
    "relay forwarding, %zu-byte payloads, %.1f s, relay on 1 core%s\n", size,
    secs, netns ? ", private netns" : "");
  // Other processes share the cores, so the raw rate depends on how much
  // CPU each relay got; packets per relay CPU-second is the fair figure.
  std::printf("%-32s %10s %9s %7s %8s %14s %12s\n", "server", "packets/s",
              "Mbit/s", "loss", "relay CPU", "pkts/CPU-sec", "Mbit/CPU-s");
  for (const auto& r : rows) {
    double per_cpu = r.cpu > 0 ? r.pps / r.cpu : 0;
    std::printf("%-32s %10.0f %9.1f %6.1f%% %7.0f%% %14.0f %12.1f\n",
                r.name.c_str(), r.pps, r.mbit, r.loss * 100, r.cpu * 100,
                per_cpu, per_cpu * static_cast<double>(size) * 8 / 1e6);
  }
  return 0;
}
