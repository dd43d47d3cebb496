#include "wg/blake2s.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace overlayd::wg {

namespace {

constexpr uint32_t iv[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                            0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

constexpr uint8_t sigma[10][16] = {
  {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
  {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
  {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
  {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
  {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
  {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
  {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
  {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
  {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
  {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
};

inline uint32_t rotr(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

inline uint32_t load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8
         | static_cast<uint32_t>(p[2]) << 16
         | static_cast<uint32_t>(p[3]) << 24;
}

} // namespace

blake2s::blake2s(std::size_t digest_size, std::span<const uint8_t> key)
  : digest_size_(std::clamp<std::size_t>(digest_size, 1, max_digest)) {
  std::size_t key_len = std::min(key.size(), max_key);
  std::copy(std::begin(iv), std::end(iv), h_);
  // Parameter block: digest length, key length, fanout 1, depth 1.
  h_[0] ^= 0x01010000u ^ static_cast<uint32_t>(key_len << 8)
           ^ static_cast<uint32_t>(digest_size_);
  if (key_len > 0) {
    // The key is processed as a full zero-padded first block.
    std::memset(buf_, 0, block_size);
    std::memcpy(buf_, key.data(), key_len);
    buf_len_ = block_size;
  }
}

blake2s::~blake2s() {
  // The buffer may hold key material (keyed MAC, HMAC pads).
  sodium_memzero(buf_, sizeof buf_);
}

namespace {

// One round, fully unrolled at compile time so the working vector stays in
// registers (a generic loop with a lambda ran ~4x slower).
[[gnu::always_inline]] inline void g(uint32_t& a, uint32_t& b, uint32_t& c,
                                     uint32_t& d, uint32_t x, uint32_t y) {
  a = a + b + x;
  d = rotr(d ^ a, 16);
  c = c + d;
  b = rotr(b ^ c, 12);
  a = a + b + y;
  d = rotr(d ^ a, 8);
  c = c + d;
  b = rotr(b ^ c, 7);
}

template <std::size_t R>
[[gnu::always_inline]] inline void round(uint32_t* v, const uint32_t* m) {
  constexpr const uint8_t* s = sigma[R];
  g(v[0], v[4], v[8], v[12], m[s[0]], m[s[1]]);
  g(v[1], v[5], v[9], v[13], m[s[2]], m[s[3]]);
  g(v[2], v[6], v[10], v[14], m[s[4]], m[s[5]]);
  g(v[3], v[7], v[11], v[15], m[s[6]], m[s[7]]);
  g(v[0], v[5], v[10], v[15], m[s[8]], m[s[9]]);
  g(v[1], v[6], v[11], v[12], m[s[10]], m[s[11]]);
  g(v[2], v[7], v[8], v[13], m[s[12]], m[s[13]]);
  g(v[3], v[4], v[9], v[14], m[s[14]], m[s[15]]);
}

template <std::size_t... R>
[[gnu::always_inline]] inline void all_rounds(uint32_t* v, const uint32_t* m,
                                              std::index_sequence<R...>) {
  (round<R>(v, m), ...);
}

} // namespace

void blake2s::compress(const uint8_t* block, bool last) {
  uint32_t m[16];
  for (int i = 0; i < 16; ++i)
    m[i] = load32(block + 4 * i);
  uint32_t v[16];
  for (int i = 0; i < 8; ++i) {
    v[i] = h_[i];
    v[i + 8] = iv[i];
  }
  v[12] ^= t_[0];
  v[13] ^= t_[1];
  if (last)
    v[14] = ~v[14];
  all_rounds(v, m, std::make_index_sequence<10>{});
  for (int i = 0; i < 8; ++i)
    h_[i] ^= v[i] ^ v[i + 8];
}

void blake2s::update(std::span<const uint8_t> data) {
  const uint8_t* p = data.data();
  std::size_t n = data.size();
  while (n > 0) {
    // A full buffer is only compressed once more input arrives, because
    // the final block must be compressed with the `last` flag.
    if (buf_len_ == block_size) {
      t_[0] += block_size;
      if (t_[0] < block_size)
        ++t_[1];
      compress(buf_, false);
      buf_len_ = 0;
    }
    std::size_t take = std::min(n, block_size - buf_len_);
    std::memcpy(buf_ + buf_len_, p, take);
    buf_len_ += take;
    p += take;
    n -= take;
  }
}

void blake2s::finish(uint8_t* out) {
  t_[0] += static_cast<uint32_t>(buf_len_);
  if (t_[0] < buf_len_)
    ++t_[1];
  std::memset(buf_ + buf_len_, 0, block_size - buf_len_);
  compress(buf_, true);
  uint8_t full[32];
  for (int i = 0; i < 8; ++i) {
    full[4 * i] = static_cast<uint8_t>(h_[i]);
    full[4 * i + 1] = static_cast<uint8_t>(h_[i] >> 8);
    full[4 * i + 2] = static_cast<uint8_t>(h_[i] >> 16);
    full[4 * i + 3] = static_cast<uint8_t>(h_[i] >> 24);
  }
  std::memcpy(out, full, digest_size_);
  sodium_memzero(full, sizeof full);
  sodium_memzero(h_, sizeof h_);
}

std::array<uint8_t, 32> blake2s::hash(std::span<const uint8_t> data) {
  std::array<uint8_t, 32> out;
  blake2s h;
  h.update(data);
  h.finish(out.data());
  return out;
}

} // namespace overlayd::wg
