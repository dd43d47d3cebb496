#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace overlayd::stun {

// Standard padded base64 of a 32-byte WireGuard key -> 64 lowercase hex
// characters (the UAPI `public_key=` form); nullopt for anything else.
std::optional<std::string> pubkey_b64_to_hex(std::string_view b64);

} // namespace overlayd::stun
