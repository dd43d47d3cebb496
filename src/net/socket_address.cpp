#include "net/ip.hpp"

#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

#include "net/rust_addr_parser.hpp"

namespace overlayd::net {

expected<socket_address> socket_address::parse(std::string_view text) {
  {
    // a.b.c.d:port
    detail::rust_addr_parser p{text};
    if (auto o = p.read_ipv4(); o && p.read_char(':')) {
      auto port = p.read_number(10, 0, true, 0xffff);
      if (port && p.at_end())
        return socket_address{
          ip_address::v4((*o)[0], (*o)[1], (*o)[2], (*o)[3]),
          static_cast<std::uint16_t>(*port)};
    }
  }
  {
    // [v6]:port or [v6%scope]:port
    detail::rust_addr_parser p{text};
    if (p.read_char('[')) {
      if (auto g = p.read_ipv6()) {
        std::uint32_t scope = 0;
        bool ok = true;
        if (p.read_char('%')) {
          auto s = p.read_number(10, 0, true, 0xffffffffu);
          ok = s.has_value();
          scope = static_cast<std::uint32_t>(s.value_or(0));
        }
        if (ok && p.read_char(']') && p.read_char(':')) {
          auto port = p.read_number(10, 0, true, 0xffff);
          if (port && p.at_end())
            return socket_address{ip_address::v6_segments(*g),
                                  static_cast<std::uint16_t>(*port), scope};
        }
      }
    }
  }
  return unexpected{std::string{"invalid socket address syntax"}};
}

expected<socket_address> socket_address::from_sockaddr(const sockaddr* sa) {
  if (sa != nullptr && sa->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, sa, sizeof(in));
    return socket_address{ip_address::v4(ntohl(in.sin_addr.s_addr)),
                          ntohs(in.sin_port)};
  }
  if (sa != nullptr && sa->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, sa, sizeof(in6));
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), &in6.sin6_addr, 16);
    return socket_address{ip_address::v6(b), ntohs(in6.sin6_port),
                          in6.sin6_scope_id};
  }
  return unexpected{std::string{"unsupported socket address family"}};
}

unsigned socket_address::to_sockaddr(sockaddr_storage& out) const noexcept {
  std::memset(&out, 0, sizeof(out));
  if (ip_.is_v4()) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port_);
    in.sin_addr.s_addr = htonl(ip_.to_v4_uint());
    std::memcpy(&out, &in, sizeof(in));
    return sizeof(in);
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port_);
  in6.sin6_scope_id = scope_id_;
  std::memcpy(&in6.sin6_addr, ip_.bytes().data(), 16);
  std::memcpy(&out, &in6, sizeof(in6));
  return sizeof(in6);
}

std::string socket_address::to_string() const {
  auto port = std::to_string(port_);
  if (ip_.is_v4())
    return ip_.to_string() + ":" + port;
  if (scope_id_ != 0)
    return "[" + ip_.to_string() + "%" + std::to_string(scope_id_)
           + "]:" + port;
  return "[" + ip_.to_string() + "]:" + port;
}

} // namespace overlayd::net
