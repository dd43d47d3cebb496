#include "actors/transport.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "overlay/engine.hpp"

namespace overlayd::actors {

transport_actor::behavior_type
transport(transport_actor::stateful_pointer<transport_state> self,
          overlay::engine* core, std::string scope) {
  self->state.core = core;
  self->state.scope = std::move(scope);
  return {
    [self](atom::scope_run, ipc_call& call) {
      auto& st = self->state;
      ++st.handled;
      auto response = st.core->handle(call.request);
      if (auto* e = std::get_if<ipc::resp::err>(&response))
        spdlog::debug("{} transport: {} failed: {}", st.scope,
                      ipc::op_name(call.request), e->message);
      return ipc_reply{std::move(response)};
    },
  };
}

} // namespace overlayd::actors
