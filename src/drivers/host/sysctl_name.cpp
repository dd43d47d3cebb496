#include "drivers/host/sysctl_name.hpp"

#include <cerrno>

namespace overlayd::drivers {

namespace {

error bad_key(std::string_view key, std::string why) {
  return error{error_kind::invalid_argument, EINVAL, "sysctl_key",
               std::string{key}, std::move(why)};
}

} // namespace

result<std::string> sysctl_key_to_path(std::string_view key) {
  if (key.empty())
    return bad_key(key, "empty sysctl key");
  if (key.find('\0') != std::string_view::npos)
    return bad_key(key, "sysctl key contains a NUL byte");
  std::string path{key};
  // sysctl(8): if the first separator is already '/', the key is a path;
  // otherwise '.' and '/' swap roles everywhere.
  auto first = key.find_first_of("./");
  if (first != std::string_view::npos && key[first] == '.') {
    for (auto& c : path) {
      if (c == '.')
        c = '/';
      else if (c == '/')
        c = '.';
    }
  }
  // Every component must be a real name: no empty ones (leading, trailing
  // or doubled separators) and no "." or ".." that would leave /proc/sys.
  std::string_view rest{path};
  while (true) {
    auto slash = rest.find('/');
    auto part = rest.substr(0, slash);
    if (part.empty())
      return bad_key(key, "empty component in sysctl key");
    if (part == "." || part == "..")
      return bad_key(key, "'.' or '..' component in sysctl key");
    if (slash == std::string_view::npos)
      break;
    rest.remove_prefix(slash + 1);
  }
  return path;
}

std::string sysctl_path_to_key(std::string_view path) {
  std::string key{path};
  for (auto& c : key) {
    if (c == '.')
      c = '/';
    else if (c == '/')
      c = '.';
  }
  return key;
}

std::string sysctl_escape_component(std::string_view component) {
  std::string out{component};
  for (auto& c : out)
    if (c == '.')
      c = '/';
  return out;
}

std::string ipv6_forwarding_key(std::string_view dev) {
  return "net.ipv6.conf." + sysctl_escape_component(dev) + ".forwarding";
}

std::string_view trim_sysctl_value(std::string_view raw) {
  while (!raw.empty()
         && (raw.back() == '\n' || raw.back() == ' ' || raw.back() == '\t'
             || raw.back() == '\r'))
    raw.remove_suffix(1);
  return raw;
}

} // namespace overlayd::drivers
