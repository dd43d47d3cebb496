#include "ipam/bridge_pool.hpp"

#include <limits>

namespace overlayd::ipam {
namespace {

net::ip_address plus(const net::ip_address& ip, net::uint128 n) {
  return net::ip_address::from_uint(ip.fam(), ip.to_uint() + n);
}

net::ip_address minus_one(const net::ip_address& ip) {
  return net::ip_address::from_uint(ip.fam(), ip.to_uint() - 1);
}

net::unexpected<error> not_in_range(const net::ip_address& ip,
                                    const net::cidr& subnet) {
  return make_error(errc::not_in_range, "IP address " + ip.to_string()
                                          + " is not within CIDR range "
                                          + subnet.to_string());
}

net::unexpected<error> already_allocated(const net::ip_address& ip) {
  return make_error(errc::already_allocated,
                    "IP address " + ip.to_string() + " is already allocated");
}

} // namespace

net::ip_address first_usable_ip(const net::cidr& subnet) noexcept {
  return plus(subnet.network(), 1);
}

bridge_pool::bridge_pool(net::cidr subnet, std::string label)
  : subnet_(subnet), label_(std::move(label)) {}

result<bridge_pool> bridge_pool::parse(std::string_view cidr_text,
                                       std::string label) {
  auto subnet = net::cidr::parse(cidr_text);
  if (!subnet) {
    return make_error(errc::invalid_cidr,
                      "Invalid CIDR notation: " + std::string(cidr_text) + ": "
                        + subnet.error());
  }
  return bridge_pool(*subnet, std::move(label));
}

std::optional<std::pair<net::ip_address, net::ip_address>>
bridge_pool::host_range() const noexcept {
  const auto first = subnet_.network();
  const auto last = subnet_.broadcast();
  const unsigned host_bits = subnet_.address().bits() - subnet_.prefix();
  if (subnet_.is_v4()) {
    // ipnet's `Ipv4Net::hosts()`: /31 and /32 yield every address.
    if (host_bits <= 1) {
      return std::pair{first, last};
    }
    return std::pair{plus(first, 1), minus_one(last)};
  }
  if (host_bits == 0) {
    return std::nullopt; // a /128 is only its network address
  }
  return std::pair{plus(first, 1), last};
}

result<net::ip_address> bridge_pool::allocate() {
  auto range = host_range();
  if (range) {
    auto candidate = range->first;
    if (scan_from_ && candidate < *scan_from_) {
      candidate = *scan_from_;
    }
    // `allocated_` is ordered: walk it from the candidate and stop at the
    // first gap.
    auto it = allocated_.lower_bound(candidate);
    for (; it != allocated_.end() && *it == candidate; ++it) {
      if (candidate == range->second) {
        range.reset(); // the last host is taken too
        break;
      }
      candidate = plus(candidate, 1);
    }
    if (range) {
      allocated_.insert(candidate);
      scan_from_ = candidate;
      return candidate;
    }
    scan_from_ = candidate;
  }
  return make_error(errc::exhausted,
                    label_ + " subnet " + subnet_.to_string() + " exhausted",
                    wire_kind::overlay);
}

result<void> bridge_pool::allocate_specific(const net::ip_address& ip) {
  if (!subnet_.contains(ip)) {
    return not_in_range(ip, subnet_);
  }
  if (!allocated_.insert(ip).second) {
    return already_allocated(ip);
  }
  return {};
}

result<net::ip_address> bridge_pool::allocate_first() {
  auto range = host_range();
  if (!range) {
    return make_error(errc::exhausted,
                      "No available IP addresses in CIDR range");
  }
  if (!allocated_.insert(range->first).second) {
    return already_allocated(range->first);
  }
  return range->first;
}

result<void> bridge_pool::mark_allocated(const net::ip_address& ip) {
  if (!subnet_.contains(ip)) {
    return not_in_range(ip, subnet_);
  }
  allocated_.insert(ip);
  return {};
}

bool bridge_pool::release(const net::ip_address& ip) {
  if (allocated_.erase(ip) == 0) {
    return false;
  }
  if (scan_from_ && ip < *scan_from_) {
    scan_from_ = ip; // allocate() never starts below the first host
  }
  return true;
}

std::uint32_t bridge_pool::total_hosts() const noexcept {
  const unsigned host_bits = subnet_.address().bits() - subnet_.prefix();
  net::uint128 count = 0;
  if (subnet_.is_v4()) {
    count = host_bits <= 1 ? 0 : (net::uint128{1} << host_bits) - 2;
  } else if (host_bits >= 128) {
    count = ~net::uint128{0};
  } else {
    count = (net::uint128{1} << host_bits) - 1;
  }
  constexpr auto max = std::numeric_limits<std::uint32_t>::max();
  return count > max ? max : static_cast<std::uint32_t>(count);
}

std::uint32_t bridge_pool::available_count() const noexcept {
  const auto total = total_hosts();
  const auto used = allocated_.size();
  return used >= total ? 0 : total - static_cast<std::uint32_t>(used);
}

} // namespace overlayd::ipam
