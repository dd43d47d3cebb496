#pragma once

// The Noise primitives WireGuard names (whitepaper section 5.4): HASH, MAC,
// HMAC, KDF1..3 over BLAKE2s, DH = X25519, AEAD = ChaCha20-Poly1305 (IETF,
// 64-bit little-endian counter nonce), XAEAD = XChaCha20-Poly1305.

#include "wg/key.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

namespace overlayd::wg::crypto {

using bytes = std::span<const uint8_t>;
using digest = std::array<uint8_t, 32>;
using mac_tag = std::array<uint8_t, 16>;

constexpr std::size_t aead_tag_size = 16;
constexpr std::size_t xaead_nonce_size = 24;

/// HASH(a || b || ...) with BLAKE2s-256.
digest hash(std::initializer_list<bytes> parts);
/// MAC(key, data): keyed BLAKE2s with a 16-byte digest.
mac_tag mac(bytes key, bytes data);
/// HMAC-BLAKE2s(key, a || b || ...).
digest hmac(bytes key, std::initializer_list<bytes> parts);

/// KDF_n(chaining_key, input) for n = number of non-null outputs (1..3).
void kdf(bytes chaining_key, bytes input, digest* t1, digest* t2 = nullptr,
         digest* t3 = nullptr);

/// X25519; false when the result is all zeros (a low-order public key).
bool dh(digest& shared, const key& private_key, const key& public_key);

/// AEAD seal: writes plaintext.size() + 16 bytes to `out` (may alias the
/// plaintext).
void aead_seal(uint8_t* out, bytes key, uint64_t counter, bytes plaintext,
               bytes ad);
/// AEAD open: writes ciphertext.size() - 16 bytes to `out` (may alias the
/// ciphertext); false when authentication fails.
bool aead_open(uint8_t* out, bytes key, uint64_t counter, bytes ciphertext,
               bytes ad);

void xaead_seal(uint8_t* out, bytes key, bytes nonce24, bytes plaintext,
                bytes ad);
bool xaead_open(uint8_t* out, bytes key, bytes nonce24, bytes ciphertext,
                bytes ad);

/// Fills `out` with cryptographically secure random bytes.
void random_bytes(std::span<uint8_t> out);
uint32_t random_u32();
/// Uniform in [0, bound).
uint32_t random_uniform(uint32_t bound);

/// Zeroes memory in a way the optimiser keeps.
void wipe(void* p, std::size_t n);
/// Constant-time equality of equal-length buffers.
bool equal(bytes a, bytes b);

} // namespace overlayd::wg::crypto
