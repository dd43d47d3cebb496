#pragma once

// A wg_control for unit tests: devices and peers live in memory, every call
// is recorded, and (given a twin) each created device appears as a "tun"
// link in the twin's initial namespace, the way the real transport's TUN
// appears to the host steps.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "drivers/host/twin.hpp"
#include "overlay/wg_control.hpp"

namespace overlayd::overlay {

class fake_wg_control final : public wg_control {
public:
  struct device_state {
    wg_device_spec spec;
    std::string public_key;
    std::map<std::string, wg_peer> peers; ///< by base64 key
  };

  explicit fake_wg_control(drivers::twin_host* twin = nullptr) : twin_(twin) {
    // nop
  }

  wg_status create_device(const wg_device_spec& spec) override;
  void destroy_device(const std::string& ifname) override;
  bool has_device(const std::string& ifname) const override;
  std::string public_key(const std::string& ifname) const override;
  wg_status add_peer(const std::string& ifname, const wg_peer& peer) override;
  wg_status remove_peer(const std::string& ifname,
                        const std::string& public_key) override;
  wg_status add_allowed_ip(const std::string& ifname,
                           const std::string& public_key,
                           const std::string& cidr) override;
  wg_status remove_allowed_ip(const std::string& ifname,
                              const std::string& public_key,
                              const std::string& cidr) override;
  wg_status set_endpoint(const std::string& ifname,
                         const std::string& public_key,
                         const std::string& endpoint) override;
  net::expected<std::vector<ipc::peer_status>>
  peers(const std::string& ifname) const override;

  /// Every call so far, e.g. "create zl-dep-i0-g 51820".
  std::vector<std::string> calls() const;
  /// A copy of one device's state; nullopt if it does not exist.
  std::optional<device_state> device(const std::string& ifname) const;
  /// Names of the live devices.
  std::vector<std::string> device_names() const;
  /// The next create_device fails with this message (once).
  void fail_next_create(std::string message);

private:
  void record(std::string call);

  drivers::twin_host* twin_;
  mutable std::mutex mu_;
  std::map<std::string, device_state> devices_;
  std::vector<std::string> calls_;
  std::optional<std::string> fail_next_create_;
};

} // namespace overlayd::overlay
