#pragma once

// The WireGuard side of the orchestration: every device the engine drives
// (the global device and each dedicated service device) is reached through
// this interface by its interface name. The real implementation runs
// `wg::device`s; the fake records calls so unit tests stay deterministic.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ipc/messages.hpp"
#include "net/expected.hpp"

namespace overlayd::wg {
class device;
} // namespace overlayd::wg

namespace overlayd::overlay {

/// Success or a message naming what failed.
using wg_status = net::expected<void>;

/// What a device is created with. Keys are base64 (`wg` format).
struct wg_device_spec {
  std::string ifname;
  std::string private_key;
  std::uint16_t listen_port = 0;
  int mtu = 1420;
};

/// One peer as the engine installs it (already validated).
struct wg_peer {
  std::string public_key; ///< base64
  std::string endpoint;   ///< socket address text; "0.0.0.0:0" = none
  std::vector<std::string> allowed_ips;
  std::uint16_t persistent_keepalive = 0;
};

/// Something that rides on one device (the NAT relay path): `close` ends
/// every use of the device and runs before the device stops.
class device_attachment {
public:
  virtual ~device_attachment() = default;
  virtual void close() = 0;
};

/// Control of the WireGuard devices of one daemon. Thread-safe: peer calls
/// may come from any thread while another device is being created.
class wg_control {
public:
  virtual ~wg_control() = default;
  /// Creates and starts the device; the TUN exists (down) afterwards. The
  /// host steps (address, MTU, up, route) are the engine's.
  virtual wg_status create_device(const wg_device_spec& spec) = 0;
  /// Stops the device and frees its TUN. Unknown names are success.
  virtual void destroy_device(const std::string& ifname) = 0;
  virtual bool has_device(const std::string& ifname) const = 0;
  /// The device's base64 public key; empty for an unknown device.
  virtual std::string public_key(const std::string& ifname) const = 0;
  /// Adds or updates a peer (allowed IPs are added to what it has).
  virtual wg_status add_peer(const std::string& ifname, const wg_peer& peer)
    = 0;
  /// Removing an unknown peer is success.
  virtual wg_status remove_peer(const std::string& ifname,
                                const std::string& public_key)
    = 0;
  virtual wg_status add_allowed_ip(const std::string& ifname,
                                   const std::string& public_key,
                                   const std::string& cidr)
    = 0;
  virtual wg_status remove_allowed_ip(const std::string& ifname,
                                      const std::string& public_key,
                                      const std::string& cidr)
    = 0;
  virtual wg_status set_endpoint(const std::string& ifname,
                                 const std::string& public_key,
                                 const std::string& endpoint)
    = 0;
  /// NAT traversal's endpoint change: points the peer at `endpoint` and
  /// starts a fresh handshake toward it at once, so that a completed
  /// handshake soon after proves the path (hole punching, relay, upgrade).
  /// Controls without real devices just set the endpoint.
  virtual wg_status punch(const std::string& ifname,
                          const std::string& public_key,
                          const std::string& endpoint) {
    return set_endpoint(ifname, public_key, endpoint);
  }
  /// The peers as `Status` reports them: hex keys (the UAPI dump's form),
  /// endpoint text ("" if unknown), comma-joined allowed IPs, last
  /// handshake seconds. Error for an unknown device.
  virtual net::expected<std::vector<ipc::peer_status>>
  peers(const std::string& ifname) const = 0;

  /// Builds an attachment on the named device (under `tag`, replacing and
  /// closing an earlier one with that tag). The control keeps it until
  /// `detach` or until the device is destroyed, when it is closed before
  /// the device stops. Controls without real devices cannot attach.
  virtual wg_status
  attach(const std::string& ifname, const std::string& tag,
         const std::function<std::shared_ptr<device_attachment>(wg::device&)>&
           make) {
    (void)make;
    (void)tag;
    return net::unexpected<std::string>{"device " + ifname
                                        + " takes no attachments"};
  }
  /// Closes and drops the attachment `tag` of every device.
  virtual void detach(const std::string& tag) { (void)tag; }
};

/// The reference's refusal of `add_allowed_ip` for a peer the device does
/// not have (both implementations answer it word for word).
inline std::string unknown_peer_for_allowed_ip(const std::string& cidr,
                                               const std::string& public_key) {
  return "cannot add allowed_ip " + cidr + " to unknown peer " + public_key;
}

/// A fresh key pair, base64: {private, public}.
std::pair<std::string, std::string> generate_key_pair();

/// Real devices (`wg::device`), created in the calling thread's network
/// namespace. `uapi_dir` empty: no UAPI socket.
std::unique_ptr<wg_control> make_device_wg_control(std::string uapi_dir = {});

} // namespace overlayd::overlay
