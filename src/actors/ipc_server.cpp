#include "actors/ipc_server.hpp"

#include <type_traits>
#include <utility>
#include <variant>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "ipc/framing.hpp"
#include "ipc/json_codec.hpp"

namespace overlayd::actors {

outbound encode_outbound(uint64_t id, const ipc::response& response) {
  auto framed
    = ipc::encode_frame_bytes(ipc::encode_response_frame(id, response));
  if (!framed) {
    spdlog::warn("response to request {} not sent: {}", id,
                 framed.error().message());
    return {{}, after_write::close};
  }
  return {std::move(*framed), after_write::keep_open};
}

void ipc_server_state::accept(conn_id conn, inbound& in) {
  auto& c = conns[conn];
  if (c.ended)
    return;
  auto slot = c.order.reserve();
  if (auto* r = std::get_if<inbound_request>(&in)) {
    auto id = r->id;
    bool is_shutdown = std::holds_alternative<ipc::req::shutdown>(r->request);
    self->request(supervisor, caf::infinite, ipc_call{std::move(r->request)})
      .then(
        [self = self, conn, slot, id, is_shutdown](ipc_reply& rep) {
          auto out = encode_outbound(id, rep.response);
          // After the in-band shutdown reply the process exits (§1.9).
          if (is_shutdown && std::holds_alternative<ipc::resp::ok>(rep.response)
              && out.then == after_write::keep_open)
            out.then = after_write::close_and_signal;
          self->state.deliver(conn, slot, std::move(out));
        },
        [self = self, conn, slot, id](caf::error& e) {
          auto out = encode_outbound(id, ipc::resp::err{wire_message(e)});
          self->state.deliver(conn, slot, std::move(out));
        });
  } else if (auto* rej = std::get_if<inbound_reject>(&in)) {
    deliver(conn, slot, encode_outbound(rej->id, ipc::resp::err{rej->message}));
  } else {
    // End of input: close once every earlier response has left.
    c.ended = true;
    deliver(conn, slot, {{}, after_write::close});
  }
}

void ipc_server_state::deliver(conn_id conn, uint64_t slot, outbound out) {
  auto i = conns.find(conn);
  if (i == conns.end())
    return; // The connection is gone; so is the reader of this response.
  auto ready = i->second.order.fill(slot, std::move(out));
  if (ready.empty())
    return;
  // One write for everything that is in order, up to the first close.
  std::string bytes;
  auto then = after_write::keep_open;
  for (auto& r : ready) {
    bytes += r.bytes;
    if (r.then != after_write::keep_open) {
      then = r.then;
      break;
    }
  }
  // After a close nothing more is read or written; the state goes when the
  // I/O thread reports the connection gone.
  if (then != after_write::keep_open)
    i->second.ended = true;
  sink->send(conn, std::move(bytes), then);
}

ipc_server_actor::behavior_type
ipc_server(ipc_server_actor::stateful_pointer<ipc_server_state> self,
           supervisor_actor supervisor, std::shared_ptr<frame_sink> sink) {
  self->state.supervisor = std::move(supervisor);
  self->state.sink = std::move(sink);
  return {
    [self](atom::inbound, conn_id conn, inbound& in) {
      self->state.accept(conn, in);
    },
    [self](atom::inbound, inbound_batch& batch) {
      for (auto& item : batch.items)
        self->state.accept(item.conn, item.input);
    },
    [self](atom::gone, conn_id conn) { self->state.conns.erase(conn); },
  };
}

} // namespace overlayd::actors
