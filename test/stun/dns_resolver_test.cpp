#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <poll.h>
#include <thread>
#include <unistd.h>

#include "stun/dns_resolver.hpp"
#include "stun/udp_socket.hpp"

using namespace overlayd::stun;
using namespace std::chrono_literals;

namespace {

// A DNS server on 127.0.0.1 that answers every query from a fixed table:
// name -> (A bytes | empty); names not listed get NXDOMAIN.
class fake_dns {
public:
  fake_dns() {
    sock_ = std::move(
      *udp_socket::bind(AF_INET, *udp_endpoint::parse("127.0.0.1:0")));
    thread_ = std::thread([this] { run(); });
  }
  ~fake_dns() {
    stop_ = true;
    thread_.join();
  }
  udp_endpoint address() const { return *sock_.local_endpoint(); }
  int queries() const { return queries_; }

private:
  void run() {
    while (!stop_) {
      pollfd p{sock_.fd(), POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      std::uint8_t q[512];
      sockaddr_storage ss;
      socklen_t sl = sizeof ss;
      ssize_t n = ::recvfrom(sock_.fd(), q, sizeof q, 0,
                             reinterpret_cast<sockaddr*>(&ss), &sl);
      if (n < 17)
        continue;
      ++queries_;
      std::vector<std::uint8_t> r(q, q + n);
      r[2] = 0x81;
      r[3] = 0x80;
      // The name starts at 12; qtype follows its terminating zero.
      std::size_t end = 12;
      while (r[end] != 0)
        end += r[end] + 1;
      std::string name;
      for (std::size_t i = 12; i < end;) {
        if (!name.empty())
          name += '.';
        name.append(reinterpret_cast<char*>(&r[i + 1]), r[i]);
        i += r[i] + 1;
      }
      std::uint16_t qtype
        = static_cast<std::uint16_t>(r[end + 1] << 8 | r[end + 2]);
      auto add = [&r](std::uint16_t type, std::vector<std::uint8_t> rdata) {
        std::vector<std::uint8_t> rr
          = {0xc0,
             0x0c,
             static_cast<std::uint8_t>(type >> 8),
             static_cast<std::uint8_t>(type),
             0x00,
             0x01,
             0,
             0,
             0,
             60,
             static_cast<std::uint8_t>(rdata.size() >> 8),
             static_cast<std::uint8_t>(rdata.size())};
        rr.insert(rr.end(), rdata.begin(), rdata.end());
        r.insert(r.end(), rr.begin(), rr.end());
        r[7]++;
      };
      if (name == "stun.test" && qtype == 1) {
        add(5, {4, 'e', 'd', 'g', 'e', 0xc0, 0x0c}); // a CNAME first
        add(1, {198, 51, 100, 7});
      } else if (name == "v6only.test" && qtype == 28) {
        add(28, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9});
      } else if (name == "v6only.test") {
        // NOERROR, no records
      } else {
        r[3] = 0x83; // NXDOMAIN
      }
      ::sendto(sock_.fd(), r.data(), r.size(), 0,
               reinterpret_cast<sockaddr*>(&ss), sl);
    }
  }

  udp_socket sock_;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  std::thread thread_;
};

} // namespace

TEST_CASE("DNS query wire form") {
  auto q = build_dns_query(0x1234, "stun.l.google.com", 1);
  const std::uint8_t expect[]
    = {0x12, 0x34, 0x01, 0x00, 0,   1,   0,   0, 0,   0,   0,   0,
       4,    's',  't',  'u',  'n', 1,   'l', 6, 'g', 'o', 'o', 'g',
       'l',  'e',  3,    'c',  'o', 'm', 0,   0, 1,   0,   1};
  CHECK(q == std::vector<std::uint8_t>(std::begin(expect), std::end(expect)));
  // A trailing dot changes nothing.
  CHECK(build_dns_query(0x1234, "stun.l.google.com.", 1) == q);
}

TEST_CASE("lookup: CNAME then A, AAAA fallback, NXDOMAIN") {
  fake_dns dns;
  std::vector<udp_endpoint> servers = {dns.address()};
  auto a = dns_lookup_first("stun.test", servers, 500ms);
  REQUIRE(a.has_value());
  CHECK(a->to_string() == "198.51.100.7");
  auto six = dns_lookup_first("v6only.test", servers, 500ms);
  REQUIRE(six.has_value());
  CHECK(six->to_string() == "2001:db8::9");
  CHECK_FALSE(dns_lookup_first("missing.test", servers, 500ms).has_value());

  // A dead first server costs its timeout, then the next one answers.
  udp_socket dead = std::move(
    *udp_socket::bind(AF_INET, *udp_endpoint::parse("127.0.0.1:0")));
  auto r = dns_lookup_first("stun.test",
                            {*dead.local_endpoint(), dns.address()}, 200ms);
  REQUIRE(r.has_value());
  CHECK(r->to_string() == "198.51.100.7");

  // A silent server is waited for once, not again for AAAA.
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(
    dns_lookup_first("x.test", {*dead.local_endpoint()}, 300ms).has_value());
  CHECK(std::chrono::steady_clock::now() - t0 < 550ms);
}

TEST_CASE("bypass resolver falls back to the system resolver") {
  fake_dns dns;
  auto resolve = bypass_resolver({dns.address()}, 300ms);
  CHECK(resolve("stun.test", 3478)->to_string() == "198.51.100.7");
  // Unknown upstream-side, known to /etc/hosts.
  auto local = resolve("localhost", 3478);
  REQUIRE(local.has_value());
  CHECK(local->is_loopback());
  CHECK(dns.queries() >= 3);
}

TEST_CASE("resolv.conf upstreams skip loopback stubs") {
  auto dir = std::filesystem::temp_directory_path()
             / ("ost-resolv-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto stub = dir / "stub.conf", real = dir / "real.conf";
  std::ofstream(stub) << "nameserver 127.0.0.53\noptions edns0\n";
  std::ofstream(real) << "# comment\nsearch example\nnameserver ::1\n"
                         "nameserver 192.0.2.53\nnameserver fe80::1%eth0\n";
  auto ups = resolv_conf_upstreams(
    {(dir / "missing").string(), stub.string(), real.string()});
  REQUIRE(ups.size() == 2);
  CHECK(ups[0].to_string() == "192.0.2.53:53");
  CHECK(ups[1].to_string() == "[fe80::1]:53");
  CHECK(resolv_conf_upstreams({stub.string()}).empty());
  CHECK(public_dns_fallback().size() == 2);
  std::filesystem::remove_all(dir);
}
