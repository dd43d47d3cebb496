#include "stun/udp_socket.hpp"

#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace overlayd::stun {

std::string errno_text(int err) {
  return std::strerror(err) + std::string(" (os error ") + std::to_string(err)
         + ")";
}

udp_socket& udp_socket::operator=(udp_socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    family_ = o.family_;
  }
  return *this;
}

void udp_socket::close() noexcept {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

result<udp_socket> udp_socket::bind(int family, const udp_endpoint& local) {
  int fd
    = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0)
    return result<udp_socket>::failure(errno_text(errno));
  udp_socket s(fd);
  s.family_ = family;
  if (family == AF_INET6) {
    int off = 0;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  sockaddr_storage ss;
  socklen_t len = local.to_sockaddr(ss, family);
  if (len == 0)
    return result<udp_socket>::failure("address " + local.to_string()
                                       + " does not fit the socket family");
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return result<udp_socket>::failure("bind " + local.to_string() + ": "
                                       + errno_text(errno));
  return s;
}

status udp_socket::bind_to_device(const std::string& iface) {
  if (::setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, iface.c_str(),
                   static_cast<socklen_t>(iface.size()))
      != 0)
    return status::failure("SO_BINDTODEVICE " + iface + ": "
                           + errno_text(errno));
  return status::success();
}

result<udp_endpoint> udp_socket::local_endpoint() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return result<udp_endpoint>::failure(errno_text(errno));
  return udp_endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

result<std::size_t> udp_socket::send_to(std::span<const std::uint8_t> data,
                                        const udp_endpoint& to) const {
  sockaddr_storage ss;
  socklen_t len = to.to_sockaddr(ss, family_);
  if (len == 0)
    return result<std::size_t>::failure("cannot send to " + to.to_string()
                                        + " from this socket family");
  ssize_t n = ::sendto(fd_, data.data(), data.size(), MSG_NOSIGNAL,
                       reinterpret_cast<sockaddr*>(&ss), len);
  if (n < 0)
    return result<std::size_t>::failure("send to " + to.to_string() + ": "
                                        + errno_text(errno));
  return static_cast<std::size_t>(n);
}

} // namespace overlayd::stun
