#include "wg/io/udp.hpp"

#include <algorithm>
#include <cstring>
#include <netinet/udp.h>
#include <sys/uio.h>
#include <unistd.h>

namespace overlayd::wg {

namespace {

// Big buffers keep bursts from being dropped while a reader thread is busy
// with crypto (wireguard-go measured 0 instead of 2742 retransmits).
constexpr int socket_buffer_bytes = 7 << 20;

// udp(7): at most 64 segments per GSO send.
constexpr std::size_t max_gso_segments = 64;

// A GSO send must fit one IP datagram.
constexpr std::size_t max_gso_bytes = 65000;

// Room for one datagram of any size in the send buffer.
constexpr std::size_t max_datagram_bytes = 65536;

constexpr std::size_t gso_control_size = CMSG_SPACE(sizeof(std::uint16_t));
constexpr std::size_t gro_control_size = CMSG_SPACE(sizeof(int));

void set_buffer(int fd, int force_opt, int opt) {
  int bytes = socket_buffer_bytes;
  if (::setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

} // namespace

bool sock_addr::same_as(const sock_addr& other) const {
  if (family() != other.family())
    return false;
  if (family() == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
    auto* b = reinterpret_cast<const sockaddr_in*>(&other.storage);
    return a->sin_port == b->sin_port
           && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  if (family() == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    auto* b = reinterpret_cast<const sockaddr_in6*>(&other.storage);
    return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id
           && std::memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
  }
  return false;
}

udp_socket::udp_socket(udp_socket&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), family_(other.family_),
    port_(other.port_), gro_(other.gro_), gso_(other.gso_) {
  // nop
}

udp_socket& udp_socket::operator=(udp_socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    family_ = other.family_;
    port_ = other.port_;
    gro_ = other.gro_;
    gso_ = other.gso_;
  }
  return *this;
}

udp_socket::~udp_socket() {
  close();
}

void udp_socket::close() {
  if (fd_ >= 0)
    ::close(std::exchange(fd_, -1));
}

void udp_socket::shutdown() {
  if (fd_ >= 0)
    ::shutdown(fd_, SHUT_RDWR);
}

result<void> udp_socket::set_mark(std::uint32_t fwmark) {
  if (::setsockopt(fd_, SOL_SOCKET, SO_MARK, &fwmark, sizeof fwmark) != 0)
    return last_os_error("set fwmark " + std::to_string(fwmark));
  return {};
}

result<udp_socket> udp_socket::bind(int family, std::uint16_t port,
                                    std::uint32_t fwmark, bool offloads) {
  const char* name = family == AF_INET ? "IPv4" : "IPv6";
  udp_socket sock;
  sock.fd_ = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock.fd_ < 0)
    return last_os_error(std::string{"create "} + name + " UDP socket");
  sock.family_ = family;
  int one = 1;
  if (family == AF_INET6
      && ::setsockopt(sock.fd_, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)
           != 0)
    return last_os_error("set IPV6_V6ONLY");
  set_buffer(sock.fd_, SO_RCVBUFFORCE, SO_RCVBUF);
  set_buffer(sock.fd_, SO_SNDBUFFORCE, SO_SNDBUF);
  if (fwmark != 0) {
    if (auto res = sock.set_mark(fwmark); !res)
      return res.error();
  }
  sock_addr addr;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&addr.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    addr.len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&addr.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    sin6->sin6_addr = in6addr_any;
    addr.len = sizeof(sockaddr_in6);
  }
  if (::bind(sock.fd_, addr.get(), addr.len) != 0)
    return last_os_error(std::string{"bind "} + name + " UDP port "
                         + std::to_string(port));
  sock_addr bound;
  bound.len = sizeof bound.storage;
  if (::getsockname(sock.fd_, reinterpret_cast<sockaddr*>(&bound.storage),
                    &bound.len)
      != 0)
    return last_os_error("getsockname");
  sock.port_
    = ntohs(family == AF_INET
              ? reinterpret_cast<sockaddr_in*>(&bound.storage)->sin_port
              : reinterpret_cast<sockaddr_in6*>(&bound.storage)->sin6_port);
  if (!offloads)
    return sock;
  sock.gro_
    = ::setsockopt(sock.fd_, IPPROTO_UDP, UDP_GRO, &one, sizeof one) == 0;
  int seg = 0;
  socklen_t seg_len = sizeof seg;
  sock.gso_
    = ::getsockopt(sock.fd_, IPPROTO_UDP, UDP_SEGMENT, &seg, &seg_len) == 0;
  return sock;
}

udp_recv_batch::udp_recv_batch(std::size_t slots, std::size_t slot_size)
  : slot_size_(slot_size), buffers_(slots * slot_size),
    control_(slots * gro_control_size), iov_(slots), msgs_(slots),
    names_(slots), got_(slots) {
  // nop
}

udp_recv_batch::~udp_recv_batch() = default;

result<std::size_t> udp_recv_batch::receive(udp_socket& sock) {
  for (std::size_t i = 0; i < msgs_.size(); ++i) {
    iov_[i].iov_base = buffers_.data() + i * slot_size_;
    iov_[i].iov_len = slot_size_;
    auto& hdr = msgs_[i].msg_hdr;
    hdr = msghdr{};
    hdr.msg_name = &names_[i];
    hdr.msg_namelen = sizeof(sockaddr_storage);
    hdr.msg_iov = &iov_[i];
    hdr.msg_iovlen = 1;
    hdr.msg_control = control_.data() + i * gro_control_size;
    hdr.msg_controllen = gro_control_size;
    msgs_[i].msg_len = 0;
  }
  int n;
  do {
    n = ::recvmmsg(sock.fd(), msgs_.data(), static_cast<unsigned>(msgs_.size()),
                   MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return std::size_t{0};
    return last_os_error("recvmmsg");
  }
  for (int i = 0; i < n; ++i) {
    auto& hdr = msgs_[i].msg_hdr;
    auto& out = got_[i];
    out.data = {static_cast<std::uint8_t*>(iov_[i].iov_base), msgs_[i].msg_len};
    out.segment_size = 0;
    for (auto* c = CMSG_FIRSTHDR(&hdr); c != nullptr; c = CMSG_NXTHDR(&hdr, c))
      if (c->cmsg_level == IPPROTO_UDP && c->cmsg_type == UDP_GRO) {
        int size = 0;
        std::memcpy(&size, CMSG_DATA(c), sizeof size);
        out.segment_size = static_cast<std::size_t>(size);
      }
    std::memcpy(&out.from.storage, &names_[i], hdr.msg_namelen);
    out.from.len = hdr.msg_namelen;
  }
  return static_cast<std::size_t>(n);
}

udp_send_batch::udp_send_batch(std::size_t max_datagrams)
  : max_datagrams_(max_datagrams),
    buffer_(max_datagrams * 2048 + max_datagram_bytes) {
  entries_.reserve(max_datagrams);
  iov_.resize(max_datagrams);
  msgs_.resize(max_datagrams);
  control_.resize(max_datagrams * gso_control_size);
}

udp_send_batch::~udp_send_batch() = default;

void udp_send_batch::clear() {
  entries_.clear();
  used_ = 0;
  datagrams_ = 0;
}

std::span<std::uint8_t>
udp_send_batch::reserve(const sock_addr& to, std::size_t size, bool allow_gso) {
  if (datagrams_ >= max_datagrams_ || used_ + size > buffer_.size())
    return {};
  std::span<std::uint8_t> out{buffer_.data() + used_, size};
  used_ += size;
  ++datagrams_;
  if (allow_gso && !entries_.empty()) {
    auto& last = entries_.back();
    // Only the last segment of a GSO send may be shorter than the others.
    if (last.to.same_as(to) && last.segments < max_gso_segments
        && last.length == last.segment * last.segments && size <= last.segment
        && last.length + size <= max_gso_bytes) {
      last.length += size;
      ++last.segments;
      return out;
    }
  }
  entries_.push_back(entry{to, used_ - size, size, size, 1});
  return out;
}

bool udp_send_batch::add(const sock_addr& to,
                         std::span<const std::uint8_t> bytes, bool allow_gso) {
  auto out = reserve(to, bytes.size(), allow_gso);
  if (out.size() != bytes.size() || bytes.empty())
    return bytes.empty();
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return true;
}

result<void> udp_send_batch::flush(udp_socket& sock) {
  std::size_t n = entries_.size();
  for (std::size_t i = 0; i < n; ++i) {
    auto& e = entries_[i];
    iov_[i].iov_base = buffer_.data() + e.offset;
    iov_[i].iov_len = e.length;
    auto& hdr = msgs_[i].msg_hdr;
    hdr = msghdr{};
    hdr.msg_name = &e.to.storage;
    hdr.msg_namelen = e.to.len;
    hdr.msg_iov = &iov_[i];
    hdr.msg_iovlen = 1;
    if (e.segments > 1) {
      hdr.msg_control = control_.data() + i * gso_control_size;
      hdr.msg_controllen = gso_control_size;
      auto* c = CMSG_FIRSTHDR(&hdr);
      c->cmsg_level = IPPROTO_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
      auto seg = static_cast<std::uint16_t>(e.segment);
      std::memcpy(CMSG_DATA(c), &seg, sizeof seg);
    }
  }
  result<void> status;
  std::size_t done = 0;
  while (done < n) {
    int sent = ::sendmmsg(sock.fd(), msgs_.data() + done,
                          static_cast<unsigned>(n - done), 0);
    if (sent > 0) {
      done += static_cast<std::size_t>(sent);
      continue;
    }
    if (errno == EINTR)
      continue;
    auto& e = entries_[done];
    if (errno == EIO && e.segments > 1) {
      // The egress device cannot checksum GSO sends: fall back for good and
      // send this entry segment by segment.
      sock.disable_gso();
      for (std::size_t off = 0; off < e.length; off += e.segment) {
        std::size_t len = std::min(e.segment, e.length - off);
        ::sendto(sock.fd(), buffer_.data() + e.offset + off, len, 0, e.to.get(),
                 e.to.len);
      }
    } else if (!status) {
      // keep the first error
    } else {
      status = last_os_error("sendmmsg");
    }
    ++done; // drop what the kernel refused, as a NIC would
  }
  clear();
  return status;
}

} // namespace overlayd::wg
