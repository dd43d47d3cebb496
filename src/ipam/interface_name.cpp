#include "ipam/interface_name.hpp"

#include "ipam/siphash.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

namespace overlayd::ipam {
namespace {

constexpr std::string_view prefix = "zl-";

// Rust's `format!("{:x}", u64)`: lowercase, no zero padding.
std::string unpadded_hex(std::uint64_t v) {
  char buf[16];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, 16);
  (void)ec; // 16 chars always suffice for a u64
  return std::string(buf, end);
}

std::string truncated(const std::string& s, std::size_t n) {
  return s.substr(0, std::min(n, s.size()));
}

} // namespace

std::string make_interface_name(std::span<const std::string_view> parts,
                                std::string_view suffix) {
  std::string candidate(prefix);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      candidate += '-';
    }
    candidate += parts[i];
  }
  if (!suffix.empty()) {
    candidate += '-';
    candidate += suffix;
  }
  if (candidate.size() <= max_ifname_len) {
    return candidate;
  }

  siphash13 h;
  for (auto part : parts) {
    h.write_str(part);
  }
  h.write_str(suffix); // hashed even when empty: just the 0xFF terminator
  const auto hex = unpadded_hex(h.finish());

  const std::size_t whole_budget = max_ifname_len - prefix.size();
  if (suffix.empty()) {
    return std::string(prefix) + truncated(hex, whole_budget);
  }
  const std::size_t suffix_cost = 1 + suffix.size();
  const std::size_t fixed = prefix.size() + suffix_cost;
  // Saturating like the reference: a suffix too long to keep drops out.
  const std::size_t hash_budget
    = fixed >= max_ifname_len ? 0 : max_ifname_len - fixed;
  if (hash_budget == 0) {
    return std::string(prefix) + truncated(hex, whole_budget);
  }
  return std::string(prefix) + truncated(hex, hash_budget) + "-"
         + std::string(suffix);
}

std::string make_interface_name(std::initializer_list<std::string_view> parts,
                                std::string_view suffix) {
  return make_interface_name(
    std::span<const std::string_view>(parts.begin(), parts.size()), suffix);
}

std::string global_interface_name(std::string_view deployment,
                                  std::string_view instance_id) {
  return make_interface_name({deployment, instance_id}, "g");
}

std::string service_bridge_name(std::string_view deployment,
                                std::string_view instance_id,
                                std::string_view service) {
  return make_interface_name({deployment, instance_id, service}, "b");
}

std::string dedicated_interface_name(std::string_view deployment,
                                     std::string_view instance_id,
                                     std::string_view service) {
  return make_interface_name({deployment, instance_id, service}, "d");
}

std::string shared_bridge_name(std::string_view deployment,
                               std::string_view instance_id) {
  return make_interface_name({deployment, instance_id, "shared"}, "sh");
}

std::string host_veth_name(std::uint32_t pid, std::string_view tag) {
  return "veth-" + std::to_string(pid) + "-" + std::string(tag);
}

std::string peer_veth_name(std::uint32_t pid, std::string_view tag) {
  return "vc-" + std::to_string(pid) + "-" + std::string(tag);
}

std::optional<std::uint32_t> veth_owner_pid(std::string_view link_name) {
  std::string_view rest;
  if (link_name.starts_with("veth-")) {
    rest = link_name.substr(5);
  } else if (link_name.starts_with("vc-")) {
    rest = link_name.substr(3);
  } else {
    return std::nullopt;
  }
  auto pid_text = rest.substr(0, rest.find('-'));
  // Rust's `u32::from_str` accepts one leading '+'.
  if (pid_text.starts_with('+')) {
    pid_text.remove_prefix(1);
  }
  if (pid_text.empty()) {
    return std::nullopt;
  }
  std::uint32_t pid = 0;
  const auto* end = pid_text.data() + pid_text.size();
  auto [ptr, ec] = std::from_chars(pid_text.data(), end, pid);
  if (ec != std::errc{} || ptr != end) {
    return std::nullopt;
  }
  return pid;
}

bool is_orphan_service_bridge(
  std::string_view name, const std::unordered_set<std::string>& live,
  const std::unordered_set<std::string>& protected_names) {
  if (!name.starts_with(prefix)) {
    return false;
  }
  if (!(name.ends_with("-b") || name.ends_with("-d"))) {
    return false;
  }
  const std::string key(name);
  return !live.contains(key) && !protected_names.contains(key);
}

} // namespace overlayd::ipam
