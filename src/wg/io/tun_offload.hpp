#pragma once

// Packet work for a TUN opened with IFF_VNET_HDR: every read and write
// starts with a 10-byte virtio_net_hdr. Reads may return TCP/UDP
// super-packets (TSO/USO) that must be cut into MTU-sized IP packets before
// encryption; writes may carry super-packets the kernel splits again, so
// decrypted TCP segments of one flow are coalesced first (GRO).

#include "wg/io/byte_buffer.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace overlayd::wg {

/// struct virtio_net_hdr (linux/virtio_net.h cannot be included from C++:
/// it has a member named `class`). Native byte order on a TUN.
struct vnet_header {
  std::uint8_t flags = 0;
  std::uint8_t gso_type = 0;
  std::uint16_t hdr_len = 0;
  std::uint16_t gso_size = 0;
  std::uint16_t csum_start = 0;
  std::uint16_t csum_offset = 0;
};
static_assert(sizeof(vnet_header) == 10);

inline constexpr std::size_t vnet_hdr_len = sizeof(vnet_header);
inline constexpr std::uint8_t vnet_f_needs_csum = 1;
inline constexpr std::uint8_t vnet_gso_none = 0;
inline constexpr std::uint8_t vnet_gso_tcpv4 = 1;
inline constexpr std::uint8_t vnet_gso_tcpv6 = 4;
inline constexpr std::uint8_t vnet_gso_udp_l4 = 5;
inline constexpr std::uint8_t vnet_gso_ecn = 0x80;

/// Turns TUN reads into plain IP packets with valid checksums.
class tun_segmenter {
public:
  /// `arena_bytes` bounds the segments produced between two reset() calls.
  explicit tun_segmenter(std::size_t arena_bytes = 1u << 20);

  /// Forgets every packet (the arena is reused).
  void reset();

  /// Adds one read (virtio_net_hdr + packet). Packets that need no copy are
  /// referenced in place, so `read` must outlive the next reset(); a
  /// pending checksum is completed in place. Returns false for a malformed
  /// or unsupported read, which adds nothing.
  bool add_read(std::span<std::uint8_t> read);

  /// Adds a plain IP packet (a TUN without the header) by reference.
  void add_plain(std::span<const std::uint8_t> packet);

  /// Bytes still free in the arena; a read needs at most its own size plus
  /// 128 bytes per segment.
  std::size_t room() const noexcept { return arena_.size() - used_; }

  const std::vector<std::span<const std::uint8_t>>& packets() const noexcept {
    return packets_;
  }

private:
  bool segment(const std::uint8_t* pkt, std::size_t len, unsigned gso_type,
               std::size_t gso_size);

  byte_buffer arena_;
  std::size_t used_ = 0;
  std::vector<std::span<const std::uint8_t>> packets_;
};

/// Collects IP packets bound for the TUN and writes them, merging
/// consecutive TCP segments of a flow into super-packets when the TUN has
/// the virtio-net header.
class tun_writer {
public:
  tun_writer(int fd, bool vnet_hdr, std::size_t max_items = 128);

  /// Queues a copy of `packet` (a complete IP packet). Packets that cannot
  /// be queued in the current batch cause an early flush.
  void add(std::span<const std::uint8_t> packet);

  /// Writes every queued packet in order. Returns the number of writes.
  std::size_t flush();

  std::size_t pending() const noexcept { return used_; }

  void set_fd(int fd) noexcept { fd_ = fd; }

private:
  struct item {
    std::vector<std::uint8_t> buf; // vnet header + IP packet
    std::size_t len = 0;           // bytes used in buf
    bool tcp = false;              // a coalescing candidate
    bool closed = true;            // accepts no more segments
    bool v6 = false;
    std::size_t ip_hlen = 0;
    std::size_t tcp_hlen = 0;
    std::size_t gso_size = 0;
    std::uint32_t next_seq = 0;
    std::size_t segments = 1;
  };

  bool try_merge(item& it, const std::uint8_t* pkt, std::size_t len,
                 std::size_t ip_hlen, std::size_t tcp_hlen);
  void write_item(item& it);

  int fd_;
  bool vnet_hdr_;
  std::vector<item> items_;
  std::size_t used_ = 0;
};

} // namespace overlayd::wg
