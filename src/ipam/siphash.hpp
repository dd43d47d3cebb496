#pragma once

// SipHash-1-3 with the byte-stream semantics of Rust's
// `std::collections::hash_map::DefaultHasher::new()` (keys 0, 0). overlayd
// needs it bit-for-bit: interface names derived from it must equal the ones
// ZLayer's main daemon computes, or live bridges get pruned as orphans.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace overlayd::ipam {

class siphash13 {
public:
  explicit siphash13(std::uint64_t k0 = 0, std::uint64_t k1 = 0) noexcept;

  // Feeds raw bytes; calls may split the stream anywhere.
  void write(const void* data, std::size_t len) noexcept;
  void write_u8(std::uint8_t byte) noexcept { write(&byte, 1); }

  // Rust's `impl Hash for str`: the bytes, then a 0xFF terminator so that
  // ("ab", "c") and ("a", "bc") hash differently.
  void write_str(std::string_view s) noexcept {
    write(s.data(), s.size());
    write_u8(0xff);
  }

  // The hash of everything written so far; the state is not consumed.
  std::uint64_t finish() const noexcept;

private:
  std::uint64_t v0_, v1_, v2_, v3_;
  std::uint64_t tail_ = 0;   // pending bytes, little-endian
  std::size_t ntail_ = 0;    // how many bytes `tail_` holds
  std::uint64_t length_ = 0; // total bytes written
};

// `DefaultHasher::new()` + `s.hash(&mut h)` + `h.finish()`.
std::uint64_t default_hash_str(std::string_view s) noexcept;

} // namespace overlayd::ipam
