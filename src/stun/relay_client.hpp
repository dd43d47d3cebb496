#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "stun/nat_config.hpp"
#include "stun/net_address.hpp"
#include "stun/relay_protocol.hpp"
#include "stun/result.hpp"
#include "stun/udp_socket.hpp"

namespace overlayd::stun {

// One DATA payload of a received batch (see relay_client_options).
struct relay_datagram {
  udp_endpoint peer;
  std::span<const std::uint8_t> raw;
};

struct relay_client_options {
  turn_server_config server; // literal address, username, credential
  std::chrono::milliseconds request_timeout{5000};
  // DATA from a peer (its address as the relay saw it, raw datagram). Runs
  // on the client's receive thread; keep it short.
  std::function<void(const udp_endpoint&, std::span<const std::uint8_t>)>
    on_data;
  // When set, DATA goes here instead, up to a socket read's worth at a
  // time (recvmmsg), so the receiver can process it as a batch. Same
  // thread and rules as on_data; the spans live until it returns.
  std::function<void(std::span<const relay_datagram>)> on_data_batch;
  std::function<void(const std::string&)> log;
  // SO_RCVBUF/SO_SNDBUF of the socket (0 = kernel default): the socket
  // carries a relayed WireGuard path's whole traffic, so it needs the
  // depth of the device's own sockets.
  int socket_buffer_bytes = 4 << 20;
};

// A relay client that works end to end (unlike the reference's): one UDP
// socket for all control and DATA (the relay identifies us by it), one
// receive thread that demultiplexes control replies from DATA, automatic
// refresh at half the lifetime, Deallocate on teardown. Thread-safe;
// control calls block up to `request_timeout` and are serialised.
class relay_client {
public:
  // Fails with "TURN relay error: Invalid relay server address: ..." for
  // anything but a literal socket address.
  static result<std::unique_ptr<relay_client>>
  create(relay_client_options options);
  ~relay_client(); // deallocates (best effort) and joins the thread
  relay_client(const relay_client&) = delete;
  relay_client& operator=(const relay_client&) = delete;

  // AllocateReq -> relay address. Errors: "Allocation rejected: <reason>",
  // "AllocateReq timed out", "Username too long", socket errors.
  result<udp_endpoint> allocate();
  // Lets `peer`'s IP (any port) send to our relay address.
  status create_permission(const udp_endpoint& peer);
  // create_permission unless this allocation already permits the IP
  // (relay permissions are per IP and never expire).
  status ensure_permission(const udp_endpoint& peer);
  // RefreshReq with the current lifetime; updates the expiry.
  status refresh();
  // Deallocate (no reply exists); the socket is kept for a new allocate().
  void deallocate();
  // DATA: the relay sends `raw` from our relay address to `peer`.
  status send_data(const udp_endpoint& peer,
                   std::span<const std::uint8_t> raw) const;
  // The same without building a message or an error text: header and
  // payload leave in one sendmsg. For the per-datagram relay path.
  bool send_data_fast(const udp_endpoint& peer,
                      std::span<const std::uint8_t> raw) const noexcept;
  // Many DATA messages to one peer with sendmmsg; returns how many left.
  std::size_t send_data_batch(
    const udp_endpoint& peer,
    std::span<const std::span<const std::uint8_t>> raws) const noexcept;
  // Whether this allocation has a permission for `peer`'s IP (created by
  // ensure_permission).
  bool permits(const udp_endpoint& peer) const;

  // Allocated and not past the client-side expiry.
  bool is_active() const;
  std::optional<udp_endpoint> relay_address() const;
  std::optional<udp_endpoint> local_address() const;
  const udp_endpoint& server() const noexcept { return server_; }
  std::uint64_t auto_refreshes() const noexcept { return auto_refreshes_; }

private:
  using clock = std::chrono::steady_clock;
  struct allocation_state {
    udp_endpoint relay_addr;
    relay::allocation_id id;
    std::uint32_t lifetime_secs;
    clock::time_point expires_at;
  };

  relay_client(relay_client_options options, udp_endpoint server);
  status open_socket();
  // Sends a control message and waits for one of `accept` (payload copied
  // into `reply_payload`, its type into `reply_type`).
  status request(relay::msg_type type, std::span<const std::uint8_t> payload,
                 std::initializer_list<relay::msg_type> accept,
                 const char* what, relay::msg_type& reply_type,
                 std::vector<std::uint8_t>& reply_payload);
  void receive_loop();
  // Control messages are handled at once; DATA is appended to `batch`.
  void on_datagram(std::span<const std::uint8_t> d,
                   std::vector<relay_datagram>& batch);
  void apply_refresh(std::span<const std::uint8_t> payload);
  void log(const std::string& m) const;

  relay_client_options options_;
  udp_endpoint server_;
  relay::auth_key key_;
  udp_socket sock_;
  // UDP GSO for runs of equal-size DATA (cleared when the kernel refuses).
  mutable std::atomic<bool> gso_{true};
  std::size_t send_data_batch_plain(
    const udp_endpoint& peer,
    std::span<const std::span<const std::uint8_t>> raws) const noexcept;
  bool send_gso_run(
    const udp_endpoint& peer,
    std::span<const std::span<const std::uint8_t>> raws) const noexcept;
  sockaddr_storage server_sa_{};
  socklen_t server_sa_len_ = 0;
  int stop_fd_ = -1;
  std::thread thread_;

  std::mutex request_mu_; // one control exchange at a time
  mutable std::mutex mu_; // everything below
  std::condition_variable cv_;
  std::optional<allocation_state> alloc_;
  std::vector<ip_address> permitted_; // IPs of the current allocation
  std::vector<relay::msg_type> awaited_;
  std::optional<std::pair<relay::msg_type, std::vector<std::uint8_t>>> reply_;
  clock::time_point next_refresh_;
  std::atomic<std::uint64_t> auto_refreshes_{0};
};

} // namespace overlayd::stun
