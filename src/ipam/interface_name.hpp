#pragma once

// Deterministic link names, byte-identical to the reference's
// `make_interface_name` (spec dataplane.md §5.1, ipc.md §10.1). ZLayer's
// main daemon derives `prune_orphan_bridges.live_bridge_names` with the same
// function, so any difference here deletes live bridges.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>

namespace overlayd::ipam {

// IFNAMSIZ - 1: the kernel's limit on a link name.
inline constexpr std::size_t max_ifname_len = 15;

// "zl-" + parts joined by "-" + ("-" + suffix unless empty). When that is
// longer than 15 bytes, a SipHash-1-3 of the parts and suffix (each hashed
// as a Rust `str`) replaces it, keeping the suffix when it fits.
std::string make_interface_name(std::span<const std::string_view> parts,
                                std::string_view suffix);
std::string make_interface_name(std::initializer_list<std::string_view> parts,
                                std::string_view suffix);

// The names overlayd gives its links (dataplane.md §5.1 "Names in use").
std::string global_interface_name(std::string_view deployment,
                                  std::string_view instance_id);
std::string service_bridge_name(std::string_view deployment,
                                std::string_view instance_id,
                                std::string_view service);
std::string dedicated_interface_name(std::string_view deployment,
                                     std::string_view instance_id,
                                     std::string_view service);
std::string shared_bridge_name(std::string_view deployment,
                               std::string_view instance_id);

// Container veths: host side "veth-<pid>-<tag>", the peer before it moves
// into the container "vc-<pid>-<tag>". `tag` is "s" (service) or "g"
// (global).
std::string host_veth_name(std::uint32_t pid, std::string_view tag);
std::string peer_veth_name(std::uint32_t pid, std::string_view tag);

// The PID a "veth-<pid>-…" or "vc-<pid>-…" link belongs to, as the
// reference's orphan-veth sweep reads it; nullopt for any other link.
std::optional<std::uint32_t> veth_owner_pid(std::string_view link_name);

// True iff `name` is one of overlayd's per-service bridges ("zl-…-b") or
// dedicated devices ("zl-…-d") and is neither live nor protected: the
// candidate test of `prune_orphan_bridges`.
bool is_orphan_service_bridge(
  std::string_view name, const std::unordered_set<std::string>& live,
  const std::unordered_set<std::string>& protected_names);

} // namespace overlayd::ipam
