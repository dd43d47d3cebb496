#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace overlayd::wg {

/// BLAKE2s (RFC 7693): 32-bit words, 64-byte blocks, 1..32 byte digests,
/// optional key of up to 32 bytes. libsodium only ships BLAKE2b, and
/// WireGuard needs BLAKE2s.
class blake2s {
public:
  static constexpr std::size_t block_size = 64;
  static constexpr std::size_t max_digest = 32;
  static constexpr std::size_t max_key = 32;

  /// `digest_size` in 1..32 and `key` of at most 32 bytes; larger values are
  /// clamped, which the callers in this module never pass.
  explicit blake2s(std::size_t digest_size = max_digest,
                   std::span<const uint8_t> key = {});
  ~blake2s();

  void update(std::span<const uint8_t> data);
  /// Writes digest_size bytes to `out` (which must hold that many).
  void finish(uint8_t* out);

  /// One-shot unkeyed 32-byte hash.
  static std::array<uint8_t, 32> hash(std::span<const uint8_t> data);

private:
  void compress(const uint8_t* block, bool last);

  uint32_t h_[8];
  uint32_t t_[2] = {0, 0};
  uint8_t buf_[block_size];
  std::size_t buf_len_ = 0;
  std::size_t digest_size_;
};

} // namespace overlayd::wg
