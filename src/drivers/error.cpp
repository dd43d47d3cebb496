#include "drivers/error.hpp"

#include <cerrno>
#include <cstring>
#include <string.h>

namespace overlayd::drivers {

std::string_view to_string(error_kind kind) {
  switch (kind) {
  case error_kind::invalid_argument:
    return "invalid_argument";
  case error_kind::not_found:
    return "not_found";
  case error_kind::already_exists:
    return "already_exists";
  case error_kind::namespace_gone:
    return "namespace_gone";
  case error_kind::permission_denied:
    return "permission_denied";
  case error_kind::kernel:
    return "kernel";
  case error_kind::system:
    return "system";
  case error_kind::unsupported:
    return "unsupported";
  }
  return "unknown";
}

error::error(error_kind kind, int err_no, std::string operation,
             std::string object, std::string detail, std::string ext_ack)
  : kind_(kind), err_no_(err_no), operation_(std::move(operation)),
    object_(std::move(object)), detail_(std::move(detail)),
    ext_ack_(std::move(ext_ack)) {
  // nop
}

error_kind kind_from_errno(int err_no) {
  switch (err_no) {
  case ENODEV:
  case ESRCH:
  case ENOENT:
  case EADDRNOTAVAIL:
    return error_kind::not_found;
  case EEXIST:
    return error_kind::already_exists;
  case EPERM:
  case EACCES:
    return error_kind::permission_denied;
  default:
    return error_kind::kernel;
  }
}

std::string errno_name(int err_no) {
  // strerrorname_np is glibc >= 2.32 (Debian 12 ships 2.36).
  if (const char* name = strerrorname_np(err_no))
    return name;
  return "errno " + std::to_string(err_no);
}

error error::from_errno(int err_no, std::string operation, std::string object,
                        std::string ext_ack) {
  return error{kind_from_errno(err_no), err_no, std::move(operation),
               std::move(object),       {},     std::move(ext_ack)};
}

std::string error::what() const {
  std::string out = operation_.empty() ? std::string{"driver"} : operation_;
  if (!object_.empty()) {
    out += "(";
    out += object_;
    out += ")";
  }
  out += ": ";
  if (!detail_.empty())
    out += detail_;
  if (err_no_ != 0) {
    if (!detail_.empty())
      out += ": ";
    out += std::strerror(err_no_);
    out += " (errno ";
    out += std::to_string(err_no_);
    out += " ";
    out += errno_name(err_no_);
    out += ")";
  }
  if (detail_.empty() && err_no_ == 0)
    out += to_string(kind_);
  if (!ext_ack_.empty()) {
    out += ": kernel says \"";
    out += ext_ack_;
    out += "\"";
  }
  return out;
}

} // namespace overlayd::drivers
