#pragma once

// overlayd::wg::device - a userspace WireGuard interface: a TUN, UDP sockets
// for IPv4 and IPv6, I/O threads that drive the sans-I/O wg::engine, a timer
// thread, and optionally the UAPI socket so wg(8) can manage it.

#include "wg/engine.hpp"
#include "wg/io/datagram_path.hpp"
#include "wg/io/result.hpp"
#include "wg/io/uapi_server.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace overlayd::wg {

class tun_device;
class udp_socket;

/// How to create a device.
struct device_config {
  /// Interface name, at most 15 bytes.
  std::string ifname;
  /// Directory of the UAPI socket `<dir>/<ifname>.sock`; empty = no UAPI.
  std::string uapi_dir = "/var/run/wireguard";
  int mtu = 1420;
  /// Use the TUN virtio-net header (TSO in, GRO out) and UDP GSO/GRO.
  bool offloads = true;
  /// Split each packet vector across two threads for crypto, keeping the
  /// order of what is sent and written.
  bool parallel_crypto = true;
  std::optional<key> private_key;
  /// 0 picks an ephemeral port; listen_port() reports the real one.
  std::uint16_t listen_port = 0;
  std::uint32_t fwmark = 0;
  /// Called once, from an internal thread, when the interface disappears
  /// (deleted by `ip link del`). The device must still be stopped, but not
  /// from inside this callback (stop() joins the thread that calls it).
  std::function<void()> on_interface_gone;
};

/// Data-path statistics of the device layer.
struct device_counters {
  std::uint64_t tun_reads = 0;
  std::uint64_t tun_writes = 0;
  std::uint64_t udp_batches_received = 0;
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagrams_sent = 0;
};

class device final : public uapi_handler {
public:
  /// Creates the TUN (MTU set, link left down as wireguard-go does), binds
  /// the UDP sockets and, if configured, listens on the UAPI socket. Starts
  /// no thread, so a daemon may fork before start().
  static result<std::unique_ptr<device>> create(device_config config);

  ~device() override;
  device(const device&) = delete;
  device& operator=(const device&) = delete;

  /// Starts the I/O, timer and UAPI threads. A device runs once: after
  /// stop() it cannot be started again.
  void start();
  /// Stops every thread, closes the sockets, removes the UAPI socket and
  /// frees the TUN (the interface disappears). Idempotent.
  void stop();

  // -- thread-safe control API ----------------------------------------------

  void set_private_key(const std::optional<key>& private_key);
  std::optional<key> private_key() const;
  std::optional<key> public_key() const;
  /// Rebinds both sockets; on failure the old port stays in use.
  result<void> set_listen_port(std::uint16_t port);
  std::uint16_t listen_port() const;
  result<void> set_fwmark(std::uint32_t mark);
  /// Adds the peer or updates it in place.
  result<void> add_or_update_peer(const peer_config& config);
  /// Removing an unknown peer is not an error.
  result<void> remove_peer(const key& public_key);
  result<void> add_allowed_ip(const key& public_key, const allowed_ip& prefix);
  result<void> remove_allowed_ip(const key& public_key,
                                 const allowed_ip& prefix);
  result<void> set_endpoint(const key& public_key, const endpoint& where);
  std::vector<peer_status> status() const;
  std::optional<peer_status> status_of(const key& public_key) const;
  /// True when the peer completed a handshake at or after `since`.
  bool check_peer_handshake(const key& public_key,
                            std::chrono::system_clock::time_point since) const;

  const std::string& name() const noexcept { return name_; }
  int ifindex() const noexcept;
  bool interface_gone() const noexcept { return gone_.load(); }
  engine_counters engine_stats() const { return engine_->counters(); }
  device_counters counters() const;
  wg::engine& engine() noexcept { return *engine_; }

  // -- other datagram paths (see datagram_path.hpp) ---------------------------

  /// Installs (or with nullptr removes) the path that may claim outbound
  /// datagrams for some endpoints. Without one the data path is unchanged.
  /// Data-path threads pick the new path up with their next batch; a
  /// batch in flight may still use the previous one, which the device
  /// keeps alive through its shared_ptr until then.
  void set_datagram_path(std::shared_ptr<datagram_path> path);
  /// Feeds a datagram received by some other path into the device exactly
  /// as if a UDP socket had received it from `from`: handshakes are
  /// answered, transport data is decrypted and written to the TUN, and the
  /// sender's endpoint roams to `from`. Thread-safe; the bytes are copied.
  /// Ignored when the device is not running.
  void inject_datagram(const endpoint& from,
                       std::span<const std::uint8_t> datagram);
  /// The same for a batch, in order: decryption of the batch is split
  /// across two threads as on a UDP receive, and TUN writes are coalesced
  /// (GRO) and flushed once.
  void inject_datagrams(std::span<const injected_datagram> batch);

  // -- uapi_handler ---------------------------------------------------------

  std::string uapi_get() override;
  result<void> uapi_set(const uapi::set_request& req) override;

  /// Paths and sockets; public for the data-path helpers in device.cpp.
  struct sockets;
  struct io_state;
  struct injector;

private:
  explicit device(device_config config);

  void tun_loop();
  void udp_loop(std::shared_ptr<sockets> socks, int index);
  void timer_loop();
  void start_udp_readers();
  void stop_udp_readers();
  void mark_gone();
  void kick_timer();
  result<std::shared_ptr<sockets>> bind_sockets(std::uint16_t port,
                                                std::uint32_t mark) const;
  result<void> apply_locked(const uapi::set_request& req);

  device_config config_;
  std::string name_;
  wg::real_clock clock_;
  std::unique_ptr<wg::engine> engine_;
  std::unique_ptr<tun_device> tun_;
  std::unique_ptr<io_state> io_;
  uapi_server uapi_;

  // Serialises control operations so each is atomic.
  mutable std::mutex control_mu_;
  // Guards socks_; data-path senders take it shared for one flush.
  mutable std::shared_mutex socks_mu_;
  std::shared_ptr<sockets> socks_;
  // Also guarded by socks_mu_, fetched with the sockets once per batch.
  std::shared_ptr<datagram_path> path_;
  // The receive state for inject_datagram(), made on first use.
  std::mutex inject_mu_;
  std::unique_ptr<injector> injector_;

  std::atomic<bool> running_{false};
  std::atomic<bool> gone_{false};
  int stop_fd_ = -1;
  int netlink_fd_ = -1;
  std::thread tun_thread_;
  std::vector<std::thread> udp_threads_;
  std::thread timer_thread_;
  std::mutex timer_mu_;
  std::condition_variable timer_cv_;
  bool timer_kick_ = false;
  // Set by a listen-port change: the timer thread announces the new port.
  bool announce_port_ = false;
};

} // namespace overlayd::wg
