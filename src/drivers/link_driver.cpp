#include "drivers/link_driver.hpp"

#include <arpa/inet.h>
#include <cctype>
#include <sys/socket.h>

namespace overlayd::drivers {

namespace {

std::string printable(unsigned char c) {
  if (c >= 0x20 && c < 0x7f)
    return std::string(1, static_cast<char>(c));
  static constexpr char hex[] = "0123456789abcdef";
  return std::string{"\\x"} + hex[c >> 4] + hex[c & 0xf];
}

} // namespace

status validate_ifname(std::string_view name, std::string_view op) {
  auto bad = [&](std::string why) {
    return error{error_kind::invalid_argument, 0, std::string{op},
                 std::string{name}, "invalid interface name: " + why};
  };
  if (name.empty())
    return bad("empty");
  if (name.size() > max_ifname_len)
    return bad(std::to_string(name.size()) + " bytes exceeds the "
               + std::to_string(max_ifname_len) + " character limit");
  if (name == "." || name == "..")
    return bad("'.' and '..' are reserved");
  for (unsigned char c : name) {
    // The kernel's dev_valid_name() rejects '/', ':' and its isspace(),
    // which includes 0xa0. NUL would silently truncate the name; control
    // bytes are refused so that a name always prints cleanly; '%' makes the
    // kernel treat the name as a pattern ("eth%d") and pick another name.
    if (c == '/' || c == ':' || c == '\0' || std::isspace(c) != 0 || c < 0x20
        || c == 0x7f || c == 0xa0)
      return bad("character '" + printable(c) + "' is not allowed");
    if (c == '%')
      return bad("'%' would make the kernel treat it as a name pattern");
  }
  return {};
}

ip_address ip_address::v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                          std::uint8_t d) {
  ip_address out;
  out.bytes[0] = a;
  out.bytes[1] = b;
  out.bytes[2] = c;
  out.bytes[3] = d;
  return out;
}

result<ip_address> ip_address::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string and rejects anything with
  // trailing garbage, zones or prefixes, which is what we want.
  std::string copy{text};
  ip_address out;
  if (inet_pton(AF_INET, copy.c_str(), out.bytes.data()) == 1)
    return out;
  if (inet_pton(AF_INET6, copy.c_str(), out.bytes.data()) == 1) {
    out.family = family_t::v6;
    return out;
  }
  return error{error_kind::invalid_argument, 0, "parse_ip_address", copy,
               "not an IPv4 or IPv6 address"};
}

int ip_address::af() const noexcept {
  return is_v6() ? AF_INET6 : AF_INET;
}

std::string ip_address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(af(), bytes.data(), buf, sizeof(buf));
  return buf;
}

std::string netns_spec::describe() const {
  if (auto* pid = std::get_if<pid_t>(&where))
    return "pid " + std::to_string(*pid);
  return std::get<std::string>(where);
}

status with_netns(link_driver& driver, std::shared_ptr<netns_handle> target,
                  const std::function<status(link_driver&)>& work) {
  auto inner = driver.enter_netns(std::move(target));
  if (!inner)
    return inner.error();
  return work(**inner);
}

} // namespace overlayd::drivers
