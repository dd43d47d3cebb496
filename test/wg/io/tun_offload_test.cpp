// TUN offload packet work: cutting TSO/USO super-packets into valid IP
// packets, and merging TCP segments back into super-packets (GRO).

#include "wg/io/checksum.hpp"
#include "wg/io/tun_offload.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

using namespace overlayd::wg;

namespace {

using bytes = std::vector<std::uint8_t>;

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

std::uint32_t be32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16
         | std::uint32_t{p[2]} << 8 | p[3];
}

void put16(std::uint8_t* p, unsigned v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

void put32(std::uint8_t* p, std::uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v & 0xffff);
}

// A plain, byte-by-byte RFC 1071 sum, independent of csum::add.
std::uint32_t slow_sum(const std::uint8_t* p, std::size_t n,
                       std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2)
    sum += static_cast<std::uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2)
    sum += static_cast<std::uint32_t>(p[n - 1] << 8);
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

bool ipv4_header_ok(const std::uint8_t* ip) {
  return slow_sum(ip, (ip[0] & 0xf) * 4u) == 0xffff;
}

bool l4_checksum_ok(const std::uint8_t* ip, std::size_t len) {
  bool v6 = (ip[0] >> 4) == 6;
  std::size_t hl = v6 ? 40 : (ip[0] & 0xf) * 4u;
  std::uint8_t proto = v6 ? ip[6] : ip[9];
  std::size_t l4 = len - hl;
  std::uint32_t sum = v6 ? slow_sum(ip + 8, 32) : slow_sum(ip + 12, 8);
  sum += proto + static_cast<std::uint32_t>(l4);
  return slow_sum(ip + hl, l4, sum) == 0xffff;
}

std::uint8_t pattern(std::size_t i) {
  return static_cast<std::uint8_t>(i * 7 + 3);
}

// A TSO read as the kernel hands it over: virtio header, IP + TCP headers
// (with a 12-byte timestamp option) and `payload` bytes; the TCP checksum
// field holds the pseudo-header sum (CHECKSUM_PARTIAL).
bytes tcp_super_packet(bool v6, std::size_t payload, std::size_t mss,
                       std::uint32_t seq = 1000) {
  std::size_t ihl = v6 ? 40 : 20;
  std::size_t thl = 32;
  std::size_t total = ihl + thl + payload;
  bytes b(vnet_hdr_len + total);
  vnet_header h{};
  h.flags = vnet_f_needs_csum;
  h.gso_type = v6 ? vnet_gso_tcpv6 : vnet_gso_tcpv4;
  h.hdr_len = static_cast<std::uint16_t>(ihl + thl);
  h.gso_size = static_cast<std::uint16_t>(mss);
  h.csum_start = static_cast<std::uint16_t>(ihl);
  h.csum_offset = 16;
  std::memcpy(b.data(), &h, sizeof h);
  auto* ip = b.data() + vnet_hdr_len;
  if (v6) {
    ip[0] = 0x60;
    put16(ip + 4, static_cast<unsigned>(total - 40));
    ip[6] = 6;
    ip[7] = 64;
    ip[8] = 0xfd;
    ip[23] = 1;
    ip[24] = 0xfd;
    ip[39] = 2;
  } else {
    ip[0] = 0x45;
    put16(ip + 2, static_cast<unsigned>(total));
    put16(ip + 4, 0x1234);
    put16(ip + 6, 0x4000); // DF
    ip[8] = 64;
    ip[9] = 6;
    ip[12] = 10, ip[15] = 1;
    ip[16] = 10, ip[19] = 2;
  }
  auto* th = ip + ihl;
  put16(th, 40000);
  put16(th + 2, 5201);
  put32(th + 4, seq);
  put32(th + 8, 777);
  th[12] = static_cast<std::uint8_t>((thl / 4) << 4);
  th[13] = 0x18; // PSH | ACK
  put16(th + 14, 512);
  th[20] = 1, th[21] = 1, th[22] = 8, th[23] = 10; // NOP NOP TS
  put32(th + 24, 42);
  put32(th + 28, 43);
  for (std::size_t i = 0; i < payload; ++i)
    th[thl + i] = pattern(i);
  return b;
}

} // namespace

TEST_CASE("a TCP/IPv4 TSO read becomes valid MSS-sized segments") {
  auto read = tcp_super_packet(false, 5000, 1380);
  tun_segmenter seg;
  REQUIRE(seg.add_read(read));
  auto& pkts = seg.packets();
  REQUIRE(pkts.size() == 4);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < pkts.size(); ++i) {
    auto* ip = pkts[i].data();
    std::size_t chunk = i < 3 ? 1380 : 5000 - 3 * 1380;
    CHECK(pkts[i].size() == 52 + chunk);
    CHECK(be16(ip + 2) == 52 + chunk);
    CHECK(be16(ip + 4) == 0x1234 + i);
    CHECK(ipv4_header_ok(ip));
    CHECK(l4_checksum_ok(ip, pkts[i].size()));
    CHECK(be32(ip + 24) == 1000 + offset);
    // PSH only on the last segment.
    CHECK(ip[33] == (i == 3 ? 0x18 : 0x10));
    bool same = true;
    for (std::size_t j = 0; j < chunk; ++j)
      same = same && ip[52 + j] == pattern(offset + j);
    CHECK(same);
    offset += chunk;
  }
}

TEST_CASE("a TCP/IPv6 TSO read becomes valid segments") {
  auto read = tcp_super_packet(true, 3000, 1000);
  tun_segmenter seg;
  REQUIRE(seg.add_read(read));
  REQUIRE(seg.packets().size() == 3);
  for (auto p : seg.packets()) {
    CHECK(be16(p.data() + 4) == p.size() - 40);
    CHECK(l4_checksum_ok(p.data(), p.size()));
  }
}

TEST_CASE("a UDP USO read becomes datagrams with their own headers") {
  std::size_t payload = 2500, gso = 1000;
  bytes b(vnet_hdr_len + 28 + payload);
  vnet_header h{};
  h.flags = vnet_f_needs_csum;
  h.gso_type = vnet_gso_udp_l4;
  h.gso_size = static_cast<std::uint16_t>(gso);
  h.csum_start = 20;
  h.csum_offset = 6;
  std::memcpy(b.data(), &h, sizeof h);
  auto* ip = b.data() + vnet_hdr_len;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<unsigned>(28 + payload));
  ip[8] = 64;
  ip[9] = 17;
  ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
  put16(ip + 20, 1111);
  put16(ip + 22, 2222);
  for (std::size_t i = 0; i < payload; ++i)
    ip[28 + i] = pattern(i);
  tun_segmenter seg;
  REQUIRE(seg.add_read(b));
  REQUIRE(seg.packets().size() == 3);
  auto last = seg.packets()[2];
  CHECK(last.size() == 28 + 500);
  CHECK(be16(last.data() + 24) == 8 + 500);
  CHECK(ipv4_header_ok(last.data()));
  for (auto p : seg.packets())
    CHECK(l4_checksum_ok(p.data(), p.size()));
}

TEST_CASE("a single packet with a pending checksum is completed in place") {
  auto read = tcp_super_packet(false, 100, 1380);
  read[1] = vnet_gso_none;
  auto* ip = read.data() + vnet_hdr_len;
  // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum.
  auto partial = csum::fold(csum::pseudo_header(ip + 12, ip + 16, 4, 6, 132));
  csum::store(ip + 36, partial);
  tun_segmenter seg;
  REQUIRE(seg.add_read(read));
  REQUIRE(seg.packets().size() == 1);
  CHECK(seg.packets()[0].data() == ip); // no copy
  CHECK(l4_checksum_ok(ip, 152));
}

TEST_CASE("malformed reads are refused") {
  tun_segmenter seg;
  bytes tiny(5);
  CHECK_FALSE(seg.add_read(tiny));
  auto read = tcp_super_packet(false, 3000, 1000);
  read[vnet_hdr_len + 9] = 17; // claims TCP GSO but carries UDP
  CHECK_FALSE(seg.add_read(read));
  auto zero_mss = tcp_super_packet(false, 3000, 1000);
  zero_mss[4] = zero_mss[5] = 0; // gso_size 0
  CHECK_FALSE(seg.add_read(zero_mss));
  auto truncated = tcp_super_packet(false, 3000, 1000);
  truncated.resize(vnet_hdr_len + 30); // TCP header cut
  CHECK_FALSE(seg.add_read(truncated));
  CHECK(seg.packets().empty());
}

namespace {

// Reads every datagram written to a SOCK_DGRAM socketpair.
std::vector<bytes> drain(int fd) {
  std::vector<bytes> out;
  bytes buf(70000);
  for (;;) {
    ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n <= 0)
      return out;
    out.emplace_back(buf.begin(), buf.begin() + n);
  }
}

struct dgram_pair {
  int fds[2];
  dgram_pair() {
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM, 0, fds) == 0);
    int big = 1 << 20;
    ::setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    ::setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  }
  ~dgram_pair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
};

} // namespace

TEST_CASE("consecutive TCP segments are merged and split back unchanged") {
  for (bool v6 : {false, true}) {
    CAPTURE(v6);
    auto read = tcp_super_packet(v6, 20000, 1300);
    tun_segmenter seg;
    REQUIRE(seg.add_read(read));
    std::vector<bytes> originals;
    for (auto p : seg.packets())
      originals.emplace_back(p.begin(), p.end());
    dgram_pair pair;
    tun_writer writer{pair.fds[0], true};
    for (auto& p : originals)
      writer.add(p);
    CHECK(writer.flush() == 1);
    auto written = drain(pair.fds[1]);
    REQUIRE(written.size() == 1);
    vnet_header h;
    std::memcpy(&h, written[0].data(), sizeof h);
    CHECK(h.gso_type == (v6 ? vnet_gso_tcpv6 : vnet_gso_tcpv4));
    CHECK(h.gso_size == 1300);
    CHECK(h.flags == vnet_f_needs_csum);
    CHECK(written[0].size() == read.size());
    // The kernel would split it again: the result must be the originals
    // (IPv4 ids aside, which GRO does not preserve either).
    tun_segmenter again;
    REQUIRE(again.add_read(written[0]));
    REQUIRE(again.packets().size() == originals.size());
    for (std::size_t i = 0; i < originals.size(); ++i) {
      bytes got(again.packets()[i].begin(), again.packets()[i].end());
      if (!v6) {
        got[4] = originals[i][4], got[5] = originals[i][5];
        got[10] = originals[i][10], got[11] = originals[i][11];
      }
      CHECK(got == originals[i]);
    }
  }
}

TEST_CASE("segments that do not continue a flow are written separately") {
  tun_segmenter seg;
  auto a = tcp_super_packet(false, 2600, 1300, 1000);
  auto b = tcp_super_packet(false, 2600, 1300, 9000); // a gap
  REQUIRE(seg.add_read(a));
  REQUIRE(seg.add_read(b));
  dgram_pair pair;
  tun_writer writer{pair.fds[0], true};
  for (auto p : seg.packets())
    writer.add(p);
  // A UDP packet is never merged.
  bytes udp(28, 0);
  udp[0] = 0x45;
  put16(udp.data() + 2, 28);
  udp[9] = 17;
  writer.add(udp);
  CHECK(writer.flush() == 3);
  auto written = drain(pair.fds[1]);
  REQUIRE(written.size() == 3);
  // Each flow item was written with its original order and contents.
  CHECK(be32(written[0].data() + vnet_hdr_len + 24) == 1000);
  CHECK(be32(written[1].data() + vnet_hdr_len + 24) == 9000);
  CHECK(written[2].size() == vnet_hdr_len + 28);
}

TEST_CASE("without the virtio header, packets are written as they are") {
  dgram_pair pair;
  tun_writer writer{pair.fds[0], false};
  bytes p(60, 0x45);
  writer.add(p);
  writer.add(p);
  writer.flush();
  auto written = drain(pair.fds[1]);
  REQUIRE(written.size() == 2);
  CHECK(written[0] == p);
}
