#pragma once

// Engine errors as CAF error values (notes/style.md lesson 4). The code
// says how the reference renders the message on the wire: its
// `OverlaydError::Overlay(s)` prints "overlay engine error: s", `Other(s)`
// prints `s` alone.

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace overlayd::actors {

enum class ec : uint8_t {
  /// Rendered "overlay engine error: {message}".
  overlay = 1,
  /// Rendered as the bare message.
  other,
};

/// An error carrying the exact text the IPC reply will show.
caf::error make_overlay_error(std::string message);
caf::error make_other_error(std::string message);

/// The `err` message text for any error reaching the IPC boundary; errors
/// from CAF itself (a dead actor, an unexpected message) are rendered with
/// an "internal error: " prefix so they are never mistaken for the
/// reference's messages.
std::string wire_message(const caf::error& err);

} // namespace overlayd::actors

CAF_ERROR_CODE_ENUM(overlayd::actors::ec, "overlayd")
