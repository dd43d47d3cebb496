// JSON -> message types, following serde's derive rules (spec/ipc.md §2).

#include <algorithm>
#include <limits>
#include <span>

#include <nlohmann/json.hpp>

#include "ipc/json_codec.hpp"
#include "ipc/wire_tags.hpp"

namespace overlayd::ipc {

namespace {

using json = nlohmann::json;

// Decoding bails out through this exception; the public functions turn it
// into an error value. It never escapes this file.
struct failure {
  std::string message;
};

[[noreturn]] void fail(std::string message) {
  throw failure{std::move(message)};
}

// serde's `Unexpected` wording for a JSON value.
std::string describe(const json& j) {
  switch (j.type()) {
  case json::value_t::null:
    return "unit value";
  case json::value_t::boolean:
    return j.get<bool>() ? "boolean `true`" : "boolean `false`";
  case json::value_t::number_integer:
    return "integer `" + std::to_string(j.get<std::int64_t>()) + "`";
  case json::value_t::number_unsigned:
    return "integer `" + std::to_string(j.get<std::uint64_t>()) + "`";
  case json::value_t::number_float:
    return "floating point `" + j.dump() + "`";
  case json::value_t::string:
    return "string " + j.dump();
  case json::value_t::array:
    return "sequence";
  default:
    return "map";
  }
}

[[noreturn]] void invalid_type(const json& j, std::string_view expected) {
  fail("invalid type: " + describe(j) + ", expected " + std::string{expected});
}

// -- scalars ------------------------------------------------------------------

const std::string& read_string(const json& j) {
  if (!j.is_string())
    invalid_type(j, "a string");
  return j.get_ref<const std::string&>();
}

bool read_bool(const json& j) {
  if (!j.is_boolean())
    invalid_type(j, "a boolean");
  return j.get<bool>();
}

// Unsigned integers: JSON integers only (never floats, even `1.0`), range
// checked with 64-bit arithmetic.
template <class T>
T read_uint(const json& j, std::string_view type_name) {
  constexpr auto max
    = static_cast<std::uint64_t>(std::numeric_limits<T>::max());
  if (j.type() == json::value_t::number_unsigned) {
    auto v = j.get<std::uint64_t>();
    if (v > max)
      fail("invalid value: integer `" + std::to_string(v) + "`, expected "
           + std::string{type_name});
    return static_cast<T>(v);
  }
  if (j.type() == json::value_t::number_integer) {
    auto v = j.get<std::int64_t>();
    if (v < 0)
      fail("invalid value: integer `" + std::to_string(v) + "`, expected "
           + std::string{type_name});
    return static_cast<T>(v); // only "-0" gets here
  }
  invalid_type(j, type_name);
}

std::int64_t read_i64(const json& j) {
  if (j.type() == json::value_t::number_integer)
    return j.get<std::int64_t>();
  if (j.type() == json::value_t::number_unsigned) {
    auto v = j.get<std::uint64_t>();
    if (v
        > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail("invalid value: integer `" + std::to_string(v) + "`, expected i64");
    return static_cast<std::int64_t>(v);
  }
  invalid_type(j, "i64");
}

net::ip_address read_ip(const json& j) {
  if (!j.is_string())
    invalid_type(j, "IP address");
  auto ip = net::ip_address::parse(j.get_ref<const std::string&>());
  if (!ip)
    fail(ip.error());
  return *ip;
}

overlay_mode read_mode(const json& j) {
  if (!j.is_string())
    invalid_type(j, "variant identifier");
  const auto& s = j.get_ref<const std::string&>();
  // "isolated" (a possible fourth reference value) routes like auto.
  if (auto m = parse_overlay_mode(s))
    return *m;
  fail("unknown variant `" + s
       + "`, expected one of `auto`, `shared`, `dedicated`");
}

template <class F>
auto read_vec(const json& j, F&& read_one) {
  using T = std::decay_t<decltype(read_one(j))>;
  if (!j.is_array())
    invalid_type(j, "a sequence");
  std::vector<T> out;
  out.reserve(j.size());
  for (const auto& x : j)
    out.push_back(read_one(x));
  return out;
}

std::string read_string_value(const json& j) {
  return read_string(j);
}

// -- structs: a JSON object, or (serde) an array in field order ---------------

// A view of the fields of one Rust struct. `offset` skips leading array
// elements that are not fields (the variant tag of an internally tagged
// enum given as an array).
class struct_view {
public:
  struct_view(const json& j, std::string_view what,
              std::span<const std::string_view> names, std::size_t offset = 0)
    : j_(j), names_(names), offset_(offset) {
    if (j.is_array()) {
      if (j.size() > offset + names.size())
        fail("invalid length " + std::to_string(j.size() - offset)
             + ", expected " + std::string{what} + " with "
             + std::to_string(names.size()) + " elements");
    } else if (!j.is_object()) {
      invalid_type(j, what);
    }
  }

  // nullptr when absent.
  const json* get(std::string_view name) const {
    if (j_.is_object()) {
      auto i = j_.find(name);
      return i == j_.end() ? nullptr : &*i;
    }
    auto pos = std::find(names_.begin(), names_.end(), name) - names_.begin();
    auto idx = offset_ + static_cast<std::size_t>(pos);
    return idx < j_.size() ? &j_[idx] : nullptr;
  }

  // A field without `#[serde(default)]`.
  template <class F>
  auto req(std::string_view name, F&& read) const {
    const auto* v = get(name);
    if (v == nullptr)
      fail("missing field `" + std::string{name} + "`");
    return read(*v);
  }

  // An `Option<T>`: absent and null both mean None.
  template <class F>
  auto opt(std::string_view name, F&& read) const {
    using T = std::decay_t<decltype(read(std::declval<const json&>()))>;
    const auto* v = get(name);
    if (v == nullptr || v->is_null())
      return std::optional<T>{};
    return std::optional<T>{read(*v)};
  }

  // A defaulted field. Fields whose serde attributes are only inferred
  // ([I] in the spec) also take `null` as the default, to be lenient.
  template <class F, class T>
  T def(std::string_view name, F&& read, T fallback,
        bool null_is_default = true) const {
    const auto* v = get(name);
    if (v == nullptr || (null_is_default && v->is_null()))
      return fallback;
    return read(*v);
  }

private:
  const json& j_;
  std::span<const std::string_view> names_;
  std::size_t offset_;
};

template <std::size_t N>
using names = std::array<std::string_view, N>;

// Reads the tag of an internally tagged enum, from `{"tag":"v",...}` or
// from serde's array form `["v", fields...]`.
std::string_view read_tag(const json& j, std::string_view key,
                          std::string_view what) {
  const json* tag = nullptr;
  if (j.is_object()) {
    auto i = j.find(key);
    if (i == j.end())
      fail("missing field `" + std::string{key} + "`");
    tag = &*i;
  } else if (j.is_array()) {
    if (j.empty())
      fail("invalid length 0, expected " + std::string{what});
    tag = &j[0];
  } else {
    invalid_type(j, what);
  }
  if (!tag->is_string())
    invalid_type(*tag, "variant identifier");
  return tag->get_ref<const std::string&>();
}

template <std::size_t N>
[[noreturn]] void unknown_variant(std::string_view tag,
                                  const names<N>& expected) {
  std::string msg
    = "unknown variant `" + std::string{tag} + "`, expected one of ";
  for (std::size_t i = 0; i < N; ++i) {
    if (i > 0)
      msg += ", ";
    msg += "`" + std::string{expected[i]} + "`";
  }
  fail(std::move(msg));
}

template <std::size_t N>
std::size_t variant_index(std::string_view tag, const names<N>& all) {
  auto i = std::find(all.begin(), all.end(), tag);
  if (i == all.end())
    unknown_variant(tag, all);
  return static_cast<std::size_t>(i - all.begin());
}

// -- nested types -------------------------------------------------------------

nat_candidate_wire read_candidate(const json& j) {
  static constexpr names<3> f{"candidate_type", "address", "priority"};
  struct_view s{j, "struct NatCandidateWire", f};
  nat_candidate_wire c;
  c.candidate_type = s.def("candidate_type", read_string_value, std::string{});
  c.address = s.def("address", read_string_value, std::string{});
  c.priority = s.def(
    "priority",
    [](const json& x) { return read_uint<std::uint32_t>(x, "u32"); },
    std::uint32_t{0});
  return c;
}

std::vector<nat_candidate_wire> read_candidates(const json& j) {
  return read_vec(j, read_candidate);
}

turn_server_spec read_turn(const json& j) {
  static constexpr names<3> f{"addr", "username", "credential"};
  struct_view s{j, "struct TurnServerSpec", f};
  turn_server_spec t;
  t.addr = s.def("addr", read_string_value, std::string{});
  t.username = s.def("username", read_string_value, std::string{});
  t.credential = s.def("credential", read_string_value, std::string{});
  return t;
}

relay_server_spec read_relay(const json& j) {
  static constexpr names<4> f{"listen_port", "external_addr", "max_sessions",
                              "auth_credential"};
  struct_view s{j, "struct RelayServerSpec", f};
  relay_server_spec r;
  r.listen_port = s.def(
    "listen_port",
    [](const json& x) { return read_uint<std::uint16_t>(x, "u16"); },
    std::uint16_t{0});
  r.external_addr = s.def("external_addr", read_string_value, std::string{});
  r.max_sessions = s.def(
    "max_sessions",
    [](const json& x) { return read_uint<std::uint64_t>(x, "usize"); },
    std::uint64_t{0});
  r.auth_credential = s.opt("auth_credential", read_string_value);
  return r;
}

nat_config_spec read_nat_config(const json& j) {
  static constexpr names<7> f{"enabled",
                              "stun_servers",
                              "turn_servers",
                              "hole_punch_timeout_secs",
                              "stun_refresh_interval_secs",
                              "max_candidate_pairs",
                              "relay_server"};
  struct_view s{j, "struct NatConfigSpec", f};
  auto u64 = [](const json& x) { return read_uint<std::uint64_t>(x, "u64"); };
  nat_config_spec n;
  n.enabled = s.def("enabled", read_bool, false);
  n.stun_servers = s.def(
    "stun_servers",
    [](const json& x) { return read_vec(x, read_string_value); },
    std::vector<std::string>{});
  n.turn_servers = s.def(
    "turn_servers", [](const json& x) { return read_vec(x, read_turn); },
    std::vector<turn_server_spec>{});
  n.hole_punch_timeout_secs
    = s.def("hole_punch_timeout_secs", u64, std::uint64_t{0});
  n.stun_refresh_interval_secs
    = s.def("stun_refresh_interval_secs", u64, std::uint64_t{0});
  n.max_candidate_pairs = s.def("max_candidate_pairs", u64, std::uint64_t{0});
  n.relay_server = s.opt("relay_server", read_relay);
  return n;
}

// PeerSpec's fields, read from any view that holds them (its own object,
// or the add_peer request it is flattened into).
peer_spec read_peer_fields(const struct_view& s) {
  peer_spec p;
  p.public_key = s.req("public_key", read_string_value);
  p.endpoint = s.req("endpoint", read_string_value);
  p.allowed_ips = s.req("allowed_ips", read_string_value);
  p.persistent_keepalive_secs
    = s.req("persistent_keepalive_secs",
            [](const json& x) { return read_uint<std::uint64_t>(x, "u64"); });
  p.candidates
    = s.def("candidates", read_candidates, std::vector<nat_candidate_wire>{});
  return p;
}

constexpr names<5> peer_spec_fields{"public_key", "endpoint", "allowed_ips",
                                    "persistent_keepalive_secs", "candidates"};

peer_spec read_peer_spec(const json& j) {
  return read_peer_fields(struct_view{j, "struct PeerSpec", peer_spec_fields});
}

attach_handle read_handle(const json& j) {
  static constexpr names<4> tags{"linux_pid", "windows_container",
                                 "guest_managed", "host_shared"};
  auto tag = read_tag(j, "platform", "internally tagged enum AttachHandle");
  switch (variant_index(tag, tags)) {
  case 0: {
    static constexpr names<1> f{"pid"};
    struct_view s{j, "struct variant AttachHandle::LinuxPid", f, 1};
    return linux_pid_handle{s.req(
      "pid", [](const json& x) { return read_uint<std::uint32_t>(x, "u32"); })};
  }
  case 1: {
    static constexpr names<2> f{"container_id", "ip"};
    struct_view s{j, "struct variant AttachHandle::WindowsContainer", f, 1};
    return windows_container_handle{s.req("container_id", read_string_value),
                                    s.opt("ip", read_ip)};
  }
  case 2: {
    static constexpr names<1> f{"id"};
    struct_view s{j, "struct variant AttachHandle::GuestManaged", f, 1};
    return guest_managed_handle{s.req("id", read_string_value)};
  }
  default: {
    static constexpr names<1> f{"id"};
    struct_view s{j, "struct variant AttachHandle::HostShared", f, 1};
    return host_shared_handle{s.req("id", read_string_value)};
  }
  }
}

peer_scope read_scope(const json& j) {
  static constexpr names<2> tags{"global", "service"};
  auto tag = read_tag(j, "scope", "internally tagged enum PeerScope");
  if (variant_index(tag, tags) == 0)
    return peer_scope::global();
  static constexpr names<1> f{"service"};
  struct_view s{j, "struct variant PeerScope::Service", f, 1};
  return peer_scope::of_service(s.req("service", read_string_value));
}

// `scope` has `#[serde(default)]` (Global when absent); `null` and bare
// strings are errors, as in serde (spec §3.4).
peer_scope read_scope_field(const struct_view& s) {
  const auto* v = s.get("scope");
  return v == nullptr ? peer_scope::global() : read_scope(*v);
}

// -- requests -----------------------------------------------------------------

using detail::request_tags;

constexpr std::string_view request_what = "internally tagged enum "
                                          "OverlaydRequest";

template <std::size_t N>
struct_view request_fields(const json& j, const names<N>& f) {
  return struct_view{j, "struct variant", f, 1};
}

request read_request(const json& j) {
  auto tag = read_tag(j, "op", request_what);
  auto u16 = [](const json& x) { return read_uint<std::uint16_t>(x, "u16"); };
  switch (variant_index(tag, request_tags)) {
  case 0: {
    static constexpr names<1> f{"node_id"};
    auto s = request_fields(j, f);
    return req::set_local_node_id{s.req("node_id", [](const json& x) {
      return read_uint<std::uint64_t>(x, "u64");
    })};
  }
  case 1: {
    static constexpr names<1> f{"pubkey"};
    return req::set_local_wg_pubkey{
      request_fields(j, f).req("pubkey", read_string_value)};
  }
  case 2: {
    static constexpr names<7> f{
      "deployment", "instance_id", "cluster_cidr",          "slice_cidr",
      "wg_port",    "nat",         "host_adapter_mandatory"};
    auto s = request_fields(j, f);
    req::setup_global_overlay r;
    r.deployment = s.req("deployment", read_string_value);
    r.instance_id = s.req("instance_id", read_string_value);
    r.cluster_cidr = s.req("cluster_cidr", read_string_value);
    r.slice_cidr = s.opt("slice_cidr", read_string_value);
    r.wg_port = s.req("wg_port", u16);
    r.nat = s.opt("nat", read_nat_config);
    r.host_adapter_mandatory
      = s.def("host_adapter_mandatory", read_bool, false);
    // The older clients' `nat_enabled` is an unknown field: ignored.
    return r;
  }
  case 3:
    return req::teardown_global_overlay{};
  case 4: {
    static constexpr names<2> f{"service", "mode"};
    auto s = request_fields(j, f);
    return req::setup_service_overlay{s.req("service", read_string_value),
                                      s.req("mode", read_mode)};
  }
  case 5: {
    static constexpr names<1> f{"service"};
    return req::teardown_service_overlay{
      request_fields(j, f).req("service", read_string_value)};
  }
  case 6: {
    static constexpr names<2> f{"service", "join_global"};
    auto s = request_fields(j, f);
    return req::allocate_ip{s.req("service", read_string_value),
                            s.req("join_global", read_bool)};
  }
  case 7: {
    static constexpr names<1> f{"ip"};
    return req::release_ip{request_fields(j, f).req("ip", read_ip)};
  }
  case 8: {
    static constexpr names<7> f{"handle",           "service",    "join_global",
                                "dns_server",       "dns_domain", "ephemeral",
                                "isolation_network"};
    auto s = request_fields(j, f);
    req::attach_container r;
    r.handle = s.req("handle", read_handle);
    r.service = s.req("service", read_string_value);
    r.join_global = s.req("join_global", read_bool);
    r.dns_server = s.opt("dns_server", read_ip);
    r.dns_domain = s.opt("dns_domain", read_string_value);
    r.ephemeral = s.def("ephemeral", read_bool, false);
    r.isolation_network = s.opt("isolation_network", read_string_value);
    return r;
  }
  case 9: {
    static constexpr names<1> f{"handle"};
    return req::detach_container{
      request_fields(j, f).req("handle", read_handle)};
  }
  case 10: {
    // `#[serde(flatten)]` structs only deserialize from maps.
    if (!j.is_object())
      invalid_type(j, "struct variant OverlaydRequest::AddPeer");
    static constexpr names<6> f{"public_key",  "endpoint",
                                "allowed_ips", "persistent_keepalive_secs",
                                "candidates",  "scope"};
    auto s = request_fields(j, f);
    return req::add_peer{read_peer_fields(s), read_scope_field(s)};
  }
  case 11: {
    static constexpr names<2> f{"pubkey", "scope"};
    auto s = request_fields(j, f);
    return req::remove_peer{s.req("pubkey", read_string_value),
                            read_scope_field(s)};
  }
  case 12:
  case 13: {
    static constexpr names<3> f{"pubkey", "cidr", "scope"};
    auto s = request_fields(j, f);
    auto pubkey = s.req("pubkey", read_string_value);
    auto cidr = s.req("cidr", read_string_value);
    auto scope = read_scope_field(s);
    if (tag == "add_allowed_ip")
      return req::add_allowed_ip{std::move(pubkey), std::move(cidr),
                                 std::move(scope)};
    return req::remove_allowed_ip{std::move(pubkey), std::move(cidr),
                                  std::move(scope)};
  }
  case 14: {
    static constexpr names<2> f{"name", "ip"};
    auto s = request_fields(j, f);
    return req::register_dns{s.req("name", read_string_value),
                             s.req("ip", read_ip)};
  }
  case 15: {
    static constexpr names<1> f{"name"};
    return req::unregister_dns{
      request_fields(j, f).req("name", read_string_value)};
  }
  case 16: {
    static constexpr names<3> f{"zone", "node_ip", "port"};
    auto s = request_fields(j, f);
    return req::write_scoped_resolver{s.req("zone", read_string_value),
                                      s.req("node_ip", read_ip),
                                      s.req("port", u16)};
  }
  case 17: {
    static constexpr names<1> f{"zone"};
    return req::remove_scoped_resolver{
      request_fields(j, f).req("zone", read_string_value)};
  }
  case 18: {
    static constexpr names<1> f{"live_bridge_names"};
    return req::prune_orphan_bridges{request_fields(j, f).def(
      "live_bridge_names",
      [](const json& x) { return read_vec(x, read_string_value); },
      std::vector<std::string>{})};
  }
  case 19:
    return req::status{};
  case 20:
    return req::nat_tick{};
  case 21:
    return req::nat_status{};
  default:
    return req::shutdown{};
  }
}

// -- responses ----------------------------------------------------------------

peer_status read_peer_status(const json& j) {
  static constexpr names<4> f{"public_key", "endpoint", "allowed_ips",
                              "last_handshake_unix_secs"};
  struct_view s{j, "struct PeerStatus", f};
  return peer_status{s.req("public_key", read_string_value),
                     s.req("endpoint", read_string_value),
                     s.req("allowed_ips", read_string_value),
                     s.req("last_handshake_unix_secs", read_i64)};
}

dedicated_service_status read_dedicated(const json& j) {
  static constexpr names<7> f{"service",     "interface",  "public_key",
                              "listen_port", "overlay_ip", "subnet",
                              "peer_count"};
  struct_view s{j, "struct DedicatedServiceStatus", f};
  dedicated_service_status d;
  d.service = s.req("service", read_string_value);
  d.interface = s.req("interface", read_string_value);
  d.public_key = s.req("public_key", read_string_value);
  d.listen_port = s.req("listen_port", [](const json& x) {
    return read_uint<std::uint16_t>(x, "u16");
  });
  d.overlay_ip = s.req("overlay_ip", read_ip);
  d.subnet = s.req("subnet", read_string_value);
  d.peer_count = s.req("peer_count", [](const json& x) {
    return read_uint<std::uint32_t>(x, "u32");
  });
  return d;
}

nat_peer_wire read_nat_peer(const json& j) {
  static constexpr names<3> f{"node_id", "connection_type", "remote_endpoint"};
  struct_view s{j, "struct NatPeerWire", f};
  nat_peer_wire p;
  p.node_id = s.def("node_id", read_string_value, std::string{});
  p.connection_type
    = s.def("connection_type", read_string_value, std::string{});
  p.remote_endpoint = s.opt("remote_endpoint", read_string_value);
  return p;
}

using detail::response_tags;

response read_response(const json& j) {
  auto tag = read_tag(j, "result", "internally tagged enum OverlaydResponse");
  auto u16 = [](const json& x) { return read_uint<std::uint16_t>(x, "u16"); };
  auto u32 = [](const json& x) { return read_uint<std::uint32_t>(x, "u32"); };
  switch (variant_index(tag, response_tags)) {
  case 0:
    return resp::ok{};
  case 1: {
    static constexpr names<1> f{"ip"};
    return resp::allocated_ip{
      struct_view{j, "struct variant", f, 1}.req("ip", read_ip)};
  }
  case 2: {
    static constexpr names<2> f{"ip", "namespace_guid"};
    struct_view s{j, "struct AttachResult", f, 1};
    resp::attached r;
    r.ip = s.req("ip", read_ip);
    r.namespace_guid = s.opt("namespace_guid", read_string_value);
    return r;
  }
  case 3: {
    static constexpr names<8> f{"overlay_ip", "prefix_len",  "private_key",
                                "public_key", "listen_port", "peers",
                                "dns_server", "dns_domain"};
    struct_view s{j, "struct GuestOverlayConfig", f, 1};
    resp::guest_config r;
    r.overlay_ip = s.req("overlay_ip", read_ip);
    r.prefix_len = s.req("prefix_len", [](const json& x) {
      return read_uint<std::uint8_t>(x, "u8");
    });
    r.private_key = s.req("private_key", read_string_value);
    r.public_key = s.req("public_key", read_string_value);
    r.listen_port = s.req("listen_port", u16);
    r.peers = s.req("peers",
                    [](const json& x) { return read_vec(x, read_peer_spec); });
    r.dns_server = s.opt("dns_server", read_ip);
    r.dns_domain = s.opt("dns_domain", read_string_value);
    return r;
  }
  case 4: {
    static constexpr names<1> f{"name"};
    return resp::bridge_name{
      struct_view{j, "struct variant", f, 1}.req("name", read_string_value)};
  }
  case 5: {
    static constexpr names<9> f{
      "interface",     "node_ip",    "public_key",
      "overlay_cidr",  "slice_cidr", "peer_count",
      "service_count", "peers",      "dedicated_services"};
    struct_view s{j, "struct StatusSnapshot", f, 1};
    resp::status r;
    r.interface = s.opt("interface", read_string_value);
    r.node_ip = s.opt("node_ip", read_ip);
    r.public_key = s.opt("public_key", read_string_value);
    r.overlay_cidr = s.opt("overlay_cidr", read_string_value);
    r.slice_cidr = s.opt("slice_cidr", read_string_value);
    r.peer_count = s.req("peer_count", u32);
    r.service_count = s.req("service_count", u32);
    r.peers = s.def(
      "peers", [](const json& x) { return read_vec(x, read_peer_status); },
      std::vector<peer_status>{}, false);
    r.dedicated_services = s.def(
      "dedicated_services",
      [](const json& x) { return read_vec(x, read_dedicated); },
      std::vector<dedicated_service_status>{}, false);
    return r;
  }
  case 6: {
    static constexpr names<6> f{"name",    "mode",       "wg_public_key",
                                "wg_port", "overlay_ip", "subnet"};
    struct_view s{j, "struct ServiceOverlayInfo", f, 1};
    resp::service_overlay r;
    r.name = s.req("name", read_string_value);
    r.mode = s.req("mode", read_mode);
    r.wg_public_key = s.opt("wg_public_key", read_string_value);
    r.wg_port = s.opt("wg_port", u16);
    r.overlay_ip = s.opt("overlay_ip", read_ip);
    r.subnet = s.opt("subnet", read_string_value);
    return r;
  }
  case 7: {
    static constexpr names<1> f{"reclaimed"};
    return resp::pruned_bridges{struct_view{j, "struct variant", f, 1}.def(
      "reclaimed", [](const json& x) { return read_vec(x, read_string_value); },
      std::vector<std::string>{})};
  }
  case 8: {
    static constexpr names<3> f{"candidates", "peers", "last_refresh"};
    struct_view s{j, "struct NatStatusWire", f, 1};
    resp::nat_status r;
    r.candidates
      = s.def("candidates", read_candidates, std::vector<nat_candidate_wire>{});
    r.peers = s.def(
      "peers", [](const json& x) { return read_vec(x, read_nat_peer); },
      std::vector<nat_peer_wire>{});
    r.last_refresh = s.def(
      "last_refresh",
      [](const json& x) { return read_uint<std::uint64_t>(x, "u64"); },
      std::uint64_t{0});
    return r;
  }
  default: {
    static constexpr names<1> f{"message"};
    return resp::err{
      struct_view{j, "struct variant", f, 1}.req("message", read_string_value)};
  }
  }
}

// -- events and frames --------------------------------------------------------

// `offset` is where the event tag sits when the event arrives as an array
// (1 inside an array-form frame, after the frame tag).
event read_event(const json& j, std::size_t offset = 0) {
  static constexpr names<2> tags{"peer_health_changed", "nat_endpoint_changed"};
  std::string_view tag;
  if (j.is_array()) {
    if (j.size() <= offset)
      fail("invalid length 0, expected internally tagged enum OverlaydEvent");
    if (!j[offset].is_string())
      invalid_type(j[offset], "variant identifier");
    tag = j[offset].get_ref<const std::string&>();
  } else {
    tag = read_tag(j, "event", "internally tagged enum OverlaydEvent");
  }
  if (variant_index(tag, tags) == 0) {
    static constexpr names<2> f{"pubkey", "healthy"};
    struct_view s{j, "struct variant", f, offset + 1};
    return evt::peer_health_changed{s.req("pubkey", read_string_value),
                                    s.req("healthy", read_bool)};
  }
  static constexpr names<2> f{"pubkey", "endpoint"};
  struct_view s{j, "struct variant", f, offset + 1};
  return evt::nat_endpoint_changed{s.req("pubkey", read_string_value),
                                   s.req("endpoint", read_string_value)};
}

constexpr names<3> frame_tags{"request", "response", "event"};

frame read_frame(const json& j) {
  auto tag = read_tag(j, "frame", "internally tagged enum OverlaydFrame");
  auto u64 = [](const json& x) { return read_uint<std::uint64_t>(x, "u64"); };
  switch (variant_index(tag, frame_tags)) {
  case 0: {
    static constexpr names<2> f{"id", "request"};
    struct_view s{j, "struct variant OverlaydFrame::Request", f, 1};
    auto id = s.req("id", u64);
    return request_frame{id, s.req("request", read_request)};
  }
  case 1: {
    static constexpr names<2> f{"id", "response"};
    struct_view s{j, "struct variant OverlaydFrame::Response", f, 1};
    auto id = s.req("id", u64);
    return response_frame{id, s.req("response", read_response)};
  }
  default:
    return event_frame{read_event(j, j.is_array() ? 1 : 0)};
  }
}

// -- strict JSON parsing ------------------------------------------------------

// serde_json's recursion limit: 128 minus one, because serde_json fails
// when its remaining-depth counter (starting at 128) reaches zero.
constexpr std::size_t max_nesting = 127;

struct strict_result {
  json doc;
  std::optional<std::string> duplicate;      // first duplicated key
  bool top_level_envelope_duplicate = false; // "frame" or "id" twice
};

// Builds the document through nlohmann's SAX interface so that duplicate
// keys (which nlohmann would silently overwrite) and excessive nesting are
// seen; both are errors for serde_json. For a duplicate the last value
// wins, so the id recovery can still look at the rest of the document.
class strict_builder {
public:
  explicit strict_builder(strict_result& out) : out_(out) {
    // nop
  }

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(json::number_integer_t v) { return put(v); }
  bool number_unsigned(json::number_unsigned_t v) { return put(v); }
  bool number_float(json::number_float_t v, const json::string_t&) {
    return put(v);
  }
  bool string(json::string_t& v) { return put(std::move(v)); }
  bool binary(json::binary_t&) { return false; } // not in JSON text

  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(json::string_t& k) {
    auto& obj = stack_.back()->get_ref<json::object_t&>();
    // try_emplace leaves `k` alone when the key exists.
    auto [it, inserted] = obj.try_emplace(std::move(k));
    if (!inserted) {
      if (!out_.duplicate)
        out_.duplicate = it->first;
      if (stack_.size() == 1 && (it->first == "frame" || it->first == "id"))
        out_.top_level_envelope_duplicate = true;
    }
    slot_ = &it->second;
    return true;
  }

  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& e) {
    error_ = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    if (auto p = error_.find("] "); p != std::string::npos && error_[0] == '[')
      error_.erase(0, p + 2);
    return false;
  }

  const std::string& error() const { return error_; }

private:
  // Places a value where the parser is: the root, the end of the open
  // array, or the slot of the last key.
  template <class V>
  json* place(V&& v) {
    if (stack_.empty()) {
      out_.doc = json(std::forward<V>(v));
      return &out_.doc;
    }
    json& top = *stack_.back();
    if (top.is_array()) {
      auto& arr = top.get_ref<json::array_t&>();
      arr.emplace_back(std::forward<V>(v));
      return &arr.back();
    }
    *slot_ = json(std::forward<V>(v));
    return slot_;
  }

  template <class V>
  bool put(V&& v) {
    place(std::forward<V>(v));
    return true;
  }

  bool open(json::value_t type) {
    if (stack_.size() >= max_nesting) {
      error_ = "recursion limit exceeded";
      return false;
    }
    // Pointers into a parent stay valid: a parent only grows after its
    // open child has been closed and popped.
    stack_.push_back(place(type));
    return true;
  }

  bool close() {
    stack_.pop_back();
    return true;
  }

  strict_result& out_;
  std::vector<json*> stack_;
  json* slot_ = nullptr;
  std::string error_;
};

net::expected<strict_result> parse_strict(std::string_view text) {
  strict_result out;
  // nlohmann skips a UTF-8 byte order mark; serde_json does not.
  if (text.starts_with("\xEF\xBB\xBF"))
    return net::unexpected{std::string{"expected value at line 1 column 1"}};
  strict_builder builder{out};
  bool ok = json::sax_parse(text.begin(), text.end(), &builder,
                            json::input_format_t::json, /*strict=*/true);
  if (!ok) {
    auto msg = builder.error();
    return net::unexpected{msg.empty() ? std::string{"invalid JSON"} : msg};
  }
  return out;
}

// The id of a request frame when it is beyond doubt, else nullopt.
std::optional<std::uint64_t> recover_request_id(const strict_result& r) {
  if (r.top_level_envelope_duplicate)
    return std::nullopt;
  const json& j = r.doc;
  const json* tag = nullptr;
  const json* id = nullptr;
  if (j.is_object()) {
    auto t = j.find("frame");
    auto i = j.find("id");
    if (t == j.end() || i == j.end())
      return std::nullopt;
    tag = &*t;
    id = &*i;
  } else if (j.is_array() && j.size() >= 2) {
    tag = &j[0];
    id = &j[1];
  } else {
    return std::nullopt;
  }
  if (!tag->is_string() || tag->get_ref<const std::string&>() != "request"
      || id->type() != json::value_t::number_unsigned)
    return std::nullopt;
  return id->get<std::uint64_t>();
}

template <class T, class F>
net::expected<T> decode_text(std::string_view text, F&& read) {
  auto parsed = parse_strict(text);
  if (!parsed)
    return net::unexpected{std::move(parsed.error())};
  if (parsed->duplicate)
    return net::unexpected{"duplicate field `" + *parsed->duplicate + "`"};
  try {
    return read(parsed->doc);
  } catch (const failure& f) {
    return net::unexpected{f.message};
  }
}

} // namespace

net::expected<frame, decode_error> decode_frame(std::string_view body) {
  auto parsed = parse_strict(body);
  if (!parsed)
    return net::unexpected{decode_error{std::move(parsed.error()), {}}};
  if (parsed->duplicate)
    return net::unexpected{
      decode_error{"duplicate field `" + *parsed->duplicate + "`",
                   recover_request_id(*parsed)}};
  try {
    return read_frame(parsed->doc);
  } catch (const failure& f) {
    return net::unexpected{
      decode_error{f.message, recover_request_id(*parsed)}};
  }
}

net::expected<nlohmann::json> parse_json_strict(std::string_view text) {
  auto parsed = parse_strict(text);
  if (!parsed)
    return net::unexpected{std::move(parsed.error())};
  if (parsed->duplicate)
    return net::unexpected{"duplicate field `" + *parsed->duplicate + "`"};
  return std::move(parsed->doc);
}

net::expected<request> decode_request(std::string_view json_text) {
  return decode_text<request>(json_text, read_request);
}

net::expected<response> decode_response(std::string_view json_text) {
  return decode_text<response>(json_text, read_response);
}

net::expected<event> decode_event(std::string_view json_text) {
  return decode_text<event>(json_text,
                            [](const json& j) { return read_event(j); });
}

net::expected<request> decode_request_json(const nlohmann::json& j) {
  try {
    return read_request(j);
  } catch (const failure& f) {
    return net::unexpected{f.message};
  }
}

net::expected<response> decode_response_json(const nlohmann::json& j) {
  try {
    return read_response(j);
  } catch (const failure& f) {
    return net::unexpected{f.message};
  }
}

} // namespace overlayd::ipc
