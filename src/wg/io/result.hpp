#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace overlayd::wg {

/// A failed system or protocol operation: an errno-style code plus a message
/// that names the input or resource involved.
struct io_error {
  int code = 0;
  std::string message;
};

/// Builds an io_error from the current `errno`, prefixed with `what`.
io_error last_os_error(const std::string& what);

/// Either a value or an io_error. Errors are values in this module; nothing
/// here throws on bad input.
template <class T>
class result {
public:
  result(T value) : data_(std::in_place_index<0>, std::move(value)) {
    // nop
  }
  result(io_error err) : data_(std::in_place_index<1>, std::move(err)) {
    // nop
  }
  explicit operator bool() const noexcept { return data_.index() == 0; }
  T& operator*() { return std::get<0>(data_); }
  const T& operator*() const { return std::get<0>(data_); }
  T* operator->() { return &std::get<0>(data_); }
  const T* operator->() const { return &std::get<0>(data_); }
  const io_error& error() const { return std::get<1>(data_); }

private:
  std::variant<T, io_error> data_;
};

/// Success or an io_error, for operations without a value.
template <>
class result<void> {
public:
  result() = default;
  result(io_error err) : err_(std::move(err)), ok_(false) {
    // nop
  }
  explicit operator bool() const noexcept { return ok_; }
  const io_error& error() const { return err_; }

private:
  io_error err_;
  bool ok_ = true;
};

} // namespace overlayd::wg
