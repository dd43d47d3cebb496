#pragma once

// Secret redaction for recorded frame bodies. Recordings end up in bug
// reports and in the repository; private keys and shared credentials must
// not (design §8).

#include <string>
#include <string_view>

namespace overlayd::replay {

/// What replaces a secret value.
inline constexpr std::string_view redacted_text = "<redacted>";

/// Whether a JSON object key names a secret: `private_key`,
/// `wg_private_key`, `psk`, `preshared_key`, `credential`,
/// `auth_credential`.
bool is_secret_key(std::string_view key) noexcept;

/// The body with every secret string value replaced by `redacted_text`.
/// A body without secrets (or that is not JSON) comes back byte for byte,
/// so non-secret frames stay exactly as on the wire.
std::string redact_body(const std::string& body);

} // namespace overlayd::replay
