#include "wg/x25519_base.hpp"

#include <sodium.h>

#include <cstring>

namespace overlayd::wg {

namespace {

// Arithmetic modulo p = 2^255 - 19 on five 51-bit limbs, just enough for
// one division. Every operation runs the same instructions whatever the
// values, so secret inputs do not leak through timing.
using u128 = unsigned __int128;
constexpr uint64_t mask51 = (uint64_t{1} << 51) - 1;

struct fe {
  uint64_t v[5];
};

fe carry(u128 t0, u128 t1, u128 t2, u128 t3, u128 t4) {
  fe r;
  t1 += static_cast<uint64_t>(t0 >> 51);
  r.v[0] = static_cast<uint64_t>(t0) & mask51;
  t2 += static_cast<uint64_t>(t1 >> 51);
  r.v[1] = static_cast<uint64_t>(t1) & mask51;
  t3 += static_cast<uint64_t>(t2 >> 51);
  r.v[2] = static_cast<uint64_t>(t2) & mask51;
  t4 += static_cast<uint64_t>(t3 >> 51);
  r.v[3] = static_cast<uint64_t>(t3) & mask51;
  uint64_t top = static_cast<uint64_t>(t4 >> 51);
  r.v[4] = static_cast<uint64_t>(t4) & mask51;
  // 2^255 = 19 (mod p).
  u128 low = u128{r.v[0]} + u128{top} * 19;
  r.v[0] = static_cast<uint64_t>(low) & mask51;
  r.v[1] += static_cast<uint64_t>(low >> 51);
  return r;
}

fe mul(const fe& a, const fe& b) {
  const uint64_t* x = a.v;
  const uint64_t* y = b.v;
  uint64_t y1 = y[1] * 19, y2 = y[2] * 19, y3 = y[3] * 19, y4 = y[4] * 19;
  u128 t0 = u128{x[0]} * y[0] + u128{x[1]} * y4 + u128{x[2]} * y3
            + u128{x[3]} * y2 + u128{x[4]} * y1;
  u128 t1 = u128{x[0]} * y[1] + u128{x[1]} * y[0] + u128{x[2]} * y4
            + u128{x[3]} * y3 + u128{x[4]} * y2;
  u128 t2 = u128{x[0]} * y[2] + u128{x[1]} * y[1] + u128{x[2]} * y[0]
            + u128{x[3]} * y4 + u128{x[4]} * y3;
  u128 t3 = u128{x[0]} * y[3] + u128{x[1]} * y[2] + u128{x[2]} * y[1]
            + u128{x[3]} * y[0] + u128{x[4]} * y4;
  u128 t4 = u128{x[0]} * y[4] + u128{x[1]} * y[3] + u128{x[2]} * y[2]
            + u128{x[3]} * y[1] + u128{x[4]} * y[0];
  return carry(t0, t1, t2, t3, t4);
}

fe square_times(fe a, int n) {
  for (int i = 0; i < n; ++i)
    a = mul(a, a);
  return a;
}

/// z^(p-2) = 1/z, by the usual addition chain (254 squarings, 11 products).
fe invert(const fe& z) {
  fe z2 = mul(z, z);
  fe z9 = mul(square_times(z2, 2), z);
  fe z11 = mul(z9, z2);
  fe z_5_0 = mul(mul(z11, z11), z9); // z^(2^5 - 1)
  fe z_10_0 = mul(square_times(z_5_0, 5), z_5_0);
  fe z_20_0 = mul(square_times(z_10_0, 10), z_10_0);
  fe z_40_0 = mul(square_times(z_20_0, 20), z_20_0);
  fe z_50_0 = mul(square_times(z_40_0, 10), z_10_0);
  fe z_100_0 = mul(square_times(z_50_0, 50), z_50_0);
  fe z_200_0 = mul(square_times(z_100_0, 100), z_100_0);
  fe z_250_0 = mul(square_times(z_200_0, 50), z_50_0);
  return mul(square_times(z_250_0, 5), z11); // z^(2^255 - 21)
}

fe from_bytes(const uint8_t s[32]) {
  uint64_t w[4];
  std::memcpy(w, s, sizeof w); // little-endian host (x86-64, arm64)
  fe r;
  r.v[0] = w[0] & mask51;
  r.v[1] = (w[0] >> 51 | w[1] << 13) & mask51;
  r.v[2] = (w[1] >> 38 | w[2] << 26) & mask51;
  r.v[3] = (w[2] >> 25 | w[3] << 39) & mask51;
  r.v[4] = (w[3] >> 12) & mask51; // drops bit 255 (the sign of x)
  return r;
}

void to_bytes(uint8_t out[32], const fe& a) {
  fe t = carry(a.v[0], a.v[1], a.v[2], a.v[3], a.v[4]);
  t = carry(t.v[0], t.v[1], t.v[2], t.v[3], t.v[4]);
  // Now t < 2^255 + small. t >= p exactly when t + 19 carries past bit 255;
  // then the canonical value is t + 19 - 2^255.
  uint64_t c = (t.v[0] + 19) >> 51;
  c = (t.v[1] + c) >> 51;
  c = (t.v[2] + c) >> 51;
  c = (t.v[3] + c) >> 51;
  c = (t.v[4] + c) >> 51; // 0 or 1
  t.v[0] += 19 * c;
  for (int i = 0; i < 4; ++i) {
    t.v[i + 1] += t.v[i] >> 51;
    t.v[i] &= mask51;
  }
  t.v[4] &= mask51;
  uint64_t w[4] = {
    t.v[0] | t.v[1] << 51,
    t.v[1] >> 13 | t.v[2] << 38,
    t.v[2] >> 26 | t.v[3] << 25,
    t.v[3] >> 39 | t.v[4] << 12,
  };
  std::memcpy(out, w, sizeof w);
}

} // namespace

void x25519_public_from_private(uint8_t out[32], const uint8_t scalar[32]) {
  uint8_t clamped[32];
  std::memcpy(clamped, scalar, sizeof clamped);
  clamped[0] &= 248;
  clamped[31] &= 127;
  clamped[31] |= 64;
  uint8_t edwards[32];
  // A clamped scalar is a non-zero multiple of 8 below 2^255, so the point
  // is never the identity and this cannot fail; fall back all the same.
  if (crypto_scalarmult_ed25519_base_noclamp(edwards, clamped) != 0) {
    crypto_scalarmult_curve25519_base(out, clamped);
  } else {
    fe y = from_bytes(edwards);
    // 1 + y and 1 - y, the latter as 2p + 1 - y so no limb goes negative.
    fe num = y;
    num.v[0] += 1;
    fe den;
    den.v[0] = 2 * (mask51 - 18) + 1 - y.v[0];
    for (int i = 1; i < 5; ++i)
      den.v[i] = 2 * mask51 - y.v[i];
    to_bytes(out, mul(num, invert(den)));
  }
  sodium_memzero(clamped, sizeof clamped);
  sodium_memzero(edwards, sizeof edwards);
}

} // namespace overlayd::wg
