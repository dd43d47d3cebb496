#include "wg/key.hpp"

#include "wg/x25519_base.hpp"

#include <sodium.h>

#include <cstring>

namespace overlayd::wg {

namespace {

// libsodium must be initialised once before its RNG or X25519 is used.
void ensure_sodium() {
  static const bool ready = sodium_init() >= 0;
  (void)ready;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

std::optional<key> key::from_base64(std::string_view text) {
  // 32 bytes encode to 43 significant chars plus one '='.
  if (text.size() != 44 || text[43] != '=')
    return std::nullopt;
  key out;
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.bytes_.data(), size, text.data(), text.size(),
                        nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL)
        != 0
      || len != size || end != text.data() + text.size())
    return std::nullopt;
  return out;
}

std::optional<key> key::from_hex(std::string_view text) {
  if (text.size() != 2 * size)
    return std::nullopt;
  key out;
  for (size_t i = 0; i < size; ++i) {
    int hi = hex_value(text[2 * i]);
    int lo = hex_value(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.bytes_[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::optional<key> key::from_bytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != size)
    return std::nullopt;
  key out;
  std::memcpy(out.bytes_.data(), bytes.data(), size);
  return out;
}

key key::generate_private() {
  ensure_sodium();
  key out;
  randombytes_buf(out.bytes_.data(), size);
  // RFC 7748 clamping, as `wg genkey` does.
  out.bytes_[0] &= 248;
  out.bytes_[31] = static_cast<uint8_t>((out.bytes_[31] & 127) | 64);
  return out;
}

key key::public_from_private() const {
  ensure_sodium();
  key out;
  x25519_public_from_private(out.bytes_.data(), bytes_.data());
  return out;
}

std::string key::to_base64() const {
  char buf[sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(buf, sizeof buf, bytes_.data(), size,
                    sodium_base64_VARIANT_ORIGINAL);
  return std::string(buf);
}

std::string key::to_hex() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(2 * size, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = digits[bytes_[i] >> 4];
    out[2 * i + 1] = digits[bytes_[i] & 15];
  }
  return out;
}

bool key::is_zero() const {
  uint8_t acc = 0;
  for (auto b : bytes_)
    acc |= b;
  return acc == 0;
}

void key::wipe() {
  sodium_memzero(bytes_.data(), size);
}

} // namespace overlayd::wg

std::size_t std::hash<overlayd::wg::key>::operator()(
  const overlayd::wg::key& k) const noexcept {
  // All 32 bytes count: keys that share a prefix (structured test keys, or
  // keys picked to collide) must not pile into one bucket. A per-process
  // random seed keeps chosen inputs from predicting the buckets; four
  // 64x64->128 multiply-folds keep it a few nanoseconds.
  static const uint64_t seed = [] {
    overlayd::wg::ensure_sodium();
    uint64_t s = 0;
    randombytes_buf(&s, sizeof s);
    return s;
  }();
  constexpr uint64_t multipliers[4]
    = {0xa0761d6478bd642full, 0xe7037ed1a0b428dbull, 0x8ebc6af09c88c6e3ull,
       0x589965cc75374cc3ull};
  auto fold = [](uint64_t a, uint64_t b) {
    unsigned __int128 product = static_cast<unsigned __int128>(a) * b;
    return static_cast<uint64_t>(product)
           ^ static_cast<uint64_t>(product >> 64);
  };
  uint64_t h = seed;
  for (std::size_t i = 0; i < 4; ++i) {
    uint64_t word = 0;
    std::memcpy(&word, k.data() + 8 * i, sizeof word);
    h = fold(h ^ word, multipliers[i]);
  }
  return static_cast<std::size_t>(fold(h, multipliers[0] ^ 32));
}
