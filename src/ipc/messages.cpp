#include "ipc/messages.hpp"

#include <array>

namespace overlayd::ipc {

namespace {

// Indexed like the `request` variant.
constexpr std::array<std::string_view, std::variant_size_v<request>> op_names
  = {"set_local_node_id",
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

// Indexed like the `response` variant.
constexpr std::array<std::string_view, std::variant_size_v<response>>
  result_names = {"ok",          "ip",     "attached",        "guest_config",
                  "bridge_name", "status", "service_overlay", "pruned_bridges",
                  "nat_status",  "err"};

} // namespace

std::string_view to_string(overlay_mode mode) noexcept {
  switch (mode) {
  case overlay_mode::shared:
    return "shared";
  case overlay_mode::dedicated:
    return "dedicated";
  case overlay_mode::automatic:
    break;
  }
  return "auto";
}

std::optional<overlay_mode> parse_overlay_mode(std::string_view text) noexcept {
  if (text == "auto" || text == "isolated")
    return overlay_mode::automatic;
  if (text == "shared")
    return overlay_mode::shared;
  if (text == "dedicated")
    return overlay_mode::dedicated;
  return std::nullopt;
}

std::string_view op_name(const request& r) noexcept {
  return op_names[r.index()];
}

std::string_view result_name(const response& r) noexcept {
  return result_names[r.index()];
}

} // namespace overlayd::ipc
