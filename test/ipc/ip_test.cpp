// Address parsing and printing must match Rust's std::net byte for byte.

#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <unordered_set>

#include "net/ip.hpp"

using overlayd::net::cidr;
using overlayd::net::ip_address;
using overlayd::net::socket_address;

namespace {

std::string reformat(std::string_view text) {
  auto ip = ip_address::parse(text);
  REQUIRE_MESSAGE(ip.has_value(), text);
  return ip->to_string();
}

} // namespace

TEST_CASE("IPv6 prints like Rust's Display (RFC 5952 compression)") {
  // Vectors from spec §2.3.
  CHECK(reformat("2001:db8:0:0:1:0:0:1") == "2001:db8::1:0:0:1");
  CHECK(reformat("fe80:0:0:0:0:0:0:1") == "fe80::1");
  CHECK(reformat("1:0:2:3:4:5:6:7") == "1:0:2:3:4:5:6:7");
  // Longest run wins, the first one on a tie, single zeros stay.
  CHECK(reformat("1:0:0:2:0:0:0:3") == "1:0:0:2::3");
  CHECK(reformat("1:0:0:2:0:0:3:4") == "1::2:0:0:3:4");
  CHECK(reformat("0:1:0:0:0:0:0:0") == "0:1::");
  CHECK(reformat("1:2:3:4:5:6:7:0") == "1:2:3:4:5:6:7:0");
  CHECK(reformat("0:0:0:0:0:0:0:0") == "::");
  CHECK(reformat("0:0:0:0:0:0:0:1") == "::1");
  CHECK(reformat("2001:DB8::A") == "2001:db8::a");
  CHECK(reformat("0001:0002::") == "1:2::");
  CHECK(reformat("fd00:200::5") == "fd00:200::5");
}

TEST_CASE("IPv4-mapped prints dotted, IPv4-compatible prints hex") {
  CHECK(reformat("::ffff:1.2.3.4") == "::ffff:1.2.3.4");
  CHECK(reformat("0:0:0:0:0:ffff:0102:0304") == "::ffff:1.2.3.4");
  CHECK(reformat("::ffff:0.0.0.0") == "::ffff:0.0.0.0");
  CHECK(reformat("::1.2.3.4") == "::102:304");
  CHECK(reformat("64:ff9b::1.2.3.4") == "64:ff9b::102:304");
  auto mapped = ip_address::parse("::ffff:10.0.0.1");
  REQUIRE(mapped);
  CHECK(mapped->is_v6());
  REQUIRE(mapped->to_ipv4_mapped());
  CHECK(mapped->to_ipv4_mapped()->to_string() == "10.0.0.1");
}

TEST_CASE("IPv6 grammar edges follow Rust") {
  CHECK(reformat("1:2:3:4:5:6:7::") == "1:2:3:4:5:6:7:0");
  CHECK(reformat("::2:3:4:5:6:7:8") == "0:2:3:4:5:6:7:8");
  CHECK(reformat("1:2:3:4:5:6:1.2.3.4") == "1:2:3:4:5:6:102:304");
  for (auto bad :
       {"1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "1.2.3.4::", "[::1]",
        "fe80::1%1", "::ffff:1.2.3", ":",
        ":::", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:1.2.3.4", "::g", " ::1", "::1 ", ""}) {
    auto ip = ip_address::parse(bad);
    CHECK_MESSAGE(!ip, bad);
    if (!ip)
      CHECK(ip.error() == "invalid IP address syntax");
  }
  CHECK(ip_address::parse_v6("1.2.3.4").error()
        == "invalid IPv6 address syntax");
}

TEST_CASE("IPv4 grammar follows Rust: four decimal octets, no leading zeros") {
  CHECK(reformat("10.200.0.1") == "10.200.0.1");
  CHECK(reformat("0.0.0.0") == "0.0.0.0");
  CHECK(reformat("255.255.255.255") == "255.255.255.255");
  for (auto bad : {"01.2.3.4", "1.2.3.00", "1.2.3", "1.2.3.4.5", "256.1.1.1",
                   "1.2.3.4 ", "+1.2.3.4", "1..2.3", "0x1.2.3.4", "1.2.3.-4"})
    CHECK_MESSAGE(!ip_address::parse(bad), bad);
  CHECK(ip_address::parse_v4("::1").error() == "invalid IPv4 address syntax");
}

TEST_CASE("integer views and ordering") {
  auto a = ip_address::v4(0x0ac80001);
  CHECK(a.to_string() == "10.200.0.1");
  CHECK(a.to_v4_uint() == 0x0ac80001u);
  CHECK(
    ip_address::from_uint(ip_address::family::v4, 0x100000001ull).to_string()
    == "0.0.0.1"); // wraps like the reference's u32 arithmetic
  auto v6 = ip_address::v6(overlayd::net::uint128{1});
  CHECK(v6.to_string() == "::1");
  CHECK(v6.is_loopback());
  CHECK(ip_address{}.is_unspecified());
  CHECK(ip_address::unspecified(ip_address::family::v6).to_string() == "::");
  CHECK(ip_address::v4(1, 2, 3, 4) < ip_address::v4(1, 2, 3, 5));
  CHECK(ip_address::v4(255, 255, 255, 255) < v6); // IPv4 sorts first
  CHECK(*ip_address::parse("::1") == v6);
}

TEST_CASE("cidr::parse follows ipnet (prefix required)") {
  auto net = cidr::parse("10.200.0.5/16");
  REQUIRE(net);
  CHECK(net->to_string() == "10.200.0.5/16"); // address kept as given
  CHECK(net->prefix() == 16);
  CHECK(net->network().to_string() == "10.200.0.0");
  CHECK(net->broadcast().to_string() == "10.200.255.255");
  CHECK(net->netmask().to_string() == "255.255.0.0");
  CHECK(net->hostmask().to_string() == "0.0.255.255");
  CHECK(net->trunc().to_string() == "10.200.0.0/16");
  CHECK(net->contains(*ip_address::parse("10.200.99.1")));
  CHECK_FALSE(net->contains(*ip_address::parse("10.201.0.1")));
  CHECK_FALSE(net->contains(*ip_address::parse("::ffff:10.200.0.1")));
  CHECK(net->contains(*cidr::parse("10.200.1.0/24")));
  CHECK_FALSE(net->contains(*cidr::parse("10.0.0.0/8")));
  CHECK(net->size() == 65536);

  auto v6 = cidr::parse("fd00:200::1/64");
  REQUIRE(v6);
  CHECK(v6->network().to_string() == "fd00:200::");
  CHECK(v6->broadcast().to_string() == "fd00:200::ffff:ffff:ffff:ffff");
  CHECK(v6->contains(*ip_address::parse("fd00:200::abcd")));
  CHECK(cidr::parse("::/0")->size() == ~overlayd::net::uint128{0});
  CHECK(cidr::parse("0.0.0.0/0")->contains(*ip_address::parse("1.2.3.4")));
  CHECK(cidr::parse("10.0.0.0/08")->prefix() == 8);

  // ipnet's own address grammar quirks.
  CHECK(cidr::parse("010.0.0.0/8")->to_string() == "10.0.0.0/8");
  CHECK(cidr::parse("1:2:3:4:5:6:7::8/128")->to_string()
        == "1:2:3:4:5:6:7:8/128");

  for (auto bad : {"10.0.0.0", "10.0.0.0/33", "10.0.0.0/008", "10.0.0.0/",
                   "fd00::/129", "10.0.0.0/8/8", "10.0.0.0/ 8", "x/8",
                   "10.0.0.0/+8", "10.0.0.0/255.0.0.0", ""}) {
    auto r = cidr::parse(bad);
    CHECK_MESSAGE(!r, bad);
    if (!r)
      CHECK(r.error() == "invalid IP address syntax");
  }
}

TEST_CASE("cidr::parse_network follows ipnetwork (prefix optional)") {
  CHECK(cidr::parse_network("10.200.0.0/16")->to_string() == "10.200.0.0/16");
  CHECK(cidr::parse_network("10.0.0.1")->to_string() == "10.0.0.1/32");
  CHECK(cidr::parse_network("fd00::")->to_string() == "fd00::/128");
  CHECK(cidr::parse_network("10.0.0.0/255.255.0.0")->prefix() == 16);
  CHECK(cidr::parse_network("10.0.0.0/+8")->prefix() == 8);
  CHECK(cidr::parse_network("10.0.0.0/0008")->prefix() == 8);
  for (auto bad : {"10.0.0.0/255.0.255.0", "10.0.0.0/33", "fd00::/129",
                   "10.0.0.0/8/8", "10.0.0.0/", "nope", "010.0.0.0/8"}) {
    auto r = cidr::parse_network(bad);
    CHECK_MESSAGE(!r, bad);
    if (!r)
      CHECK(r.error() == "invalid address: " + std::string{bad});
  }
  CHECK(cidr::make(*ip_address::parse("1.2.3.4"), 33).error()
        == "invalid prefix");
}

TEST_CASE("socket_address parses and prints like Rust's SocketAddr") {
  auto a = socket_address::parse("1.2.3.4:51820");
  REQUIRE(a);
  CHECK(a->port() == 51820);
  CHECK(a->to_string() == "1.2.3.4:51820");
  CHECK(socket_address::parse("[fd00::1]:51820")->to_string()
        == "[fd00::1]:51820");
  CHECK(socket_address::parse("[FD00:0::1]:1")->to_string() == "[fd00::1]:1");
  CHECK(socket_address::parse("[::ffff:1.2.3.4]:5")->to_string()
        == "[::ffff:1.2.3.4]:5");
  CHECK(socket_address::parse("1.2.3.4:0080")->to_string() == "1.2.3.4:80");
  auto scoped = socket_address::parse("[fe80::1%2]:5");
  REQUIRE(scoped);
  CHECK(scoped->scope_id() == 2);
  CHECK(scoped->to_string() == "[fe80::1%2]:5");
  for (auto bad : {"1.2.3.4", "host:80", "localhost:51820", "[::1]:65536",
                   "::1:80", "[::1]", "[::1]:", "1.2.3.4:", "1.2.3.4:-1",
                   "[1.2.3.4]:80", "1.2.3.4:80 ", "[::1]:+80"}) {
    auto r = socket_address::parse(bad);
    CHECK_MESSAGE(!r, bad);
    if (!r)
      CHECK(r.error() == "invalid socket address syntax");
  }
}

TEST_CASE("socket_address converts to and from kernel sockaddrs") {
  for (auto text : {"10.1.2.3:4242", "[fd00::7]:51820"}) {
    auto a = socket_address::parse(text);
    REQUIRE(a);
    sockaddr_storage ss{};
    auto len = a->to_sockaddr(ss);
    CHECK(len
          == (a->ip().is_v4() ? sizeof(sockaddr_in) : sizeof(sockaddr_in6)));
    auto back
      = socket_address::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
    REQUIRE(back);
    CHECK(*back == *a);
  }
}

TEST_CASE("addresses key unordered containers") {
  std::unordered_set<ip_address> ips{*ip_address::parse("10.0.0.1"),
                                     *ip_address::parse("::ffff:10.0.0.1")};
  CHECK(ips.size() == 2); // a v4 and its mapped v6 form are different keys
  CHECK(ips.contains(ip_address::v4(10, 0, 0, 1)));
  std::unordered_set<cidr> nets{*cidr::parse("10.0.0.0/8"),
                                *cidr::parse("10.0.0.0/16")};
  CHECK(nets.size() == 2);
  std::unordered_set<socket_address> eps{*socket_address::parse("1.2.3.4:5")};
  CHECK(eps.contains(*socket_address::parse("1.2.3.4:5")));
  CHECK_FALSE(eps.contains(*socket_address::parse("1.2.3.4:6")));
}
