#pragma once

// Length-prefixed framing (spec/ipc.md §1.5): u32 little-endian body
// length, then the body. Bodies over 8 MiB are refused in both directions
// (exactly 8 MiB is allowed).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/expected.hpp"

namespace overlayd::ipc {

/// `MAX_FRAME_BYTES`.
inline constexpr std::size_t max_frame_bytes = 8 * 1024 * 1024;

/// Size of the length prefix.
inline constexpr std::size_t frame_header_bytes = 4;

/// A framing failure. Every kind ends the connection; `closed` is the
/// quiet one (the peer hung up between frames).
struct framing_error {
  enum class kind : std::uint8_t {
    /// The prefix announced more than max_frame_bytes (`len` holds it).
    too_large,
    /// The stream ended inside a body.
    truncated,
    /// The stream ended between frames (0-3 prefix bytes read).
    closed,
  };
  kind what = kind::closed;
  std::uint64_t len = 0;

  /// The Rust error's Display text: `frame too large: N bytes (max
  /// 8388608)`, `io error: early eof`, `connection closed by peer`.
  std::string message() const;
};

/// Prefix + body, or `too_large` if the body exceeds max_frame_bytes.
net::expected<std::string, framing_error>
encode_frame_bytes(std::string_view body);

/// Incremental decoder: feed it whatever the socket returned, in any
/// chunking, then pull complete bodies with `next()`.
class frame_decoder {
public:
  /// Appends received bytes.
  void feed(std::string_view bytes);

  /// The next complete body, nullopt if more bytes are needed, or an error
  /// once the announced length is too large (the error is sticky: the
  /// stream cannot be resynchronised, so the connection must close).
  net::expected<std::optional<std::string>, framing_error> next();

  /// Call at end of stream, after `next()` returned nullopt: `closed` if
  /// the stream stopped between frames (0-3 prefix bytes pending),
  /// `truncated` if it stopped inside a body.
  framing_error at_eof() const;

  /// Bytes received but not yet returned as a body.
  std::size_t buffered() const noexcept { return buf_.size() - pos_; }

  /// True if a header has been read whose body is still incomplete.
  bool mid_frame() const noexcept;

private:
  std::string buf_;
  std::size_t pos_ = 0; // start of unconsumed bytes in buf_
  std::optional<framing_error> error_;
};

} // namespace overlayd::ipc
