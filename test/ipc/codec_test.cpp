// The JSON codec against the serde output printed in spec/ipc.md, plus the
// leniency and strictness rules of §2.

#include <doctest/doctest.h>

#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ipc/json_codec.hpp"

using namespace overlayd::ipc;
namespace net = overlayd::net;

namespace {

// Every full frame in spec §4-§6, as serde_json printed it.
const std::vector<std::string> spec_frames = {
  R"({"frame":"request","id":1,"request":{"op":"set_local_node_id","node_id":7}})",
  R"({"frame":"request","id":2,"request":{"op":"set_local_wg_pubkey","pubkey":"k"}})",
  R"({"frame":"request","id":3,"request":{"op":"setup_global_overlay","deployment":"prod","instance_id":"42","cluster_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/28","wg_port":51820,"host_adapter_mandatory":false}})",
  R"({"frame":"request","id":4,"request":{"op":"setup_global_overlay","deployment":"prod","instance_id":"42","cluster_cidr":"10.200.0.0/16","wg_port":51420,"nat":{"enabled":true,"stun_servers":["stun.example:3478"],"turn_servers":[{"addr":"turn.example:3478","username":"u","credential":"p"}],"hole_punch_timeout_secs":9,"stun_refresh_interval_secs":40,"max_candidate_pairs":3,"relay_server":{"listen_port":3478,"external_addr":"1.2.3.4:3478","max_sessions":7,"auth_credential":"cluster-secret"}},"host_adapter_mandatory":true}})",
  R"({"frame":"request","id":5,"request":{"op":"teardown_global_overlay"}})",
  R"({"frame":"request","id":6,"request":{"op":"setup_service_overlay","service":"web","mode":"dedicated"}})",
  R"({"frame":"request","id":7,"request":{"op":"teardown_service_overlay","service":"web"}})",
  R"({"frame":"request","id":8,"request":{"op":"allocate_ip","service":"web","join_global":false}})",
  R"({"frame":"request","id":9,"request":{"op":"release_ip","ip":"10.200.0.5"}})",
  R"({"frame":"request","id":10,"request":{"op":"attach_container","handle":{"platform":"linux_pid","pid":4242},"service":"web","join_global":true,"ephemeral":false}})",
  R"({"frame":"request","id":11,"request":{"op":"attach_container","handle":{"platform":"windows_container","container_id":"ctr-abc","ip":"10.200.0.5"},"service":"web","join_global":false,"dns_server":"10.200.0.1","dns_domain":"overlay","ephemeral":true,"isolation_network":"net-a"}})",
  R"({"frame":"request","id":12,"request":{"op":"attach_container","handle":{"platform":"guest_managed","id":"vm-1"},"service":"web","join_global":true,"ephemeral":false}})",
  R"({"frame":"request","id":13,"request":{"op":"attach_container","handle":{"platform":"host_shared","id":"ctr-1"},"service":"web","join_global":false,"ephemeral":false}})",
  R"({"frame":"request","id":14,"request":{"op":"detach_container","handle":{"platform":"windows_container","container_id":"aabbccdd-eeff-0011-2233-445566778899"}}})",
  R"({"frame":"request","id":15,"request":{"op":"add_peer","public_key":"base64key","endpoint":"1.2.3.4:51820","allowed_ips":"10.200.0.2/32","persistent_keepalive_secs":25,"scope":{"scope":"global"}}})",
  R"({"frame":"request","id":16,"request":{"op":"add_peer","public_key":"base64key","endpoint":"1.2.3.4:51820","allowed_ips":"10.200.0.2/32","persistent_keepalive_secs":25,"candidates":[{"candidate_type":"host","address":"192.168.1.5:51820","priority":100}],"scope":{"scope":"service","service":"web"}}})",
  R"({"frame":"request","id":17,"request":{"op":"remove_peer","pubkey":"k","scope":{"scope":"global"}}})",
  R"({"frame":"request","id":18,"request":{"op":"add_allowed_ip","pubkey":"k","cidr":"10.200.1.0/24","scope":{"scope":"service","service":"web"}}})",
  R"({"frame":"request","id":19,"request":{"op":"remove_allowed_ip","pubkey":"k","cidr":"10.200.1.0/24","scope":{"scope":"global"}}})",
  R"({"frame":"request","id":20,"request":{"op":"register_dns","name":"web.overlay","ip":"fd00:200::5"}})",
  R"({"frame":"request","id":21,"request":{"op":"unregister_dns","name":"web.overlay"}})",
  R"({"frame":"request","id":22,"request":{"op":"write_scoped_resolver","zone":"overlay","node_ip":"10.200.0.1","port":53}})",
  R"({"frame":"request","id":23,"request":{"op":"remove_scoped_resolver","zone":"overlay"}})",
  R"({"frame":"request","id":24,"request":{"op":"prune_orphan_bridges","live_bridge_names":["zl-prod-0-web-b"]}})",
  R"({"frame":"request","id":25,"request":{"op":"status"}})",
  R"({"frame":"request","id":26,"request":{"op":"nat_tick"}})",
  R"({"frame":"request","id":27,"request":{"op":"nat_status"}})",
  R"({"frame":"request","id":28,"request":{"op":"shutdown"}})",
  R"({"frame":"response","id":1,"response":{"result":"ok"}})",
  R"({"frame":"response","id":2,"response":{"result":"ip","ip":"10.200.0.2"}})",
  R"({"frame":"response","id":3,"response":{"result":"attached","ip":"10.200.0.5","namespace_guid":"aabbccdd-eeff-0011-2233-445566778899"}})",
  R"({"frame":"response","id":4,"response":{"result":"attached","ip":"10.200.0.66"}})",
  R"({"frame":"response","id":6,"response":{"result":"bridge_name","name":"zl-prod-42-g"}})",
  R"({"frame":"response","id":7,"response":{"result":"status","peer_count":0,"service_count":0}})",
  R"({"frame":"response","id":8,"response":{"result":"status","interface":"zl-overlay0","node_ip":"10.200.0.1","public_key":"pk","overlay_cidr":"10.200.0.0/16","slice_cidr":"10.200.0.0/28","peer_count":1,"service_count":1,"peers":[{"public_key":"k","endpoint":"1.2.3.4:51820","allowed_ips":"10.200.0.2/32","last_handshake_unix_secs":0}],"dedicated_services":[{"service":"web","interface":"zl-svc-web0","public_key":"svc-key","listen_port":51821,"overlay_ip":"10.201.0.1","subnet":"10.201.0.0/24","peer_count":3}]}})",
  R"({"frame":"response","id":9,"response":{"result":"service_overlay","name":"zl-prod-42-web-b","mode":"auto"}})",
  R"({"frame":"response","id":10,"response":{"result":"service_overlay","name":"web","mode":"dedicated","wg_public_key":"svc-key","wg_port":51421,"overlay_ip":"10.200.1.1","subnet":"10.200.1.0/26"}})",
  R"({"frame":"response","id":11,"response":{"result":"pruned_bridges","reclaimed":[]}})",
  R"({"frame":"response","id":12,"response":{"result":"nat_status","candidates":[],"peers":[],"last_refresh":0}})",
  R"({"frame":"response","id":13,"response":{"result":"nat_status","candidates":[{"candidate_type":"server-reflexive","address":"203.0.113.5:51820","priority":50}],"peers":[{"node_id":"base64key","connection_type":"hole-punched","remote_endpoint":"203.0.113.9:51820"}],"last_refresh":1700000000}})",
  R"({"frame":"response","id":14,"response":{"result":"err","message":"no dedicated overlay for service x"}})",
  R"({"frame":"event","event":"peer_health_changed","pubkey":"base64key","healthy":false})",
  R"({"frame":"event","event":"nat_endpoint_changed","pubkey":"base64key","endpoint":"5.6.7.8:51820"})",
};

frame must_decode(std::string_view body) {
  auto f = decode_frame(body);
  REQUIRE_MESSAGE(f.has_value(), (f ? "" : f.error().message), " in ", body);
  return *f;
}

request must_decode_request(std::string_view body) {
  auto f = must_decode(body);
  REQUIRE(std::holds_alternative<request_frame>(f));
  return std::get<request_frame>(f).request;
}

decode_error must_fail(std::string_view body) {
  auto f = decode_frame(body);
  REQUIRE_MESSAGE(!f.has_value(), body);
  return f.error();
}

template <class T>
const T& as(const request& r) {
  REQUIRE(std::holds_alternative<T>(r));
  return std::get<T>(r);
}

} // namespace

TEST_CASE("every spec frame decodes and re-encodes byte for byte") {
  for (const auto& line : spec_frames) {
    CAPTURE(line);
    CHECK(encode_frame(must_decode(line)) == line);
  }
}

TEST_CASE("guest_config peers always carry candidates when emitted") {
  // Spec §5 prints the frame without `candidates`; §2.6 asks the server to
  // add `"candidates":[]` because the field's serde attributes are unknown.
  std::string in
    = R"({"frame":"response","id":5,"response":{"result":"guest_config","overlay_ip":"10.200.0.2","prefix_len":28,"private_key":"cHJpdg==","public_key":"cHVi","listen_port":51420,"peers":[{"public_key":"base64key","endpoint":"10.200.0.1:51420","allowed_ips":"10.200.0.0/16","persistent_keepalive_secs":25}],"dns_server":"10.200.0.1","dns_domain":"overlay"}})";
  std::string out
    = R"({"frame":"response","id":5,"response":{"result":"guest_config","overlay_ip":"10.200.0.2","prefix_len":28,"private_key":"cHJpdg==","public_key":"cHVi","listen_port":51420,"peers":[{"public_key":"base64key","endpoint":"10.200.0.1:51420","allowed_ips":"10.200.0.0/16","persistent_keepalive_secs":25,"candidates":[]}],"dns_server":"10.200.0.1","dns_domain":"overlay"}})";
  auto f = must_decode(in);
  CHECK(encode_frame(f) == out);
  CHECK(encode_frame(must_decode(out)) == out);
  const auto& g
    = std::get<resp::guest_config>(std::get<response_frame>(f).response);
  CHECK(g.prefix_len == 28);
  CHECK(g.peers.at(0).persistent_keepalive_secs == 25);
  CHECK(g.dns_server->to_string() == "10.200.0.1");
}

TEST_CASE("typed values survive encode and decode for every variant") {
  std::vector<request> requests = {
    req::set_local_node_id{std::numeric_limits<std::uint64_t>::max()},
    req::set_local_wg_pubkey{"k"},
    req::setup_global_overlay{"d", "i", "10.0.0.0/8", std::nullopt, 1,
                              nat_config_spec{}, false},
    req::teardown_global_overlay{},
    req::setup_service_overlay{"s", overlay_mode::shared},
    req::teardown_service_overlay{"s"},
    req::allocate_ip{"s", true},
    req::release_ip{*overlayd::net::ip_address::parse("fd00::1")},
    req::attach_container{linux_pid_handle{7}, "s", true, std::nullopt,
                          std::nullopt, true, "iso"},
    req::detach_container{host_shared_handle{"h"}},
    req::add_peer{peer_spec{"pk", "[::1]:5", "::/0", 0, {}},
                  peer_scope::of_service("web")},
    req::remove_peer{"pk", peer_scope::global()},
    req::add_allowed_ip{"pk", "10.0.0.0/8", {}},
    req::remove_allowed_ip{"pk", "10.0.0.0/8", peer_scope::of_service("x")},
    req::register_dns{"n", overlayd::net::ip_address::v4(1, 2, 3, 4)},
    req::unregister_dns{"n"},
    req::write_scoped_resolver{"z", overlayd::net::ip_address::v4(1, 1, 1, 1),
                               53},
    req::remove_scoped_resolver{"z"},
    req::prune_orphan_bridges{{}},
    req::status{},
    req::nat_tick{},
    req::nat_status{},
    req::shutdown{},
  };
  REQUIRE(requests.size() == std::variant_size_v<request>);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    CHECK(requests[i].index() == i);
    auto text = encode_request_frame(i + 1, requests[i]);
    CAPTURE(text);
    auto f = must_decode(text);
    CHECK(std::get<request_frame>(f).id == i + 1);
    CHECK(std::get<request_frame>(f).request == requests[i]);
    CHECK(op_name(requests[i]) == op_name(std::get<request_frame>(f).request));
  }

  std::vector<response> responses = {
    resp::ok{},
    resp::allocated_ip{overlayd::net::ip_address::v4(10, 0, 0, 2)},
    resp::attached{{overlayd::net::ip_address::v4(10, 0, 0, 3), "guid"}},
    resp::guest_config{
      {overlayd::net::ip_address::v4(10, 0, 0, 4),
       24,
       "a",
       "b",
       51820,
       {peer_spec{"k",
                  "1.2.3.4:5",
                  "0.0.0.0/0",
                  25,
                  {nat_candidate_wire{"relay", "1.1.1.1:3", 10}}}},
       std::nullopt,
       "dom"}},
    resp::bridge_name{"zl-x"},
    resp::status{{std::nullopt,
                  std::nullopt,
                  std::nullopt,
                  "10.200.0.0/16",
                  std::nullopt,
                  0,
                  0,
                  {},
                  {}}},
    resp::service_overlay{{"n", overlay_mode::dedicated, "k", 51421,
                           overlayd::net::ip_address::v4(10, 0, 0, 1),
                           "10.0.0.0/26"}},
    resp::pruned_bridges{{"zl-a-b"}},
    resp::nat_status{{{}, {nat_peer_wire{"k", "relayed", std::nullopt}}, 5}},
    resp::err{"boom \"quoted\"\n\u00e9"},
  };
  REQUIRE(responses.size() == std::variant_size_v<response>);
  for (std::size_t i = 0; i < responses.size(); ++i) {
    auto text = encode_response_frame(i, responses[i]);
    CAPTURE(text);
    auto f = must_decode(text);
    CHECK(std::get<response_frame>(f).response == responses[i]);
  }
  CHECK(result_name(responses[1]) == "ip");
}

TEST_CASE("a fresh status and the §9 literal add_peer") {
  CHECK(
    encode_response(resp::status{{std::nullopt,
                                  std::nullopt,
                                  std::nullopt,
                                  "10.200.0.0/16",
                                  std::nullopt,
                                  0,
                                  0,
                                  {},
                                  {}}})
    == R"({"result":"status","overlay_cidr":"10.200.0.0/16","peer_count":0,"service_count":0})");

  // Pretty-printed, `scope` absent (-> Global), PeerSpec flattened.
  auto r = must_decode_request(R"({
    "frame": "request",
    "id": 11,
    "request": {
      "op": "add_peer",
      "public_key": "base64key",
      "endpoint": "1.2.3.4:51820",
      "allowed_ips": "10.200.0.2/32",
      "persistent_keepalive_secs": 25
    }
  })");
  const auto& add = as<req::add_peer>(r);
  CHECK(add.scope.is_global());
  CHECK(add.peer.public_key == "base64key");
  CHECK(add.peer.endpoint == "1.2.3.4:51820");
  CHECK(add.peer.persistent_keepalive_secs == 25);
  CHECK(add.peer.candidates.empty());
}

TEST_CASE("lenient parsing: unknown fields, legacy fields, order, nulls") {
  CHECK(std::holds_alternative<req::status>(must_decode_request(
    R"({"frame":"request","id":1,"request":{"op":"status","junk":1}})")));
  // Tag after the fields, unknown envelope fields.
  CHECK(
    as<req::set_local_node_id>(
      must_decode_request(R"({"id":3,"x":[1,{}],"request":{"node_id":7,)"
                          R"("op":"set_local_node_id"},"frame":"request"})"))
      .node_id
    == 7);
  // Older clients: nat_enabled instead of nat/host_adapter_mandatory.
  auto g = as<req::setup_global_overlay>(must_decode_request(
    R"({"frame":"request","id":3,"request":{"op":"setup_global_overlay","deployment":"prod","instance_id":"42","cluster_cidr":"10.200.0.0/16","slice_cidr":null,"wg_port":51820,"nat_enabled":true}})"));
  CHECK_FALSE(g.slice_cidr);
  CHECK_FALSE(g.nat);
  CHECK_FALSE(g.host_adapter_mandatory);
  // Older attach_container: no ephemeral / isolation_network; null options.
  auto a = as<req::attach_container>(must_decode_request(
    R"({"frame":"request","id":4,"request":{"op":"attach_container","handle":{"platform":"linux_pid","pid":1},"service":"web","join_global":true,"dns_server":null,"dns_domain":null}})"));
  CHECK_FALSE(a.ephemeral);
  CHECK_FALSE(a.dns_server);
  CHECK_FALSE(a.isolation_network);
  // NAT wire fields are all optional on input.
  auto n = as<req::setup_global_overlay>(must_decode_request(
    R"({"frame":"request","id":5,"request":{"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat":{"relay_server":{}}}})"));
  REQUIRE(n.nat);
  CHECK_FALSE(n.nat->enabled);
  CHECK(n.nat->relay_server->max_sessions == 0);
  // prune_orphan_bridges without the list.
  CHECK(as<req::prune_orphan_bridges>(
          must_decode_request(R"({"frame":"request","id":6,"request":)"
                              R"({"op":"prune_orphan_bridges"}})"))
          .live_bridge_names.empty());
  // A possible fourth mode value routes like auto.
  CHECK(
    as<req::setup_service_overlay>(
      must_decode_request(
        R"({"frame":"request","id":7,"request":{"op":"setup_service_overlay","service":"s","mode":"isolated"}})"))
      .mode
    == overlay_mode::automatic);
  // Surrounding JSON whitespace.
  CHECK(must_decode(" \n\t{\"frame\":\"response\",\"id\":1,\"response\":"
                    "{\"result\":\"ok\"}}\r\n ")
          .index()
        == 1);
  // -0 is a valid unsigned zero for serde.
  CHECK(
    std::get<request_frame>(
      must_decode(R"({"frame":"request","id":-0,"request":{"op":"status"}})"))
      .id
    == 0);
}

TEST_CASE("structs also parse from JSON arrays in field order") {
  auto n = as<req::setup_global_overlay>(must_decode_request(
    R"({"frame":"request","id":1,"request":{"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat":[true,["s:1"],[["a","u","p"]],9,40,3,[3478,"1.2.3.4:3478",7,null]]}})"));
  REQUIRE(n.nat);
  CHECK(n.nat->enabled);
  CHECK(n.nat->stun_servers == std::vector<std::string>{"s:1"});
  CHECK(n.nat->turn_servers.at(0).credential == "p");
  CHECK(n.nat->max_candidate_pairs == 3);
  CHECK(n.nat->relay_server->listen_port == 3478);
  CHECK_FALSE(n.nat->relay_server->auth_credential);

  // Internally tagged enums given as arrays: the tag comes first.
  auto a = as<req::attach_container>(must_decode_request(
    R"({"frame":"request","id":2,"request":["attach_container",["linux_pid",9],"web",false]})"));
  CHECK(std::get<linux_pid_handle>(a.handle).pid == 9);
  auto f = must_decode(R"(["response",3,["attached","10.0.0.9"]])");
  CHECK(std::get<resp::attached>(std::get<response_frame>(f).response)
          .ip.to_string()
        == "10.0.0.9");
  auto e = must_decode(R"(["event","peer_health_changed","k",true])");
  CHECK(
    std::get<evt::peer_health_changed>(std::get<event_frame>(e).event).healthy);

  // Too many elements, and flatten (add_peer) never accepts an array.
  CHECK(
    must_fail(
      R"({"frame":"request","id":4,"request":{"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":1,"nat":[true,[],[],0,0,0,null,1]}})")
      .message.starts_with("invalid length 8"));
  CHECK(
    must_fail(R"(["request",5,["add_peer","k","1.2.3.4:5","",0]])").request_id
    == 5u);
}

TEST_CASE("strict parsing: serde's errors") {
  struct bad_case {
    const char* body;
    const char* message;
  };
  const std::vector<bad_case> cases = {
    {R"({"frame":"request","id":1,"request":{"op":"frob"}})",
     "unknown variant `frob`, expected one of `set_local_node_id`, "
     "`set_local_wg_pubkey`, `setup_global_overlay`, "
     "`teardown_global_overlay`, `setup_service_overlay`, "
     "`teardown_service_overlay`, `allocate_ip`, `release_ip`, "
     "`attach_container`, `detach_container`, `add_peer`, `remove_peer`, "
     "`add_allowed_ip`, `remove_allowed_ip`, `register_dns`, "
     "`unregister_dns`, `write_scoped_resolver`, `remove_scoped_resolver`, "
     "`prune_orphan_bridges`, `status`, `nat_tick`, `nat_status`, "
     "`shutdown`"},
    {R"({"frame":"request","id":1,"request":{"node_id":7}})",
     "missing field `op`"},
    {R"({"frame":"request","id":1,"request":{"op":"set_local_node_id"}})",
     "missing field `node_id`"},
    {R"({"frame":"request","id":1,"request":{"op":"remove_peer","pubkey":"k","scope":"global"}})",
     "invalid type: string \"global\", expected internally tagged enum "
     "PeerScope"},
    {R"({"frame":"request","id":1,"request":{"op":"remove_peer","pubkey":"k","scope":null}})",
     "invalid type: unit value, expected internally tagged enum PeerScope"},
    {R"({"frame":"request","id":1,"request":{"op":"setup_service_overlay","service":"s","mode":"Shared"}})",
     "unknown variant `Shared`, expected one of `auto`, `shared`, "
     "`dedicated`"},
    {R"({"frame":"request","id":1,"request":{"op":"setup_global_overlay","deployment":"d","instance_id":"i","cluster_cidr":"c","wg_port":70000}})",
     "invalid value: integer `70000`, expected u16"},
    {R"({"frame":"request","id":1,"request":{"op":"set_local_node_id","node_id":-1}})",
     "invalid value: integer `-1`, expected u64"},
    {R"({"frame":"request","id":1,"request":{"op":"set_local_node_id","node_id":1.0}})",
     "invalid type: floating point `1.0`, expected u64"},
    {R"({"frame":"request","id":1,"request":{"op":"allocate_ip","service":"s","join_global":"yes"}})",
     "invalid type: string \"yes\", expected a boolean"},
    {R"({"frame":"request","id":1,"request":{"op":"release_ip","ip":"10.0.0.256"}})",
     "invalid IP address syntax"},
    {R"({"frame":"request","id":1,"request":{"op":"release_ip","ip":"[::1]"}})",
     "invalid IP address syntax"},
    {R"({"frame":"request","id":1,"request":{"op":"detach_container","handle":{"platform":"linux","pid":1}}})",
     "unknown variant `linux`, expected one of `linux_pid`, "
     "`windows_container`, `guest_managed`, `host_shared`"},
    {R"({"frame":"request","id":1,"request":{"op":"status","op":"status"}})",
     "duplicate field `op`"},
    {R"({"frame":"request","id":1,"request":{"op":"add_peer","public_key":"k","endpoint":"e","allowed_ips":"a"}})",
     "missing field `persistent_keepalive_secs`"},
    {R"({"frame":"response","id":1,"response":{"result":"status","peer_count":0}})",
     "missing field `service_count`"},
    {R"({"frame":"bogus","id":1})",
     "unknown variant `bogus`, expected one of `request`, `response`, "
     "`event`"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.body);
    CHECK(must_fail(c.body).message == c.message);
  }
}

TEST_CASE("malformed bodies: no JSON, trailing bytes, bad UTF-8, depth") {
  for (std::string body :
       {std::string{}, std::string{"   "}, std::string{"{"},
        std::string{
          R"({"frame":"request","id":1,"request":{"op":"status"}} x)"},
        std::string{
          R"({"frame":"request","id":1,"request":{"op":"status"}}{})"},
        std::string{"{\"frame\":\"request\",\"id\":1,\"request\":{\"op\":\"st"
                    "\xff\"}}"},
        std::string{"\xef\xbb\xbf{}"}}) {
    CAPTURE(body);
    auto e = must_fail(body);
    CHECK_FALSE(e.message.empty());
    CHECK_FALSE(e.request_id);
  }
  // serde_json allows 127 levels of nesting, not 128.
  auto nested
    = [](std::size_t n) { return std::string(n, '[') + std::string(n, ']'); };
  CHECK(must_fail(nested(128)).message == "recursion limit exceeded");
  CHECK(must_fail(nested(100000)).message == "recursion limit exceeded");
  CHECK(must_fail(nested(127)).message != "recursion limit exceeded");
  CHECK(parse_json_strict(nested(127)));
  CHECK_FALSE(parse_json_strict(nested(128)));
}

TEST_CASE("u64 ids up to u64::MAX, never through a double") {
  const std::string max_frame
    = R"({"frame":"request","id":18446744073709551615,"request":{"op":"status"}})";
  auto f = must_decode(max_frame);
  CHECK(std::get<request_frame>(f).id
        == std::numeric_limits<std::uint64_t>::max());
  CHECK(encode_frame(f) == max_frame);
  CHECK(
    std::get<request_frame>(
      must_decode(
        R"({"frame":"request","id":9007199254740993,"request":{"op":"status"}})"))
      .id
    == 9007199254740993ull); // 2^53 + 1: a double would round it
  auto over = must_fail(
    R"({"frame":"request","id":18446744073709551616,"request":{"op":"status"}})");
  CHECK_FALSE(over.request_id);
}

TEST_CASE("request ids are recovered only when certain") {
  // Recoverable: a request frame with one u64 id.
  CHECK(must_fail(R"({"frame":"request","id":5,"request":{"op":"bogus"}})")
          .request_id
        == 5u);
  CHECK(must_fail(R"({"request":{"op":"release_ip","ip":"x"},"id":6,)"
                  R"("frame":"request"})")
          .request_id
        == 6u);
  CHECK(must_fail(R"({"frame":"request","id":7})").request_id == 7u);
  CHECK(must_fail(R"({"frame":"request","id":8,"request":{"op":"status",)"
                  R"("op":"status"}})")
          .request_id
        == 8u);
  CHECK(must_fail(R"(["request",9,["bogus"]])").request_id == 9u);
  // Not recoverable: not a request, id missing/duplicated/not u64, or
  // the JSON itself is broken.
  for (auto body :
       {R"({"frame":"response","id":5,"response":{"result":"bogus"}})",
        R"({"frame":"event","id":5,"event":"bogus"})",
        R"({"id":5,"request":{"op":"bogus"}})",
        R"({"frame":"request","id":5,"id":6,"request":{"op":"bogus"}})",
        R"({"frame":"request","frame":"request","id":5,"request":{}})",
        R"({"frame":"request","id":"5","request":{"op":"bogus"}})",
        R"({"frame":"request","id":5.0,"request":{"op":"status"}})",
        R"({"frame":"request","id":-5,"request":{"op":"status"}})",
        R"({"frame":"request","id":5,"request":{"op":"status"})",
        R"({"frame":"Request","id":5,"request":{"op":"status"}})"}) {
    CAPTURE(body);
    CHECK_FALSE(must_fail(body).request_id);
  }
}

TEST_CASE("error frames and string escaping match serde_json") {
  CHECK(
    encode_error_frame(42, "no shared bridge for Shared-mode service s; "
                           "call setup_service_overlay() first")
    == R"({"frame":"response","id":42,"response":{"result":"err","message":"no shared bridge for Shared-mode service s; call setup_service_overlay() first"}})");
  // Only '"', '\\' and control characters are escaped; UTF-8 and '/' and
  // DEL pass through.
  std::string msg = "a\"b\\c\n\r\t\b\f\x01\x1f/\x7f\xc3\xa9";
  CHECK(encode_response(resp::err{msg})
        == "{\"result\":\"err\",\"message\":\"a\\\"b\\\\c\\n\\r\\t\\b\\f"
           "\\u0001\\u001f/\x7f\xc3\xa9\"}");
  auto back = decode_response(encode_response(resp::err{msg}));
  REQUIRE(back);
  CHECK(std::get<resp::err>(*back).message == msg);

  // 4-byte UTF-8 passes; bytes that are not UTF-8 (which a Rust String
  // cannot hold) become U+FFFD instead of invalid JSON.
  CHECK(encode_response(resp::err{"\xf0\x9f\x98\x80"})
        == "{\"result\":\"err\",\"message\":\"\xf0\x9f\x98\x80\"}");
  for (std::string bad :
       {"\xff", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    auto text = encode_response(resp::err{"a" + bad + "b"});
    CAPTURE(text);
    CHECK(text.find("\xef\xbf\xbd") != std::string::npos);
    CHECK(decode_response(text));
  }
}

TEST_CASE("integers print exactly, including extremes") {
  resp::status st;
  st.peer_count = UINT32_MAX;
  st.peers.push_back(peer_status{"k", "", "", INT64_MIN});
  st.peers.push_back(peer_status{"k", "", "", INT64_MAX});
  auto text = encode_response(st);
  CHECK(
    text
    == R"({"result":"status","peer_count":4294967295,"service_count":0,"peers":[{"public_key":"k","endpoint":"","allowed_ips":"","last_handshake_unix_secs":-9223372036854775808},{"public_key":"k","endpoint":"","allowed_ips":"","last_handshake_unix_secs":9223372036854775807}]})");
  auto back = decode_response(text);
  REQUIRE(back);
  CHECK(std::get<resp::status>(*back) == st);
}

TEST_CASE("single-message helpers") {
  auto r = decode_request(R"({"op":"register_dns","name":"a","ip":"::1"})");
  REQUIRE(r);
  CHECK(encode_request(*r) == R"({"op":"register_dns","name":"a","ip":"::1"})");
  CHECK(decode_request(R"({"op":"nope"})")
          .error()
          .starts_with("unknown variant `nope`"));
  auto e = decode_event(R"({"event":"nat_endpoint_changed","pubkey":"k",)"
                        R"("endpoint":"1.2.3.4:5"})");
  REQUIRE(e);
  CHECK(
    encode_event(*e)
    == R"({"event":"nat_endpoint_changed","pubkey":"k","endpoint":"1.2.3.4:5"})");
  auto j = parse_json_strict(R"({"a":1,"a":2})");
  CHECK_FALSE(j);
  CHECK(j.error() == "duplicate field `a`");
}

TEST_CASE("overlay modes and engine error texts") {
  CHECK(parse_overlay_mode("auto") == overlay_mode::automatic);
  CHECK(parse_overlay_mode("isolated") == overlay_mode::automatic);
  CHECK(parse_overlay_mode("shared") == overlay_mode::shared);
  CHECK(parse_overlay_mode("dedicated") == overlay_mode::dedicated);
  CHECK_FALSE(parse_overlay_mode("Dedicated"));
  CHECK(to_string(overlay_mode::automatic) == "auto");
  CHECK(uses_shared_bridge(overlay_mode::shared));
  CHECK_FALSE(uses_shared_bridge(overlay_mode::automatic));
  CHECK(uses_per_service_wg(overlay_mode::dedicated));
  CHECK(overlay_error("scoped resolver is macOS-only").message
        == "overlay engine error: scoped resolver is macOS-only");
  CHECK(other_error("global overlay not set up").message
        == "global overlay not set up");
}

TEST_CASE("mutated frames never throw; whatever decodes re-encodes stably") {
  // Deterministic byte-level fuzzing around the spec frames: flips,
  // deletions, insertions of JSON-significant bytes, truncations.
  std::mt19937 rng{20261125};
  const std::string alphabet = "{}[]\":,0123456789-.eE \\tnrufl\x00\xff";
  std::size_t decoded = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string body = spec_frames[rng() % spec_frames.size()];
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      auto pos = rng() % body.size();
      switch (rng() % 4) {
      case 0:
        body[pos] = alphabet[rng() % alphabet.size()];
        break;
      case 1:
        body.erase(pos, 1 + rng() % 4);
        break;
      case 2:
        body.insert(pos, 1, alphabet[rng() % alphabet.size()]);
        break;
      default:
        body.resize(pos);
      }
    }
    CAPTURE(body);
    net::expected<frame, decode_error> f = net::unexpected{decode_error{}};
    REQUIRE_NOTHROW(f = decode_frame(body));
    if (!f) {
      // A recovered id must be the one actually in the text.
      if (f.error().request_id) {
        auto doc = parse_json_strict(body);
        if (doc && doc->is_object())
          CHECK(doc->at("id").get<std::uint64_t>() == *f.error().request_id);
      }
      continue;
    }
    ++decoded;
    auto again = encode_frame(*f);
    auto f2 = decode_frame(again);
    REQUIRE(f2);
    CHECK(*f2 == *f);
    CHECK(encode_frame(*f2) == again);
  }
  CHECK(decoded > 100); // the mutations must not all be rejected
}
