#include "ipc/json_writer.hpp"

namespace overlayd::ipc::detail {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont
    = [&](std::size_t k) { return k < s.size() && (b(k) & 0xc0) == 0x80; };
  unsigned char c = b(i);
  if (c >= 0xc2 && c <= 0xdf)
    return cont(i + 1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!cont(i + 1) || !cont(i + 2))
      return 0;
    unsigned char c1 = b(i + 1);
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f))
      return 0; // overlong or surrogate
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3))
      return 0;
    unsigned char c1 = b(i + 1);
    if ((c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 > 0x8f))
      return 0; // overlong or beyond U+10FFFF
    return 4;
  }
  return 0;
}

} // namespace

void json_writer::write_string(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out_ += '"';
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // Rust strings are always UTF-8; a stray byte from elsewhere is
      // replaced (U+FFFD) rather than sent as invalid JSON.
      if (auto n = utf8_sequence(s, i); n > 0) {
        out_.append(s.substr(i, n));
        i += n;
      } else {
        out_ += "\xef\xbf\xbd";
        ++i;
      }
      continue;
    }
    switch (c) {
    case '"':
      out_ += "\\\"";
      break;
    case '\\':
      out_ += "\\\\";
      break;
    case '\b':
      out_ += "\\b";
      break;
    case '\f':
      out_ += "\\f";
      break;
    case '\n':
      out_ += "\\n";
      break;
    case '\r':
      out_ += "\\r";
      break;
    case '\t':
      out_ += "\\t";
      break;
    default:
      if (c < 0x20) {
        out_ += "\\u00";
        out_ += hex[c >> 4];
        out_ += hex[c & 0xf];
      } else {
        out_ += static_cast<char>(c);
      }
    }
    ++i;
  }
  out_ += '"';
}

} // namespace overlayd::ipc::detail
