#pragma once

// Embedding API: runs the overlayd engine inside another program. Start it
// from a config, optionally serve the IPC socket, and make the same
// requests as typed calls. This header is CAF-free (pimpl): an embedder
// needs only the IPC value types.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ipc/messages.hpp"
#include "net/expected.hpp"
#include "net/ip.hpp"

namespace overlayd::drivers {
class twin_host;
} // namespace overlayd::drivers

namespace overlayd::actors {

/// Which host the engine plumbs.
enum class host_backend {
  /// This machine, in the daemon's network namespace: rtnetlink, /proc/sys,
  /// iptables, network-manager drop-ins, and userspace WireGuard devices on
  /// real TUNs.
  real,
  /// The in-memory host twin and in-memory WireGuard devices: every request
  /// runs its full logic and nothing on the machine changes (unit tests,
  /// replay, dry runs).
  twin,
};

struct engine_config {
  /// Root data directory (the network-state marker `agent_network.json`).
  std::filesystem::path data_dir;
  /// Scheduler threads; 0 picks the number of CPUs, at least 2.
  std::size_t workers = 0;
  host_backend backend = host_backend::real;
  /// Threads for blocking host calls (detached driver workers).
  std::size_t driver_workers = 3;
  /// Where the real WireGuard devices serve their UAPI sockets (`wg show`
  /// looks in /var/run/wireguard); empty: no UAPI sockets.
  std::filesystem::path uapi_dir = "/var/run/wireguard";
  /// Standalone NAT: tick every `stun_refresh_interval_secs` once the
  /// global overlay exists, as ZLayer's daemon does by sending `nat_tick`.
  /// (A `real` engine runs NAT traversal either way; a `twin` engine has
  /// none and answers `nat_tick`/`nat_status` as the reference without it.)
  bool nat_self_tick = false;
  /// Optional taps on the IPC byte stream, e.g. the replay recorder
  /// (`overlayd --record`): every received frame body, every write to a
  /// connection (whole length-prefixed frames), every connection gone.
  /// Called on the socket and actor threads; they must not block.
  std::function<void(uint64_t conn, std::string_view body)> on_request_frame
    = {};
  std::function<void(uint64_t conn, std::string_view bytes)> on_response_bytes
    = {};
  std::function<void(uint64_t conn)> on_connection_gone = {};
};

/// A typed call's outcome: the value, or the `err` message the IPC would
/// carry.
template <class T>
using call_result = net::expected<T, std::string>;

/// What `attach_container` answers: `attached`, or `guest_config` for a
/// guest-managed handle.
using attach_outcome
  = std::variant<ipc::attach_result, ipc::guest_overlay_config>;

class engine {
public:
  /// Starts the actor system and the engine's actors. Fails only when the
  /// configuration is unusable (e.g. an empty data directory).
  static net::expected<std::unique_ptr<engine>> start(engine_config config);

  /// Stops listening, then stops every actor.
  ~engine();

  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  /// Serves the IPC on a Unix socket (ipc.md §1.4: stale socket replaced,
  /// mode 0660, group `zlayer`). At most once per engine.
  net::expected<void> listen(const std::filesystem::path& socket);

  /// Runs any request; the response exactly as the IPC would carry it.
  /// Thread-safe; calls from different threads run concurrently under the
  /// supervisor's ordering rules.
  ipc::response call(ipc::request request);

  // -- typed calls, one per request ------------------------------------------

  call_result<void> set_local_node_id(uint64_t node_id);
  call_result<void> set_local_wg_pubkey(std::string pubkey);
  /// Answers the global interface name.
  call_result<std::string>
  setup_global_overlay(ipc::req::setup_global_overlay request);
  call_result<void> teardown_global_overlay();
  call_result<ipc::service_overlay_info>
  setup_service_overlay(std::string service, ipc::overlay_mode mode);
  call_result<void> teardown_service_overlay(std::string service);
  call_result<net::ip_address> allocate_ip(std::string service,
                                           bool join_global = false);
  call_result<void> release_ip(net::ip_address ip);
  call_result<attach_outcome>
  attach_container(ipc::req::attach_container request);
  call_result<void> detach_container(ipc::attach_handle handle);
  call_result<void> add_peer(ipc::peer_spec peer,
                             ipc::peer_scope scope = ipc::peer_scope::global());
  call_result<void> remove_peer(std::string pubkey,
                                ipc::peer_scope scope
                                = ipc::peer_scope::global());
  call_result<void> add_allowed_ip(std::string pubkey, std::string cidr,
                                   ipc::peer_scope scope
                                   = ipc::peer_scope::global());
  call_result<void> remove_allowed_ip(std::string pubkey, std::string cidr,
                                      ipc::peer_scope scope
                                      = ipc::peer_scope::global());
  call_result<void> register_dns(std::string name, net::ip_address ip);
  call_result<void> unregister_dns(std::string name);
  call_result<void> write_scoped_resolver(std::string zone,
                                          net::ip_address node_ip,
                                          uint16_t port);
  call_result<void> remove_scoped_resolver(std::string zone);
  /// Answers the names of the bridges it deleted.
  call_result<std::vector<std::string>>
  prune_orphan_bridges(std::vector<std::string> live_bridge_names);
  call_result<ipc::status_snapshot> status();
  call_result<void> nat_tick();
  call_result<ipc::nat_status_wire> nat_status();
  /// Runs the in-band shutdown; `wait` returns afterwards.
  call_result<void> shutdown();

  // -- lifetime --------------------------------------------------------------

  /// Blocks until a stop is requested: an in-band `shutdown` (after its
  /// reply has been written), or `request_stop`.
  void wait();
  /// Like `wait`, up to `timeout`; true if a stop was requested.
  bool wait_for(std::chrono::milliseconds timeout);
  /// Asks `wait` to return (e.g. from a signal-handling thread).
  void request_stop();
  bool stop_requested() const;

  /// The in-memory host of a `twin` engine (to inject faults or inspect
  /// what the engine did); null for a `real` one.
  drivers::twin_host* twin();

  struct impl;

  explicit engine(std::unique_ptr<impl> ptr);

private:
  std::unique_ptr<impl> impl_;
};

} // namespace overlayd::actors
