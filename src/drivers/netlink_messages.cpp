#include "drivers/netlink_messages.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>

namespace overlayd::drivers::nl {

namespace {

// Every request here is a few hundred bytes; 8 KiB is libmnl's own
// recommendation for a send buffer.
constexpr std::size_t buffer_bytes = 8192;

ifinfomsg* put_ifinfo(nlmsghdr* nlh, int index = 0) {
  auto* ifi = static_cast<ifinfomsg*>(
    mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  return ifi;
}

void put_string(nlmsghdr* nlh, std::uint16_t type, std::string_view text) {
  // Attribute strings are NUL-terminated; string_view may not be.
  std::string copy{text};
  mnl_attr_put_strz(nlh, type, copy.c_str());
}

void put_ip(nlmsghdr* nlh, std::uint16_t type, const ip_address& address) {
  mnl_attr_put(nlh, type, address.size(), address.bytes.data());
}

rtmsg* put_rtmsg(nlmsghdr* nlh, const ip_address& destination,
                 std::uint8_t destination_len) {
  auto* rtm
    = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = static_cast<std::uint8_t>(destination.af());
  rtm->rtm_dst_len = destination_len;
  rtm->rtm_table = RT_TABLE_MAIN;
  return rtm;
}

std::optional<ip_address> ip_from_attr(const nlattr* attr, int family) {
  auto len = mnl_attr_get_payload_len(attr);
  ip_address out;
  if (family == AF_INET && len == 4) {
    std::memcpy(out.bytes.data(), mnl_attr_get_payload(attr), 4);
    return out;
  }
  if (family == AF_INET6 && len == 16) {
    out.family = ip_address::family_t::v6;
    std::memcpy(out.bytes.data(), mnl_attr_get_payload(attr), 16);
    return out;
  }
  return std::nullopt;
}

std::string string_from_attr(const nlattr* attr) {
  // The kernel NUL-terminates strings, but never trust a length blindly.
  const char* p = static_cast<const char*>(mnl_attr_get_payload(attr));
  std::size_t n = mnl_attr_get_payload_len(attr);
  return std::string{p, strnlen(p, n)};
}

/// Calls `f` for each attribute in `[begin, end)`; the libmnl iteration
/// macros rely on C's implicit void* conversions and do not compile as C++.
template <class F>
void for_each_attr_in(const void* begin, const void* end, F&& f) {
  auto* attr = static_cast<const nlattr*>(begin);
  auto left = [&] {
    return static_cast<int>(static_cast<const char*>(end)
                            - reinterpret_cast<const char*>(attr));
  };
  while (mnl_attr_ok(attr, left())) {
    f(attr);
    attr = mnl_attr_next(attr);
  }
}

template <class F>
void for_each_attr(const nlmsghdr* nlh, std::size_t header_len, F&& f) {
  for_each_attr_in(mnl_nlmsg_get_payload_offset(nlh, header_len),
                   mnl_nlmsg_get_payload_tail(nlh), std::forward<F>(f));
}

template <class F>
void for_each_nested(const nlattr* nest, F&& f) {
  auto* begin = static_cast<const char*>(mnl_attr_get_payload(nest));
  for_each_attr_in(begin, begin + mnl_attr_get_payload_len(nest),
                   std::forward<F>(f));
}

} // namespace

message::message(std::uint16_t type, std::uint16_t flags)
  : buf_(buffer_bytes / sizeof(std::uint64_t), 0) {
  auto* nlh = mnl_nlmsg_put_header(buf_.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
}

nlmsghdr* message::header() noexcept {
  return reinterpret_cast<nlmsghdr*>(buf_.data());
}

const nlmsghdr* message::header() const noexcept {
  return reinterpret_cast<const nlmsghdr*>(buf_.data());
}

std::size_t message::size() const noexcept {
  return header()->nlmsg_len;
}

// -- requests -----------------------------------------------------------------

message get_link_by_name(std::string_view name) {
  message m{RTM_GETLINK, NLM_F_ACK};
  put_ifinfo(m.header());
  put_string(m.header(), IFLA_IFNAME, name);
  return m;
}

message get_link_by_index(int index) {
  message m{RTM_GETLINK, NLM_F_ACK};
  put_ifinfo(m.header(), index);
  return m;
}

message dump_links() {
  message m{RTM_GETLINK, NLM_F_DUMP};
  put_ifinfo(m.header());
  return m;
}

message dump_addresses(int index) {
  message m{RTM_GETADDR, NLM_F_DUMP};
  auto* ifa = static_cast<ifaddrmsg*>(
    mnl_nlmsg_put_extra_header(m.header(), sizeof(ifaddrmsg)));
  ifa->ifa_family = AF_UNSPEC;
  ifa->ifa_index = static_cast<std::uint32_t>(index);
  return m;
}

message dump_routes() {
  message m{RTM_GETROUTE, NLM_F_DUMP};
  auto* rtm = static_cast<rtmsg*>(
    mnl_nlmsg_put_extra_header(m.header(), sizeof(rtmsg)));
  rtm->rtm_family = AF_UNSPEC;
  return m;
}

message create_bridge(std::string_view name) {
  message m{RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL};
  auto* nlh = m.header();
  put_ifinfo(nlh);
  put_string(nlh, IFLA_IFNAME, name);
  auto* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  put_string(nlh, IFLA_INFO_KIND, "bridge");
  auto* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  // STP off is the kernel default too; saying it makes the intent explicit
  // and does not depend on the sysfs view of the caller's namespace.
  mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, 0);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return m;
}

message set_bridge_stp(int index, bool on) {
  message m{RTM_NEWLINK, NLM_F_ACK};
  auto* nlh = m.header();
  put_ifinfo(nlh, index);
  auto* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  put_string(nlh, IFLA_INFO_KIND, "bridge");
  auto* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  mnl_attr_put_u32(nlh, IFLA_BR_STP_STATE, on ? 1 : 0);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return m;
}

message create_veth_pair(std::string_view host, std::string_view peer) {
  message m{RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL};
  auto* nlh = m.header();
  // The outer message describes the peer end (created up, as the reference
  // does); VETH_INFO_PEER describes the host end (down).
  auto* ifi = put_ifinfo(nlh);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  put_string(nlh, IFLA_IFNAME, peer);
  auto* info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
  put_string(nlh, IFLA_INFO_KIND, "veth");
  auto* data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
  auto* peer_info = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
  // VETH_INFO_PEER's payload starts with its own ifinfomsg.
  put_ifinfo(nlh);
  put_string(nlh, IFLA_IFNAME, host);
  mnl_attr_nest_end(nlh, peer_info);
  mnl_attr_nest_end(nlh, data);
  mnl_attr_nest_end(nlh, info);
  return m;
}

message delete_link_by_name(std::string_view name) {
  message m{RTM_DELLINK, NLM_F_ACK};
  put_ifinfo(m.header());
  put_string(m.header(), IFLA_IFNAME, name);
  return m;
}

message set_link_updown(std::string_view name, bool up) {
  message m{RTM_SETLINK, NLM_F_ACK};
  auto* ifi = put_ifinfo(m.header());
  ifi->ifi_flags = up ? IFF_UP : 0;
  ifi->ifi_change = IFF_UP;
  put_string(m.header(), IFLA_IFNAME, name);
  return m;
}

message set_link_mtu(std::string_view name, std::uint32_t mtu) {
  message m{RTM_SETLINK, NLM_F_ACK};
  put_ifinfo(m.header());
  put_string(m.header(), IFLA_IFNAME, name);
  mnl_attr_put_u32(m.header(), IFLA_MTU, mtu);
  return m;
}

message set_link_master(std::string_view name, int master_index) {
  message m{RTM_SETLINK, NLM_F_ACK};
  put_ifinfo(m.header());
  put_string(m.header(), IFLA_IFNAME, name);
  mnl_attr_put_u32(m.header(), IFLA_MASTER,
                   static_cast<std::uint32_t>(master_index));
  return m;
}

message move_link_to_netns(int index, int netns_fd, std::string_view new_name) {
  // One request: the kernel moves the link and applies IFLA_IFNAME as its
  // name in the target, so no other name ever appears there.
  message m{RTM_SETLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL};
  put_ifinfo(m.header(), index);
  mnl_attr_put_u32(m.header(), IFLA_NET_NS_FD,
                   static_cast<std::uint32_t>(netns_fd));
  put_string(m.header(), IFLA_IFNAME, new_name);
  return m;
}

ip_address ipv4_broadcast(const ip_address& address, std::uint8_t prefix_len) {
  std::uint32_t host;
  std::memcpy(&host, address.bytes.data(), 4);
  host = ntohl(host);
  // Shifting a 32-bit value by 32 is undefined; /32 has no host bits.
  std::uint32_t host_mask = prefix_len >= 32 ? 0 : (0xffffffffu >> prefix_len);
  host = htonl(host | host_mask);
  ip_address out = address;
  std::memcpy(out.bytes.data(), &host, 4);
  return out;
}

namespace {

message address_message(std::uint16_t type, std::uint16_t flags, int index,
                        const ip_address& address, std::uint8_t prefix_len) {
  message m{type, flags};
  auto* nlh = m.header();
  auto* ifa = static_cast<ifaddrmsg*>(
    mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
  ifa->ifa_family = static_cast<std::uint8_t>(address.af());
  ifa->ifa_prefixlen = prefix_len;
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = static_cast<std::uint32_t>(index);
  put_ip(nlh, IFA_LOCAL, address);
  put_ip(nlh, IFA_ADDRESS, address);
  if (type == RTM_NEWADDR && !address.is_v6())
    put_ip(nlh, IFA_BROADCAST, ipv4_broadcast(address, prefix_len));
  return m;
}

} // namespace

message add_address(int index, const ip_address& address,
                    std::uint8_t prefix_len) {
  return address_message(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                         index, address, prefix_len);
}

message delete_address(int index, const ip_address& address,
                       std::uint8_t prefix_len) {
  return address_message(RTM_DELADDR, NLM_F_ACK, index, address, prefix_len);
}

message add_default_route_via_gateway(const ip_address& gateway) {
  message m{RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL};
  auto* nlh = m.header();
  ip_address any;
  any.family = gateway.family;
  auto* rtm = put_rtmsg(nlh, any, 0);
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_scope = RT_SCOPE_UNIVERSE;
  rtm->rtm_type = RTN_UNICAST;
  put_ip(nlh, RTA_DST, any);
  put_ip(nlh, RTA_GATEWAY, gateway);
  return m;
}

message add_route_via_dev(const ip_address& destination,
                          std::uint8_t destination_len, int oif,
                          const std::optional<ip_address>& source,
                          bool replace) {
  std::uint16_t flags = NLM_F_ACK | NLM_F_CREATE;
  flags |= replace ? NLM_F_REPLACE : NLM_F_EXCL;
  message m{RTM_NEWROUTE, flags};
  auto* nlh = m.header();
  auto* rtm = put_rtmsg(nlh, destination, destination_len);
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_scope = RT_SCOPE_LINK;
  rtm->rtm_type = RTN_UNICAST;
  put_ip(nlh, RTA_DST, destination);
  mnl_attr_put_u32(nlh, RTA_OIF, static_cast<std::uint32_t>(oif));
  if (source)
    put_ip(nlh, RTA_PREFSRC, *source);
  return m;
}

message delete_route_via_dev(const ip_address& destination,
                             std::uint8_t destination_len, int oif) {
  message m{RTM_DELROUTE, NLM_F_ACK};
  auto* nlh = m.header();
  auto* rtm = put_rtmsg(nlh, destination, destination_len);
  // Like `ip route del`: scope NOWHERE, type and protocol 0 match any.
  rtm->rtm_scope = RT_SCOPE_NOWHERE;
  put_ip(nlh, RTA_DST, destination);
  mnl_attr_put_u32(nlh, RTA_OIF, static_cast<std::uint32_t>(oif));
  return m;
}

// -- replies ------------------------------------------------------------------

namespace {

/// Reads NLMSGERR_ATTR_MSG from the TLVs in `[begin, begin + len)`.
std::string ext_ack_in(const char* begin, std::size_t len) {
  std::string out;
  for_each_attr_in(begin, begin + len, [&](const nlattr* attr) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG)
      out = string_from_attr(attr);
  });
  return out;
}

} // namespace

std::optional<ack> parse_ack(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != NLMSG_ERROR
      || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr)))
    return std::nullopt;
  auto* err = static_cast<const nlmsgerr*>(
    mnl_nlmsg_get_payload(const_cast<nlmsghdr*>(nlh)));
  ack out;
  out.err_no = -err->error;
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
    return out;
  // The TLVs follow the echoed request: only its header when the ack is
  // capped (NETLINK_CAP_ACK), the whole request otherwise.
  std::size_t offset = sizeof(nlmsgerr);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
    offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  std::size_t payload_len = mnl_nlmsg_get_payload_len(nlh);
  if (offset > payload_len)
    return out;
  out.ext_ack
    = ext_ack_in(static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + offset,
                 payload_len - offset);
  return out;
}

reply_batch read_replies(const void* buf, std::size_t len, std::uint32_t seq,
                         std::uint32_t port_id,
                         const std::function<void(const nlmsghdr*)>& each) {
  reply_batch out;
  int remaining = static_cast<int>(len);
  auto* nlh = static_cast<const nlmsghdr*>(buf);
  for (; mnl_nlmsg_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
    // Replies to an older request (e.g. after a receive timeout) are not
    // ours; skip them rather than misread them.
    if (nlh->nlmsg_seq != seq
        || (nlh->nlmsg_pid != 0 && nlh->nlmsg_pid != port_id))
      continue;
    if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
      out.interrupted = true;
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      out.finished = true;
      if (auto parsed = parse_ack(nlh))
        out.outcome = std::move(*parsed);
      else
        out.malformed = true;
      return out;
    }
    if (nlh->nlmsg_type == NLMSG_DONE) {
      out.finished = true;
      auto payload_len = mnl_nlmsg_get_payload_len(nlh);
      if (payload_len >= sizeof(int)) {
        auto* payload = static_cast<const char*>(mnl_nlmsg_get_payload(nlh));
        int code;
        std::memcpy(&code, payload, sizeof(code));
        out.outcome.err_no = code < 0 ? -code : 0;
        if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
          out.outcome.ext_ack
            = ext_ack_in(payload + sizeof(int), payload_len - sizeof(int));
      }
      return out;
    }
    if (nlh->nlmsg_type >= NLMSG_MIN_TYPE && each)
      each(nlh);
  }
  return out;
}

std::optional<link_info> parse_link(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK
      || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifinfomsg)))
    return std::nullopt;
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  link_info out;
  out.index = ifi->ifi_index;
  out.flags = ifi->ifi_flags;
  out.up = (ifi->ifi_flags & IFF_UP) != 0;
  for_each_attr(nlh, sizeof(ifinfomsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
    case IFLA_IFNAME:
      out.name = string_from_attr(attr);
      break;
    case IFLA_MTU:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
        out.mtu = mnl_attr_get_u32(attr);
      break;
    case IFLA_MASTER:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
        out.master_index = static_cast<int>(mnl_attr_get_u32(attr));
      break;
    case IFLA_LINKINFO: {
      for_each_nested(attr, [&](const nlattr* nested) {
        if (mnl_attr_get_type(nested) == IFLA_INFO_KIND)
          out.kind = string_from_attr(nested);
      });
      break;
    }
    default:
      break;
    }
  });
  if (out.name.empty())
    return std::nullopt;
  return out;
}

std::optional<indexed_address> parse_address(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWADDR
      || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(ifaddrmsg)))
    return std::nullopt;
  auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  std::optional<ip_address> local;
  std::optional<ip_address> address;
  for_each_attr(nlh, sizeof(ifaddrmsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
    case IFA_LOCAL:
      local = ip_from_attr(attr, ifa->ifa_family);
      break;
    case IFA_ADDRESS:
      address = ip_from_attr(attr, ifa->ifa_family);
      break;
    default:
      break;
    }
  });
  // For v4, IFA_LOCAL is the interface's own address and IFA_ADDRESS the
  // peer on point-to-point links; v6 sends only IFA_ADDRESS.
  auto own = local ? local : address;
  if (!own)
    return std::nullopt;
  return indexed_address{static_cast<int>(ifa->ifa_index),
                         address_info{*own, ifa->ifa_prefixlen}};
}

std::optional<raw_route> parse_route(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWROUTE
      || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(rtmsg)))
    return std::nullopt;
  auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6)
    return std::nullopt;
  raw_route out;
  out.table = rtm->rtm_table;
  out.type = rtm->rtm_type;
  out.route.destination.family = rtm->rtm_family == AF_INET6
                                   ? ip_address::family_t::v6
                                   : ip_address::family_t::v4;
  out.route.destination_len = rtm->rtm_dst_len;
  out.route.scope = rtm->rtm_scope;
  out.route.protocol = rtm->rtm_protocol;
  for_each_attr(nlh, sizeof(rtmsg), [&](const nlattr* attr) {
    switch (mnl_attr_get_type(attr)) {
    case RTA_DST:
      if (auto ip = ip_from_attr(attr, rtm->rtm_family))
        out.route.destination = *ip;
      break;
    case RTA_GATEWAY:
      out.route.gateway = ip_from_attr(attr, rtm->rtm_family);
      break;
    case RTA_PREFSRC:
      out.route.preferred_source = ip_from_attr(attr, rtm->rtm_family);
      break;
    case RTA_OIF:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
        out.oif = static_cast<int>(mnl_attr_get_u32(attr));
      break;
    case RTA_PRIORITY:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
        out.route.metric = mnl_attr_get_u32(attr);
      break;
    case RTA_TABLE:
      if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
        out.table = mnl_attr_get_u32(attr);
      break;
    default:
      break;
    }
  });
  return out;
}

} // namespace overlayd::drivers::nl
