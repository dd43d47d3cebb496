// Encoding and decoding of rtnetlink messages, checked on canned buffers: no
// socket and no privileges needed.

#include "drivers/netlink_messages.hpp"

#include <cstring>
#include <doctest/doctest.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sys/socket.h>
#include <vector>

using namespace overlayd::drivers;

namespace {

ip_address ip(const char* text) {
  auto parsed = ip_address::parse(text);
  REQUIRE(parsed);
  return *parsed;
}

/// Attributes of a message (or nest) by type, for assertions.
struct attr_map {
  std::vector<const nlattr*> all;
  const nlattr* find(std::uint16_t type) const {
    for (auto* a : all)
      if (mnl_attr_get_type(a) == type)
        return a;
    return nullptr;
  }
  std::size_t count(std::uint16_t type) const {
    std::size_t n = 0;
    for (auto* a : all)
      n += mnl_attr_get_type(a) == type ? 1 : 0;
    return n;
  }
};

attr_map attrs_in(const void* begin, std::size_t len) {
  attr_map out;
  auto* a = static_cast<const nlattr*>(begin);
  int left = static_cast<int>(len);
  while (mnl_attr_ok(a, left)) {
    out.all.push_back(a);
    left -= static_cast<int>(MNL_ALIGN(a->nla_len));
    a = mnl_attr_next(a);
  }
  return out;
}

attr_map attrs_of(const nlmsghdr* nlh, std::size_t header_len) {
  auto* begin
    = static_cast<const char*>(mnl_nlmsg_get_payload_offset(nlh, header_len));
  auto* end = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
  return attrs_in(begin, static_cast<std::size_t>(end - begin));
}

attr_map nested(const nlattr* nest, std::size_t skip = 0) {
  REQUIRE(nest != nullptr);
  auto* begin = static_cast<const char*>(mnl_attr_get_payload(nest)) + skip;
  return attrs_in(begin, mnl_attr_get_payload_len(nest) - skip);
}

std::string text(const nlattr* a) {
  REQUIRE(a != nullptr);
  return mnl_attr_get_str(a);
}

/// A canned kernel message built the way the kernel lays it out.
struct canned {
  std::vector<std::uint64_t> buf = std::vector<std::uint64_t>(1024, 0);
  nlmsghdr* nlh;
  explicit canned(std::uint16_t type) {
    nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
  }
  template <class T>
  T* header() {
    return static_cast<T*>(mnl_nlmsg_put_extra_header(nlh, sizeof(T)));
  }
};

} // namespace

TEST_CASE("create_veth_pair puts the peer outside and the host end nested") {
  auto m = nl::create_veth_pair("veth-42-s", "vc-42-s");
  auto* nlh = m.header();
  CHECK(nlh->nlmsg_type == RTM_NEWLINK);
  CHECK(nlh->nlmsg_flags
        == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  CHECK(ifi->ifi_flags == IFF_UP);
  CHECK(ifi->ifi_change == IFF_UP);
  auto top = attrs_of(nlh, sizeof(ifinfomsg));
  CHECK(text(top.find(IFLA_IFNAME)) == "vc-42-s");
  auto info = nested(top.find(IFLA_LINKINFO));
  CHECK(text(info.find(IFLA_INFO_KIND)) == "veth");
  auto data = nested(info.find(IFLA_INFO_DATA));
  auto* peer = data.find(VETH_INFO_PEER);
  REQUIRE(peer != nullptr);
  // The peer nest starts with its own ifinfomsg: the host end, down.
  auto* peer_ifi = static_cast<const ifinfomsg*>(mnl_attr_get_payload(peer));
  CHECK(peer_ifi->ifi_flags == 0);
  auto peer_attrs = nested(peer, NLMSG_ALIGN(sizeof(ifinfomsg)));
  CHECK(text(peer_attrs.find(IFLA_IFNAME)) == "veth-42-s");
}

TEST_CASE("create_bridge asks for a bridge with STP off") {
  auto m = nl::create_bridge("zl-dep-i0-web-b");
  auto top = attrs_of(m.header(), sizeof(ifinfomsg));
  CHECK(text(top.find(IFLA_IFNAME)) == "zl-dep-i0-web-b");
  auto info = nested(top.find(IFLA_LINKINFO));
  CHECK(text(info.find(IFLA_INFO_KIND)) == "bridge");
  auto data = nested(info.find(IFLA_INFO_DATA));
  REQUIRE(data.find(IFLA_BR_STP_STATE) != nullptr);
  CHECK(mnl_attr_get_u32(data.find(IFLA_BR_STP_STATE)) == 0);
}

TEST_CASE("move_link_to_netns moves and renames in one request") {
  auto m = nl::move_link_to_netns(17, 9, "eth0");
  auto* nlh = m.header();
  CHECK(nlh->nlmsg_type == RTM_SETLINK);
  auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  CHECK(ifi->ifi_index == 17);
  auto top = attrs_of(nlh, sizeof(ifinfomsg));
  REQUIRE(top.find(IFLA_NET_NS_FD) != nullptr);
  CHECK(mnl_attr_get_u32(top.find(IFLA_NET_NS_FD)) == 9);
  CHECK(text(top.find(IFLA_IFNAME)) == "eth0");
  CHECK(top.all.size() == 2);
}

TEST_CASE("add_address sets local, address and the v4 broadcast") {
  auto m = nl::add_address(3, ip("10.200.0.65"), 26);
  auto* nlh = m.header();
  CHECK(nlh->nlmsg_flags
        == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
  auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  CHECK(ifa->ifa_family == AF_INET);
  CHECK(ifa->ifa_prefixlen == 26);
  CHECK(ifa->ifa_index == 3);
  auto top = attrs_of(nlh, sizeof(ifaddrmsg));
  auto bytes = [](const nlattr* a) {
    REQUIRE(a != nullptr);
    REQUIRE(mnl_attr_get_payload_len(a) == 4);
    auto* p = static_cast<const std::uint8_t*>(mnl_attr_get_payload(a));
    return std::vector<int>{p[0], p[1], p[2], p[3]};
  };
  CHECK(bytes(top.find(IFA_LOCAL)) == std::vector<int>{10, 200, 0, 65});
  CHECK(bytes(top.find(IFA_ADDRESS)) == std::vector<int>{10, 200, 0, 65});
  CHECK(bytes(top.find(IFA_BROADCAST)) == std::vector<int>{10, 200, 0, 127});

  auto v6 = nl::add_address(3, ip("fd00::1"), 64);
  auto v6_attrs = attrs_of(v6.header(), sizeof(ifaddrmsg));
  CHECK(v6_attrs.find(IFA_BROADCAST) == nullptr);
  CHECK(mnl_attr_get_payload_len(v6_attrs.find(IFA_ADDRESS)) == 16);
}

TEST_CASE("ipv4 broadcast for every prefix edge") {
  CHECK(nl::ipv4_broadcast(ip("10.1.2.3"), 32).to_string() == "10.1.2.3");
  CHECK(nl::ipv4_broadcast(ip("10.1.2.3"), 31).to_string() == "10.1.2.3");
  CHECK(nl::ipv4_broadcast(ip("10.1.2.3"), 24).to_string() == "10.1.2.255");
  CHECK(nl::ipv4_broadcast(ip("10.1.2.3"), 16).to_string() == "10.1.255.255");
  CHECK(nl::ipv4_broadcast(ip("10.1.2.3"), 0).to_string() == "255.255.255.255");
}

TEST_CASE("route requests carry the reference's flags and attributes") {
  auto def = nl::add_default_route_via_gateway(ip("10.200.0.1"));
  auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(def.header()));
  CHECK(rtm->rtm_dst_len == 0);
  CHECK(rtm->rtm_table == RT_TABLE_MAIN);
  CHECK(rtm->rtm_protocol == RTPROT_STATIC);
  CHECK(rtm->rtm_scope == RT_SCOPE_UNIVERSE);
  auto def_attrs = attrs_of(def.header(), sizeof(rtmsg));
  CHECK(def_attrs.find(RTA_GATEWAY) != nullptr);
  CHECK(def_attrs.find(RTA_OIF) == nullptr);

  auto rep
    = nl::add_route_via_dev(ip("10.200.0.9"), 32, 5, ip("10.200.0.1"), true);
  CHECK(rep.header()->nlmsg_flags
        == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE));
  auto* rrtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(rep.header()));
  CHECK(rrtm->rtm_scope == RT_SCOPE_LINK);
  CHECK(rrtm->rtm_dst_len == 32);
  auto rep_attrs = attrs_of(rep.header(), sizeof(rtmsg));
  CHECK(mnl_attr_get_u32(rep_attrs.find(RTA_OIF)) == 5);
  CHECK(rep_attrs.find(RTA_PREFSRC) != nullptr);

  auto add = nl::add_route_via_dev(ip("fd00::"), 64, 5, std::nullopt, false);
  CHECK(add.header()->nlmsg_flags
        == (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL));
  CHECK(attrs_of(add.header(), sizeof(rtmsg)).find(RTA_PREFSRC) == nullptr);

  auto del = nl::delete_route_via_dev(ip("10.200.0.9"), 32, 5);
  auto* drtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(del.header()));
  CHECK(del.header()->nlmsg_type == RTM_DELROUTE);
  CHECK(drtm->rtm_scope == RT_SCOPE_NOWHERE);
}

TEST_CASE("a link reply decodes name, index, mtu, flags, master and kind") {
  canned c{RTM_NEWLINK};
  auto* ifi = c.header<ifinfomsg>();
  ifi->ifi_index = 12;
  ifi->ifi_flags = IFF_UP | IFF_BROADCAST;
  mnl_attr_put_strz(c.nlh, IFLA_IFNAME, "veth-7-s");
  mnl_attr_put_u32(c.nlh, IFLA_MTU, 1500);
  mnl_attr_put_u32(c.nlh, IFLA_MASTER, 4);
  auto* info = mnl_attr_nest_start(c.nlh, IFLA_LINKINFO);
  mnl_attr_put_strz(c.nlh, IFLA_INFO_KIND, "veth");
  mnl_attr_nest_end(c.nlh, info);
  auto link = nl::parse_link(c.nlh);
  REQUIRE(link);
  CHECK(link->name == "veth-7-s");
  CHECK(link->index == 12);
  CHECK(link->mtu == 1500);
  CHECK(link->up);
  CHECK(link->master_index == 4);
  CHECK(link->kind == "veth");
}

TEST_CASE("a link reply without a name or of another type is refused") {
  canned nameless{RTM_NEWLINK};
  nameless.header<ifinfomsg>()->ifi_index = 3;
  CHECK_FALSE(nl::parse_link(nameless.nlh));
  canned other{RTM_NEWADDR};
  other.header<ifaddrmsg>();
  CHECK_FALSE(nl::parse_link(other.nlh));
  canned truncated{RTM_NEWLINK};
  CHECK_FALSE(nl::parse_link(truncated.nlh));
}

TEST_CASE("an address reply prefers IFA_LOCAL over the peer IFA_ADDRESS") {
  canned c{RTM_NEWADDR};
  auto* ifa = c.header<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 32;
  ifa->ifa_index = 9;
  auto peer = ip("10.9.9.9");
  auto local = ip("10.1.1.1");
  mnl_attr_put(c.nlh, IFA_ADDRESS, 4, peer.bytes.data());
  mnl_attr_put(c.nlh, IFA_LOCAL, 4, local.bytes.data());
  auto parsed = nl::parse_address(c.nlh);
  REQUIRE(parsed);
  CHECK(parsed->index == 9);
  CHECK(parsed->address.address == local);
  CHECK(parsed->address.prefix_len == 32);

  canned v6{RTM_NEWADDR};
  auto* ifa6 = v6.header<ifaddrmsg>();
  ifa6->ifa_family = AF_INET6;
  ifa6->ifa_prefixlen = 64;
  auto a6 = ip("fd00::5");
  mnl_attr_put(v6.nlh, IFA_ADDRESS, 16, a6.bytes.data());
  auto parsed6 = nl::parse_address(v6.nlh);
  REQUIRE(parsed6);
  CHECK(parsed6->address.address == a6);

  canned wrong_len{RTM_NEWADDR};
  wrong_len.header<ifaddrmsg>()->ifa_family = AF_INET;
  mnl_attr_put(wrong_len.nlh, IFA_ADDRESS, 16, a6.bytes.data());
  CHECK_FALSE(nl::parse_address(wrong_len.nlh));
}

TEST_CASE("a route reply decodes destination, gateway, device and table") {
  canned c{RTM_NEWROUTE};
  auto* rtm = c.header<rtmsg>();
  rtm->rtm_family = AF_INET;
  rtm->rtm_dst_len = 32;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_STATIC;
  rtm->rtm_scope = RT_SCOPE_LINK;
  rtm->rtm_type = RTN_UNICAST;
  auto dst = ip("10.200.0.9");
  auto src = ip("10.200.0.1");
  mnl_attr_put(c.nlh, RTA_DST, 4, dst.bytes.data());
  mnl_attr_put(c.nlh, RTA_PREFSRC, 4, src.bytes.data());
  mnl_attr_put_u32(c.nlh, RTA_OIF, 7);
  mnl_attr_put_u32(c.nlh, RTA_TABLE, RT_TABLE_MAIN);
  mnl_attr_put_u32(c.nlh, RTA_PRIORITY, 1024);
  auto r = nl::parse_route(c.nlh);
  REQUIRE(r);
  CHECK(r->route.destination == dst);
  CHECK(r->route.destination_len == 32);
  CHECK(r->route.preferred_source == src);
  CHECK_FALSE(r->route.gateway);
  CHECK(r->oif == 7);
  CHECK(r->table == RT_TABLE_MAIN);
  CHECK(r->route.metric == 1024);
  CHECK(r->route.scope == RT_SCOPE_LINK);

  canned def{RTM_NEWROUTE};
  auto* drtm = def.header<rtmsg>();
  drtm->rtm_family = AF_INET6;
  auto gw = ip("fd00::1");
  mnl_attr_put(def.nlh, RTA_GATEWAY, 16, gw.bytes.data());
  auto d = nl::parse_route(def.nlh);
  REQUIRE(d);
  CHECK(d->route.destination.is_v6());
  CHECK(d->route.destination_len == 0);
  CHECK(d->route.gateway == gw);
}

namespace {

/// An NLMSG_ERROR as the kernel sends it, with the request echoed in full
/// (uncapped) or only its header (capped), and an ext-ack message TLV.
canned error_reply(int err_no, bool capped, const char* ext_ack) {
  canned c{NLMSG_ERROR};
  auto* err = c.header<nlmsgerr>();
  err->error = -err_no;
  err->msg.nlmsg_type = RTM_NEWLINK;
  err->msg.nlmsg_len = NLMSG_HDRLEN + 16;
  if (!capped)
    mnl_nlmsg_put_extra_header(c.nlh, 16); // the echoed request payload
  else
    c.nlh->nlmsg_flags |= NLM_F_CAPPED;
  if (ext_ack != nullptr) {
    c.nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
    mnl_attr_put_strz(c.nlh, NLMSGERR_ATTR_MSG, ext_ack);
  }
  return c;
}

} // namespace

TEST_CASE("an error reply yields errno and the extended-ack text") {
  for (bool capped : {true, false}) {
    auto c = error_reply(EEXIST, capped, "Link already exists");
    auto a = nl::parse_ack(c.nlh);
    REQUIRE(a);
    CHECK(a->err_no == EEXIST);
    CHECK(a->ext_ack == "Link already exists");
  }
  auto plain = error_reply(ENODEV, true, nullptr);
  auto a = nl::parse_ack(plain.nlh);
  REQUIRE(a);
  CHECK(a->err_no == ENODEV);
  CHECK(a->ext_ack.empty());
  auto ok = error_reply(0, true, nullptr);
  CHECK(nl::parse_ack(ok.nlh)->err_no == 0);
  canned short_msg{NLMSG_ERROR};
  CHECK_FALSE(nl::parse_ack(short_msg.nlh));
}

namespace {

/// A datagram of several netlink messages back to back, as recvmsg returns.
struct datagram {
  std::vector<std::uint64_t> buf = std::vector<std::uint64_t>(2048, 0);
  std::size_t used = 0;

  nlmsghdr* add(std::uint16_t type, std::uint32_t seq, std::uint16_t flags = 0,
                std::uint32_t port = 0) {
    auto* nlh
      = mnl_nlmsg_put_header(reinterpret_cast<char*>(buf.data()) + used);
    nlh->nlmsg_type = type;
    nlh->nlmsg_seq = seq;
    nlh->nlmsg_flags = flags;
    nlh->nlmsg_pid = port;
    return nlh;
  }
  void close(nlmsghdr* nlh) { used += NLMSG_ALIGN(nlh->nlmsg_len); }

  void link(std::uint32_t seq, const char* name, std::uint16_t flags = 0) {
    auto* nlh = add(RTM_NEWLINK, seq, NLM_F_MULTI | flags, 77);
    mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg));
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    close(nlh);
  }
  void done(std::uint32_t seq, int code, const char* ext_ack = nullptr,
            std::uint16_t flags = 0) {
    auto* nlh = add(NLMSG_DONE, seq, NLM_F_MULTI | flags, 77);
    auto* payload
      = static_cast<int*>(mnl_nlmsg_put_extra_header(nlh, sizeof(int)));
    *payload = code;
    if (ext_ack != nullptr) {
      nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
      mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, ext_ack);
    }
    close(nlh);
  }
};

std::vector<std::string> names_in(const datagram& d, std::uint32_t seq,
                                  nl::reply_batch& batch) {
  std::vector<std::string> names;
  batch
    = nl::read_replies(d.buf.data(), d.used, seq, 77, [&](const nlmsghdr* nlh) {
        if (auto l = nl::parse_link(nlh))
          names.push_back(l->name);
      });
  return names;
}

} // namespace

TEST_CASE("a multipart dump is read across messages until NLMSG_DONE") {
  datagram first;
  first.link(5, "lo");
  first.link(5, "eth0");
  nl::reply_batch batch;
  CHECK(names_in(first, 5, batch) == std::vector<std::string>{"lo", "eth0"});
  CHECK_FALSE(batch.finished);
  CHECK_FALSE(batch.interrupted);

  datagram last;
  last.link(5, "zl-x-b");
  last.done(5, 0);
  last.link(5, "after-done"); // never read: the dump ended
  CHECK(names_in(last, 5, batch) == std::vector<std::string>{"zl-x-b"});
  CHECK(batch.finished);
  CHECK(batch.outcome.err_no == 0);
}

TEST_CASE("replies to another request or port are skipped") {
  datagram d;
  d.link(4, "stale");
  auto* foreign = d.add(RTM_NEWLINK, 5, NLM_F_MULTI, 99);
  mnl_nlmsg_put_extra_header(foreign, sizeof(ifinfomsg));
  mnl_attr_put_strz(foreign, IFLA_IFNAME, "foreign");
  d.close(foreign);
  d.done(4, 0);
  d.link(5, "mine");
  d.done(5, 0);
  nl::reply_batch batch;
  CHECK(names_in(d, 5, batch) == std::vector<std::string>{"mine"});
  CHECK(batch.finished);
}

TEST_CASE("NLM_F_DUMP_INTR on any message marks the dump for a restart") {
  datagram d;
  d.link(8, "lo");
  d.link(8, "eth0", NLM_F_DUMP_INTR);
  d.done(8, 0);
  nl::reply_batch batch;
  names_in(d, 8, batch);
  CHECK(batch.finished);
  CHECK(batch.interrupted);

  datagram only_done;
  only_done.done(9, 0, nullptr, NLM_F_DUMP_INTR);
  names_in(only_done, 9, batch);
  CHECK(batch.interrupted);
}

TEST_CASE("a dump that ends in an error carries errno and ext-ack") {
  datagram d;
  d.done(3, -EINVAL, "Invalid header for link dump");
  nl::reply_batch batch;
  names_in(d, 3, batch);
  CHECK(batch.finished);
  CHECK(batch.outcome.err_no == EINVAL);
  CHECK(batch.outcome.ext_ack == "Invalid header for link dump");
}

TEST_CASE("an ack ends a request; a truncated error is flagged") {
  datagram d;
  auto* reply = d.add(RTM_NEWLINK, 2, 0, 77);
  mnl_nlmsg_put_extra_header(reply, sizeof(ifinfomsg));
  mnl_attr_put_strz(reply, IFLA_IFNAME, "lo");
  d.close(reply);
  auto* ackmsg = d.add(NLMSG_ERROR, 2, NLM_F_CAPPED, 77);
  auto* err = static_cast<nlmsgerr*>(
    mnl_nlmsg_put_extra_header(ackmsg, sizeof(nlmsgerr)));
  err->error = -ENODEV;
  d.close(ackmsg);
  nl::reply_batch batch;
  CHECK(names_in(d, 2, batch) == std::vector<std::string>{"lo"});
  CHECK(batch.finished);
  CHECK(batch.outcome.err_no == ENODEV);
  CHECK_FALSE(batch.malformed);

  datagram bad;
  auto* short_err = bad.add(NLMSG_ERROR, 6, 0, 77);
  bad.close(short_err);
  names_in(bad, 6, batch);
  CHECK(batch.finished);
  CHECK(batch.malformed);
}
