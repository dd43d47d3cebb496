#include "actors/nat_wiring.hpp"

#include <chrono>
#include <utility>

#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "actors/relay_server.hpp"
#include "stun/nat_runtime.hpp"

namespace overlayd::actors {

namespace {

// Everything behind one ticker's services. Members go in reverse order: the
// device view (and with it the relay path) first, then the relay server
// actor, then the runtime with its relay clients (deallocated on the way).
struct nat_host {
  std::unique_ptr<stun::nat_runtime> runtime;
  relay_server_actor relay;
  std::shared_ptr<nat_global_device> device;

  ~nat_host() {
    device.reset();
    if (relay)
      caf::anon_send_exit(relay, caf::exit_reason::user_shutdown);
  }
};

void warn(const std::string& m) {
  spdlog::warn("NAT: {}", m);
}

// The first tick's relay start, by the relay_server actor that owns the
// relay's sockets and sessions (design §3) rather than the runtime's own
// server. Runs on the detached ticker's thread, which may wait.
stun::status start_relay(caf::actor_system& sys, nat_host& host,
                         const stun::relay_server_config& cfg,
                         const std::string& credential) {
  if (!host.relay) {
    stun::relay_server_options o;
    o.config = cfg;
    o.credential = credential;
    o.log = [](const std::string& m) { spdlog::info("relay server: {}", m); };
    host.relay = spawn_relay_server(sys, std::move(o));
  }
  stun::status out = stun::status::failure("relay server did not answer");
  caf::scoped_actor self{sys};
  self->request(host.relay, std::chrono::seconds(10), atom::relay_up_v)
    .receive(
      [&](relay_started& r) {
        if (r.address) {
          spdlog::info("built-in relay server started on {} (external {})",
                       r.address->to_string(), cfg.external_addr);
          out = stun::status::success();
        } else {
          out = stun::status::failure(r.error);
        }
      },
      [&](caf::error& e) { out = stun::status::failure(wire_message(e)); });
  return out;
}

} // namespace

nat_wiring make_device_nat_wiring(caf::actor_system& sys,
                                  overlay::wg_control& wg, bool self_tick) {
  nat_wiring w;
  w.self_tick = self_tick;
  w.spawn
    = [&sys, &wg, names = w.device_name, self_tick](
        std::uint16_t port, std::optional<stun::converted_nat_config> config) {
        auto host = std::make_shared<nat_host>();
        stun::nat_runtime_options ro;
        ro.wg_port = port;
        ro.warn = warn;
        host->runtime = std::make_unique<stun::nat_runtime>(std::move(ro));
        host->device
          = std::make_shared<nat_global_device>(wg, names, host->runtime.get());
        nat_ticker_options o;
        o.wg_port = port;
        o.services = host->runtime->services();
        o.services.start_relay
          = [&sys, h = host.get()](const stun::relay_server_config& c,
                                   const std::string& k) {
              return start_relay(sys, *h, c, k);
            };
        o.wg = std::shared_ptr<stun::wg_control>(host, host->device.get());
        o.peer_candidates_changed
          = [dev = host->device.get()](const std::string& key,
                                       const std::vector<stun::candidate>& c) {
              dev->set_peer_candidates(key, c);
            };
        o.services_owner = host;
        o.initial_config = std::move(config);
        o.self_tick = self_tick;
        o.detached = true;
        spdlog::info("NAT ticker started (WireGuard port {}{})", port,
                     self_tick ? ", ticking itself" : "");
        return spawn_nat_ticker(sys, std::move(o));
      };
  return w;
}

} // namespace overlayd::actors
