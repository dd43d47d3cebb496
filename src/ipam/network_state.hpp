#pragma once

// The persistent network-state marker `{data_dir}/agent_network.json`
// (ipc.md §7): the host-level networks this node owns, most importantly the
// identity (key pair, port, interface) of each dedicated WireGuard device so
// it survives restarts. The file format is shared with the Rust overlayd and
// must stay byte-compatible (serde_json pretty output).

#include "ipam/error.hpp"
#include "net/ip.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace overlayd::ipam {

// Owner keys (§7.3). The owner is the unique key of an entry.
inline constexpr std::string_view owner_base = "base";
// The reference's value is not visible; the spec suggests this one. It only
// matters for markers written by a Windows overlayd.
inline constexpr std::string_view owner_shared_nat = "shared-nat";
std::string owner_for_service(std::string_view service);
std::string owner_for_isolation_network(std::string_view network);

// Kinds written into `kind`.
inline constexpr std::string_view kind_wg_dedicated = "wg-dedicated";
inline constexpr std::string_view kind_hcn_internal = "hcn-internal";
inline constexpr std::string_view kind_hcn_transparent = "hcn-transparent";
inline constexpr std::string_view kind_hcn_nat = "hcn-nat";

inline constexpr std::uint32_t network_state_version = 1;

struct managed_network {
  std::string owner;
  std::string kind;
  std::string name;
  std::string id; // wg-dedicated: the device's public key
  std::string subnet;
  std::optional<std::uint16_t> wg_port;
  std::optional<std::string> wg_private_key;
  std::optional<std::string> wg_public_key;
  std::optional<std::string> interface;

  // True when a dedicated device can be rebuilt from this entry: the
  // reference reuses an identity only if all four fields are present (and
  // does not look at `kind`).
  bool has_dedicated_identity() const {
    return wg_private_key && wg_public_key && wg_port && interface;
  }

  bool operator==(const managed_network&) const = default;
};

struct network_state {
  std::uint32_t version = network_state_version;
  std::vector<managed_network> networks;

  // First entry with this owner, or nullptr.
  const managed_network* get(std::string_view owner) const;
  // Replaces the entry with the same owner in place, or appends.
  void upsert(managed_network net);
  // Removes and returns the entry with this owner.
  std::optional<managed_network> remove(std::string_view owner);

  // The `wg_port` of every "service:" entry: what the dedicated-port
  // allocator is seeded with at startup.
  std::vector<std::uint16_t> dedicated_ports() const;

  // serde_json `to_vec_pretty`: 2-space indent, no trailing newline,
  // `None` options omitted.
  std::string to_json() const;
  // Accepts exactly what serde would (unknown fields ignored, structs as
  // arrays, duplicate keys and wrong types rejected). Errors are
  // `errc::corrupt` with the parser's reason.
  static result<network_state> from_json(std::string_view text);

  bool operator==(const network_state&) const = default;
};

// The entry the reference writes for a dedicated device: owner
// "service:<service>", kind "wg-dedicated", `name` and `interface` the
// device name, `id` the public key, plus port and both keys.
managed_network dedicated_network_entry(std::string_view service,
                                        const std::string& interface,
                                        const net::cidr& subnet,
                                        std::uint16_t wg_port,
                                        const std::string& private_key,
                                        const std::string& public_key);

// `{data_dir}/agent_network.json`.
std::filesystem::path marker_path(const std::filesystem::path& data_dir);
// The sibling the marker is staged in before the rename
// (`agent_network.json.tmp`, Rust's `with_extension("json.tmp")`).
std::filesystem::path marker_temp_path(const std::filesystem::path& marker);

// Strict read: a missing file is the empty state; an unreadable file is
// `errc::io` and an unparseable one `errc::corrupt`, both naming the path.
result<network_state> read_marker(const std::filesystem::path& marker);

// The reference's lenient load: any failure yields the empty state. When
// `problem` is given it receives the reason, so the caller can log it.
network_state load_marker(const std::filesystem::path& marker,
                          std::optional<error>* problem = nullptr);

// Atomic replace: `mkdir -p` the parent, write the temp file (mode 0600: it
// holds private keys), fsync it, rename it over the marker, fsync the
// directory. A crash at any point leaves either the old or the new marker.
result<void> save_marker(const std::filesystem::path& marker,
                         const network_state& state);

} // namespace overlayd::ipam
