#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "stun/net_address.hpp"
#include "stun/result.hpp"

namespace overlayd::stun {

inline constexpr std::uint32_t stun_magic_cookie = 0x2112A442;
inline constexpr std::size_t stun_header_size = 20;
// A response larger than this is truncated by the reference's buffer.
inline constexpr std::size_t stun_recv_buffer = 576;

using transaction_id = std::array<std::uint8_t, 12>;

// The reference's StunError variants; `message()` gives its exact texts.
struct stun_error {
  enum class kind {
    too_short,
    not_binding_response,
    bad_magic_cookie,
    transaction_mismatch,
    no_mapped_address,
    io,
    timeout,
    dns_resolution,
    no_servers,
  };
  kind code;
  std::size_t length = 0;     // too_short
  std::uint16_t msg_type = 0; // not_binding_response
  std::string detail;         // io: OS text; dns_resolution: the name

  std::string message() const;
};

// The bare 20-byte Binding Request: no attributes at all.
std::array<std::uint8_t, 20> build_binding_request(const transaction_id& txn);

// Parses a Binding Success response; XOR-MAPPED-ADDRESS wins over
// MAPPED-ADDRESS. Checks (and their order) are the reference's.
result<udp_endpoint, stun_error>
parse_binding_response(std::span<const std::uint8_t> data,
                       const transaction_id& txn);

transaction_id random_transaction_id();

} // namespace overlayd::stun
