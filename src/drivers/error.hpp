#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace overlayd::drivers {

/// What went wrong, coarse enough for callers to branch on. Callers decide
/// idempotence from the kind (and, where the spec says so, from the errno),
/// never from message text.
enum class error_kind : std::uint8_t {
  /// A bad argument caught before any kernel call (bad interface name,
  /// address family mismatch, prefix out of range...).
  invalid_argument = 1,
  /// The object (link, address, route, bridge) does not exist. Kernel errno
  /// ENODEV, ESRCH, ENOENT or EADDRNOTAVAIL, or a lookup that found nothing.
  not_found,
  /// The object already exists (EEXIST).
  already_exists,
  /// The process or named namespace is gone, or disappeared while the
  /// operation was running.
  namespace_gone,
  /// EPERM / EACCES: the caller lacks CAP_NET_ADMIN (or the like).
  permission_denied,
  /// Any other error the kernel reported for a netlink request.
  kernel,
  /// A local system call failed (socket, open, setns, read, thread...).
  system,
  /// The requested backend object does not belong to this driver (e.g. a
  /// namespace handle from a different backend).
  unsupported,
};

/// Stable lowercase name of a kind, e.g. "not_found".
std::string_view to_string(error_kind kind);

/// A typed driver error: what kind, the errno (0 when none), the kernel's
/// extended-ack text (empty when the kernel sent none), the operation that
/// failed ("create_veth_pair") and the object it was applied to
/// ("veth-42-s").
class error {
public:
  error() = default;

  error(error_kind kind, int err_no, std::string operation, std::string object,
        std::string detail = {}, std::string ext_ack = {});

  error_kind kind() const noexcept { return kind_; }
  /// The errno the kernel or libc reported, 0 if the error is not an errno.
  int err_no() const noexcept { return err_no_; }
  /// The kernel's extended-ack message (NLMSGERR_ATTR_MSG), if any.
  const std::string& ext_ack() const noexcept { return ext_ack_; }
  const std::string& operation() const noexcept { return operation_; }
  const std::string& object() const noexcept { return object_; }
  /// Free text from the driver itself (e.g. "name longer than 15 bytes").
  const std::string& detail() const noexcept { return detail_; }

  /// Full human-readable text, e.g.
  /// `create_veth_pair(veth-42-s): File exists (errno 17 EEXIST): kernel:
  /// "..."`. It names the operation, the object and the cause.
  std::string what() const;

  /// Builds an error from an errno, choosing the kind from the errno
  /// (ENODEV → not_found, EEXIST → already_exists, EPERM → ...).
  static error from_errno(int err_no, std::string operation, std::string object,
                          std::string ext_ack = {});

private:
  error_kind kind_ = error_kind::system;
  int err_no_ = 0;
  std::string operation_;
  std::string object_;
  std::string detail_;
  std::string ext_ack_;
};

/// Maps an errno to the error kind drivers report for it.
error_kind kind_from_errno(int err_no);

/// The symbolic errno name, e.g. "EEXIST" ("errno 1234" if unknown).
std::string errno_name(int err_no);

/// A value or a driver error (C++20 has no std::expected).
template <class T>
class [[nodiscard]] result {
public:
  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  result(drivers::error err) : v_(std::in_place_index<1>, std::move(err)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const drivers::error& error() const& { return std::get<1>(v_); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? value() : static_cast<T>(std::forward<U>(fallback));
  }

private:
  std::variant<T, drivers::error> v_;
};

/// Success or a driver error.
template <>
class [[nodiscard]] result<void> {
public:
  result() = default;
  result(drivers::error err) : err_(std::move(err)) {}

  bool has_value() const noexcept { return !err_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  const drivers::error& error() const& { return *err_; }

private:
  std::optional<drivers::error> err_;
};

using status = result<void>;

} // namespace overlayd::drivers
