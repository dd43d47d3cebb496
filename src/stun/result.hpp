#pragma once

#include <string>
#include <utility>
#include <variant>

namespace overlayd::stun {

// A value or an error message (C++20 has no std::expected). Errors are
// values in this module: nothing throws across its API.
template <class T, class E = std::string>
class result {
public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  static result failure(E err) {
    return result(std::in_place_index<1>, std::move(err));
  }

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

  const E& error() const& { return std::get<1>(v_); }

private:
  template <std::size_t I, class U>
  result(std::in_place_index_t<I> idx, U&& u) : v_(idx, std::forward<U>(u)) {}

  std::variant<T, E> v_;
};

// The error side of an operation that returns nothing on success.
struct status {
  std::string error;
  bool ok() const noexcept { return error.empty(); }
  explicit operator bool() const noexcept { return ok(); }
  static status success() { return {}; }
  static status failure(std::string msg) { return {std::move(msg)}; }
};

} // namespace overlayd::stun
