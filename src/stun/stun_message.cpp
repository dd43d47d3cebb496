#include "stun/stun_message.hpp"

#include <cstdio>
#include <cstring>
#include <optional>
#include <sodium.h>

namespace overlayd::stun {

namespace {

constexpr std::uint16_t binding_request = 0x0001;
constexpr std::uint16_t binding_success = 0x0101;
constexpr std::uint16_t attr_mapped_address = 0x0001;
constexpr std::uint16_t attr_xor_mapped_address = 0x0020;

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

std::uint32_t be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16)
         | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

std::optional<udp_endpoint> parse_xor_mapped(std::span<const std::uint8_t> v,
                                             const transaction_id& txn) {
  if (v.size() < 8)
    return std::nullopt;
  std::uint16_t port
    = be16(&v[2]) ^ static_cast<std::uint16_t>(stun_magic_cookie >> 16);
  if (v[1] == 0x01)
    return udp_endpoint{
      ip_address::v4_from_u32(be32(&v[4]) ^ stun_magic_cookie), port};
  if (v[1] == 0x02) {
    if (v.size() < 20)
      return std::nullopt;
    const std::uint8_t cookie[4] = {0x21, 0x12, 0xA4, 0x42};
    std::uint8_t b[16];
    for (std::size_t i = 0; i < 16; ++i)
      b[i] = v[4 + i] ^ (i < 4 ? cookie[i] : txn[i - 4]);
    return udp_endpoint{ip_address::v6(b), port};
  }
  return std::nullopt;
}

std::optional<udp_endpoint> parse_mapped(std::span<const std::uint8_t> v) {
  if (v.size() < 8)
    return std::nullopt;
  std::uint16_t port = be16(&v[2]);
  if (v[1] == 0x01)
    return udp_endpoint{ip_address::v4(v[4], v[5], v[6], v[7]), port};
  if (v[1] == 0x02) {
    if (v.size() < 20)
      return std::nullopt;
    std::uint8_t b[16];
    std::memcpy(b, &v[4], 16);
    return udp_endpoint{ip_address::v6(b), port};
  }
  return std::nullopt;
}

} // namespace

std::string stun_error::message() const {
  switch (code) {
  case kind::too_short:
    return "STUN response too short (" + std::to_string(length)
           + " bytes, need at least 20)";
  case kind::not_binding_response: {
    char hex[8];
    std::snprintf(hex, sizeof hex, "%04X", msg_type);
    return std::string("Expected Binding Response (0x0101), got 0x") + hex;
  }
  case kind::bad_magic_cookie:
    return "Bad magic cookie in STUN response";
  case kind::transaction_mismatch:
    return "Transaction ID mismatch";
  case kind::no_mapped_address:
    return "No mapped address attribute in STUN response";
  case kind::io:
    return "IO error: " + detail;
  case kind::timeout:
    return "STUN query timed out";
  case kind::dns_resolution:
    return "DNS resolution failed for '" + detail + "'";
  case kind::no_servers:
    return "No STUN servers configured";
  }
  return "unknown STUN error";
}

std::array<std::uint8_t, 20> build_binding_request(const transaction_id& txn) {
  std::array<std::uint8_t, 20> m{};
  m[0] = binding_request >> 8;
  m[1] = binding_request & 0xff;
  m[4] = 0x21;
  m[5] = 0x12;
  m[6] = 0xA4;
  m[7] = 0x42;
  std::memcpy(m.data() + 8, txn.data(), 12);
  return m;
}

result<udp_endpoint, stun_error>
parse_binding_response(std::span<const std::uint8_t> data,
                       const transaction_id& txn) {
  using r = result<udp_endpoint, stun_error>;
  using k = stun_error::kind;
  if (data.size() < stun_header_size)
    return r::failure({k::too_short, data.size(), 0, {}});
  std::uint16_t type = be16(&data[0]);
  if (type != binding_success)
    return r::failure({k::not_binding_response, 0, type, {}});
  std::size_t attr_len = be16(&data[2]);
  if (be32(&data[4]) != stun_magic_cookie)
    return r::failure({k::bad_magic_cookie, 0, 0, {}});
  if (std::memcmp(&data[8], txn.data(), 12) != 0)
    return r::failure({k::transaction_mismatch, 0, 0, {}});

  std::size_t attr_end
    = stun_header_size + std::min(attr_len, data.size() - stun_header_size);
  std::size_t off = stun_header_size;
  std::optional<udp_endpoint> xor_addr, mapped_addr;
  while (off + 4 <= attr_end) {
    std::uint16_t atype = be16(&data[off]);
    std::size_t vlen = be16(&data[off + 2]);
    std::size_t vstart = off + 4;
    // Bounded by the datagram, not by attr_end: the reference's quirk.
    if (vstart + vlen > data.size())
      break;
    auto value = data.subspan(vstart, vlen);
    if (atype == attr_xor_mapped_address)
      xor_addr = parse_xor_mapped(value, txn);
    else if (atype == attr_mapped_address)
      mapped_addr = parse_mapped(value);
    off = vstart + ((vlen + 3) & ~std::size_t{3});
  }
  if (xor_addr)
    return *xor_addr;
  if (mapped_addr)
    return *mapped_addr;
  return r::failure({k::no_mapped_address, 0, 0, {}});
}

transaction_id random_transaction_id() {
  transaction_id t;
  randombytes_buf(t.data(), t.size());
  return t;
}

} // namespace overlayd::stun
