#include "wg/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

namespace overlayd::wg {

ip_address ip_address::v4(const std::array<uint8_t, 4>& bytes) {
  ip_address a;
  std::memcpy(a.bytes_.data(), bytes.data(), 4);
  return a;
}

ip_address ip_address::v6(const std::array<uint8_t, 16>& bytes) {
  ip_address a;
  a.v6_ = true;
  a.bytes_ = bytes;
  return a;
}

std::optional<ip_address> ip_address::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
    return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  std::array<uint8_t, 16> raw{};
  if (inet_pton(AF_INET, buf, raw.data()) == 1)
    return v4({raw[0], raw[1], raw[2], raw[3]});
  if (inet_pton(AF_INET6, buf, raw.data()) == 1)
    return v6(raw);
  return std::nullopt;
}

std::optional<ip_address> ip_address::from_bytes(std::span<const uint8_t> raw) {
  if (raw.size() == 4)
    return v4({raw[0], raw[1], raw[2], raw[3]});
  if (raw.size() == 16) {
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), raw.data(), 16);
    return v6(b);
  }
  return std::nullopt;
}

int ip_address::family() const {
  return v6_ ? AF_INET6 : AF_INET;
}

std::size_t ip_address::bit_length() const {
  return v6_ ? 128 : 32;
}

bool ip_address::is_v4_mapped() const {
  static constexpr uint8_t prefix[12]
    = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return v6_ && std::memcmp(bytes_.data(), prefix, 12) == 0;
}

ip_address ip_address::unmapped() const {
  if (!is_v4_mapped())
    return *this;
  return v4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family(), bytes_.data(), buf, sizeof buf);
  return buf;
}

std::optional<endpoint> endpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size()
        || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    auto addr = ip_address::parse(host);
    if (!addr || !addr->is_v6())
      return std::nullopt;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos)
      return std::nullopt; // bare IPv6 needs brackets
  }
  auto addr = ip_address::parse(host);
  if (!addr || port.empty())
    return std::nullopt;
  unsigned value = 0;
  auto [end, ec]
    = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc{} || end != port.data() + port.size() || value > 65535)
    return std::nullopt;
  return endpoint(*addr, static_cast<uint16_t>(value));
}

std::optional<endpoint> endpoint::from_sockaddr(const sockaddr* sa,
                                                socklen_t len) {
  if (sa == nullptr)
    return std::nullopt;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    sockaddr_in in;
    std::memcpy(&in, sa, sizeof in);
    std::array<uint8_t, 4> b;
    std::memcpy(b.data(), &in.sin_addr, 4);
    return endpoint(ip_address::v4(b), ntohs(in.sin_port));
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    sockaddr_in6 in6;
    std::memcpy(&in6, sa, sizeof in6);
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), &in6.sin6_addr, 16);
    return endpoint(ip_address::v6(b).unmapped(), ntohs(in6.sin6_port));
  }
  return std::nullopt;
}

socklen_t endpoint::to_sockaddr(sockaddr_storage& out, bool v4_mapped) const {
  std::memset(&out, 0, sizeof out);
  auto raw = address_.bytes();
  if (address_.is_v4() && !v4_mapped) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port_);
    std::memcpy(&in.sin_addr, raw.data(), 4);
    std::memcpy(&out, &in, sizeof in);
    return sizeof in;
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port_);
  if (address_.is_v4()) {
    in6.sin6_addr.s6_addr[10] = 0xff;
    in6.sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&in6.sin6_addr.s6_addr[12], raw.data(), 4);
  } else {
    std::memcpy(&in6.sin6_addr, raw.data(), 16);
  }
  std::memcpy(&out, &in6, sizeof in6);
  return sizeof in6;
}

std::string endpoint::to_string() const {
  if (address_.is_v6())
    return "[" + address_.to_string() + "]:" + std::to_string(port_);
  return address_.to_string() + ":" + std::to_string(port_);
}

} // namespace overlayd::wg

namespace {

std::size_t mix(std::size_t h, std::size_t v) {
  return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

} // namespace

std::size_t std::hash<overlayd::wg::ip_address>::operator()(
  const overlayd::wg::ip_address& a) const noexcept {
  std::size_t h = a.is_v6() ? 6 : 4;
  for (auto b : a.bytes())
    h = mix(h, b);
  return h;
}

std::size_t std::hash<overlayd::wg::endpoint>::operator()(
  const overlayd::wg::endpoint& e) const noexcept {
  return mix(std::hash<overlayd::wg::ip_address>{}(e.address()), e.port());
}
