#include "actors/relay_server.hpp"

#include <memory>
#include <utility>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace overlayd::actors {

namespace {

struct relay_server_state {
  stun::relay_server_options options;
  // Destroyed with the state, which stops the loop and closes the sockets
  // however the actor exits.
  std::unique_ptr<stun::relay_server> server;
  std::optional<stun::udp_endpoint> address;

  relay_started start() {
    if (server && server->running() && address)
      return {address, {}};
    server = std::make_unique<stun::relay_server>(options);
    auto r = server->start();
    if (!r) {
      server.reset();
      return {std::nullopt, r.error()};
    }
    address = *r;
    return {address, {}};
  }

  void stop() {
    if (server)
      server->stop();
    server.reset();
    address.reset();
  }
};

using relay_ptr = relay_server_actor::stateful_pointer<relay_server_state>;

relay_server_actor::behavior_type
relay_server_fn(relay_ptr self, stun::relay_server_options options) {
  self->state.options = std::move(options);
  return {
    [self](atom::relay_up) { return self->state.start(); },
    [self](atom::relay_stat) {
      const auto& s = self->state.server;
      return s ? s->stats() : stun::relay_server_stats{};
    },
    [self](atom::relay_down) {
      bool was_running = self->state.server != nullptr;
      self->state.stop();
      return was_running;
    },
  };
}

} // namespace

relay_server_actor spawn_relay_server(caf::actor_system& sys,
                                      stun::relay_server_options options) {
  return sys.spawn(relay_server_fn, std::move(options));
}

} // namespace overlayd::actors
