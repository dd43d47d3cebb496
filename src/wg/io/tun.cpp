#include "wg/io/tun.hpp"

#include "wg/io/tun_offload.hpp"
#include <cstring>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace overlayd::wg {

namespace {

// Not in Debian 12's kernel headers yet (added in Linux 6.2).
constexpr unsigned tun_f_uso4 = 0x20;
constexpr unsigned tun_f_uso6 = 0x40;

// A throwaway datagram socket for interface ioctls.
class ioctl_socket {
public:
  ioctl_socket() : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    // nop
  }
  ~ioctl_socket() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int fd() const { return fd_; }

private:
  int fd_;
};

} // namespace

io_error last_os_error(const std::string& what) {
  int code = errno;
  return io_error{code, what + ": " + std::strerror(code)};
}

tun_device::tun_device(tun_device&& other) noexcept
  : fd_(std::exchange(other.fd_, -1)), ifindex_(other.ifindex_),
    name_(std::move(other.name_)), features_(other.features_) {
  // nop
}

tun_device& tun_device::operator=(tun_device&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    ifindex_ = other.ifindex_;
    name_ = std::move(other.name_);
    features_ = other.features_;
  }
  return *this;
}

tun_device::~tun_device() {
  close();
}

void tun_device::close() {
  if (fd_ >= 0)
    ::close(std::exchange(fd_, -1));
}

result<tun_device> tun_device::create(std::string_view name,
                                      bool want_offloads) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return io_error{EINVAL, "invalid interface name '" + std::string{name}
                              + "': must be 1 to 15 bytes"};
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return last_os_error("open /dev/net/tun");
  tun_device dev;
  dev.fd_ = fd;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (want_offloads)
    ifr.ifr_flags |= IFF_VNET_HDR;
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0)
    return last_os_error("create TUN '" + std::string{name} + "'");
  dev.name_ = ifr.ifr_name;
  dev.ifindex_ = static_cast<int>(::if_nametoindex(ifr.ifr_name));
  if (want_offloads) {
    int hdr_len = static_cast<int>(vnet_hdr_len);
    bool ok = ::ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) == 0;
    // USO is optional; try it first and retry without it on older kernels.
    unsigned base = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    if (ok && ::ioctl(fd, TUNSETOFFLOAD, base | tun_f_uso4 | tun_f_uso6) == 0) {
      dev.features_ = {true, true, true};
    } else if (ok && ::ioctl(fd, TUNSETOFFLOAD, base) == 0) {
      dev.features_ = {true, true, false};
    } else {
      // The flag IFF_VNET_HDR cannot be dropped on an existing queue, so
      // start over without offloads.
      dev.close();
      return create(name, false);
    }
  }
  return dev;
}

result<void> tun_device::set_mtu(int mtu) {
  ioctl_socket sock;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  ifr.ifr_mtu = mtu;
  if (::ioctl(sock.fd(), SIOCSIFMTU, &ifr) < 0)
    return last_os_error("set MTU " + std::to_string(mtu) + " on " + name_);
  return {};
}

result<int> tun_device::mtu() const {
  ioctl_socket sock;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name_.c_str(), IFNAMSIZ - 1);
  if (::ioctl(sock.fd(), SIOCGIFMTU, &ifr) < 0)
    return last_os_error("get MTU of " + name_);
  return ifr.ifr_mtu;
}

} // namespace overlayd::wg
