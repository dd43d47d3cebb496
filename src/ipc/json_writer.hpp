#pragma once

// Internal: a minimal compact JSON writer with serde_json's exact output
// rules (no whitespace; strings escape only '"', '\\' and control
// characters, using \b \f \n \r \t or lowercase \u00XX). Writing straight
// into a string is several times faster than building a DOM first, and
// the encoder is on every IPC response's path.

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>

namespace overlayd::ipc::detail {

class json_writer {
public:
  void begin_object() {
    separate();
    out_ += '{';
    first_ = true;
  }
  void end_object() {
    out_ += '}';
    first_ = false;
  }
  void begin_array() {
    separate();
    out_ += '[';
    first_ = true;
  }
  void end_array() {
    out_ += ']';
    first_ = false;
  }

  /// An object key; the next value follows without a comma.
  void key(std::string_view k) {
    separate();
    write_string(k);
    out_ += ':';
    first_ = true;
  }

  void value(std::string_view s) {
    separate();
    write_string(s);
  }
  void value(const char* s) { value(std::string_view{s}); }
  void value(const std::string& s) { value(std::string_view{s}); }
  void value(bool b) {
    separate();
    out_ += b ? "true" : "false";
  }
  template <std::integral T>
  requires(!std::same_as<T, bool>) void value(T v) {
    separate();
    out_ += std::to_string(v);
  }

  template <class T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }

  std::string take() { return std::move(out_); }

private:
  void separate() {
    if (!first_)
      out_ += ',';
    first_ = false;
  }

  void write_string(std::string_view s);

  std::string out_;
  bool first_ = true;
};

} // namespace overlayd::ipc::detail
