#include <doctest/doctest.h>

#include <chrono>
#include <dirent.h>
#include <mutex>
#include <poll.h>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include "stun/relay_client.hpp"
#include "stun/relay_protocol.hpp"
#include "stun/relay_server.hpp"
#include "stun/udp_socket.hpp"

using namespace overlayd::stun;
using namespace std::chrono_literals;
namespace rp = overlayd::stun::relay;

namespace {

const std::string secret = "cluster-secret";

udp_endpoint ep(const std::string& s) {
  return *udp_endpoint::parse(s);
}

std::vector<std::uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

relay_server_options server_opts(std::string external = "127.0.0.1:0",
                                 std::size_t max_sessions = 10) {
  relay_server_options o;
  o.config = {0, std::move(external), max_sessions};
  o.credential = secret;
  return o;
}

// A bare UDP socket speaking the protocol by hand, as the reference's e2e
// test does.
struct raw_peer {
  udp_socket sock;
  explicit raw_peer(const std::string& bind = "127.0.0.1:0") {
    auto local = ep(bind);
    sock = std::move(*udp_socket::bind(local.native_family(), local));
  }
  udp_endpoint local() const { return *sock.local_endpoint(); }
  void send(const std::vector<std::uint8_t>& m, const udp_endpoint& to) {
    REQUIRE(sock.send_to(m, to).ok());
  }
  std::optional<std::pair<std::vector<std::uint8_t>, udp_endpoint>>
  recv(std::chrono::milliseconds timeout = 2000ms) {
    pollfd p{sock.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
      return std::nullopt;
    std::vector<std::uint8_t> buf(65536);
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ssize_t n = ::recvfrom(sock.fd(), buf.data(), buf.size(), 0,
                           reinterpret_cast<sockaddr*>(&ss), &len);
    if (n < 0)
      return std::nullopt;
    buf.resize(static_cast<std::size_t>(n));
    return std::make_pair(
      buf, udp_endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss)));
  }
  std::optional<rp::control_msg> control(std::vector<std::uint8_t>& keep,
                                         std::chrono::milliseconds t = 2000ms) {
    auto r = recv(t);
    if (!r)
      return std::nullopt;
    keep = std::move(r->first);
    return rp::parse_control(keep, rp::derive_auth_key(secret));
  }
};

std::vector<std::uint8_t> ctl(rp::msg_type t,
                              const std::vector<std::uint8_t>& p) {
  return rp::build_control(t, p, rp::derive_auth_key(secret));
}

rp::allocate_resp raw_allocate(raw_peer& c, const udp_endpoint& server,
                               std::string_view user) {
  c.send(ctl(rp::msg_type::allocate_req, rp::allocate_req_payload(user)),
         server);
  std::vector<std::uint8_t> keep;
  auto m = c.control(keep);
  REQUIRE(m.has_value());
  REQUIRE(m->type == rp::msg_type::allocate_resp);
  auto r = rp::parse_allocate_resp(m->payload);
  REQUIRE(r.has_value());
  return *r;
}

std::string raw_allocate_error(raw_peer& c, const udp_endpoint& server) {
  c.send(ctl(rp::msg_type::allocate_req, rp::allocate_req_payload("x")),
         server);
  std::vector<std::uint8_t> keep;
  auto m = c.control(keep);
  REQUIRE(m.has_value());
  REQUIRE(m->type == rp::msg_type::allocate_err);
  return {m->payload.begin(), m->payload.end()};
}

void raw_permit(raw_peer& c, const udp_endpoint& server,
                const rp::allocation_id& id, const udp_endpoint& peer) {
  c.send(
    ctl(rp::msg_type::permission_req, rp::permission_req_payload(id, peer)),
    server);
  std::vector<std::uint8_t> keep;
  auto m = c.control(keep);
  REQUIRE(m.has_value());
  CHECK(m->type == rp::msg_type::permission_resp);
  CHECK(m->payload.empty());
}

std::size_t open_fds() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (auto* e = ::readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(d);
  return n;
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds limit = 5000ms) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (p())
      return true;
    std::this_thread::sleep_for(20ms);
  }
  return p();
}

// Collects DATA a relay_client hands to its callback.
struct inbox {
  std::mutex mu;
  std::vector<std::pair<udp_endpoint, std::string>> got;
  auto sink() {
    return [this](const udp_endpoint& from, std::span<const std::uint8_t> d) {
      std::lock_guard l(mu);
      got.emplace_back(from, std::string(d.begin(), d.end()));
    };
  }
  std::size_t size() {
    std::lock_guard l(mu);
    return got.size();
  }
};

relay_client_options client_opts(const udp_endpoint& server,
                                 std::string user = "u") {
  relay_client_options o;
  // The server binds the wildcard; its replies come from loopback.
  udp_endpoint to = server;
  if (to.ip.is_unspecified())
    to.ip = to.ip.is_v4() ? *ip_address::parse("127.0.0.1")
                          : *ip_address::parse("::1");
  o.server = {to.to_string(), std::move(user), secret, std::nullopt};
  o.request_timeout = 1000ms;
  return o;
}

} // namespace

TEST_CASE("raw relay scenario of the reference (e2e #8), both ways") {
  relay_server server(server_opts());
  auto bound = server.start();
  REQUIRE_MESSAGE(bound.ok(), bound.error());
  udp_endpoint s = ep("127.0.0.1:" + std::to_string(bound->port));
  raw_peer a, b;
  auto ra = raw_allocate(a, s, "client-a");
  auto rb = raw_allocate(b, s, "client-b");
  CHECK(ra.lifetime == 600);
  CHECK(ra.relay_addr.ip.to_string() == "127.0.0.1");
  CHECK(ra.relay_addr.port != rb.relay_addr.port);
  CHECK(ra.relay_addr.port != bound->port);
  CHECK(server.session_count() == 2);
  raw_permit(a, s, ra.id, rb.relay_addr);
  raw_permit(b, s, rb.id, ra.relay_addr);

  std::string hello = "hello from A to B via relay";
  a.send(rp::build_data(rb.relay_addr, bytes(hello)), s);
  auto got = b.recv();
  REQUIRE(got.has_value());
  CHECK(got->second == s); // DATA comes from the main socket
  auto d = rp::parse_data(got->first);
  REQUIRE(d.has_value());
  CHECK(std::string(d->raw.begin(), d->raw.end()) == hello);
  CHECK(d->peer == ra.relay_addr);

  b.send(rp::build_data(ra.relay_addr, bytes("and back")), s);
  auto back = a.recv();
  REQUIRE(back.has_value());
  auto db = rp::parse_data(back->first);
  REQUIRE(db.has_value());
  CHECK(std::string(db->raw.begin(), db->raw.end()) == "and back");

  // Deallocate: no reply, session gone, DATA from A is now dropped.
  a.send(ctl(rp::msg_type::deallocate, {ra.id.begin(), ra.id.end()}), s);
  CHECK(eventually([&] { return server.session_count() == 1; }));
  a.send(rp::build_data(rb.relay_addr, bytes("late")), s);
  CHECK_FALSE(b.recv(300ms).has_value());
  CHECK_FALSE(a.recv(100ms).has_value());
  server.stop();
}

TEST_CASE("refresh echoes the lifetime; other owners are ignored") {
  relay_server server(server_opts());
  auto bound = server.start();
  REQUIRE(bound.ok());
  raw_peer a, intruder;
  auto ra = raw_allocate(a, *bound, "a");
  a.send(ctl(rp::msg_type::refresh_req, rp::refresh_req_payload(ra.id, 42)),
         *bound);
  std::vector<std::uint8_t> keep;
  auto m = a.control(keep);
  REQUIRE(m.has_value());
  CHECK(m->type == rp::msg_type::refresh_resp);
  CHECK(rp::read_be32(m->payload.data()) == 42);

  // Same id from another socket: silently dropped, as are bad tags.
  intruder.send(
    ctl(rp::msg_type::refresh_req, rp::refresh_req_payload(ra.id, 1)), *bound);
  intruder.send(ctl(rp::msg_type::permission_req,
                    rp::permission_req_payload(ra.id, ep("1.2.3.4:5"))),
                *bound);
  intruder.send(ctl(rp::msg_type::deallocate, {ra.id.begin(), ra.id.end()}),
                *bound);
  auto forged = rp::build_control(rp::msg_type::allocate_req,
                                  rp::allocate_req_payload("f"),
                                  rp::derive_auth_key("wrong"));
  intruder.send(forged, *bound);
  CHECK_FALSE(intruder.recv(300ms).has_value());
  CHECK(server.session_count() == 1);

  // Second AllocateReq from the same source address.
  CHECK(raw_allocate_error(a, *bound) == "allocation already exists");
}

TEST_CASE("max sessions reached; client error text") {
  relay_server server(server_opts("127.0.0.1:0", 2));
  auto bound = server.start();
  REQUIRE(bound.ok());
  auto a = relay_client::create(client_opts(*bound, "a"));
  auto b = relay_client::create(client_opts(*bound, "b"));
  auto c = relay_client::create(client_opts(*bound, "c"));
  REQUIRE(a.ok());
  REQUIRE((*a)->allocate().ok());
  REQUIRE((*b)->allocate().ok());
  auto fail = (*c)->allocate();
  REQUIRE_FALSE(fail.ok());
  CHECK(fail.error()
        == "TURN relay error: Allocation rejected: max sessions reached");
  CHECK_FALSE((*c)->is_active());
  raw_peer d;
  CHECK(raw_allocate_error(d, *bound) == "max sessions reached");
  // Deallocate frees a slot for the next client.
  (*a)->deallocate();
  CHECK_FALSE((*a)->is_active());
  CHECK(eventually([&] { return server.session_count() == 1; }));
  CHECK((*c)->allocate().ok());
}

TEST_CASE("relay clients carry DATA both ways and demultiplex replies") {
  relay_server server(server_opts());
  auto bound = server.start();
  REQUIRE(bound.ok());
  inbox ia, ib;
  auto oa = client_opts(*bound, "a");
  oa.on_data = ia.sink();
  auto ob = client_opts(*bound, "b");
  ob.on_data = ib.sink();
  auto a = std::move(*relay_client::create(oa));
  auto b = std::move(*relay_client::create(ob));
  auto ra = a->allocate();
  auto rb = b->allocate();
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  CHECK(a->is_active());
  CHECK(a->relay_address() == *ra);
  REQUIRE(a->create_permission(*rb).ok());
  REQUIRE(b->create_permission(*ra).ok());

  // Traffic keeps flowing while control exchanges run on the same socket.
  for (int i = 0; i < 20; ++i) {
    REQUIRE(a->send_data(*rb, bytes("a" + std::to_string(i))).ok());
    REQUIRE(b->send_data(*ra, bytes("b" + std::to_string(i))).ok());
    if (i == 10)
      REQUIRE(a->refresh().ok());
  }
  CHECK(eventually([&] { return ia.size() == 20 && ib.size() == 20; }));
  {
    std::lock_guard l(ib.mu);
    CHECK(ib.got.front().first == *ra);
    CHECK(ib.got.front().second == "a0");
  }
  auto st = server.stats();
  CHECK(st.to_peer_packets == 40);
  CHECK(st.to_client_packets == 40);

  // Without permission nothing reaches the client.
  raw_peer stranger("127.0.0.2:0"); // permissions are by IP
  stranger.send(bytes("spam"), *ra);
  std::this_thread::sleep_for(200ms);
  CHECK(ia.size() == 20);
}

TEST_CASE("client refreshes before expiry on its own") {
  auto o = server_opts();
  o.lifetime = 2s;
  o.expiry_slack = 0s;
  relay_server server(o);
  auto bound = server.start();
  REQUIRE(bound.ok());
  auto c = std::move(*relay_client::create(client_opts(*bound)));
  REQUIRE(c->allocate().ok());
  std::this_thread::sleep_for(3500ms);
  CHECK(c->auto_refreshes() >= 2);
  CHECK(c->is_active());
  CHECK(server.session_count() == 1);
}

TEST_CASE("a lapsed client allocation is released before a new one") {
  relay_server server(server_opts());
  auto bound = server.start();
  REQUIRE(bound.ok());
  auto c = std::move(*relay_client::create(client_opts(*bound)));
  auto first = c->allocate();
  REQUIRE(first.ok());
  CHECK_FALSE(c->allocate().ok()); // still active
  c->deallocate();
  auto second = c->allocate();
  REQUIRE_MESSAGE(second.ok(), second.error());
  CHECK(second->port != first->port);
  CHECK(server.session_count() == 1);
  raw_peer p;
  REQUIRE(c->ensure_permission(p.local()).ok());
  // Cached: a second call sends nothing (it would time out on a dead relay).
  server.stop();
  CHECK(c->ensure_permission(p.local()).ok());
}

TEST_CASE("vanished clients expire and free their sessions") {
  auto o = server_opts("127.0.0.1:0", 1);
  o.lifetime = 1s;
  o.expiry_slack = 1s;
  relay_server server(o);
  auto bound = server.start();
  REQUIRE(bound.ok());
  {
    raw_peer ghost;
    raw_allocate(ghost, *bound, "ghost"); // never refreshes or deallocates
  }
  raw_peer next;
  CHECK(raw_allocate_error(next, *bound) == "max sessions reached");
  CHECK(eventually([&] { return server.session_count() == 0; }, 4000ms));
  CHECK(server.stats().expired == 1);
  auto rn = raw_allocate(next, *bound, "next");
  // A refresh with lifetime 0 is accepted; expiry follows after the slack.
  next.send(ctl(rp::msg_type::refresh_req, rp::refresh_req_payload(rn.id, 0)),
            *bound);
  std::vector<std::uint8_t> keep;
  auto m = next.control(keep);
  REQUIRE(m.has_value());
  CHECK(rp::read_be32(m->payload.data()) == 0);
  CHECK(server.session_count() == 1);
  CHECK(eventually([&] { return server.session_count() == 0; }, 3000ms));
}

TEST_CASE("IPv4-mapped sources equal plain IPv4 on a dual-stack relay") {
  auto o = server_opts("[::1]:0");
  o.bind_ip = ip_address::any(ip_address::family_t::v6); // dual-stack
  relay_server server(o);
  auto bound = server.start();
  REQUIRE(bound.ok());
  udp_endpoint s4 = ep("127.0.0.1:" + std::to_string(bound->port));
  udp_endpoint s6 = ep("[::1]:" + std::to_string(bound->port));

  // An IPv4 client on the dual-stack socket (seen as ::ffff:127.0.0.1).
  raw_peer a;
  auto ra = raw_allocate(a, s4, "v4");
  CHECK(ra.relay_addr.ip.is_v6()); // IPv6 external => IPv6 relay address
  raw_peer peer;
  raw_permit(a, s4, ra.id, peer.local()); // plain 127.0.0.1
  udp_endpoint relay_v4 = ep("127.0.0.1:" + std::to_string(ra.relay_addr.port));
  peer.send(bytes("to a"), relay_v4);
  auto got = a.recv();
  REQUIRE(got.has_value());
  auto d = rp::parse_data(got->first);
  REQUIRE(d.has_value());
  CHECK(d->peer == peer.local()); // written as plain IPv4 on the wire
  CHECK(got->first[3] == 0x01);
  // And out again to the plain IPv4 peer through the IPv6 relay socket.
  a.send(rp::build_data(peer.local(), bytes("to peer")), s4);
  auto out = peer.recv();
  REQUIRE(out.has_value());
  CHECK(std::string(out->first.begin(), out->first.end()) == "to peer");

  // A native IPv6 client gets the same treatment.
  raw_peer b("[::1]:0");
  auto rb = raw_allocate(b, s6, "v6");
  CHECK(rb.relay_addr.ip.to_string() == "::1");
}

TEST_CASE("relay bind failed when no socket can be opened") {
  relay_server server(server_opts());
  auto bound = server.start();
  REQUIRE(bound.ok());
  raw_peer a;
  rlimit old{};
  ::getrlimit(RLIMIT_NOFILE, &old);
  // Fill every descriptor below a low limit so the relay socket cannot open.
  std::vector<int> fillers;
  int highest = 0;
  for (int fd = ::dup(0); fd >= 0 && fd < 200; fd = ::dup(0)) {
    fillers.push_back(fd);
    highest = fd;
  }
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(highest + 1);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::string err = raw_allocate_error(a, *bound);
  ::setrlimit(RLIMIT_NOFILE, &old);
  for (int fd : fillers)
    ::close(fd);
  CHECK(err == "relay bind failed");
  CHECK(server.session_count() == 0);
}

TEST_CASE("start and create errors") {
  relay_server bad(server_opts("relay.example:3478"));
  auto r = bad.start();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error()
        == "TURN relay error: Invalid external addr: relay.example:3478");
  relay_client_options o;
  o.server.address = "not_a_valid_address";
  auto c = relay_client::create(o);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().rfind("TURN relay error: Invalid relay server address", 0)
        == 0);
  o.server.address = "[::1]:3478";
  CHECK(relay_client::create(o).ok());
  o.server.address = "127.0.0.1:9";
  o.server.username = std::string(256, 'u');
  auto longname = std::move(*relay_client::create(o));
  CHECK(longname->allocate().error() == "TURN relay error: Username too long");
}

TEST_CASE("allocate times out against a silent server") {
  raw_peer silent;
  auto o = client_opts(silent.local());
  o.request_timeout = 300ms;
  auto c = std::move(*relay_client::create(o));
  auto r = c->allocate();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() == "TURN relay error: AllocateReq timed out");
}

TEST_CASE("shutdown frees every socket") {
  std::size_t before = open_fds();
  {
    relay_server server(server_opts());
    auto bound = server.start();
    REQUIRE(bound.ok());
    raw_peer a, b, c;
    raw_allocate(a, *bound, "a");
    raw_allocate(b, *bound, "b");
    raw_allocate(c, *bound, "c");
    CHECK(open_fds() >= before + 3 + 3 + 3); // main, epoll, eventfd, relays
    server.stop();
    CHECK_FALSE(server.running());
    CHECK(server.session_count() == 0);
  }
  CHECK(open_fds() == before);
}

TEST_CASE("clients of one relay reach each other without a hairpin") {
  // The external address is not local (as behind 1:1 NAT): a hairpin
  // through the network would go nowhere, local delivery must not.
  relay_server server(server_opts("192.0.2.77:3478"));
  auto bound = server.start();
  REQUIRE(bound.ok());
  udp_endpoint s = ep("127.0.0.1:" + std::to_string(bound->port));
  raw_peer a, b;
  auto ra = raw_allocate(a, s, "a");
  auto rb = raw_allocate(b, s, "b");
  CHECK(ra.relay_addr.ip.to_string() == "192.0.2.77");
  raw_permit(a, s, ra.id, rb.relay_addr);

  // B has not permitted A yet: dropped, as B's relay socket would drop it.
  a.send(rp::build_data(rb.relay_addr, bytes("early")), s);
  CHECK_FALSE(b.recv(300ms).has_value());

  raw_permit(b, s, rb.id, ra.relay_addr);
  a.send(rp::build_data(rb.relay_addr, bytes("via relay")), s);
  auto got = b.recv();
  REQUIRE(got.has_value());
  auto d = rp::parse_data(got->first);
  REQUIRE(d.has_value());
  CHECK(d->peer == ra.relay_addr);
  CHECK(std::string(d->raw.begin(), d->raw.end()) == "via relay");
  b.send(rp::build_data(ra.relay_addr, bytes("back")), s);
  auto back = a.recv();
  REQUIRE(back.has_value());
  CHECK(rp::parse_data(back->first)->peer == rb.relay_addr);
}

TEST_CASE("replies leave from the address the client sent to") {
  // Without IP_PKTINFO a wildcard socket would answer 127.0.0.1 clients
  // from 127.0.0.1 whatever loopback address they used.
  for (const char* external : {"127.0.0.1:0", "[::1]:0"}) {
    relay_server server(server_opts(external));
    auto bound = server.start();
    REQUIRE(bound.ok());
    CHECK(bound->ip.is_unspecified());
    udp_endpoint other = ep("127.0.0.3:" + std::to_string(bound->port));
    raw_peer a;
    a.send(ctl(rp::msg_type::allocate_req, rp::allocate_req_payload("a")),
           other);
    auto got = a.recv();
    REQUIRE(got.has_value());
    CHECK(got->second == other);
    auto m = rp::parse_control(got->first, rp::derive_auth_key(secret));
    REQUIRE(m.has_value());
    auto r = rp::parse_allocate_resp(m->payload);
    REQUIRE(r.has_value());
    // Peer traffic to the client uses the same source too.
    raw_permit(a, other, r->id, ep("127.0.0.1:9"));
    if (r->relay_addr.ip.is_v4()) {
      raw_peer peer("127.0.0.1:0");
      raw_permit(a, other, r->id, peer.local());
      peer.send(bytes("x"), r->relay_addr);
      auto d = a.recv();
      REQUIRE(d.has_value());
      CHECK(d->second == other);
    }
  }
}
