#include "drivers/host/orphans.hpp"

#include <charconv>
#include <string>
#include <sys/stat.h>

namespace overlayd::drivers {

std::optional<std::uint32_t> container_veth_pid(std::string_view name) {
  std::string_view rest;
  if (name.starts_with("veth-"))
    rest = name.substr(5);
  else if (name.starts_with("vc-"))
    rest = name.substr(3);
  else
    return std::nullopt;
  auto digits = rest.substr(0, rest.find('-'));
  // Rust's u32 parser, which the reference uses, accepts one leading '+'.
  if (digits.starts_with('+'))
    digits.remove_prefix(1);
  if (digits.empty())
    return std::nullopt;
  std::uint32_t pid = 0;
  auto [end, ec]
    = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (ec != std::errc{} || end != digits.data() + digits.size())
    return std::nullopt;
  return pid;
}

bool proc_pid_exists(std::uint32_t pid) {
  struct stat st {};
  auto path = "/proc/" + std::to_string(pid);
  return ::stat(path.c_str(), &st) == 0;
}

bool is_orphan_veth(std::string_view name, const pid_alive_fn& pid_alive) {
  auto pid = container_veth_pid(name);
  return pid && !pid_alive(*pid);
}

std::vector<std::string>
select_orphan_veths(const std::vector<std::string>& links,
                    const pid_alive_fn& pid_alive) {
  std::vector<std::string> out;
  for (const auto& name : links)
    if (is_orphan_veth(name, pid_alive))
      out.push_back(name);
  return out;
}

bool is_orphan_service_bridge(
  std::string_view name, const std::set<std::string, std::less<>>& live,
  const std::set<std::string, std::less<>>& protected_names) {
  if (!name.starts_with("zl-"))
    return false;
  if (!name.ends_with("-b") && !name.ends_with("-d"))
    return false;
  return !live.contains(name) && !protected_names.contains(name);
}

} // namespace overlayd::drivers
