#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace overlayd::wg::csum {

// Internet checksum (RFC 1071) arithmetic. Sums are kept in native byte
// order: the one's-complement sum is byte-order independent, so a folded
// native sum stored with memcpy is the checksum in network order.

/// Adds `n` bytes at `p` to `sum`. Only the last chunk may have odd length.
inline std::uint64_t add(std::uint64_t sum, const std::uint8_t* p,
                         std::size_t n) {
  while (n >= 4) {
    std::uint32_t w;
    std::memcpy(&w, p, 4);
    sum += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    std::uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    n -= 2;
  }
  if (n == 1) {
    std::uint8_t last[2] = {*p, 0};
    std::uint16_t w;
    std::memcpy(&w, last, 2);
    sum += w;
  }
  return sum;
}

/// Adds a 16-bit value given in host order as a network-order word.
inline std::uint64_t add_be16(std::uint64_t sum, std::uint16_t host_value) {
  std::uint8_t be[2] = {static_cast<std::uint8_t>(host_value >> 8),
                        static_cast<std::uint8_t>(host_value)};
  return add(sum, be, 2);
}

/// Folds a sum to 16 bits (native order, not inverted).
inline std::uint16_t fold(std::uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

/// Stores a 16-bit native-order value at `p`.
inline void store(std::uint8_t* p, std::uint16_t native) {
  std::memcpy(p, &native, 2);
}

/// Sum of the TCP/UDP pseudo header for `l4_len` bytes of protocol `proto`.
/// `src` and `dst` are the 4 or 16 address bytes inside the IP header.
inline std::uint64_t pseudo_header(const std::uint8_t* src,
                                   const std::uint8_t* dst,
                                   std::size_t addr_len, std::uint8_t proto,
                                   std::size_t l4_len) {
  std::uint64_t sum = add(0, src, addr_len);
  sum = add(sum, dst, addr_len);
  sum = add_be16(sum, proto);
  return add_be16(sum, static_cast<std::uint16_t>(l4_len));
}

} // namespace overlayd::wg::csum
