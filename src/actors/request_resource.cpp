#include "actors/request_resource.hpp"

#include <string>
#include <type_traits>

namespace overlayd::actors {

namespace {

std::string handle_key(const ipc::attach_handle& handle) {
  return std::visit(
    [](const auto& h) -> std::string {
      using T = std::decay_t<decltype(h)>;
      if constexpr (std::is_same_v<T, ipc::linux_pid_handle>)
        return "container:pid:" + std::to_string(h.pid);
      else if constexpr (std::is_same_v<T, ipc::windows_container_handle>)
        return "container:windows:" + h.container_id;
      else if constexpr (std::is_same_v<T, ipc::guest_managed_handle>)
        return "container:guest:" + h.id;
      else
        return "container:host:" + h.id;
    },
    handle);
}

resource peer_resource(const ipc::peer_scope& scope,
                       const std::string& pubkey) {
  if (scope.is_global())
    return resource::named("peer:" + pubkey);
  return resource::named("service:" + *scope.service);
}

} // namespace

resource resource_of(const ipc::request& request) {
  return std::visit(
    [](const auto& r) -> resource {
      using T = std::decay_t<decltype(r)>;
      namespace req = ipc::req;
      if constexpr (
        std::is_same_v<
          T,
          req::
            set_local_node_id> || std::is_same_v<T, req::set_local_wg_pubkey>)
        return resource::named("node");
      else if constexpr (
        std::is_same_v<
          T,
          req::
            setup_global_overlay> || std::is_same_v<T, req::teardown_global_overlay> || std::is_same_v<T, req::prune_orphan_bridges> || std::is_same_v<T, req::shutdown>)
        return resource::global();
      else if constexpr (
        std::is_same_v<
          T,
          req::
            setup_service_overlay> || std::is_same_v<T, req::teardown_service_overlay> || std::is_same_v<T, req::allocate_ip>)
        return resource::named("service:" + r.service);
      else if constexpr (std::is_same_v<T, req::release_ip>)
        return resource::named("ip:" + r.ip.to_string());
      else if constexpr (
        std::is_same_v<
          T, req::attach_container> || std::is_same_v<T, req::detach_container>)
        return resource::named(handle_key(r.handle));
      else if constexpr (std::is_same_v<T, req::add_peer>)
        return peer_resource(r.scope, r.peer.public_key);
      else if constexpr (
        std::is_same_v<
          T,
          req::
            remove_peer> || std::is_same_v<T, req::add_allowed_ip> || std::is_same_v<T, req::remove_allowed_ip>)
        return peer_resource(r.scope, r.pubkey);
      else if constexpr (
        std::is_same_v<
          T, req::register_dns> || std::is_same_v<T, req::unregister_dns>)
        return resource::named("dns:" + r.name);
      else if constexpr (std::is_same_v<T, req::nat_tick>)
        return resource::named("nat");
      else
        return resource::unordered();
    },
    request);
}

} // namespace overlayd::actors
