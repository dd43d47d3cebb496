#pragma once

#include "wg/io/byte_buffer.hpp"
#include "wg/io/result.hpp"

#include <cstddef>
#include <cstdint>
#include <netinet/in.h>
#include <span>
#include <sys/socket.h>
#include <vector>

struct mmsghdr;

namespace overlayd::wg {

/// A socket address that fits IPv4 and IPv6.
struct sock_addr {
  sockaddr_storage storage{};
  socklen_t len = 0;

  const sockaddr* get() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }
  int family() const { return storage.ss_family; }
  bool same_as(const sock_addr& other) const;
};

/// One UDP socket bound to the wildcard address of one family. IPv6 sockets
/// are IPv6-only so the IPv4 socket can share the port.
class udp_socket {
public:
  udp_socket() = default;
  udp_socket(udp_socket&& other) noexcept;
  udp_socket& operator=(udp_socket&& other) noexcept;
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  ~udp_socket();

  /// Binds `family` (AF_INET or AF_INET6) on `port` (0 = ephemeral), with
  /// big socket buffers, `fwmark` when nonzero and, with `offloads`, UDP
  /// GRO and GSO when the kernel has them.
  static result<udp_socket> bind(int family, std::uint16_t port,
                                 std::uint32_t fwmark, bool offloads = true);

  /// Sets SO_MARK on the socket.
  result<void> set_mark(std::uint32_t fwmark);

  int fd() const noexcept { return fd_; }
  int family() const noexcept { return family_; }
  std::uint16_t port() const noexcept { return port_; }
  bool gro() const noexcept { return gro_; }
  bool gso() const noexcept { return gso_; }
  void disable_gso() noexcept { gso_ = false; }

  /// Shuts the socket down so a blocked reader wakes up.
  void shutdown();
  void close();

private:
  int fd_ = -1;
  int family_ = 0;
  std::uint16_t port_ = 0;
  bool gro_ = false;
  bool gso_ = false;
};

/// Receive buffers for recvmmsg. Each slot can hold a GRO super-datagram.
class udp_recv_batch {
public:
  /// A received datagram; with GRO it may hold several segments of
  /// `segment_size` bytes each (the last one may be shorter).
  struct datagram {
    std::span<std::uint8_t> data;
    std::size_t segment_size = 0;
    sock_addr from;
  };

  explicit udp_recv_batch(std::size_t slots, std::size_t slot_size = 65536);
  ~udp_recv_batch();
  udp_recv_batch(const udp_recv_batch&) = delete;
  udp_recv_batch& operator=(const udp_recv_batch&) = delete;

  /// Blocks until at least one datagram arrives; returns how many arrived,
  /// 0 after shutdown, or an error.
  result<std::size_t> receive(udp_socket& sock);

  const datagram& operator[](std::size_t i) const { return got_[i]; }

private:
  std::size_t slot_size_;
  byte_buffer buffers_;
  std::vector<std::uint8_t> control_;
  std::vector<struct iovec> iov_;
  std::vector<mmsghdr> msgs_;
  std::vector<sockaddr_storage> names_;
  std::vector<datagram> got_;
};

/// Queued outgoing datagrams, sent with one sendmmsg per flush. Consecutive
/// equal-size datagrams to the same address are coalesced into one UDP GSO
/// send when the socket supports it.
class udp_send_batch {
public:
  explicit udp_send_batch(std::size_t max_datagrams = 128);
  ~udp_send_batch();
  udp_send_batch(const udp_send_batch&) = delete;
  udp_send_batch& operator=(const udp_send_batch&) = delete;

  /// Queues a copy of `bytes` to `to`. Returns false when full: flush first.
  bool add(const sock_addr& to, std::span<const std::uint8_t> bytes,
           bool allow_gso);

  /// Reserves `size` bytes for a datagram to `to` and returns them for the
  /// caller to fill, or an empty span when full.
  std::span<std::uint8_t> reserve(const sock_addr& to, std::size_t size,
                                  bool allow_gso);

  bool empty() const noexcept { return entries_.empty(); }
  /// Whether reserve() has room for one more datagram of `size` bytes.
  bool fits(std::size_t size) const noexcept {
    return datagrams_ < max_datagrams_ && used_ + size <= buffer_.size();
  }
  std::size_t size() const noexcept { return datagrams_; }

  /// Sends everything on `sock` and clears the queue. Datagrams that the
  /// kernel refuses are dropped, as a NIC would.
  result<void> flush(udp_socket& sock);
  void clear();

private:
  struct entry {
    sock_addr to;
    std::size_t offset = 0;
    std::size_t length = 0;
    std::size_t segment = 0;
    std::size_t segments = 0;
  };
  std::size_t max_datagrams_;
  std::size_t datagrams_ = 0;
  byte_buffer buffer_;
  std::size_t used_ = 0;
  std::vector<entry> entries_;
  std::vector<struct iovec> iov_;
  std::vector<mmsghdr> msgs_;
  std::vector<std::uint8_t> control_;
};

} // namespace overlayd::wg
