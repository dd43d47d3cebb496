#pragma once

// C++ model of the zlayer-overlayd IPC messages (spec/ipc.md §3-§6).
// Plain value types; the JSON mapping lives in json_codec.hpp. Rust
// `Option<T>` is `std::optional<T>`, Rust enums are `std::variant`s of one
// struct per variant, in the order of the spec's tables.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/ip.hpp"

namespace overlayd::ipc {

using net::ip_address;

/// The wire protocol version ZLayer declares. It is never sent.
inline constexpr std::uint32_t protocol_version = 1;

// -- shared types (§3.2-§3.6) -------------------------------------------------

/// `OverlayMode`, a bare JSON string: "auto", "shared", "dedicated".
/// The default is `automatic` ("auto"). The possible fourth reference value
/// "isolated" is accepted on input and mapped to `automatic`, which is how
/// the reference routes it (spec §3.2).
enum class overlay_mode : std::uint8_t { automatic, shared, dedicated };

/// The wire string of a mode.
std::string_view to_string(overlay_mode mode) noexcept;
/// The mode for a wire string ("isolated" gives `automatic`), nullopt for
/// anything else (matching is case-sensitive, like serde).
std::optional<overlay_mode> parse_overlay_mode(std::string_view text) noexcept;
/// True iff `shared`: the one node-wide shared bridge.
inline bool uses_shared_bridge(overlay_mode m) noexcept {
  return m == overlay_mode::shared;
}
/// True iff `dedicated`: a per-service WireGuard device.
inline bool uses_per_service_wg(overlay_mode m) noexcept {
  return m == overlay_mode::dedicated;
}

/// `AttachHandle::LinuxPid` (`"platform":"linux_pid"`).
struct linux_pid_handle {
  std::uint32_t pid = 0;
  friend bool operator==(const linux_pid_handle&, const linux_pid_handle&)
    = default;
};

/// `AttachHandle::WindowsContainer`. On detach, `container_id` carries the
/// namespace GUID (spec §3.3).
struct windows_container_handle {
  std::string container_id;
  std::optional<ip_address> ip;
  friend bool operator==(const windows_container_handle&,
                         const windows_container_handle&)
    = default;
};

/// `AttachHandle::GuestManaged` (a VM that runs its own WireGuard).
struct guest_managed_handle {
  std::string id;
  friend bool operator==(const guest_managed_handle&,
                         const guest_managed_handle&)
    = default;
};

/// `AttachHandle::HostShared` (reference only).
struct host_shared_handle {
  std::string id;
  friend bool operator==(const host_shared_handle&, const host_shared_handle&)
    = default;
};

/// `AttachHandle`, tag `"platform"`.
using attach_handle = std::variant<linux_pid_handle, windows_container_handle,
                                   guest_managed_handle, host_shared_handle>;

/// `PeerScope`, tag `"scope"`: `Global` (no service) or `Service{service}`.
struct peer_scope {
  std::optional<std::string> service;

  bool is_global() const noexcept { return !service.has_value(); }
  static peer_scope global() { return {}; }
  static peer_scope of_service(std::string name) {
    return peer_scope{std::move(name)};
  }
  friend bool operator==(const peer_scope&, const peer_scope&) = default;
};

/// `NatCandidateWire`.
struct nat_candidate_wire {
  std::string candidate_type; ///< "host", "server-reflexive" or "relay"
  std::string address;        ///< socket address text
  std::uint32_t priority = 0;
  friend bool operator==(const nat_candidate_wire&, const nat_candidate_wire&)
    = default;
};

/// `PeerSpec`.
struct peer_spec {
  std::string public_key;  ///< base64
  std::string endpoint;    ///< literal socket address text
  std::string allowed_ips; ///< comma-separated CIDRs
  std::uint64_t persistent_keepalive_secs = 0;
  std::vector<nat_candidate_wire> candidates;
  friend bool operator==(const peer_spec&, const peer_spec&) = default;
};

/// `TurnServerSpec`.
struct turn_server_spec {
  std::string addr;
  std::string username;
  std::string credential;
  friend bool operator==(const turn_server_spec&, const turn_server_spec&)
    = default;
};

/// `RelayServerSpec`.
struct relay_server_spec {
  std::uint16_t listen_port = 0; ///< 0 = ephemeral
  std::string external_addr;
  std::uint64_t max_sessions = 0; ///< 0 = default (100)
  std::optional<std::string> auth_credential;
  friend bool operator==(const relay_server_spec&, const relay_server_spec&)
    = default;
};

/// `NatConfigSpec` (Rust `Default`: all zero/empty/None).
struct nat_config_spec {
  bool enabled = false;
  std::vector<std::string> stun_servers;
  std::vector<turn_server_spec> turn_servers;
  std::uint64_t hole_punch_timeout_secs = 0;
  std::uint64_t stun_refresh_interval_secs = 0;
  std::uint64_t max_candidate_pairs = 0;
  std::optional<relay_server_spec> relay_server;
  friend bool operator==(const nat_config_spec&, const nat_config_spec&)
    = default;
};

/// `NatPeerWire`.
struct nat_peer_wire {
  std::string node_id;         ///< the peer's base64 public key
  std::string connection_type; ///< "direct", "hole-punched", "relayed"
  std::optional<std::string> remote_endpoint;
  friend bool operator==(const nat_peer_wire&, const nat_peer_wire&) = default;
};

/// `NatStatusWire`.
struct nat_status_wire {
  std::vector<nat_candidate_wire> candidates;
  std::vector<nat_peer_wire> peers;
  std::uint64_t last_refresh = 0; ///< Unix seconds, 0 = never
  friend bool operator==(const nat_status_wire&, const nat_status_wire&)
    = default;
};

// -- requests (§4), tag "op" --------------------------------------------------

namespace req {

struct set_local_node_id {
  std::uint64_t node_id = 0;
  friend bool operator==(const set_local_node_id&, const set_local_node_id&)
    = default;
};

struct set_local_wg_pubkey {
  std::string pubkey;
  friend bool operator==(const set_local_wg_pubkey&, const set_local_wg_pubkey&)
    = default;
};

struct setup_global_overlay {
  std::string deployment;
  std::string instance_id;
  std::string cluster_cidr;
  std::optional<std::string> slice_cidr;
  std::uint16_t wg_port = 0;
  std::optional<nat_config_spec> nat;
  bool host_adapter_mandatory = false;
  friend bool operator==(const setup_global_overlay&,
                         const setup_global_overlay&)
    = default;
};

struct teardown_global_overlay {
  friend bool operator==(const teardown_global_overlay&,
                         const teardown_global_overlay&)
    = default;
};

struct setup_service_overlay {
  std::string service;
  overlay_mode mode = overlay_mode::automatic;
  friend bool operator==(const setup_service_overlay&,
                         const setup_service_overlay&)
    = default;
};

struct teardown_service_overlay {
  std::string service;
  friend bool operator==(const teardown_service_overlay&,
                         const teardown_service_overlay&)
    = default;
};

struct allocate_ip {
  std::string service;
  bool join_global = false;
  friend bool operator==(const allocate_ip&, const allocate_ip&) = default;
};

struct release_ip {
  ip_address ip;
  friend bool operator==(const release_ip&, const release_ip&) = default;
};

struct attach_container {
  attach_handle handle;
  std::string service;
  bool join_global = false;
  std::optional<ip_address> dns_server;
  std::optional<std::string> dns_domain;
  bool ephemeral = false;
  std::optional<std::string> isolation_network;
  friend bool operator==(const attach_container&, const attach_container&)
    = default;
};

struct detach_container {
  attach_handle handle;
  friend bool operator==(const detach_container&, const detach_container&)
    = default;
};

/// `PeerSpec` is flattened into the request object on the wire.
struct add_peer {
  peer_spec peer;
  peer_scope scope;
  friend bool operator==(const add_peer&, const add_peer&) = default;
};

struct remove_peer {
  std::string pubkey;
  peer_scope scope;
  friend bool operator==(const remove_peer&, const remove_peer&) = default;
};

struct add_allowed_ip {
  std::string pubkey;
  std::string cidr;
  peer_scope scope;
  friend bool operator==(const add_allowed_ip&, const add_allowed_ip&)
    = default;
};

struct remove_allowed_ip {
  std::string pubkey;
  std::string cidr;
  peer_scope scope;
  friend bool operator==(const remove_allowed_ip&, const remove_allowed_ip&)
    = default;
};

struct register_dns {
  std::string name;
  ip_address ip;
  friend bool operator==(const register_dns&, const register_dns&) = default;
};

struct unregister_dns {
  std::string name;
  friend bool operator==(const unregister_dns&, const unregister_dns&)
    = default;
};

struct write_scoped_resolver {
  std::string zone;
  ip_address node_ip;
  std::uint16_t port = 0;
  friend bool operator==(const write_scoped_resolver&,
                         const write_scoped_resolver&)
    = default;
};

struct remove_scoped_resolver {
  std::string zone;
  friend bool operator==(const remove_scoped_resolver&,
                         const remove_scoped_resolver&)
    = default;
};

struct prune_orphan_bridges {
  std::vector<std::string> live_bridge_names;
  friend bool operator==(const prune_orphan_bridges&,
                         const prune_orphan_bridges&)
    = default;
};

struct status {
  friend bool operator==(const status&, const status&) = default;
};

struct nat_tick {
  friend bool operator==(const nat_tick&, const nat_tick&) = default;
};

struct nat_status {
  friend bool operator==(const nat_status&, const nat_status&) = default;
};

struct shutdown {
  friend bool operator==(const shutdown&, const shutdown&) = default;
};

} // namespace req

/// `OverlaydRequest`: all 23 reference variants, in spec §4 order.
using request
  = std::variant<req::set_local_node_id, req::set_local_wg_pubkey,
                 req::setup_global_overlay, req::teardown_global_overlay,
                 req::setup_service_overlay, req::teardown_service_overlay,
                 req::allocate_ip, req::release_ip, req::attach_container,
                 req::detach_container, req::add_peer, req::remove_peer,
                 req::add_allowed_ip, req::remove_allowed_ip, req::register_dns,
                 req::unregister_dns, req::write_scoped_resolver,
                 req::remove_scoped_resolver, req::prune_orphan_bridges,
                 req::status, req::nat_tick, req::nat_status, req::shutdown>;

/// The wire `op` of a request ("set_local_node_id", ...).
std::string_view op_name(const request& r) noexcept;

// -- response payloads (§3.7-§3.10) -------------------------------------------

/// `PeerStatus` (every field required on the wire).
struct peer_status {
  std::string public_key; ///< hex, as the UAPI dump prints it
  std::string endpoint;   ///< "" if unknown
  std::string allowed_ips;
  std::int64_t last_handshake_unix_secs = 0;
  friend bool operator==(const peer_status&, const peer_status&) = default;
};

/// `DedicatedServiceStatus` (every field required on the wire).
struct dedicated_service_status {
  std::string service;
  std::string interface;
  std::string public_key;
  std::uint16_t listen_port = 0;
  ip_address overlay_ip;
  std::string subnet;
  std::uint32_t peer_count = 0;
  friend bool operator==(const dedicated_service_status&,
                         const dedicated_service_status&)
    = default;
};

/// `StatusSnapshot`.
struct status_snapshot {
  std::optional<std::string> interface;
  std::optional<ip_address> node_ip;
  std::optional<std::string> public_key;
  std::optional<std::string> overlay_cidr;
  std::optional<std::string> slice_cidr;
  std::uint32_t peer_count = 0;
  std::uint32_t service_count = 0;
  std::vector<peer_status> peers;
  std::vector<dedicated_service_status> dedicated_services;
  friend bool operator==(const status_snapshot&, const status_snapshot&)
    = default;
};

/// `ServiceOverlayInfo`.
struct service_overlay_info {
  std::string name;
  overlay_mode mode = overlay_mode::automatic;
  std::optional<std::string> wg_public_key;
  std::optional<std::uint16_t> wg_port;
  std::optional<ip_address> overlay_ip;
  std::optional<std::string> subnet;
  friend bool operator==(const service_overlay_info&,
                         const service_overlay_info&)
    = default;
};

/// `AttachResult`.
struct attach_result {
  ip_address ip;
  std::optional<std::string> namespace_guid;
  friend bool operator==(const attach_result&, const attach_result&) = default;
};

/// `GuestOverlayConfig`.
struct guest_overlay_config {
  ip_address overlay_ip;
  std::uint8_t prefix_len = 0;
  std::string private_key;
  std::string public_key;
  std::uint16_t listen_port = 0;
  std::vector<peer_spec> peers;
  std::optional<ip_address> dns_server;
  std::optional<std::string> dns_domain;
  friend bool operator==(const guest_overlay_config&,
                         const guest_overlay_config&)
    = default;
};

// -- responses (§5), tag "result" ---------------------------------------------

namespace resp {

struct ok {
  friend bool operator==(const ok&, const ok&) = default;
};

/// `Ip { ip }` (wire result "ip").
struct allocated_ip {
  ip_address ip;
  friend bool operator==(const allocated_ip&, const allocated_ip&) = default;
};

struct attached : attach_result {};
struct guest_config : guest_overlay_config {};

struct bridge_name {
  std::string name;
  friend bool operator==(const bridge_name&, const bridge_name&) = default;
};

struct status : status_snapshot {};
struct service_overlay : service_overlay_info {};

struct pruned_bridges {
  std::vector<std::string> reclaimed;
  friend bool operator==(const pruned_bridges&, const pruned_bridges&)
    = default;
};

struct nat_status : nat_status_wire {};

struct err {
  std::string message;
  friend bool operator==(const err&, const err&) = default;
};

} // namespace resp

/// An `err` response for an engine failure of the reference's `Overlay`
/// kind: the message gets the `overlay engine error: ` prefix (§1.8).
inline resp::err overlay_error(std::string_view message) {
  return resp::err{"overlay engine error: " + std::string{message}};
}

/// An `err` response of the reference's `Other` kind: no prefix (§1.8).
inline resp::err other_error(std::string_view message) {
  return resp::err{std::string{message}};
}

/// `OverlaydResponse`: all 10 reference variants, in spec §5 order.
/// Newtype variants derive from their payload struct, so
/// `resp::status{snapshot}` and `static_cast<status_snapshot&>(r)` work.
using response
  = std::variant<resp::ok, resp::allocated_ip, resp::attached,
                 resp::guest_config, resp::bridge_name, resp::status,
                 resp::service_overlay, resp::pruned_bridges, resp::nat_status,
                 resp::err>;

/// The wire `result` of a response ("ok", "ip", ...).
std::string_view result_name(const response& r) noexcept;

// -- events (§6), tag "event"; never emitted by the reference -----------------

namespace evt {

struct peer_health_changed {
  std::string pubkey;
  bool healthy = false;
  friend bool operator==(const peer_health_changed&, const peer_health_changed&)
    = default;
};

struct nat_endpoint_changed {
  std::string pubkey;
  std::string endpoint;
  friend bool operator==(const nat_endpoint_changed&,
                         const nat_endpoint_changed&)
    = default;
};

} // namespace evt

/// `OverlaydEvent`.
using event = std::variant<evt::peer_health_changed, evt::nat_endpoint_changed>;

// -- envelope (§3.1), tag "frame" ---------------------------------------------

/// `{"frame":"request","id":N,"request":{...}}`
struct request_frame {
  std::uint64_t id = 0;
  ipc::request request;
  friend bool operator==(const request_frame&, const request_frame&) = default;
};

/// `{"frame":"response","id":N,"response":{...}}`
struct response_frame {
  std::uint64_t id = 0;
  ipc::response response;
  friend bool operator==(const response_frame&, const response_frame&)
    = default;
};

/// `{"frame":"event","event":"...",...}` (no id).
struct event_frame {
  ipc::event event;
  friend bool operator==(const event_frame&, const event_frame&) = default;
};

/// `OverlaydFrame`.
using frame = std::variant<request_frame, response_frame, event_frame>;

} // namespace overlayd::ipc
