#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "stun/net_address.hpp"
#include "stun/result.hpp"

namespace overlayd::stun {

// Owning, move-only UDP socket (non-blocking, close-on-exec).
class udp_socket {
public:
  udp_socket() = default;
  explicit udp_socket(int fd) : fd_(fd) {}
  udp_socket(udp_socket&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)), family_(o.family_) {}
  udp_socket& operator=(udp_socket&& o) noexcept;
  udp_socket(const udp_socket&) = delete;
  udp_socket& operator=(const udp_socket&) = delete;
  ~udp_socket() { close(); }

  // Opens a socket of `family` (AF_INET/AF_INET6) and binds it to `local`
  // (unspecified address and/or port 0 allowed). An AF_INET6 socket stays
  // dual-stack, as Rust's `[::]` sockets are on Linux.
  static result<udp_socket> bind(int family, const udp_endpoint& local);

  // SO_BINDTODEVICE; the caller treats a failure as a warning only.
  status bind_to_device(const std::string& iface);

  int fd() const noexcept { return fd_; }
  int family() const noexcept { return family_; }
  bool valid() const noexcept { return fd_ >= 0; }
  void close() noexcept;

  result<udp_endpoint> local_endpoint() const;
  // Returns bytes sent or an error text; never blocks (EAGAIN is an error).
  result<std::size_t> send_to(std::span<const std::uint8_t> data,
                              const udp_endpoint& to) const;

private:
  int fd_ = -1;
  int family_ = 0;
};

std::string errno_text(int err);

} // namespace overlayd::stun
