#include "wg/io/tun_offload.hpp"

#include "wg/io/checksum.hpp"

#include <algorithm>
#include <cstring>
#include <unistd.h>

namespace overlayd::wg {

namespace {

constexpr std::uint8_t proto_tcp = 6;
constexpr std::uint8_t proto_udp = 17;
constexpr std::uint8_t tcp_fin = 0x01;
constexpr std::uint8_t tcp_psh = 0x08;
constexpr std::uint8_t tcp_ack = 0x10;
constexpr std::uint8_t tcp_cwr = 0x80;
constexpr std::size_t max_ip_packet = 65535;

std::uint16_t load16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}

std::uint32_t load32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16
         | std::uint32_t{p[2]} << 8 | p[3];
}

void store16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

void store32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

void fix_ipv4_checksum(std::uint8_t* ip, std::size_t ihl) {
  ip[10] = ip[11] = 0;
  csum::store(ip + 10,
              static_cast<std::uint16_t>(~csum::fold(csum::add(0, ip, ihl))));
}

// IP header facts needed for segmentation and coalescing.
struct ip_info {
  bool v6 = false;
  std::size_t hlen = 0;
  std::uint8_t proto = 0;
};

// Accepts IPv4 without fragmentation and IPv6 without extension headers.
bool parse_ip(const std::uint8_t* p, std::size_t len, ip_info& out) {
  if (len < 20)
    return false;
  unsigned version = p[0] >> 4;
  if (version == 4) {
    out.v6 = false;
    out.hlen = (p[0] & 0x0fu) * 4u;
    out.proto = p[9];
    bool fragment = (load16(p + 6) & 0x3fffu) != 0; // MF or an offset
    return out.hlen >= 20 && out.hlen <= len && !fragment;
  }
  if (version == 6) {
    out.v6 = true;
    out.hlen = 40;
    out.proto = p[6];
    return len >= 40;
  }
  return false;
}

std::uint64_t pseudo_sum(const std::uint8_t* ip, const ip_info& info,
                         std::size_t l4_len) {
  if (info.v6)
    return csum::pseudo_header(ip + 8, ip + 24, 16, info.proto, l4_len);
  return csum::pseudo_header(ip + 12, ip + 16, 4, info.proto, l4_len);
}

} // namespace

tun_segmenter::tun_segmenter(std::size_t arena_bytes) : arena_(arena_bytes) {
  packets_.reserve(512);
}

void tun_segmenter::reset() {
  used_ = 0;
  packets_.clear();
}

void tun_segmenter::add_plain(std::span<const std::uint8_t> packet) {
  packets_.push_back(packet);
}

bool tun_segmenter::add_read(std::span<std::uint8_t> read) {
  if (read.size() <= vnet_hdr_len)
    return false;
  vnet_header hdr;
  std::memcpy(&hdr, read.data(), sizeof hdr);
  std::uint8_t* pkt = read.data() + vnet_hdr_len;
  std::size_t len = read.size() - vnet_hdr_len;
  unsigned gso_type = hdr.gso_type & ~unsigned{vnet_gso_ecn};
  if (gso_type == vnet_gso_none) {
    if (hdr.flags & vnet_f_needs_csum) {
      // The field already holds the pseudo-header sum; finish the job the
      // NIC would have done.
      std::size_t start = hdr.csum_start;
      std::size_t at = start + hdr.csum_offset;
      if (start >= len || at + 2 > len)
        return false;
      auto sum = csum::fold(csum::add(0, pkt + start, len - start));
      std::uint16_t value = static_cast<std::uint16_t>(~sum);
      csum::store(pkt + at, value == 0 ? 0xffff : value);
    }
    packets_.push_back({pkt, len});
    return true;
  }
  return segment(pkt, len, gso_type, hdr.gso_size);
}

bool tun_segmenter::segment(const std::uint8_t* pkt, std::size_t len,
                            unsigned gso_type, std::size_t gso_size) {
  ip_info ip;
  if (!parse_ip(pkt, len, ip) || gso_size == 0)
    return false;
  bool tcp = gso_type == vnet_gso_tcpv4 || gso_type == vnet_gso_tcpv6;
  bool udp = gso_type == vnet_gso_udp_l4;
  if ((!tcp && !udp) || (tcp && ip.proto != proto_tcp)
      || (udp && ip.proto != proto_udp))
    return false;
  std::size_t l4_hlen = 8;
  if (tcp) {
    if (len < ip.hlen + 20)
      return false;
    l4_hlen = (pkt[ip.hlen + 12] >> 4) * 4u;
    if (l4_hlen < 20)
      return false;
  }
  std::size_t hlen = ip.hlen + l4_hlen;
  if (len <= hlen)
    return false;
  std::size_t payload = len - hlen;
  std::size_t count = (payload + gso_size - 1) / gso_size;
  if (room() < payload + count * hlen)
    return false;
  std::uint16_t ip_id = ip.v6 ? 0 : load16(pkt + 4);
  std::uint32_t seq = tcp ? load32(pkt + ip.hlen + 4) : 0;
  std::uint8_t flags = tcp ? pkt[ip.hlen + 13] : 0;
  for (std::size_t i = 0; i < count; ++i) {
    std::size_t off = i * gso_size;
    std::size_t chunk = std::min(gso_size, payload - off);
    std::uint8_t* out = arena_.data() + used_;
    std::memcpy(out, pkt, hlen);
    std::memcpy(out + hlen, pkt + hlen + off, chunk);
    std::size_t total = hlen + chunk;
    if (ip.v6) {
      store16(out + 4, static_cast<std::uint16_t>(total - 40));
    } else {
      store16(out + 2, static_cast<std::uint16_t>(total));
      store16(out + 4, static_cast<std::uint16_t>(ip_id + i));
      fix_ipv4_checksum(out, ip.hlen);
    }
    std::uint8_t* l4 = out + ip.hlen;
    std::size_t l4_len = total - ip.hlen;
    std::size_t csum_at;
    if (tcp) {
      store32(l4 + 4, static_cast<std::uint32_t>(seq + off));
      std::uint8_t f = flags;
      if (i + 1 < count)
        f &= static_cast<std::uint8_t>(~(tcp_fin | tcp_psh));
      if (i > 0)
        f &= static_cast<std::uint8_t>(~tcp_cwr);
      l4[13] = f;
      csum_at = 16;
    } else {
      store16(l4 + 4, static_cast<std::uint16_t>(l4_len));
      csum_at = 6;
    }
    l4[csum_at] = l4[csum_at + 1] = 0;
    auto sum = csum::fold(csum::add(pseudo_sum(out, ip, l4_len), l4, l4_len));
    std::uint16_t value = static_cast<std::uint16_t>(~sum);
    if (udp && value == 0)
      value = 0xffff;
    csum::store(l4 + csum_at, value);
    packets_.push_back({out, total});
    used_ += total;
  }
  return true;
}

tun_writer::tun_writer(int fd, bool vnet_hdr, std::size_t max_items)
  : fd_(fd), vnet_hdr_(vnet_hdr), items_(max_items) {
  // nop
}

void tun_writer::add(std::span<const std::uint8_t> packet) {
  if (packet.empty() || packet.size() > max_ip_packet)
    return;
  if (!vnet_hdr_) {
    // Nothing to merge without offloads: write straight through.
    [[maybe_unused]] auto n = ::write(fd_, packet.data(), packet.size());
    return;
  }
  const std::uint8_t* pkt = packet.data();
  std::size_t len = packet.size();
  ip_info ip;
  bool candidate
    = parse_ip(pkt, len, ip) && ip.proto == proto_tcp && len >= ip.hlen + 20;
  std::size_t tcp_hlen = 0;
  if (candidate) {
    const std::uint8_t* th = pkt + ip.hlen;
    tcp_hlen = (th[12] >> 4) * 4u;
    std::uint8_t f = th[13];
    // Only plain data segments (ACK, maybe PSH) with a payload merge.
    candidate = tcp_hlen >= 20 && ip.hlen + tcp_hlen < len
                && (f & ~(tcp_ack | tcp_psh)) == 0 && (f & tcp_ack) != 0
                && (ip.v6 || load16(pkt + 2) == len);
    if (ip.v6 && load16(pkt + 4) + 40u != len)
      candidate = false;
  }
  if (candidate) {
    // Only the newest item of a flow may grow, which keeps order.
    for (std::size_t i = used_; i-- > 0;) {
      auto& it = items_[i];
      if (!it.tcp || it.v6 != ip.v6)
        continue;
      const std::uint8_t* head = it.buf.data() + vnet_hdr_len;
      bool same_flow = ip.v6 ? std::memcmp(head + 8, pkt + 8, 32) == 0
                             : std::memcmp(head + 12, pkt + 12, 8) == 0;
      same_flow
        = same_flow && std::memcmp(head + it.ip_hlen, pkt + ip.hlen, 4) == 0;
      if (!same_flow)
        continue;
      if (try_merge(it, pkt, len, ip.hlen, tcp_hlen))
        return;
      break;
    }
  }
  if (used_ == items_.size())
    flush();
  auto& it = items_[used_++];
  if (it.buf.size() < vnet_hdr_len + max_ip_packet)
    it.buf.resize(vnet_hdr_len + max_ip_packet);
  std::memset(it.buf.data(), 0, vnet_hdr_len);
  std::memcpy(it.buf.data() + vnet_hdr_len, pkt, len);
  it.len = vnet_hdr_len + len;
  it.segments = 1;
  it.tcp = candidate;
  it.closed = !candidate || (pkt[ip.hlen + 13] & tcp_psh) != 0;
  if (candidate) {
    it.v6 = ip.v6;
    it.ip_hlen = ip.hlen;
    it.tcp_hlen = tcp_hlen;
    it.gso_size = len - ip.hlen - tcp_hlen;
    it.next_seq
      = static_cast<std::uint32_t>(load32(pkt + ip.hlen + 4) + it.gso_size);
  }
}

bool tun_writer::try_merge(item& it, const std::uint8_t* pkt, std::size_t len,
                           std::size_t ip_hlen, std::size_t tcp_hlen) {
  if (it.closed || ip_hlen != it.ip_hlen || tcp_hlen != it.tcp_hlen)
    return false;
  const std::uint8_t* head = it.buf.data() + vnet_hdr_len;
  const std::uint8_t* th = pkt + ip_hlen;
  const std::uint8_t* hth = head + ip_hlen;
  std::size_t payload = len - ip_hlen - tcp_hlen;
  if (load32(th + 4) != it.next_seq || payload > it.gso_size
      || it.len + payload > vnet_hdr_len + max_ip_packet)
    return false;
  // Same ACK number, same options, same TTL/TOS (or traffic class/hop
  // limit), as Linux GRO requires.
  if (std::memcmp(th + 8, hth + 8, 4) != 0
      || std::memcmp(th + 20, hth + 20, tcp_hlen - 20) != 0)
    return false;
  if (it.v6 ? (std::memcmp(pkt, head, 4) != 0 || pkt[7] != head[7])
            : (pkt[1] != head[1] || pkt[8] != head[8]))
    return false;
  std::memcpy(it.buf.data() + it.len, pkt + ip_hlen + tcp_hlen, payload);
  it.len += payload;
  it.next_seq += static_cast<std::uint32_t>(payload);
  ++it.segments;
  std::uint8_t flags = th[13];
  if (flags & tcp_psh) {
    it.buf[vnet_hdr_len + ip_hlen + 13] |= tcp_psh;
    it.closed = true;
  }
  if (payload < it.gso_size)
    it.closed = true;
  return true;
}

void tun_writer::write_item(item& it) {
  std::uint8_t* pkt = it.buf.data() + vnet_hdr_len;
  std::size_t len = it.len - vnet_hdr_len;
  if (it.segments > 1) {
    vnet_header hdr{};
    hdr.flags = vnet_f_needs_csum;
    hdr.gso_type = it.v6 ? vnet_gso_tcpv6 : vnet_gso_tcpv4;
    hdr.hdr_len = static_cast<std::uint16_t>(it.ip_hlen + it.tcp_hlen);
    hdr.gso_size = static_cast<std::uint16_t>(it.gso_size);
    hdr.csum_start = static_cast<std::uint16_t>(it.ip_hlen);
    hdr.csum_offset = 16;
    std::memcpy(it.buf.data(), &hdr, sizeof hdr);
    ip_info ip{it.v6, it.ip_hlen, proto_tcp};
    if (it.v6) {
      store16(pkt + 4, static_cast<std::uint16_t>(len - 40));
    } else {
      store16(pkt + 2, static_cast<std::uint16_t>(len));
      fix_ipv4_checksum(pkt, it.ip_hlen);
    }
    // CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum and
    // the kernel adds header and payload.
    csum::store(pkt + it.ip_hlen + 16,
                csum::fold(pseudo_sum(pkt, ip, len - it.ip_hlen)));
  }
  [[maybe_unused]] auto n = ::write(fd_, it.buf.data(), it.len);
}

std::size_t tun_writer::flush() {
  std::size_t writes = used_;
  for (std::size_t i = 0; i < used_; ++i)
    write_item(items_[i]);
  used_ = 0;
  return writes;
}

} // namespace overlayd::wg
