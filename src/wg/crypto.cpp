#include "wg/crypto.hpp"

#include "wg/blake2s.hpp"

#include <sodium.h>

#include <cstring>

namespace overlayd::wg::crypto {

namespace {

struct sodium_init_once {
  sodium_init_once() {
    if (sodium_init() < 0)
      std::abort(); // no usable RNG: nothing here can be made safe
  }
};

void ensure_sodium() {
  static sodium_init_once once;
}

// ChaCha20-Poly1305 IETF nonce: 32 zero bits then the 64-bit LE counter.
void make_nonce(uint8_t nonce[12], uint64_t counter) {
  std::memset(nonce, 0, 4);
  for (int i = 0; i < 8; ++i)
    nonce[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
}

} // namespace

digest hash(std::initializer_list<bytes> parts) {
  blake2s h;
  for (auto part : parts)
    h.update(part);
  digest out;
  h.finish(out.data());
  return out;
}

mac_tag mac(bytes key, bytes data) {
  blake2s h(16, key);
  h.update(data);
  mac_tag out;
  h.finish(out.data());
  return out;
}

digest hmac(bytes key, std::initializer_list<bytes> parts) {
  uint8_t block[blake2s::block_size] = {};
  if (key.size() > blake2s::block_size) {
    auto k = blake2s::hash(key);
    std::memcpy(block, k.data(), k.size());
  } else {
    std::memcpy(block, key.data(), key.size());
  }
  uint8_t pad[blake2s::block_size];
  for (std::size_t i = 0; i < sizeof pad; ++i)
    pad[i] = block[i] ^ 0x36;
  blake2s inner;
  inner.update(pad);
  for (auto part : parts)
    inner.update(part);
  digest inner_digest;
  inner.finish(inner_digest.data());
  for (std::size_t i = 0; i < sizeof pad; ++i)
    pad[i] = block[i] ^ 0x5c;
  blake2s outer;
  outer.update(pad);
  outer.update(inner_digest);
  digest out;
  outer.finish(out.data());
  wipe(block, sizeof block);
  wipe(pad, sizeof pad);
  wipe(inner_digest.data(), inner_digest.size());
  return out;
}

void kdf(bytes chaining_key, bytes input, digest* t1, digest* t2, digest* t3) {
  digest prk = hmac(chaining_key, {input});
  const uint8_t one = 1;
  digest out1 = hmac(prk, {bytes(&one, 1)});
  if (t2 != nullptr) {
    const uint8_t two = 2;
    digest out2 = hmac(prk, {out1, bytes(&two, 1)});
    if (t3 != nullptr) {
      const uint8_t three = 3;
      *t3 = hmac(prk, {out2, bytes(&three, 1)});
    }
    *t2 = out2;
  }
  *t1 = out1;
  wipe(prk.data(), prk.size());
}

bool dh(digest& shared, const key& private_key, const key& public_key) {
  ensure_sodium();
  // libsodium refuses (returns -1) when the output is all zeros.
  return crypto_scalarmult_curve25519(shared.data(), private_key.data(),
                                      public_key.data())
         == 0;
}

void aead_seal(uint8_t* out, bytes key, uint64_t counter, bytes plaintext,
               bytes ad) {
  uint8_t nonce[12];
  make_nonce(nonce, counter);
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(
    out, &len, plaintext.data(), plaintext.size(), ad.data(), ad.size(),
    nullptr, nonce, key.data());
}

bool aead_open(uint8_t* out, bytes key, uint64_t counter, bytes ciphertext,
               bytes ad) {
  if (ciphertext.size() < aead_tag_size)
    return false;
  uint8_t nonce[12];
  make_nonce(nonce, counter);
  unsigned long long len = 0;
  return crypto_aead_chacha20poly1305_ietf_decrypt(
           out, &len, nullptr, ciphertext.data(), ciphertext.size(), ad.data(),
           ad.size(), nonce, key.data())
         == 0;
}

void xaead_seal(uint8_t* out, bytes key, bytes nonce24, bytes plaintext,
                bytes ad) {
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    out, &len, plaintext.data(), plaintext.size(), ad.data(), ad.size(),
    nullptr, nonce24.data(), key.data());
}

bool xaead_open(uint8_t* out, bytes key, bytes nonce24, bytes ciphertext,
                bytes ad) {
  if (ciphertext.size() < aead_tag_size)
    return false;
  unsigned long long len = 0;
  return crypto_aead_xchacha20poly1305_ietf_decrypt(
           out, &len, nullptr, ciphertext.data(), ciphertext.size(), ad.data(),
           ad.size(), nonce24.data(), key.data())
         == 0;
}

void random_bytes(std::span<uint8_t> out) {
  ensure_sodium();
  randombytes_buf(out.data(), out.size());
}

uint32_t random_u32() {
  ensure_sodium();
  return randombytes_random();
}

uint32_t random_uniform(uint32_t bound) {
  ensure_sodium();
  return randombytes_uniform(bound);
}

void wipe(void* p, std::size_t n) {
  sodium_memzero(p, n);
}

bool equal(bytes a, bytes b) {
  return a.size() == b.size()
         && sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace overlayd::wg::crypto
