#pragma once

// A small value-or-error type. g++ 12 in C++20 mode has no std::expected,
// and the modules outside src/actors must not pull in CAF for
// caf::expected, so the plain-C++ layers share this one.

#include <cassert>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace overlayd::net {

/// Wraps an error value so that `expected<T, E>` can be built from it
/// unambiguously (also when `T` and `E` are the same type).
template <class E>
struct unexpected {
  E value;
};

template <class E>
unexpected(E) -> unexpected<E>;

/// Either a `T` or an error `E` (default: a human-readable message).
/// The subset of C++23 `std::expected` the project needs.
template <class T, class E = std::string>
class [[nodiscard]] expected {
public:
  using value_type = T;
  using error_type = E;

  expected() requires std::is_default_constructible_v<T>
    : storage_(std::in_place_index<0>) {
    // nop
  }

  template <class U = T>
  requires std::is_constructible_v<T, U&&> &&(
    !std::is_same_v<std::remove_cvref_t<U>,
                    expected>)&&(!std::is_same_v<std::remove_cvref_t<U>,
                                                 unexpected<E>>)expected(U&& x)
    : storage_(std::in_place_index<0>, std::forward<U>(x)) {
    // nop
  }

  template <class G>
  expected(unexpected<G> err)
    : storage_(std::in_place_index<1>, std::move(err.value)) {
    // nop
  }

  bool has_value() const noexcept { return storage_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(storage_); }
  const T& value() const& { return std::get<0>(storage_); }
  T&& value() && { return std::get<0>(std::move(storage_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  E& error() & { return std::get<1>(storage_); }
  const E& error() const& { return std::get<1>(storage_); }
  E&& error() && { return std::get<1>(std::move(storage_)); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

private:
  std::variant<T, E> storage_;
};

/// `expected<void, E>`: success carries no value.
template <class E>
class [[nodiscard]] expected<void, E> {
public:
  using value_type = void;
  using error_type = E;

  expected() = default;

  template <class G>
  expected(unexpected<G> err) : error_(std::move(err.value)), ok_(false) {
    // nop
  }

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }

  E& error() & { return error_; }
  const E& error() const& { return error_; }
  E&& error() && { return std::move(error_); }

private:
  E error_{};
  bool ok_ = true;
};

} // namespace overlayd::net
