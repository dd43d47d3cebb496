#pragma once

// Building and parsing rtnetlink messages. Pure functions over byte buffers:
// no socket, no privileges, so they are unit-tested with canned messages.

#include "drivers/link_driver.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct nlmsghdr;

namespace overlayd::drivers::nl {

/// A netlink message under construction, in an aligned buffer big enough for
/// every request this driver sends.
class message {
public:
  /// Starts a message of `type` with `flags` (NLM_F_REQUEST is always added).
  message(std::uint16_t type, std::uint16_t flags);

  nlmsghdr* header() noexcept;
  const nlmsghdr* header() const noexcept;
  std::size_t size() const noexcept;
  const void* data() const noexcept { return buf_.data(); }

private:
  std::vector<std::uint64_t> buf_; // uint64_t for alignment
};

// -- requests -----------------------------------------------------------------

/// RTM_GETLINK for one link by name (not a dump).
message get_link_by_name(std::string_view name);
/// RTM_GETLINK for one link by index (not a dump).
message get_link_by_index(int index);
/// RTM_GETLINK dump of every link.
message dump_links();
/// RTM_GETADDR dump of every address (both families). With `index` > 0 a
/// kernel with strict checking (NETLINK_GET_STRICT_CHK) returns only that
/// link's addresses; others return all, so callers filter again.
message dump_addresses(int index = 0);
/// RTM_GETROUTE dump of every route (both families).
message dump_routes();

/// RTM_NEWLINK CREATE|EXCL: bridge `name`, down, STP off.
message create_bridge(std::string_view name);
/// RTM_NEWLINK on an existing bridge: IFLA_BR_STP_STATE.
message set_bridge_stp(int index, bool on);
/// RTM_NEWLINK CREATE|EXCL: veth pair, the `peer` end created up.
message create_veth_pair(std::string_view host, std::string_view peer);
/// RTM_DELLINK by name.
message delete_link_by_name(std::string_view name);
/// RTM_SETLINK by name: IFF_UP set or cleared.
message set_link_updown(std::string_view name, bool up);
/// RTM_SETLINK by name: IFLA_MTU.
message set_link_mtu(std::string_view name, std::uint32_t mtu);
/// RTM_SETLINK by name: IFLA_MASTER.
message set_link_master(std::string_view name, int master_index);
/// RTM_SETLINK by index: IFLA_NET_NS_FD and IFLA_IFNAME, i.e. move and
/// rename in one request.
message move_link_to_netns(int index, int netns_fd, std::string_view new_name);

/// RTM_NEWADDR CREATE|EXCL: IFA_LOCAL = IFA_ADDRESS = address, and for v4
/// IFA_BROADCAST = address | host mask.
message add_address(int index, const ip_address& address,
                    std::uint8_t prefix_len);
/// RTM_DELADDR of one address.
message delete_address(int index, const ip_address& address,
                       std::uint8_t prefix_len);

/// RTM_NEWROUTE CREATE|EXCL: default via gateway, no device.
message add_default_route_via_gateway(const ip_address& gateway);
/// RTM_NEWROUTE destination/len dev index, scope link, proto static. With
/// `replace`, CREATE|REPLACE instead of CREATE|EXCL.
message add_route_via_dev(const ip_address& destination,
                          std::uint8_t destination_len, int oif,
                          const std::optional<ip_address>& source,
                          bool replace);
/// RTM_DELROUTE destination/len dev index in the main table, any scope.
message delete_route_via_dev(const ip_address& destination,
                             std::uint8_t destination_len, int oif);

/// Broadcast address of `address/prefix_len` (v4 only): the address with all
/// host bits set; the address itself for /32.
ip_address ipv4_broadcast(const ip_address& address, std::uint8_t prefix_len);

// -- replies ------------------------------------------------------------------

/// A parsed NLMSG_ERROR: the (positive) errno, 0 for an ACK, and the
/// extended-ack text if the kernel attached one.
struct ack {
  int err_no = 0;
  std::string ext_ack;
};

/// Parses an NLMSG_ERROR message; nullopt if it is truncated.
std::optional<ack> parse_ack(const nlmsghdr* nlh);

/// What one received datagram means for the request numbered `seq`.
struct reply_batch {
  /// The final ack, error or NLMSG_DONE was in this datagram.
  bool finished = false;
  /// A message of the reply carried NLM_F_DUMP_INTR: the dump is
  /// inconsistent and must be repeated.
  bool interrupted = false;
  /// An error reply too short to read.
  bool malformed = false;
  /// The outcome once finished: errno 0 for success.
  ack outcome;
};

/// Walks the messages of one datagram: skips those that answer another
/// request (other `seq` or port), hands data messages to `each`, and stops at
/// the ack/error (NLMSG_ERROR) or the end of a dump (NLMSG_DONE, whose
/// payload may carry an error and ext-ack TLVs).
reply_batch read_replies(const void* buf, std::size_t len, std::uint32_t seq,
                         std::uint32_t port_id,
                         const std::function<void(const nlmsghdr*)>& each);

/// A link message without the address list, plus the master's index so that
/// the caller can resolve the master's name.
std::optional<link_info> parse_link(const nlmsghdr* nlh);

/// An address message: the link index and the address.
struct indexed_address {
  int index = 0;
  address_info address;
};
std::optional<indexed_address> parse_address(const nlmsghdr* nlh);

/// A route message: the route with the output device as an index (the caller
/// resolves names) and its table.
struct raw_route {
  route_info route;
  int oif = 0;
  std::uint32_t table = 0;
  std::uint8_t type = 0;
};
std::optional<raw_route> parse_route(const nlmsghdr* nlh);

} // namespace overlayd::drivers::nl
