#include "actors/supervisor.hpp"

#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/driver_worker.hpp"
#include "actors/errors.hpp"
#include "actors/nat_convert.hpp"
#include "actors/request_resource.hpp"
#include "actors/transport.hpp"
#include "overlay/engine.hpp"

namespace overlayd::actors {

namespace {

using ticket = request_gate::ticket;
using supervisor_ptr = supervisor_actor::stateful_pointer<supervisor_state>;

ipc::response err(std::string message) {
  return ipc::resp::err{std::move(message)};
}

/// Requests that only read or change the WireGuard scopes: they run in a
/// transport. Everything else is host work for the driver pool.
bool is_scope_work(const ipc::request& request) {
  return std::visit(
    [](const auto& r) {
      using T = std::decay_t<decltype(r)>;
      namespace q = ipc::req;
      return std::is_same_v<
               T, q::add_peer> || std::is_same_v<T, q::remove_peer> || std::is_same_v<T, q::add_allowed_ip> || std::is_same_v<T, q::remove_allowed_ip> || std::is_same_v<T, q::status> || std::is_same_v<T, q::register_dns> || std::is_same_v<T, q::unregister_dns> || std::is_same_v<T, q::write_scoped_resolver> || std::is_same_v<T, q::remove_scoped_resolver> || std::is_same_v<T, q::nat_tick> || std::is_same_v<T, q::nat_status>;
    },
    request);
}

/// The peer scope a request names; null for requests without one.
const ipc::peer_scope* scope_of(const ipc::request& request) {
  return std::visit(
    [](const auto& r) -> const ipc::peer_scope* {
      if constexpr (requires { r.scope; })
        return &r.scope;
      else
        return nullptr;
    },
    request);
}

/// The transport that runs a scope request: a dedicated service's own once
/// it exists. A service scope without one goes to the global transport,
/// where the core answers the reference's "no dedicated overlay" error.
const transport_actor& transport_for(supervisor_state& st,
                                     const ipc::request& request) {
  if (auto* scope = scope_of(request); scope && !scope->is_global()) {
    if (auto i = st.dedicated.find(*scope->service); i != st.dedicated.end())
      return i->second;
  }
  return st.kids.global_transport;
}

/// The global device exists: NAT traversal follows it, learns a new NAT
/// config (kept, and used if the first tick is still to come) and, ticking
/// itself, starts now.
void after_global_setup(supervisor_ptr self,
                        const ipc::req::setup_global_overlay& r,
                        const ipc::response& response) {
  auto& st = self->state;
  st.overlay_port = r.wg_port;
  if (auto* b = std::get_if<ipc::resp::bridge_name>(&response))
    st.kids.nat.device_name->set(b->name);
  if (!st.kids.nat.spawn)
    return;
  if (st.nat_ticker) {
    if (r.nat)
      self->send(st.nat_ticker, atom::nat_config_v, to_stun_config(*r.nat));
  } else if (st.kids.nat.self_tick) {
    ensure_nat_ticker(self);
  }
}

/// Tells the ticker about a global peer change the core accepted.
void after_scope_work(supervisor_ptr self, const ipc::request& request,
                      const ipc::response& response) {
  auto& st = self->state;
  if (!st.nat_ticker || std::holds_alternative<ipc::resp::err>(response))
    return;
  if (auto* a = std::get_if<ipc::req::add_peer>(&request)) {
    if (a->scope.is_global())
      self->send(st.nat_ticker, atom::nat_cands_v, a->peer.public_key,
                 to_stun_candidates(a->peer.candidates));
  } else if (auto* r = std::get_if<ipc::req::remove_peer>(&request)) {
    if (r->scope.is_global())
      self->send(st.nat_ticker, atom::nat_rmpeer_v, r->pubkey);
  }
}

/// Keeps the dedicated transports in step with what host work did.
void after_host_work(supervisor_ptr self, const ipc::request& request,
                     const ipc::response& response) {
  auto& st = self->state;
  bool ok = !std::holds_alternative<ipc::resp::err>(response);
  if (auto* r = std::get_if<ipc::req::setup_service_overlay>(&request)) {
    if (ok && ipc::uses_per_service_wg(r->mode)
        && st.dedicated.count(r->service) == 0) {
      st.dedicated.emplace(r->service,
                           self->spawn(transport, st.kids.core, r->service));
      spdlog::info("dedicated transport for service {} started", r->service);
    }
  } else if (auto* t
             = std::get_if<ipc::req::teardown_service_overlay>(&request)) {
    if (ok && st.dedicated.erase(t->service) > 0)
      spdlog::info("dedicated transport for service {} stopped", t->service);
  } else if (auto* g = std::get_if<ipc::req::setup_global_overlay>(&request)) {
    if (ok)
      after_global_setup(self, *g, response);
  } else if (std::holds_alternative<ipc::req::teardown_global_overlay>(
               request)) {
    // Global teardown takes every dedicated device with it.
    if (ok) {
      st.dedicated.clear();
      st.kids.nat.device_name->set(std::nullopt);
    }
  } else if (std::holds_alternative<ipc::req::shutdown>(request)) {
    st.dedicated.clear();
    st.kids.nat.device_name->set(std::nullopt);
    st.shutting_down = true;
    spdlog::info("shutdown requested over IPC; refusing further requests");
  }
}

void run_scope_work(supervisor_ptr self, ticket id, ipc::request request) {
  const auto& dest = transport_for(self->state, request);
  bool peer_change = std::holds_alternative<ipc::req::add_peer>(request)
                     || std::holds_alternative<ipc::req::remove_peer>(request);
  std::optional<ipc::request> kept;
  if (peer_change)
    kept = request;
  self
    ->request(dest, caf::infinite, atom::scope_run_v,
              ipc_call{std::move(request)})
    .then(
      [self, id, kept = std::move(kept)](ipc_reply& reply) {
        if (kept)
          after_scope_work(self, *kept, reply.response);
        self->state.finish(id, std::move(reply.response));
      },
      [self, id](caf::error& e) {
        self->state.finish(id, err(wire_message(e)));
      });
}

bool is_nat_work(const ipc::request& request) {
  return std::holds_alternative<ipc::req::nat_tick>(request)
         || std::holds_alternative<ipc::req::nat_status>(request);
}

/// `nat_tick` and `nat_status` in the ticker. A tick answers once its STUN
/// refresh is done; the traversal attempts it starts run on the ticker's
/// timers afterwards, so nobody waits for them.
void run_nat_work(supervisor_ptr self, ticket id, const ipc::request& request) {
  auto& st = self->state;
  if (std::holds_alternative<ipc::req::nat_status>(request)) {
    if (!st.nat_ticker) {
      // Before any tick: empty, `last_refresh` 0.
      st.finish(id, ipc::resp::nat_status{});
      return;
    }
    self->request(st.nat_ticker, caf::infinite, atom::nat_status_v)
      .then(
        [self, id](stun::nat_status& s) {
          self->state.finish(id, ipc::resp::nat_status{to_status_wire(s)});
        },
        [self, id](caf::error& e) {
          self->state.finish(id, err(wire_message(e)));
        });
    return;
  }
  const auto& ticker = ensure_nat_ticker(self);
  self->request(ticker, caf::infinite, atom::nat_tick_v)
    .then(
      [self, id](stun::status& s) {
        self->state.finish(id, s ? ipc::response{ipc::resp::ok{}}
                                 : ipc::response{ipc::overlay_error(s.error)});
      },
      [self, id](caf::error& e) {
        self->state.finish(id, err(wire_message(e)));
      });
}

void run_host_work(supervisor_ptr self, ticket id, ipc::request request) {
  auto* core = self->state.kids.core;
  auto job = make_driver_job(
    resource_of(request), std::string{ipc::op_name(request)},
    [core, request](drivers::host_driver&) {
      return drivers::result<ipc::response>{core->handle(request)};
    });
  run_driver_job<ipc::response>(
    self, self->state.kids.drivers, std::move(job),
    [self, id, request](drivers::result<ipc::response> result) {
      // A pool that died (only at exit) is reported, never mistaken for
      // an engine answer.
      auto response
        = result ? std::move(*result)
                 : err("overlayd internal error: " + result.error().what());
      after_host_work(self, request, response);
      self->state.finish(id, std::move(response));
    });
}

} // namespace

void supervisor_state::submit(ipc::request request,
                              caf::typed_response_promise<ipc_reply> promise) {
  auto res = resource_of(request);
  auto [id, start_now] = gate.submit(std::move(res));
  jobs.emplace(id, job{std::move(request), std::move(promise)});
  if (start_now)
    run(id);
}

void supervisor_state::run(request_gate::ticket id) {
  auto i = jobs.find(id);
  if (i == jobs.end())
    return;
  auto request = std::move(i->second.request);
  spdlog::debug("request {} started", ipc::op_name(request));
  if (shutting_down) {
    finish(id, err("overlayd is shutting down"));
    return;
  }
  if (is_nat_work(request) && kids.nat.spawn)
    run_nat_work(self, id, request);
  else if (is_scope_work(request))
    run_scope_work(self, id, std::move(request));
  else
    run_host_work(self, id, std::move(request));
}

void supervisor_state::finish(request_gate::ticket id, ipc::response response) {
  auto i = jobs.find(id);
  if (i == jobs.end())
    return;
  auto promise = std::move(i->second.promise);
  jobs.erase(i);
  promise.deliver(ipc_reply{std::move(response)});
  for (auto next : gate.finish(id))
    run(next);
}

const nat_ticker_actor& ensure_nat_ticker(supervisor_ptr self) {
  auto& st = self->state;
  if (st.nat_ticker)
    return st.nat_ticker;
  std::optional<stun::converted_nat_config> config;
  if (auto spec = st.kids.core->nat_config())
    config = to_stun_config(*spec);
  st.nat_ticker = st.kids.nat.spawn(st.overlay_port, std::move(config));
  self->link_to(st.nat_ticker);
  // Peers added before NAT came up (the reference's first-tick connect).
  for (auto& [key, wire] : st.kids.core->peer_candidates())
    self->send(st.nat_ticker, atom::nat_cands_v, key, to_stun_candidates(wire));
  return st.nat_ticker;
}

supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           supervisor_children kids) {
  self->link_to(kids.drivers);
  self->link_to(kids.global_transport);
  self->state.kids = std::move(kids);
  return {
    [self](ipc_call& call) -> caf::result<ipc_reply> {
      auto rp = self->make_response_promise<ipc_reply>();
      self->state.submit(std::move(call.request), rp);
      return rp;
    },
  };
}

} // namespace overlayd::actors
