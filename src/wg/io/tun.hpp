#pragma once

#include "wg/io/result.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace overlayd::wg {

/// An owned Linux TUN interface (`IFF_TUN | IFF_NO_PI`). Closing the file
/// descriptor deletes the interface because it is never made persistent.
class tun_device {
public:
  /// Offload features negotiated with the kernel.
  struct offloads {
    /// Every read/write carries a 10-byte virtio_net_hdr prefix.
    bool vnet_hdr = false;
    /// The kernel may hand us TCP super-packets (TSO) and accepts them.
    bool tso = false;
    /// The kernel may hand us UDP super-packets (USO, kernel >= 6.2).
    bool uso = false;
  };

  tun_device() = default;
  tun_device(tun_device&& other) noexcept;
  tun_device& operator=(tun_device&& other) noexcept;
  tun_device(const tun_device&) = delete;
  tun_device& operator=(const tun_device&) = delete;
  ~tun_device();

  /// Creates the TUN interface `name` (at most 15 bytes). With
  /// `want_offloads`, asks for the virtio-net header plus checksum and TSO
  /// offloads, and falls back to plain packets if the kernel refuses.
  static result<tun_device> create(std::string_view name, bool want_offloads);

  /// Sets the interface MTU.
  result<void> set_mtu(int mtu);

  /// Reads the interface MTU.
  result<int> mtu() const;

  int fd() const noexcept { return fd_; }
  int ifindex() const noexcept { return ifindex_; }
  const std::string& name() const noexcept { return name_; }
  const offloads& features() const noexcept { return features_; }

  /// Closes the descriptor, which deletes the interface.
  void close();

private:
  int fd_ = -1;
  int ifindex_ = 0;
  std::string name_;
  offloads features_;
};

} // namespace overlayd::wg
