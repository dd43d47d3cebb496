#include "stun/pubkey.hpp"

#include <sodium.h>

namespace overlayd::stun {

std::optional<std::string> pubkey_b64_to_hex(std::string_view b64) {
  // A 32-byte key is exactly 44 characters with one '='; anything longer
  // cannot decode to 32 bytes, so reject it before decoding.
  if (b64.size() != 44)
    return std::nullopt;
  unsigned char key[33];
  std::size_t len = 0;
  const char* end = nullptr;
  // libsodium rejects bad padding and non-zero trailing bits, as Rust's
  // STANDARD engine does.
  if (sodium_base642bin(key, sizeof key, b64.data(), b64.size(), nullptr, &len,
                        &end, sodium_base64_VARIANT_ORIGINAL)
        != 0
      || end != b64.data() + b64.size() || len != 32)
    return std::nullopt;
  char hex[65];
  sodium_bin2hex(hex, sizeof hex, key, 32);
  return std::string(hex, 64);
}

} // namespace overlayd::stun
