#pragma once

// Error values for the IPAM module. No exceptions cross the module boundary:
// every fallible call returns `result<T>` (a `net::expected`), whose error
// carries a code, the text the reference would put on the wire, and how the
// reference wraps it.

#include "net/expected.hpp"

#include <string>
#include <utility>

namespace overlayd::ipam {

enum class errc {
  invalid_cidr,      // a CIDR or prefix that cannot be used
  exhausted,         // a pool, band or registry has nothing left
  not_in_range,      // an address outside the pool it was offered to
  already_allocated, // an address that is already handed out
  io,                // the marker file could not be read or written
  corrupt,           // the marker file exists but does not parse
};

// How the reference's `OverlaydError` renders the message on the IPC:
// `Overlay(s)` becomes "overlay engine error: s", `Other(s)` is bare.
enum class wire_kind { overlay, other };

struct error {
  errc code;
  std::string message;
  wire_kind kind = wire_kind::other;

  // The text an IPC `err` reply carries for this error.
  std::string wire_message() const {
    return kind == wire_kind::overlay ? "overlay engine error: " + message
                                      : message;
  }
};

// A value or an error: the project's shared expected type.
template <class T>
using result = net::expected<T, error>;

// `return make_error(...)` works from any function returning a `result`.
inline net::unexpected<error> make_error(errc code, std::string message,
                                         wire_kind kind = wire_kind::other) {
  return net::unexpected<error>{error{code, std::move(message), kind}};
}

} // namespace overlayd::ipam
