#include "actors/supervisor.hpp"

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "actors/request_resource.hpp"

namespace overlayd::actors {

namespace {

using ticket = request_gate::ticket;

ipc::response err(std::string message) {
  return ipc::resp::err{std::move(message)};
}

// The answer for operations whose machinery a later issue brings: a clear
// refusal, never a fake success.
ipc::response not_available(std::string_view op, std::string_view missing) {
  return err(std::string{op} + " is not available yet: " + std::string{missing}
             + " is not implemented in this build");
}

// Runs one request. Every branch ends in exactly one `finish(id, ...)`,
// either right away or from the reply handler of a child request.
struct dispatcher {
  supervisor_actor::stateful_pointer<supervisor_state> self;
  ticket id;

  supervisor_state& st() { return self->state; }

  void done(ipc::response r) { st().finish(id, std::move(r)); }

  // Forwards to a child whose handler answers nothing on success.
  template <class Handle, class... Ts>
  void ask_ok(const Handle& dest, Ts&&... xs) {
    auto self_ptr = self;
    auto job = id;
    self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
      .then([self_ptr, job]() { self_ptr->state.finish(job, ipc::resp::ok{}); },
            [self_ptr, job](caf::error& e) {
              self_ptr->state.finish(job, err(wire_message(e)));
            });
  }

  // The transport a scope names; answers the reference's error if the
  // scope has none. A global scope always has one: the global transport
  // exists before its device and skips device work while it has none.
  const transport_actor* transport_for(const ipc::peer_scope& scope) {
    if (scope.is_global())
      return &st().kids.global_transport;
    auto i = st().dedicated.find(*scope.service);
    if (i == st().dedicated.end()) {
      done(err("no dedicated overlay for service " + *scope.service));
      return nullptr;
    }
    return &i->second;
  }

  // -- node identity --------------------------------------------------------

  void operator()(ipc::req::set_local_node_id& r) {
    st().local_node_id = r.node_id;
    done(ipc::resp::ok{});
  }

  void operator()(ipc::req::set_local_wg_pubkey& r) {
    st().local_wg_pubkey = std::move(r.pubkey);
    done(ipc::resp::ok{});
  }

  // -- global overlay -------------------------------------------------------

  void operator()(ipc::req::setup_global_overlay&) {
    done(not_available("setup_global_overlay", "the WireGuard device"));
  }

  void operator()(ipc::req::teardown_global_overlay&) {
    done(not_available("teardown_global_overlay", "the WireGuard device"));
  }

  // -- services and containers ----------------------------------------------

  void operator()(ipc::req::setup_service_overlay&) {
    done(not_available("setup_service_overlay",
                       "bridge and dedicated-device plumbing"));
  }

  void operator()(ipc::req::teardown_service_overlay&) {
    done(not_available("teardown_service_overlay",
                       "bridge and dedicated-device plumbing"));
  }

  void operator()(ipc::req::attach_container&) {
    done(not_available("attach_container", "container plumbing"));
  }

  void operator()(ipc::req::detach_container&) {
    done(not_available("detach_container", "container plumbing"));
  }

  void operator()(ipc::req::prune_orphan_bridges&) {
    done(not_available("prune_orphan_bridges", "bridge management"));
  }

  // -- addresses ------------------------------------------------------------

  void operator()(ipc::req::allocate_ip& r) {
    // `join_global` is ignored, as in the reference: the eth1 address is
    // reserved at attach time.
    auto i = st().service_modes.find(r.service);
    bool shared
      = i != st().service_modes.end() && ipc::uses_shared_bridge(i->second);
    auto self_ptr = self;
    auto job = id;
    self
      ->request(st().kids.ipam, caf::infinite, atom::allocate_v, r.service,
                shared)
      .then(
        [self_ptr, job](net::ip_address ip) {
          self_ptr->state.finish(job, ipc::resp::allocated_ip{ip});
        },
        [self_ptr, job](caf::error& e) {
          self_ptr->state.finish(job, err(wire_message(e)));
        });
  }

  void operator()(ipc::req::release_ip& r) {
    ask_ok(st().kids.ipam, atom::release_v, r.ip);
  }

  // -- peers ----------------------------------------------------------------

  void operator()(ipc::req::add_peer& r) {
    // The endpoint is checked first, whatever the scope (reference
    // `peer_spec_to_info`).
    auto ep = net::socket_address::parse(r.peer.endpoint);
    if (!ep) {
      done(err("invalid peer endpoint " + r.peer.endpoint + ": " + ep.error()));
      return;
    }
    if (auto* t = transport_for(r.scope))
      ask_ok(*t, atom::add_peer_v, std::move(r.peer));
  }

  void operator()(ipc::req::remove_peer& r) {
    if (auto* t = transport_for(r.scope))
      ask_ok(*t, atom::remove_peer_v, std::move(r.pubkey));
  }

  void operator()(ipc::req::add_allowed_ip& r) {
    if (auto* t = transport_for(r.scope))
      ask_ok(*t, atom::add_allowed_v, std::move(r.pubkey), std::move(r.cidr));
  }

  void operator()(ipc::req::remove_allowed_ip& r) {
    if (auto* t = transport_for(r.scope))
      ask_ok(*t, atom::rm_allowed_v, std::move(r.pubkey), std::move(r.cidr));
  }

  // -- DNS and resolvers ----------------------------------------------------

  void operator()(ipc::req::register_dns& r) {
    st().dns_records.insert_or_assign(std::move(r.name), r.ip);
    done(ipc::resp::ok{});
  }

  void operator()(ipc::req::unregister_dns& r) {
    st().dns_records.erase(r.name);
    done(ipc::resp::ok{});
  }

  // Scoped resolvers exist only on macOS; the reference answers this on
  // every other platform.
  void operator()(ipc::req::write_scoped_resolver&) {
    done(err("overlay engine error: scoped resolver is macOS-only"));
  }

  void operator()(ipc::req::remove_scoped_resolver&) {
    done(err("overlay engine error: scoped resolver is macOS-only"));
  }

  // -- status and NAT -------------------------------------------------------

  void operator()(ipc::req::status&) {
    // Without a device there is no UAPI dump: no peers, as in the
    // reference. Services count once they can be set up (dedicated
    // transports, and bridges when they land).
    auto& g = st().global;
    ipc::resp::status s;
    s.interface = g.interface;
    s.node_ip = g.node_ip;
    s.public_key = g.public_key;
    s.overlay_cidr = g.cluster_cidr;
    s.slice_cidr = g.slice_cidr;
    s.peer_count = 0;
    s.service_count = static_cast<uint32_t>(st().dedicated.size());
    done(std::move(s));
  }

  void operator()(ipc::req::nat_tick&) {
    done(not_available("nat_tick", "NAT traversal"));
  }

  void operator()(ipc::req::nat_status&) {
    // Before any tick the reference reports nothing gathered.
    done(ipc::resp::nat_status{});
  }

  // -- shutdown -------------------------------------------------------------

  void operator()(ipc::req::shutdown&) {
    // A barrier: everything submitted earlier has finished. With no global
    // overlay there is nothing to tear down; later issues add the
    // transports' and drivers' teardown here, in reverse order of setup.
    st().shutting_down = true;
    spdlog::info("shutdown requested over IPC");
    done(ipc::resp::ok{});
  }
};

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
  std::visit(dispatcher{self, id}, request);
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

supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self,
           supervisor_children kids) {
  self->link_to(kids.ipam);
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
