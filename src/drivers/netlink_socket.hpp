#pragma once

#include "drivers/error.hpp"
#include "drivers/netlink_messages.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

struct mnl_socket;

namespace overlayd::drivers::nl {

/// One NETLINK_ROUTE socket with extended acks enabled. A socket belongs to
/// the network namespace of the thread that opened it, for its whole life.
/// Not thread-safe: one user at a time.
class socket {
public:
  /// Opens and binds a socket in the calling thread's namespace. `op` and
  /// `object` name the operation for the error if this fails.
  static result<std::unique_ptr<socket>> open(std::string_view op,
                                              std::string_view object);

  ~socket();
  socket(const socket&) = delete;
  socket& operator=(const socket&) = delete;

  /// Called once per reply message other than the final ack/done.
  using on_message = std::function<void(const nlmsghdr*)>;

  /// Sends a request that carries NLM_F_ACK and waits for its ack. Reply
  /// messages before the ack (e.g. the RTM_NEWLINK answering RTM_GETLINK) go
  /// to `each`. A kernel error becomes a typed error with errno and ext-ack.
  status request(message& msg, std::string_view op, std::string_view object,
                 const on_message& each = {});

  /// Sends a dump request and hands every reply to `each`. If the kernel
  /// flags the dump as inconsistent (NLM_F_DUMP_INTR) or the socket
  /// overran, `restart` is called (the caller drops what it collected) and
  /// the dump is repeated, a bounded number of times.
  status dump(message& msg, std::string_view op, const on_message& each,
              const std::function<void()>& restart);

private:
  explicit socket(mnl_socket* sock);

  /// Sends `msg` with a fresh sequence number; reads until the ack (or
  /// NLMSG_DONE when `is_dump`). Sets `interrupted` when a message carried
  /// NLM_F_DUMP_INTR.
  status exchange(message& msg, bool is_dump, std::string_view op,
                  std::string_view object, const on_message& each,
                  bool& interrupted);

  mnl_socket* sock_;
  std::uint32_t port_id_;
  std::uint32_t next_seq_;
  std::vector<char> rx_; // reused receive buffer
};

} // namespace overlayd::drivers::nl
