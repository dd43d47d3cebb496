#pragma once

// The wire tags of every request (`"op"`) and response (`"result"`),
// indexed like the `ipc::request` and `ipc::response` variants. One table
// serves the decoder and op_name()/result_name(), so a new message cannot
// be spelled two ways.

#include <array>
#include <string_view>

namespace overlayd::ipc::detail {

inline constexpr std::array<std::string_view, 23> request_tags{
  "set_local_node_id",
  "set_local_wg_pubkey",
  "setup_global_overlay",
  "teardown_global_overlay",
  "setup_service_overlay",
  "teardown_service_overlay",
  "allocate_ip",
  "release_ip",
  "attach_container",
  "detach_container",
  "add_peer",
  "remove_peer",
  "add_allowed_ip",
  "remove_allowed_ip",
  "register_dns",
  "unregister_dns",
  "write_scoped_resolver",
  "remove_scoped_resolver",
  "prune_orphan_bridges",
  "status",
  "nat_tick",
  "nat_status",
  "shutdown"};

inline constexpr std::array<std::string_view, 10> response_tags{
  "ok",          "ip",     "attached",        "guest_config",
  "bridge_name", "status", "service_overlay", "pruned_bridges",
  "nat_status",  "err"};

} // namespace overlayd::ipc::detail
