// Message types -> compact JSON, in serde_json's exact byte layout: tag
// first, fields in Rust declaration order, `None` omitted (spec §2, §2.6).

#include <nlohmann/json.hpp>

#include "ipc/json_codec.hpp"

namespace overlayd::ipc {

namespace {

using ojson = nlohmann::ordered_json;

template <class... Fs>
struct overloaded : Fs... {
  using Fs::operator()...;
};

template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

ojson tagged(std::string_view key, std::string_view value) {
  ojson o = ojson::object();
  o[std::string{key}] = value;
  return o;
}

template <class T, class F>
void put_opt(ojson& o, const char* key, const std::optional<T>& v, F&& conv) {
  if (v)
    o[key] = conv(*v);
}

void put_opt(ojson& o, const char* key, const std::optional<std::string>& v) {
  if (v)
    o[key] = *v;
}

void put_opt(ojson& o, const char* key,
             const std::optional<net::ip_address>& v) {
  if (v)
    o[key] = v->to_string();
}

ojson strings(const std::vector<std::string>& xs) {
  ojson a = ojson::array();
  for (const auto& x : xs)
    a.push_back(x);
  return a;
}

ojson candidate_json(const nat_candidate_wire& c) {
  ojson o = ojson::object();
  o["candidate_type"] = c.candidate_type;
  o["address"] = c.address;
  o["priority"] = c.priority;
  return o;
}

ojson candidates_json(const std::vector<nat_candidate_wire>& cs) {
  ojson a = ojson::array();
  for (const auto& c : cs)
    a.push_back(candidate_json(c));
  return a;
}

// Writes PeerSpec's fields into `o` (its own object, or the add_peer
// request it is flattened into). Requests omit empty candidates, as the
// Rust client does; responses always carry them, because the serde
// attributes of that field are unknown and `[]` parses under any of them
// (spec §2.6).
void put_peer_fields(ojson& o, const peer_spec& p, bool always_candidates) {
  o["public_key"] = p.public_key;
  o["endpoint"] = p.endpoint;
  o["allowed_ips"] = p.allowed_ips;
  o["persistent_keepalive_secs"] = p.persistent_keepalive_secs;
  if (always_candidates || !p.candidates.empty())
    o["candidates"] = candidates_json(p.candidates);
}

ojson handle_json(const attach_handle& h) {
  return std::visit(overloaded{
                      [](const linux_pid_handle& x) {
                        auto o = tagged("platform", "linux_pid");
                        o["pid"] = x.pid;
                        return o;
                      },
                      [](const windows_container_handle& x) {
                        auto o = tagged("platform", "windows_container");
                        o["container_id"] = x.container_id;
                        put_opt(o, "ip", x.ip);
                        return o;
                      },
                      [](const guest_managed_handle& x) {
                        auto o = tagged("platform", "guest_managed");
                        o["id"] = x.id;
                        return o;
                      },
                      [](const host_shared_handle& x) {
                        auto o = tagged("platform", "host_shared");
                        o["id"] = x.id;
                        return o;
                      },
                    },
                    h);
}

ojson scope_json(const peer_scope& s) {
  if (s.is_global())
    return tagged("scope", "global");
  auto o = tagged("scope", "service");
  o["service"] = *s.service;
  return o;
}

ojson nat_config_json(const nat_config_spec& n) {
  ojson o = ojson::object();
  o["enabled"] = n.enabled;
  o["stun_servers"] = strings(n.stun_servers);
  ojson turns = ojson::array();
  for (const auto& t : n.turn_servers) {
    ojson x = ojson::object();
    x["addr"] = t.addr;
    x["username"] = t.username;
    x["credential"] = t.credential;
    turns.push_back(std::move(x));
  }
  o["turn_servers"] = std::move(turns);
  o["hole_punch_timeout_secs"] = n.hole_punch_timeout_secs;
  o["stun_refresh_interval_secs"] = n.stun_refresh_interval_secs;
  o["max_candidate_pairs"] = n.max_candidate_pairs;
  if (n.relay_server) {
    const auto& r = *n.relay_server;
    ojson x = ojson::object();
    x["listen_port"] = r.listen_port;
    x["external_addr"] = r.external_addr;
    x["max_sessions"] = r.max_sessions;
    put_opt(x, "auth_credential", r.auth_credential);
    o["relay_server"] = std::move(x);
  }
  return o;
}

ojson request_json(const request& r) {
  auto o = tagged("op", op_name(r));
  std::visit(
    overloaded{
      [&](const req::set_local_node_id& x) { o["node_id"] = x.node_id; },
      [&](const req::set_local_wg_pubkey& x) { o["pubkey"] = x.pubkey; },
      [&](const req::setup_global_overlay& x) {
        o["deployment"] = x.deployment;
        o["instance_id"] = x.instance_id;
        o["cluster_cidr"] = x.cluster_cidr;
        put_opt(o, "slice_cidr", x.slice_cidr);
        o["wg_port"] = x.wg_port;
        put_opt(o, "nat", x.nat, nat_config_json);
        o["host_adapter_mandatory"] = x.host_adapter_mandatory;
      },
      [&](const req::setup_service_overlay& x) {
        o["service"] = x.service;
        o["mode"] = to_string(x.mode);
      },
      [&](const req::teardown_service_overlay& x) { o["service"] = x.service; },
      [&](const req::allocate_ip& x) {
        o["service"] = x.service;
        o["join_global"] = x.join_global;
      },
      [&](const req::release_ip& x) { o["ip"] = x.ip.to_string(); },
      [&](const req::attach_container& x) {
        o["handle"] = handle_json(x.handle);
        o["service"] = x.service;
        o["join_global"] = x.join_global;
        put_opt(o, "dns_server", x.dns_server);
        put_opt(o, "dns_domain", x.dns_domain);
        o["ephemeral"] = x.ephemeral;
        put_opt(o, "isolation_network", x.isolation_network);
      },
      [&](const req::detach_container& x) {
        o["handle"] = handle_json(x.handle);
      },
      [&](const req::add_peer& x) {
        put_peer_fields(o, x.peer, false);
        o["scope"] = scope_json(x.scope);
      },
      [&](const req::remove_peer& x) {
        o["pubkey"] = x.pubkey;
        o["scope"] = scope_json(x.scope);
      },
      [&](const req::add_allowed_ip& x) {
        o["pubkey"] = x.pubkey;
        o["cidr"] = x.cidr;
        o["scope"] = scope_json(x.scope);
      },
      [&](const req::remove_allowed_ip& x) {
        o["pubkey"] = x.pubkey;
        o["cidr"] = x.cidr;
        o["scope"] = scope_json(x.scope);
      },
      [&](const req::register_dns& x) {
        o["name"] = x.name;
        o["ip"] = x.ip.to_string();
      },
      [&](const req::unregister_dns& x) { o["name"] = x.name; },
      [&](const req::write_scoped_resolver& x) {
        o["zone"] = x.zone;
        o["node_ip"] = x.node_ip.to_string();
        o["port"] = x.port;
      },
      [&](const req::remove_scoped_resolver& x) { o["zone"] = x.zone; },
      [&](const req::prune_orphan_bridges& x) {
        o["live_bridge_names"] = strings(x.live_bridge_names);
      },
      // Unit variants: the tag alone.
      [](const req::teardown_global_overlay&) {},
      [](const req::status&) {},
      [](const req::nat_tick&) {},
      [](const req::nat_status&) {},
      [](const req::shutdown&) {},
    },
    r);
  return o;
}

ojson response_json(const response& r) {
  auto o = tagged("result", result_name(r));
  std::visit(
    overloaded{
      [](const resp::ok&) {},
      [&](const resp::allocated_ip& x) { o["ip"] = x.ip.to_string(); },
      [&](const resp::attached& x) {
        o["ip"] = x.ip.to_string();
        put_opt(o, "namespace_guid", x.namespace_guid);
      },
      [&](const resp::guest_config& x) {
        o["overlay_ip"] = x.overlay_ip.to_string();
        o["prefix_len"] = x.prefix_len;
        o["private_key"] = x.private_key;
        o["public_key"] = x.public_key;
        o["listen_port"] = x.listen_port;
        ojson peers = ojson::array();
        for (const auto& p : x.peers) {
          ojson po = ojson::object();
          put_peer_fields(po, p, true);
          peers.push_back(std::move(po));
        }
        o["peers"] = std::move(peers);
        put_opt(o, "dns_server", x.dns_server);
        put_opt(o, "dns_domain", x.dns_domain);
      },
      [&](const resp::bridge_name& x) { o["name"] = x.name; },
      [&](const resp::status& x) {
        put_opt(o, "interface", x.interface);
        put_opt(o, "node_ip", x.node_ip);
        put_opt(o, "public_key", x.public_key);
        put_opt(o, "overlay_cidr", x.overlay_cidr);
        put_opt(o, "slice_cidr", x.slice_cidr);
        o["peer_count"] = x.peer_count;
        o["service_count"] = x.service_count;
        if (!x.peers.empty()) {
          ojson peers = ojson::array();
          for (const auto& p : x.peers) {
            ojson po = ojson::object();
            po["public_key"] = p.public_key;
            po["endpoint"] = p.endpoint;
            po["allowed_ips"] = p.allowed_ips;
            po["last_handshake_unix_secs"] = p.last_handshake_unix_secs;
            peers.push_back(std::move(po));
          }
          o["peers"] = std::move(peers);
        }
        if (!x.dedicated_services.empty()) {
          ojson ds = ojson::array();
          for (const auto& d : x.dedicated_services) {
            ojson dobj = ojson::object();
            dobj["service"] = d.service;
            dobj["interface"] = d.interface;
            dobj["public_key"] = d.public_key;
            dobj["listen_port"] = d.listen_port;
            dobj["overlay_ip"] = d.overlay_ip.to_string();
            dobj["subnet"] = d.subnet;
            dobj["peer_count"] = d.peer_count;
            ds.push_back(std::move(dobj));
          }
          o["dedicated_services"] = std::move(ds);
        }
      },
      [&](const resp::service_overlay& x) {
        o["name"] = x.name;
        o["mode"] = to_string(x.mode);
        put_opt(o, "wg_public_key", x.wg_public_key);
        put_opt(o, "wg_port", x.wg_port, [](std::uint16_t p) { return p; });
        put_opt(o, "overlay_ip", x.overlay_ip);
        put_opt(o, "subnet", x.subnet);
      },
      [&](const resp::pruned_bridges& x) {
        o["reclaimed"] = strings(x.reclaimed);
      },
      [&](const resp::nat_status& x) {
        o["candidates"] = candidates_json(x.candidates);
        ojson peers = ojson::array();
        for (const auto& p : x.peers) {
          ojson po = ojson::object();
          po["node_id"] = p.node_id;
          po["connection_type"] = p.connection_type;
          put_opt(po, "remote_endpoint", p.remote_endpoint);
          peers.push_back(std::move(po));
        }
        o["peers"] = std::move(peers);
        o["last_refresh"] = x.last_refresh;
      },
      [&](const resp::err& x) { o["message"] = x.message; },
    },
    r);
  return o;
}

// Event fields, written after whatever `o` already holds (the frame tag).
void put_event(ojson& o, const event& e) {
  std::visit(overloaded{
               [&](const evt::peer_health_changed& x) {
                 o["event"] = "peer_health_changed";
                 o["pubkey"] = x.pubkey;
                 o["healthy"] = x.healthy;
               },
               [&](const evt::nat_endpoint_changed& x) {
                 o["event"] = "nat_endpoint_changed";
                 o["pubkey"] = x.pubkey;
                 o["endpoint"] = x.endpoint;
               },
             },
             e);
}

// serde_json never escapes non-ASCII and never fails on valid UTF-8; the
// `replace` handler keeps a bad byte sequence from throwing (the Rust side
// could not have produced one: its strings are always valid UTF-8).
std::string dump(const ojson& o) {
  return o.dump(-1, ' ', false, ojson::error_handler_t::replace);
}

} // namespace

std::string encode_request(const request& r) {
  return dump(request_json(r));
}

std::string encode_response(const response& r) {
  return dump(response_json(r));
}

std::string encode_event(const event& e) {
  ojson o = ojson::object();
  put_event(o, e);
  return dump(o);
}

std::string encode_request_frame(std::uint64_t id, const request& r) {
  auto o = tagged("frame", "request");
  o["id"] = id;
  o["request"] = request_json(r);
  return dump(o);
}

std::string encode_response_frame(std::uint64_t id, const response& r) {
  auto o = tagged("frame", "response");
  o["id"] = id;
  o["response"] = response_json(r);
  return dump(o);
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
                        auto o = tagged("frame", "event");
                        put_event(o, x.event);
                        return dump(o);
                      },
                    },
                    f);
}

} // namespace overlayd::ipc
