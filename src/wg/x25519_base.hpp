#pragma once

#include <cstdint>

namespace overlayd::wg {

/// X25519(scalar, 9): the public key of a private key, clamped as RFC 7748
/// says. Same result as crypto_scalarmult_curve25519_base, about twice as
/// fast: libsodium's x86-64 build computes that with the full Montgomery
/// ladder, while a fixed-base multiplication on the birationally equivalent
/// Edwards curve uses precomputed tables; the Edwards y then maps to the
/// Montgomery u = (1 + y) / (1 - y). Constant time. A responder generates
/// one ephemeral key per handshake, a quarter of its X25519 work.
void x25519_public_from_private(uint8_t out[32], const uint8_t scalar[32]);

} // namespace overlayd::wg
