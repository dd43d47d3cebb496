#pragma once

// The cross-platform WireGuard configuration protocol ("UAPI") spoken on
// <dir>/<ifname>.sock by wireguard-go and understood by wg(8). This file is
// pure text processing: it parses a `set=1` body into a request that can be
// applied atomically, and formats a `get=1` reply from a snapshot.

#include "wg/allowed_ips.hpp"
#include "wg/endpoint.hpp"
#include "wg/io/result.hpp"
#include "wg/key.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace overlayd::wg::uapi {

/// One allowed-IP edit inside a peer block, kept in request order.
struct allowed_ip_op {
  allowed_ip prefix;
  /// Set by the `allowed_ip=-<prefix>` form (newer wg(8) and kernels).
  bool remove = false;

  friend bool operator==(const allowed_ip_op&, const allowed_ip_op&) = default;
};

/// Everything one `public_key=` block asks for.
struct peer_change {
  key public_key;
  /// `remove=true`: delete the peer; the block's other lines are ignored.
  bool remove = false;
  /// `update_only=true`: skip the block if the peer does not exist yet.
  bool update_only = false;
  /// All-zero means "no preshared key".
  std::optional<key> preshared_key;
  std::optional<wg::endpoint> endpoint;
  std::optional<std::uint16_t> persistent_keepalive;
  /// `replace_allowed_ips=true`: clear the peer's list before `allowed_ips`.
  bool replace_allowed_ips = false;
  std::vector<allowed_ip_op> allowed_ips;
};

/// A parsed `set=1` request. Interface lines come first; peers follow in
/// request order (the same key may appear in several blocks).
struct set_request {
  /// All-zero clears the private key, as in wireguard-go.
  std::optional<key> private_key;
  std::optional<std::uint16_t> listen_port;
  std::optional<std::uint32_t> fwmark;
  bool replace_peers = false;
  std::vector<peer_change> peers;
};

/// UAPI error numbers (positive; the wire carries them negated, like
/// wireguard-go).
inline constexpr int err_invalid = EINVAL;
inline constexpr int err_protocol = EPROTO;
inline constexpr int err_io = EIO;
inline constexpr int err_port_in_use = EADDRINUSE;

/// Parses the lines of a `set=1` body (without the `set=1` line, up to but
/// excluding the terminating empty line). Any bad line fails the whole
/// request so that nothing is half-applied.
result<set_request> parse_set(std::string_view body);

/// A peer as reported by `get=1`.
struct peer_state {
  key public_key;
  key preshared_key;
  std::optional<wg::endpoint> endpoint;
  std::int64_t last_handshake_sec = 0;
  std::int64_t last_handshake_nsec = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t rx_bytes = 0;
  std::uint16_t persistent_keepalive = 0;
  std::vector<allowed_ip> allowed_ips;
};

/// The interface as reported by `get=1`.
struct device_state {
  key private_key;
  std::uint16_t listen_port = 0;
  std::uint32_t fwmark = 0;
  std::vector<peer_state> peers;
};

/// The body of a `get=1` reply in wireguard-go's order and format, without
/// the trailing `errno=` line.
std::string format_get(const device_state& state);

/// The status trailer: "errno=0\n\n" or "errno=-<code>\n\n".
std::string format_errno(int code);

} // namespace overlayd::wg::uapi
