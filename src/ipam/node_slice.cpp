#include "ipam/node_slice.hpp"

#include <algorithm>

namespace overlayd::ipam {

node_slice_allocator::node_slice_allocator()
  : node_slice_allocator(default_slice()) {}

node_slice_allocator::node_slice_allocator(net::cidr slice)
  : slice_(slice), base_(slice.network()) {}

net::cidr node_slice_allocator::default_slice() {
  return *net::cidr::make(net::ip_address::v4(10, 200, 0, 0), 16);
}

net::ip_address
node_slice_allocator::at_offset(std::uint64_t offset) const noexcept {
  // Wrapping arithmetic in the address width, like the reference (an IPv4
  // offset is first truncated to 32 bits).
  if (base_.is_v4()) {
    auto addr = base_.to_v4_uint() + static_cast<std::uint32_t>(offset);
    return net::ip_address::v4(addr);
  }
  return net::ip_address::v6(base_.to_uint() + net::uint128{offset});
}

net::ip_address node_slice_allocator::node_ip() const noexcept {
  return at_offset(node_reserved_offset);
}

result<net::ip_address> node_slice_allocator::allocate() {
  if (!released_.empty()) {
    auto ip = released_.back();
    released_.pop_back();
    return ip;
  }
  const auto addr = at_offset(next_offset_++);
  const bool is_v4_broadcast = slice_.is_v4() && addr == slice_.broadcast();
  if (!slice_.contains(addr) || is_v4_broadcast) {
    return make_error(errc::exhausted,
                      "IP allocator exhausted: next address " + addr.to_string()
                        + " is outside slice " + slice_.to_string(),
                      wire_kind::overlay);
  }
  return addr;
}

bool node_slice_allocator::release(const net::ip_address& ip) {
  if (ip == node_ip() || !slice_.contains(ip)
      || (ip.is_v4() && ip == slice_.broadcast())) {
    return false;
  }
  const net::uint128 offset = ip.to_uint() - base_.to_uint();
  if (offset <= node_reserved_offset || offset >= next_offset_) {
    return false; // the network address, or never handed out
  }
  if (std::find(released_.begin(), released_.end(), ip) != released_.end()) {
    return false;
  }
  released_.push_back(ip);
  return true;
}

} // namespace overlayd::ipam
