#pragma once

// The NAT engine's view of the WireGuard device (stun::wg_control) over
// the orchestration core's devices: whichever global device exists now,
// found by name, so that traversal keeps working across a global teardown
// and setup. It also keeps the relay path (stun::relay_path) on that
// device: datagrams to a peer's registered relay address leave as relay
// DATA through our own allocation, and DATA from the relay is injected into
// the device. Plain C++; the nat_ticker calls it from its own thread.

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "overlay/wg_control.hpp"
#include "stun/candidate.hpp"
#include "stun/nat_runtime.hpp"
#include "stun/relay_path.hpp"
#include "stun/traversal.hpp"

namespace overlayd::actors {

/// The global device's interface name as the supervisor last saw it
/// (set on `setup_global_overlay`, cleared on teardown). Thread-safe.
class global_device_name {
public:
  void set(std::optional<std::string> name) {
    std::lock_guard guard{mu_};
    name_ = std::move(name);
  }
  std::optional<std::string> get() const {
    std::lock_guard guard{mu_};
    return name_;
  }

private:
  mutable std::mutex mu_;
  std::optional<std::string> name_;
};

class nat_global_device final : public stun::wg_control {
public:
  /// `runtime` null: no relay path (traversal only).
  nat_global_device(overlay::wg_control& wg,
                    std::shared_ptr<const global_device_name> name,
                    stun::nat_runtime* runtime);
  /// Closes the relay path: neither the runtime nor the device is used
  /// afterwards.
  ~nat_global_device() override;

  stun::status set_endpoint(const std::string& pubkey,
                            const stun::udp_endpoint& ep) override;
  stun::result<std::optional<stun::udp_endpoint>>
  endpoint(const std::string& pubkey) override;
  stun::result<std::uint64_t>
  last_handshake(const std::string& pubkey) override;

  /// A peer's parsed candidates after a change (empty: forgotten): its
  /// relay candidates become addresses the relay path carries.
  void set_peer_candidates(const std::string& pubkey,
                           const std::vector<stun::candidate>& candidates);

  /// Puts the relay path on the current global device if it is not there
  /// yet (the device appeared, or was replaced).
  void sync_relay_path();

  /// Datagrams and permissions of the relay path so far (zeros without one).
  stun::relay_path_counters relay_counters() const;

  class attachment;

private:
  std::optional<ipc::peer_status> find_peer(const std::string& pubkey,
                                            std::string& error) const;

  overlay::wg_control& wg_;
  std::shared_ptr<const global_device_name> name_;
  stun::nat_runtime* runtime_;

  mutable std::mutex mu_;
  std::string attached_to_;
  std::shared_ptr<attachment> path_;
  std::map<std::string, std::vector<stun::udp_endpoint>> peer_relays_;
};

} // namespace overlayd::actors
