#include "stun/stun_client.hpp"

#include <algorithm>
#include <cerrno>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include "stun/dns_resolver.hpp"
#include "stun/udp_socket.hpp"

namespace overlayd::stun {

namespace {

using clock = std::chrono::steady_clock;
using query_result = result<reflexive_address, stun_error>;

stun_error io_error(std::string text) {
  return {stun_error::kind::io, 0, 0, std::move(text)};
}

std::optional<std::uint16_t> parse_u16(std::string_view s) {
  // Rust's u16::from_str: optional '+', then decimal digits.
  if (!s.empty() && s.front() == '+')
    s.remove_prefix(1);
  if (s.empty())
    return std::nullopt;
  std::uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return std::nullopt;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
    if (v > 65535)
      return std::nullopt;
  }
  return static_cast<std::uint16_t>(v);
}

// One in-flight query of a discover() pass.
struct pending_query {
  udp_socket sock;
  transaction_id txn;
  std::string name;
  clock::time_point deadline;
};

query_result receive_answer(const pending_query& q) {
  std::uint8_t buf[stun_recv_buffer];
  ssize_t n = ::recv(q.sock.fd(), buf, sizeof buf, 0);
  if (n < 0)
    return query_result::failure(io_error(errno_text(errno)));
  auto addr = parse_binding_response(
    std::span<const std::uint8_t>(buf, static_cast<std::size_t>(n)), q.txn);
  if (!addr)
    return query_result::failure(addr.error());
  return reflexive_address{*addr, q.name};
}

} // namespace

nat_behavior detect_nat_behavior(const std::vector<reflexive_address>& rs) {
  if (rs.size() <= 1)
    return nat_behavior::endpoint_independent;
  auto port = rs.front().address.port;
  bool same = std::all_of(rs.begin(), rs.end(), [port](const auto& r) {
    return r.address.port == port;
  });
  return same ? nat_behavior::endpoint_independent : nat_behavior::symmetric;
}

server_address classify_server_address(std::string_view address) {
  server_address out;
  if (auto lit = udp_endpoint::parse(address)) {
    out.type = server_address::kind::literal;
    out.literal = *lit;
    return out;
  }
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos)
    return out;
  std::string host(address.substr(0, colon));
  std::erase(host, '[');
  std::erase(host, ']');
  auto port = parse_u16(address.substr(colon + 1));
  if (host.empty() || host.find(':') != std::string::npos || !port)
    return out;
  out.type = server_address::kind::host_port;
  out.host = std::move(host);
  out.port = *port;
  return out;
}

resolver_fn system_resolver() {
  return [](const std::string& host,
            std::uint16_t port) -> std::optional<ip_address> {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    std::string service = std::to_string(port);
    if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0
        || res == nullptr)
      return std::nullopt;
    auto ep = udp_endpoint::from_sockaddr(res->ai_addr);
    ::freeaddrinfo(res);
    return ep.ip;
  };
}

stun_client::stun_client(std::vector<stun_server_config> servers,
                         stun_client_options options)
  : servers_(std::move(servers)), options_(std::move(options)) {
  if (!options_.resolver)
    options_.resolver = bypass_resolver();
}

void stun_client::warn(const std::string& msg) const {
  if (options_.warn)
    options_.warn(msg);
}

namespace {

// Opens, pins and sends; the pending query then waits for its answer.
result<pending_query, stun_error>
launch_query(const udp_endpoint& server, const std::string& name,
             const std::optional<std::string>& pin_iface,
             std::chrono::milliseconds timeout,
             const std::function<void(const std::string&)>& warn) {
  using r = result<pending_query, stun_error>;
  int family = server.native_family();
  int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return r::failure(io_error(errno_text(errno)));
  udp_socket sock(fd);
  // Pin before binding, as the reference does; failure only warns.
  if (pin_iface && !pin_iface->empty()) {
    if (::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, pin_iface->c_str(),
                     static_cast<socklen_t>(pin_iface->size()))
          != 0
        && warn)
      warn("STUN socket pin to " + *pin_iface
           + " failed: " + errno_text(errno));
  }
  sockaddr_storage ss;
  socklen_t len
    = udp_endpoint{ip_address::any(server.ip.family), 0}.to_sockaddr(ss,
                                                                     family);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return r::failure(io_error(errno_text(errno)));
  pending_query q{udp_socket(), random_transaction_id(), name, {}};
  auto req = build_binding_request(q.txn);
  len = server.to_sockaddr(ss, family);
  if (::sendto(fd, req.data(), req.size(), MSG_NOSIGNAL,
               reinterpret_cast<sockaddr*>(&ss), len)
      < 0)
    return r::failure(io_error(errno_text(errno)));
  q.deadline = clock::now() + timeout;
  q.sock = std::move(sock);
  return q;
}

// Waits up to `wait` for any pending query to finish; moves finished ones
// (answered, failed or timed out) into `done` in completion order.
void collect(std::vector<pending_query>& pending,
             std::vector<query_result>& done, std::chrono::milliseconds wait) {
  if (pending.empty())
    return;
  std::vector<pollfd> fds(pending.size());
  auto now = clock::now();
  auto next_deadline = now + wait;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    fds[i] = {pending[i].sock.fd(), POLLIN, 0};
    next_deadline = std::min(next_deadline, pending[i].deadline);
  }
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(next_deadline - now);
  int rc = ::poll(fds.data(), fds.size(),
                  static_cast<int>(std::max<long>(0, ms.count())));
  if (rc < 0 && errno != EINTR)
    rc = 0;
  now = clock::now();
  std::vector<pending_query> still;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    if (rc > 0 && (fds[i].revents & (POLLIN | POLLERR)))
      done.push_back(receive_answer(pending[i]));
    else if (now >= pending[i].deadline)
      done.push_back(
        query_result::failure({stun_error::kind::timeout, 0, 0, {}}));
    else
      still.push_back(std::move(pending[i]));
  }
  pending = std::move(still);
}

} // namespace

result<reflexive_address, stun_error>
stun_client::query_server(const udp_endpoint& server, const std::string& name,
                          const std::optional<std::string>& pin_iface) const {
  auto q
    = launch_query(server, name, pin_iface, options_.timeout, options_.warn);
  if (!q)
    return query_result::failure(q.error());
  std::vector<pending_query> pending;
  pending.push_back(std::move(*q));
  std::vector<query_result> done;
  while (done.empty())
    collect(pending, done, options_.timeout);
  return std::move(done.front());
}

result<stun_discovery, stun_error> stun_client::discover() const {
  using r = result<stun_discovery, stun_error>;
  if (servers_.empty())
    return r::failure({stun_error::kind::no_servers, 0, 0, {}});
  std::optional<std::string> pin;
  if (options_.egress_iface)
    pin = options_.egress_iface();

  std::vector<pending_query> pending;
  std::vector<query_result> done;
  for (const auto& cfg : servers_) {
    auto cls = classify_server_address(cfg.address);
    udp_endpoint target;
    if (cls.type == server_address::kind::literal) {
      target = cls.literal;
    } else if (cls.type == server_address::kind::host_port) {
      auto ip = options_.resolver(cls.host, cls.port);
      if (!ip) {
        warn("STUN server " + cfg.address + ": DNS resolution failed");
        continue;
      }
      target = {*ip, cls.port};
    } else {
      warn("STUN server address is invalid: " + cfg.address);
      continue;
    }
    auto q
      = launch_query(target, cfg.name(), pin, options_.timeout, options_.warn);
    if (q)
      pending.push_back(std::move(*q));
    else
      done.push_back(query_result::failure(q.error()));
    // Answers that arrived while later names resolve complete first.
    collect(pending, done, std::chrono::milliseconds(0));
  }
  while (!pending.empty())
    collect(pending, done, options_.timeout);

  stun_discovery out;
  std::optional<stun_error> last_error;
  for (auto& d : done) {
    if (d)
      out.results.push_back(std::move(d.value()));
    else
      last_error = d.error();
  }
  if (out.results.empty())
    return r::failure(last_error
                        ? *last_error
                        : stun_error{stun_error::kind::no_servers, 0, 0, {}});
  out.behavior = detect_nat_behavior(out.results);
  return out;
}

} // namespace overlayd::stun
