// Message types -> compact JSON, in serde_json's exact byte layout: tag
// first, fields in Rust declaration order, `None` omitted (spec §2, §2.6).

#include "ipc/json_codec.hpp"
#include "ipc/json_writer.hpp"

namespace overlayd::ipc {

namespace {

using detail::json_writer;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

void put_ip(json_writer& w, std::string_view k, const net::ip_address& ip) {
  w.field(k, ip.to_string());
}

void put_opt(json_writer& w, std::string_view k,
             const std::optional<std::string>& v) {
  if (v)
    w.field(k, *v);
}

void put_opt(json_writer& w, std::string_view k,
             const std::optional<net::ip_address>& v) {
  if (v)
    put_ip(w, k, *v);
}

void put_strings(json_writer& w, std::string_view k,
                 const std::vector<std::string>& xs) {
  w.key(k);
  w.begin_array();
  for (const auto& x : xs)
    w.value(x);
  w.end_array();
}

void put_candidates(json_writer& w, const std::vector<nat_candidate_wire>& cs) {
  w.key("candidates");
  w.begin_array();
  for (const auto& c : cs) {
    w.begin_object();
    w.field("candidate_type", c.candidate_type);
    w.field("address", c.address);
    w.field("priority", c.priority);
    w.end_object();
  }
  w.end_array();
}

// Writes PeerSpec's fields into the open object (its own, or the add_peer
// request it is flattened into). Requests omit empty candidates, as the
// Rust client does; responses always carry them, because the serde
// attributes of that field are unknown and `[]` parses under any of them
// (spec §2.6).
void put_peer_fields(json_writer& w, const peer_spec& p,
                     bool always_candidates) {
  w.field("public_key", p.public_key);
  w.field("endpoint", p.endpoint);
  w.field("allowed_ips", p.allowed_ips);
  w.field("persistent_keepalive_secs", p.persistent_keepalive_secs);
  if (always_candidates || !p.candidates.empty())
    put_candidates(w, p.candidates);
}

void put_handle(json_writer& w, const attach_handle& h) {
  w.key("handle");
  w.begin_object();
  std::visit(overloaded{
               [&](const linux_pid_handle& x) {
                 w.field("platform", "linux_pid");
                 w.field("pid", x.pid);
               },
               [&](const windows_container_handle& x) {
                 w.field("platform", "windows_container");
                 w.field("container_id", x.container_id);
                 put_opt(w, "ip", x.ip);
               },
               [&](const guest_managed_handle& x) {
                 w.field("platform", "guest_managed");
                 w.field("id", x.id);
               },
               [&](const host_shared_handle& x) {
                 w.field("platform", "host_shared");
                 w.field("id", x.id);
               },
             },
             h);
  w.end_object();
}

void put_scope(json_writer& w, const peer_scope& s) {
  w.key("scope");
  w.begin_object();
  if (s.is_global()) {
    w.field("scope", "global");
  } else {
    w.field("scope", "service");
    w.field("service", *s.service);
  }
  w.end_object();
}

void put_nat_config(json_writer& w, const nat_config_spec& n) {
  w.key("nat");
  w.begin_object();
  w.field("enabled", n.enabled);
  put_strings(w, "stun_servers", n.stun_servers);
  w.key("turn_servers");
  w.begin_array();
  for (const auto& t : n.turn_servers) {
    w.begin_object();
    w.field("addr", t.addr);
    w.field("username", t.username);
    w.field("credential", t.credential);
    w.end_object();
  }
  w.end_array();
  w.field("hole_punch_timeout_secs", n.hole_punch_timeout_secs);
  w.field("stun_refresh_interval_secs", n.stun_refresh_interval_secs);
  w.field("max_candidate_pairs", n.max_candidate_pairs);
  if (n.relay_server) {
    const auto& r = *n.relay_server;
    w.key("relay_server");
    w.begin_object();
    w.field("listen_port", r.listen_port);
    w.field("external_addr", r.external_addr);
    w.field("max_sessions", r.max_sessions);
    put_opt(w, "auth_credential", r.auth_credential);
    w.end_object();
  }
  w.end_object();
}

// The request's fields into the open object, tag first.
void put_request(json_writer& w, const request& r) {
  w.field("op", op_name(r));
  std::visit(
    overloaded{
      [&](const req::set_local_node_id& x) { w.field("node_id", x.node_id); },
      [&](const req::set_local_wg_pubkey& x) { w.field("pubkey", x.pubkey); },
      [&](const req::setup_global_overlay& x) {
        w.field("deployment", x.deployment);
        w.field("instance_id", x.instance_id);
        w.field("cluster_cidr", x.cluster_cidr);
        put_opt(w, "slice_cidr", x.slice_cidr);
        w.field("wg_port", x.wg_port);
        if (x.nat)
          put_nat_config(w, *x.nat);
        w.field("host_adapter_mandatory", x.host_adapter_mandatory);
      },
      [&](const req::setup_service_overlay& x) {
        w.field("service", x.service);
        w.field("mode", to_string(x.mode));
      },
      [&](const req::teardown_service_overlay& x) {
        w.field("service", x.service);
      },
      [&](const req::allocate_ip& x) {
        w.field("service", x.service);
        w.field("join_global", x.join_global);
      },
      [&](const req::release_ip& x) { put_ip(w, "ip", x.ip); },
      [&](const req::attach_container& x) {
        put_handle(w, x.handle);
        w.field("service", x.service);
        w.field("join_global", x.join_global);
        put_opt(w, "dns_server", x.dns_server);
        put_opt(w, "dns_domain", x.dns_domain);
        w.field("ephemeral", x.ephemeral);
        put_opt(w, "isolation_network", x.isolation_network);
      },
      [&](const req::detach_container& x) { put_handle(w, x.handle); },
      [&](const req::add_peer& x) {
        put_peer_fields(w, x.peer, false);
        put_scope(w, x.scope);
      },
      [&](const req::remove_peer& x) {
        w.field("pubkey", x.pubkey);
        put_scope(w, x.scope);
      },
      [&](const req::add_allowed_ip& x) {
        w.field("pubkey", x.pubkey);
        w.field("cidr", x.cidr);
        put_scope(w, x.scope);
      },
      [&](const req::remove_allowed_ip& x) {
        w.field("pubkey", x.pubkey);
        w.field("cidr", x.cidr);
        put_scope(w, x.scope);
      },
      [&](const req::register_dns& x) {
        w.field("name", x.name);
        put_ip(w, "ip", x.ip);
      },
      [&](const req::unregister_dns& x) { w.field("name", x.name); },
      [&](const req::write_scoped_resolver& x) {
        w.field("zone", x.zone);
        put_ip(w, "node_ip", x.node_ip);
        w.field("port", x.port);
      },
      [&](const req::remove_scoped_resolver& x) { w.field("zone", x.zone); },
      [&](const req::prune_orphan_bridges& x) {
        put_strings(w, "live_bridge_names", x.live_bridge_names);
      },
      // Unit variants: the tag alone.
      [](const req::teardown_global_overlay&) {},
      [](const req::status&) {},
      [](const req::nat_tick&) {},
      [](const req::nat_status&) {},
      [](const req::shutdown&) {},
    },
    r);
}

void put_status(json_writer& w, const status_snapshot& x) {
  put_opt(w, "interface", x.interface);
  put_opt(w, "node_ip", x.node_ip);
  put_opt(w, "public_key", x.public_key);
  put_opt(w, "overlay_cidr", x.overlay_cidr);
  put_opt(w, "slice_cidr", x.slice_cidr);
  w.field("peer_count", x.peer_count);
  w.field("service_count", x.service_count);
  if (!x.peers.empty()) {
    w.key("peers");
    w.begin_array();
    for (const auto& p : x.peers) {
      w.begin_object();
      w.field("public_key", p.public_key);
      w.field("endpoint", p.endpoint);
      w.field("allowed_ips", p.allowed_ips);
      w.field("last_handshake_unix_secs", p.last_handshake_unix_secs);
      w.end_object();
    }
    w.end_array();
  }
  if (!x.dedicated_services.empty()) {
    w.key("dedicated_services");
    w.begin_array();
    for (const auto& d : x.dedicated_services) {
      w.begin_object();
      w.field("service", d.service);
      w.field("interface", d.interface);
      w.field("public_key", d.public_key);
      w.field("listen_port", d.listen_port);
      put_ip(w, "overlay_ip", d.overlay_ip);
      w.field("subnet", d.subnet);
      w.field("peer_count", d.peer_count);
      w.end_object();
    }
    w.end_array();
  }
}

// The response's fields into the open object, tag first.
void put_response(json_writer& w, const response& r) {
  w.field("result", result_name(r));
  std::visit(overloaded{
               [](const resp::ok&) {},
               [&](const resp::allocated_ip& x) { put_ip(w, "ip", x.ip); },
               [&](const resp::attached& x) {
                 put_ip(w, "ip", x.ip);
                 put_opt(w, "namespace_guid", x.namespace_guid);
               },
               [&](const resp::guest_config& x) {
                 put_ip(w, "overlay_ip", x.overlay_ip);
                 w.field("prefix_len", x.prefix_len);
                 w.field("private_key", x.private_key);
                 w.field("public_key", x.public_key);
                 w.field("listen_port", x.listen_port);
                 w.key("peers");
                 w.begin_array();
                 for (const auto& p : x.peers) {
                   w.begin_object();
                   put_peer_fields(w, p, true);
                   w.end_object();
                 }
                 w.end_array();
                 put_opt(w, "dns_server", x.dns_server);
                 put_opt(w, "dns_domain", x.dns_domain);
               },
               [&](const resp::bridge_name& x) { w.field("name", x.name); },
               [&](const resp::status& x) { put_status(w, x); },
               [&](const resp::service_overlay& x) {
                 w.field("name", x.name);
                 w.field("mode", to_string(x.mode));
                 put_opt(w, "wg_public_key", x.wg_public_key);
                 if (x.wg_port)
                   w.field("wg_port", *x.wg_port);
                 put_opt(w, "overlay_ip", x.overlay_ip);
                 put_opt(w, "subnet", x.subnet);
               },
               [&](const resp::pruned_bridges& x) {
                 put_strings(w, "reclaimed", x.reclaimed);
               },
               [&](const resp::nat_status& x) {
                 put_candidates(w, x.candidates);
                 w.key("peers");
                 w.begin_array();
                 for (const auto& p : x.peers) {
                   w.begin_object();
                   w.field("node_id", p.node_id);
                   w.field("connection_type", p.connection_type);
                   put_opt(w, "remote_endpoint", p.remote_endpoint);
                   w.end_object();
                 }
                 w.end_array();
                 w.field("last_refresh", x.last_refresh);
               },
               [&](const resp::err& x) { w.field("message", x.message); },
             },
             r);
}

// The event's fields (tag first) into the open object.
void put_event(json_writer& w, const event& e) {
  std::visit(overloaded{
               [&](const evt::peer_health_changed& x) {
                 w.field("event", "peer_health_changed");
                 w.field("pubkey", x.pubkey);
                 w.field("healthy", x.healthy);
               },
               [&](const evt::nat_endpoint_changed& x) {
                 w.field("event", "nat_endpoint_changed");
                 w.field("pubkey", x.pubkey);
                 w.field("endpoint", x.endpoint);
               },
             },
             e);
}

template <class F>
std::string object(F&& fill) {
  json_writer w;
  w.begin_object();
  fill(w);
  w.end_object();
  return w.take();
}

} // namespace

std::string encode_request(const request& r) {
  return object([&](json_writer& w) { put_request(w, r); });
}

std::string encode_response(const response& r) {
  return object([&](json_writer& w) { put_response(w, r); });
}

std::string encode_event(const event& e) {
  return object([&](json_writer& w) { put_event(w, e); });
}

std::string encode_request_frame(std::uint64_t id, const request& r) {
  return object([&](json_writer& w) {
    w.field("frame", "request");
    w.field("id", id);
    w.key("request");
    w.begin_object();
    put_request(w, r);
    w.end_object();
  });
}

std::string encode_response_frame(std::uint64_t id, const response& r) {
  return object([&](json_writer& w) {
    w.field("frame", "response");
    w.field("id", id);
    w.key("response");
    w.begin_object();
    put_response(w, r);
    w.end_object();
  });
}

std::string encode_error_frame(std::uint64_t id, std::string_view message) {
  return encode_response_frame(id, resp::err{std::string{message}});
}

std::string encode_frame(const frame& f) {
  return std::visit(overloaded{
                      [](const request_frame& x) {
                        return encode_request_frame(x.id, x.request);
                      },
                      [](const response_frame& x) {
                        return encode_response_frame(x.id, x.response);
                      },
                      [](const event_frame& x) {
                        return object([&](json_writer& w) {
                          w.field("frame", "event");
                          put_event(w, x.event);
                        });
                      },
                    },
                    f);
}

} // namespace overlayd::ipc
