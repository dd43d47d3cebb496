#include "drivers/netlink_socket.hpp"

#include <cerrno>
#include <ctime>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <vector>

namespace overlayd::drivers::nl {

namespace {

// Large enough for any single rtnetlink dump datagram (the kernel sizes them
// up to 32 KiB); smaller buffers make recvmsg truncate messages.
constexpr std::size_t receive_bytes = 32768;

// A dump restarts when a concurrent change made it inconsistent; on a busy
// host one retry is nearly always enough, a handful bounds the worst case.
constexpr int max_dump_attempts = 8;

// The kernel answers in microseconds; only a stuck RTNL would exceed this.
constexpr time_t receive_timeout_seconds = 30;

} // namespace

result<std::unique_ptr<socket>> socket::open(std::string_view op,
                                             std::string_view object) {
  auto fail = [&](const char* what) {
    int e = errno;
    return error{kind_from_errno(e) == error_kind::permission_denied
                   ? error_kind::permission_denied
                   : error_kind::system,
                 e, std::string{op}, std::string{object},
                 std::string{"netlink socket: "} + what};
  };
  mnl_socket* sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
  if (sock == nullptr)
    return fail("open");
  std::unique_ptr<socket> out{new socket{sock}};
  if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0)
    return fail("bind");
  int one = 1;
  // Extended acks carry the kernel's reason ("Link already exists"...);
  // capped acks keep error replies from echoing our whole request.
  if (mnl_socket_setsockopt(sock, NETLINK_EXT_ACK, &one, sizeof(one)) < 0)
    return fail("NETLINK_EXT_ACK");
  if (mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &one, sizeof(one)) < 0)
    return fail("NETLINK_CAP_ACK");
  // Strict checking lets the kernel filter address dumps by link (4.20+).
  // Older kernels refuse the option and return everything; callers filter
  // again, so failure is harmless.
  (void)mnl_socket_setsockopt(sock, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
  timeval timeout{receive_timeout_seconds, 0};
  if (setsockopt(mnl_socket_get_fd(sock), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                 sizeof(timeout))
      < 0)
    return fail("SO_RCVTIMEO");
  out->port_id_ = mnl_socket_get_portid(sock);
  return out;
}

socket::socket(mnl_socket* sock)
  : sock_(sock), port_id_(0),
    next_seq_(static_cast<std::uint32_t>(std::time(nullptr))),
    rx_(receive_bytes) {
  // nop
}

socket::~socket() {
  mnl_socket_close(sock_);
}

status socket::exchange(message& msg, bool is_dump, std::string_view op,
                        std::string_view object, const on_message& each,
                        bool& interrupted) {
  auto* req = msg.header();
  req->nlmsg_seq = ++next_seq_;
  req->nlmsg_pid = 0;
  auto sys_error = [&](const char* what) {
    int e = errno;
    return error{error_kind::system, e, std::string{op}, std::string{object},
                 std::string{"netlink "} + what};
  };
  if (mnl_socket_sendto(sock_, msg.data(), msg.size()) < 0)
    return sys_error("send");

  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_, rx_.data(), rx_.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == ENOBUFS && is_dump) {
        // The socket overran mid-dump: messages were lost, so the caller
        // restarts the dump like an interrupted one.
        interrupted = true;
        return {};
      }
      return sys_error(errno == EAGAIN ? "receive timed out" : "receive");
    }
    auto batch = read_replies(rx_.data(), static_cast<std::size_t>(n),
                              req->nlmsg_seq, port_id_, each);
    interrupted = interrupted || batch.interrupted;
    if (!batch.finished)
      continue;
    if (batch.malformed)
      return error{error_kind::kernel, EPROTO, std::string{op},
                   std::string{object}, "truncated netlink error reply"};
    if (batch.outcome.err_no != 0)
      return error::from_errno(batch.outcome.err_no, std::string{op},
                               std::string{object},
                               std::move(batch.outcome.ext_ack));
    return {};
  }
}

status socket::request(message& msg, std::string_view op,
                       std::string_view object, const on_message& each) {
  bool interrupted = false;
  return exchange(msg, false, op, object, each, interrupted);
}

status socket::dump(message& msg, std::string_view op, const on_message& each,
                    const std::function<void()>& restart) {
  for (int attempt = 1;; ++attempt) {
    bool interrupted = false;
    if (auto st = exchange(msg, true, op, "", each, interrupted); !st)
      return st;
    if (!interrupted)
      return {};
    if (attempt == max_dump_attempts)
      return error{error_kind::kernel, EINTR, std::string{op}, "",
                   "dump stayed inconsistent after "
                     + std::to_string(max_dump_attempts) + " attempts"};
    if (restart)
      restart();
  }
}

} // namespace overlayd::drivers::nl
