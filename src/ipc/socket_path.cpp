#include "ipc/socket_path.hpp"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <vector>

namespace overlayd::ipc {

namespace {

constexpr std::string_view socket_file = "zlayer-overlayd.sock";
constexpr std::string_view root_default_data_dir = "/var/lib/zlayer";

// Rust's `Path::components()` for Unix paths, as strings: "/" for the
// root, "." only as the first component of a relative path, no empties.
std::vector<std::string_view> components(std::string_view p) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  if (!p.empty() && p[0] == '/') {
    out.emplace_back("/");
    i = 1;
  }
  bool first = out.empty();
  while (i <= p.size()) {
    auto j = p.find('/', i);
    if (j == std::string_view::npos)
      j = p.size();
    auto part = p.substr(i, j - i);
    if (!part.empty() && !(part == "." && !(first && out.empty())))
      out.push_back(part);
    first = false;
    i = j + 1;
  }
  return out;
}

} // namespace

path_env path_env::from_process() {
  path_env env;
  env.is_root = ::geteuid() == 0;
  if (const char* h = std::getenv("HOME"))
    env.home = h;
  if (const char* d = std::getenv("ZLAYER_DATA_DIR"))
    env.zlayer_data_dir = d;
  return env;
}

std::uint64_t fnv1a64(std::string_view data, std::string_view label) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (auto part : {data, label})
    for (unsigned char c : part) {
      h ^= c;
      h *= 0x100000001b3ull;
    }
  return h;
}

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx",
                static_cast<unsigned long long>(v));
  return buf;
}

std::string path_join(std::string_view base, std::string_view component) {
  if (!component.empty() && component[0] == '/')
    return std::string{component};
  std::string out{base};
  if (!out.empty() && out.back() != '/')
    out += '/';
  out += component;
  return out;
}

bool path_equal(std::string_view a, std::string_view b) {
  return components(a) == components(b);
}

std::string platform_default_data_dir(const path_env& env) {
  if (env.is_root || !env.home)
    return std::string{root_default_data_dir};
  return path_join(*env.home, ".zlayer");
}

std::string default_data_dir(const path_env& env) {
  if (env.zlayer_data_dir && !env.zlayer_data_dir->empty())
    return *env.zlayer_data_dir;
  return platform_default_data_dir(env);
}

std::string default_overlayd_socket_path_for(std::string_view data_dir,
                                             const path_env& env) {
  if (path_equal(data_dir, platform_default_data_dir(env)))
    return "/var/run/zlayer-overlayd.sock";
  auto natural = path_join(path_join(data_dir, "run"), socket_file);
  if (natural.size() <= max_socket_path_bytes)
    return natural;
  return "/tmp/zlayer-overlayd-" + hex16(fnv1a64(data_dir, "overlayd"))
         + ".sock";
}

std::string wireguard_dir_for(std::string_view data_dir, const path_env& env) {
  if (path_equal(data_dir, default_data_dir(env)))
    return "/var/run/wireguard";
  auto natural = path_join(path_join(data_dir, "run"), "wireguard");
  // Room for "/<iface>.sock" (21 bytes) within the 103-byte limit.
  if (natural.size() <= max_socket_path_bytes - 21)
    return natural;
  return "/tmp/zlayer-wg-" + hex16(fnv1a64(data_dir, "wg"));
}

endpoints resolve_endpoints(const std::optional<std::string>& data_dir_flag,
                            const std::optional<std::string>& socket_flag,
                            const path_env& env) {
  endpoints e;
  e.data_dir = data_dir_flag ? *data_dir_flag : default_data_dir(env);
  e.socket = socket_flag ? *socket_flag
                         : default_overlayd_socket_path_for(e.data_dir, env);
  return e;
}

} // namespace overlayd::ipc
