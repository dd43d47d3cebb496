#pragma once

// Error values for the IPAM module. No exceptions cross the module boundary:
// every fallible call returns `result<T>`, whose error carries a code, the
// text the reference would put on the wire, and how the reference wraps it.

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace overlayd::ipam {

enum class errc {
  invalid_cidr,      // a CIDR or prefix that cannot be used
  exhausted,         // a pool, band or registry has nothing left
  not_in_range,      // an address outside the pool it was offered to
  already_allocated, // an address that is already handed out
  family_mismatch,   // IPv4 vs IPv6 mixed up
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

inline error make_error(errc code, std::string message,
                        wire_kind kind = wire_kind::other) {
  return error{code, std::move(message), kind};
}

// A value or an error. Small on purpose: C++20 has no std::expected.
template <class T>
class result {
public:
  result(T value) : v_(std::move(value)) {}
  result(error err) : v_(std::move(err)) {}

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const error& err() const {
    assert(!ok());
    return std::get<1>(v_);
  }

private:
  std::variant<T, error> v_;
};

// `result<void>`: success carries nothing.
template <>
class result<void> {
public:
  result() = default;
  result(error err) : err_(std::move(err)), ok_(false) {}

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const error& err() const {
    assert(!ok_);
    return err_;
  }

private:
  error err_{errc::io, {}, wire_kind::other};
  bool ok_ = true;
};

} // namespace overlayd::ipam
