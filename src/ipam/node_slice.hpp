#pragma once

// The node-slice allocator (dataplane.md §6.2, ipc.md §10.3): addresses on
// the global overlay for this node (its own IP, `join_global` eth1
// addresses, guests, `allocate_ip` without a bridge). It is owned by the
// ipam actor, so it needs no locking.

#include "ipam/error.hpp"
#include "net/ip.hpp"

#include <cstdint>
#include <vector>

namespace overlayd::ipam {

// Offset of the node's own IP from the slice's network address.
inline constexpr std::uint64_t node_reserved_offset = 1;

class node_slice_allocator {
public:
  // The reference's allocator before `setup_global_overlay` brings a slice.
  node_slice_allocator();
  explicit node_slice_allocator(net::cidr slice);

  // 10.200.0.0/16.
  static net::cidr default_slice();

  // As given, host bits included: error messages print it that way.
  const net::cidr& slice() const noexcept { return slice_; }

  // network + 1. Deterministic, never handed out, never accepted back.
  net::ip_address node_ip() const noexcept;

  // The most recently released address first (LIFO), else the next one
  // from offset 2 upwards. Error (`Overlay` on the wire): "IP allocator
  // exhausted: next address A is outside slice C" when the next address
  // leaves the slice or is the IPv4 broadcast. As in the reference, the
  // counter keeps moving after exhaustion, so the address in successive
  // errors grows.
  result<net::ip_address> allocate();

  // Returns `ip` to the pool; true if it was taken back. Ignored: the node
  // IP, an address already released, and (unlike the reference, which
  // would later hand such an address out and can hand one out twice) any
  // address this allocator never handed out: another family, outside the
  // slice, the IPv4 broadcast, or beyond the counter.
  bool release(const net::ip_address& ip);

  // Released addresses waiting for reuse, oldest first.
  const std::vector<net::ip_address>& released() const noexcept {
    return released_;
  }

private:
  net::ip_address at_offset(std::uint64_t offset) const noexcept;

  net::cidr slice_;
  net::ip_address base_;
  std::uint64_t next_offset_ = node_reserved_offset + 1;
  std::vector<net::ip_address> released_;
};

} // namespace overlayd::ipam
