#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "stun/net_address.hpp"

namespace overlayd::stun::relay {

// The ZLayer relay protocol (nat.md §4): not RFC 5766 TURN. Control
// messages carry a keyed-BLAKE2b-256 tag over type+length+payload; DATA
// carries none.

using auth_key = std::array<std::uint8_t, 32>;
using auth_tag = std::array<std::uint8_t, 32>;
using allocation_id = std::array<std::uint8_t, 16>;

inline constexpr std::size_t header_size = 3;
inline constexpr std::size_t tag_size = 32;
inline constexpr std::size_t max_packet = 65536;
inline constexpr std::uint32_t default_lifetime_secs = 600;

enum class msg_type : std::uint8_t {
  allocate_req = 0x01,
  allocate_resp = 0x02,
  allocate_err = 0x03,
  permission_req = 0x04,
  permission_resp = 0x05,
  refresh_req = 0x06,
  refresh_resp = 0x07,
  deallocate = 0x08,
  data = 0x80,
};
std::optional<msg_type> msg_type_from_byte(std::uint8_t b);

// BLAKE2b with a 32-byte digest of the credential bytes (no key).
auth_key derive_auth_key(std::string_view credential);
// Keyed BLAKE2b-256 (RFC 7693 keyed mode, not HMAC).
auth_tag compute_tag(const auth_key& key, std::span<const std::uint8_t> data);
// Constant-time.
bool verify_tag(const auth_key& key, std::span<const std::uint8_t> data,
                std::span<const std::uint8_t> tag);

// [0x01][4 ip][2 port] or [0x02][16 ip][2 port]; IPv4-mapped addresses are
// written as plain IPv4 so a dual-stack relay never leaks the mapped form.
void encode_addr(const udp_endpoint& ep, std::vector<std::uint8_t>& out);
std::size_t encoded_addr_size(const udp_endpoint& ep);
struct decoded_addr {
  udp_endpoint addr;
  std::size_t size; // bytes consumed (7 or 19)
};
std::optional<decoded_addr> decode_addr(std::span<const std::uint8_t> in);

// type | len_be16 | payload | tag(type|len|payload)
std::vector<std::uint8_t> build_control(msg_type t,
                                        std::span<const std::uint8_t> payload,
                                        const auth_key& key);
struct control_msg {
  msg_type type;
  std::span<const std::uint8_t> payload; // into the datagram
};
// Verifies length and tag; trailing bytes are ignored. nullopt = drop.
std::optional<control_msg> parse_control(std::span<const std::uint8_t> msg,
                                         const auth_key& key);
// Without the tag check: type + payload bounds only (`parse_msg`).
std::optional<control_msg> parse_frame(std::span<const std::uint8_t> msg);

// 0x80 | len_be16 | tagged addr | raw
std::vector<std::uint8_t> build_data(const udp_endpoint& peer,
                                     std::span<const std::uint8_t> raw);
// Writes the DATA header for `peer` into `out` (at most 22 bytes) for a
// payload of `raw_len` bytes; returns the header size (0: too large).
std::size_t write_data_header(const udp_endpoint& peer, std::size_t raw_len,
                              std::uint8_t* out);
struct data_msg {
  udp_endpoint peer;
  std::span<const std::uint8_t> raw;
};
std::optional<data_msg> parse_data(std::span<const std::uint8_t> msg);

// Payload builders/parsers (§4.3).
std::vector<std::uint8_t> allocate_req_payload(std::string_view username);
std::vector<std::uint8_t> allocate_resp_payload(const udp_endpoint& relay,
                                                const allocation_id& id,
                                                std::uint32_t lifetime);
struct allocate_resp {
  udp_endpoint relay_addr;
  allocation_id id;
  std::uint32_t lifetime;
};
std::optional<allocate_resp>
parse_allocate_resp(std::span<const std::uint8_t> p);
std::vector<std::uint8_t> permission_req_payload(const allocation_id& id,
                                                 const udp_endpoint& peer);
std::vector<std::uint8_t> refresh_req_payload(const allocation_id& id,
                                              std::uint32_t lifetime);
std::vector<std::uint8_t> lifetime_payload(std::uint32_t lifetime);
std::uint32_t read_be32(const std::uint8_t* p);

} // namespace overlayd::stun::relay
