#pragma once

// IPC_SERVER: the actor side of the listening socket. The I/O thread
// (`socket_server`) reads and decodes frames; this actor sends each request
// to the supervisor, and puts the responses of each connection back into
// request order before they leave (design §3 rule 1), because the ZLayer
// client skips any response whose id it is not waiting for.

#include <map>
#include <memory>
#include <string>

#include "actors/interfaces.hpp"
#include "actors/response_sequencer.hpp"
#include "actors/socket_server.hpp"

namespace overlayd::actors {

/// One response on its way out, in encoded form.
struct outbound {
  std::string bytes;
  after_write then = after_write::keep_open;
};

struct ipc_server_state {
  explicit ipc_server_state(
    ipc_server_actor::stateful_pointer<ipc_server_state> self)
    : self(self) {
    // nop
  }

  struct connection {
    response_sequencer<outbound> order;
    /// Set once the stream has ended or a close is queued: later input
    /// is ignored.
    bool ended = false;
  };

  ipc_server_actor::stateful_pointer<ipc_server_state> self;
  supervisor_actor supervisor;
  std::shared_ptr<frame_sink> sink;
  std::map<conn_id, connection> conns;

  static inline const char* name = "overlayd.ipc_server";

  /// Takes one input of `conn`: a request goes to the supervisor, its
  /// response slot reserved now so that responses leave in this order.
  void accept(conn_id conn, inbound& in);

  /// Fills `slot` of `conn` and writes whatever is now in order.
  void deliver(conn_id conn, uint64_t slot, outbound out);
};

/// The encoded frame for `response` to request `id`: the length prefix and
/// the JSON body. A body over 8 MiB cannot be sent; like the reference,
/// the response is then lost and the connection closed.
outbound encode_outbound(uint64_t id, const ipc::response& response);

ipc_server_actor::behavior_type
ipc_server(ipc_server_actor::stateful_pointer<ipc_server_state> self,
           supervisor_actor supervisor, std::shared_ptr<frame_sink> sink);

} // namespace overlayd::actors
