#pragma once

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stun/net_address.hpp"

// A tiny STUN responder on 127.0.0.1 for client tests: answers every
// Binding Request with XOR-MAPPED-ADDRESS of the sender after `delay`,
// or stays silent, or answers with a Binding Error.
class stun_responder {
public:
  enum class mode { answer, silent, error_response, mapped_only };

  explicit stun_responder(mode m = mode::answer,
                          std::chrono::milliseconds delay = {})
    : mode_(m), delay_(delay) {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~stun_responder() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::uint16_t port() const { return port_; }
  int requests() const { return requests_; }

private:
  void run() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0)
        continue;
      std::uint8_t buf[1500];
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0,
                             reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 20)
        continue;
      ++requests_;
      if (mode_ == mode::silent)
        continue;
      std::this_thread::sleep_for(delay_);
      std::uint8_t out[32];
      std::memcpy(out, buf, 20);
      out[0] = 0x01;
      out[1] = mode_ == mode::error_response ? 0x11 : 0x01;
      out[2] = 0;
      out[3] = 12;
      std::uint16_t port = ntohs(from.sin_port);
      std::uint32_t ip = ntohl(from.sin_addr.s_addr);
      bool plain = mode_ == mode::mapped_only;
      if (!plain) {
        port ^= 0x2112;
        ip ^= 0x2112A442;
      }
      std::uint8_t attr[12] = {0x00,
                               static_cast<std::uint8_t>(plain ? 0x01 : 0x20),
                               0x00,
                               0x08,
                               0x00,
                               0x01,
                               static_cast<std::uint8_t>(port >> 8),
                               static_cast<std::uint8_t>(port),
                               static_cast<std::uint8_t>(ip >> 24),
                               static_cast<std::uint8_t>(ip >> 16),
                               static_cast<std::uint8_t>(ip >> 8),
                               static_cast<std::uint8_t>(ip)};
      std::memcpy(out + 20, attr, 12);
      ::sendto(fd_, out, 32, 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }

  mode mode_;
  std::chrono::milliseconds delay_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};
