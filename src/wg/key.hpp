#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace overlayd::wg {

/// A 32-byte Curve25519 key (private, public or preshared). WireGuard's
/// configuration formats carry keys as base64 (`wg`) or hex (UAPI).
class key {
public:
  static constexpr std::size_t size = 32;

  key() = default; // all zero
  explicit key(const std::array<uint8_t, size>& bytes) : bytes_(bytes) {
    // nop
  }

  /// Parses standard base64 of exactly 32 bytes (44 chars with padding).
  static std::optional<key> from_base64(std::string_view text);
  /// Parses exactly 64 hex digits (either case).
  static std::optional<key> from_hex(std::string_view text);
  /// Copies exactly 32 bytes; nullopt for any other length.
  static std::optional<key> from_bytes(std::span<const uint8_t> bytes);

  /// A fresh random X25519 private key, already clamped.
  static key generate_private();
  /// The X25519 public key of this private key.
  key public_from_private() const;

  std::string to_base64() const;
  std::string to_hex() const;

  bool is_zero() const;
  const std::array<uint8_t, size>& bytes() const { return bytes_; }
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }

  /// Overwrites the key with zeros in a way the optimiser keeps.
  void wipe();

  friend auto operator<=>(const key&, const key&) = default;

private:
  std::array<uint8_t, size> bytes_{};
};

} // namespace overlayd::wg

template <>
struct std::hash<overlayd::wg::key> {
  std::size_t operator()(const overlayd::wg::key& k) const noexcept;
};
