// The peer operations: they touch only the WireGuard scopes (scope_mu_) and
// wg_control, so a slow host call cannot delay them. The one host step is
// a route per allowed IP of a service-scope peer (see route_peer).

#include "overlay/convert.hpp"
#include "overlay/engine.hpp"

namespace overlayd::overlay {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return std::string{s};
}

std::vector<std::string> split_allowed(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto comma = text.find(',');
    auto part = trim(text.substr(0, comma));
    if (!part.empty())
      out.push_back(std::move(part));
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

} // namespace

// The reference's `peer_spec_to_info`: only the endpoint is checked here.
static net::expected<wg_peer, ipc::resp::err>
to_wg_peer(const ipc::peer_spec& spec) {
  auto ep = net::socket_address::parse(spec.endpoint);
  if (!ep)
    return net::unexpected{ipc::other_error(
      "invalid peer endpoint " + spec.endpoint + ": " + ep.error())};
  wg_peer p;
  p.public_key = spec.public_key;
  p.endpoint = spec.endpoint;
  p.allowed_ips = split_allowed(spec.allowed_ips);
  p.persistent_keepalive = static_cast<std::uint16_t>(
    std::min<std::uint64_t>(spec.persistent_keepalive_secs, 65535));
  return p;
}

// `transport_for_scope`: the device of a scope, or the reference's error.
// `dedicated` maps services to records with an `interface`.
template <class Dedicated>
static net::expected<std::string, ipc::resp::err>
device_for(const ipc::peer_scope& scope,
           const std::optional<std::string>& global,
           const std::map<std::string, Dedicated>& dedicated) {
  if (scope.is_global()) {
    if (!global)
      return net::unexpected{ipc::other_error("global overlay not set up")};
    return *global;
  }
  auto i = dedicated.find(*scope.service);
  if (i == dedicated.end())
    return net::unexpected{
      ipc::other_error("no dedicated overlay for service " + *scope.service)};
  return i->second.interface;
}

ipc::response engine::add_peer(const ipc::req::add_peer& r) {
  auto peer = to_wg_peer(r.peer);
  if (!peer)
    return peer.error();
  std::lock_guard guard{scope_mu_};
  // Global scope without a device: the reference warns and only mirrors.
  if (!(r.scope.is_global() && !scopes_.global_interface)) {
    auto dev = device_for(r.scope, scopes_.global_interface, scopes_.dedicated);
    if (!dev)
      return dev.error();
    if (auto st = wg_.add_peer(*dev, *peer); !st)
      return ipc::overlay_error("add_peer failed: " + st.error());
    if (!r.scope.is_global())
      if (auto err = route_peer(scopes_.dedicated.at(*r.scope.service),
                                r.peer.public_key, peer->allowed_ips))
        return ipc::overlay_error("add_peer failed: " + *err);
  }
  // Candidates the NAT runtime hole-punches toward; unparseable ones are
  // dropped like the reference's `wire_to_candidate`.
  std::vector<ipc::nat_candidate_wire> parsed;
  for (auto& c : r.peer.candidates)
    if (net::socket_address::parse(c.address)
        && (c.candidate_type == "host" || c.candidate_type == "server-reflexive"
            || c.candidate_type == "relay"))
      parsed.push_back(c);
  if (parsed.empty())
    scopes_.candidates.erase(r.peer.public_key);
  else
    scopes_.candidates[r.peer.public_key] = std::move(parsed);
  if (r.scope.is_global())
    scopes_.global_peers[r.peer.public_key] = r.peer;
  return ipc::resp::ok{};
}

ipc::response engine::remove_peer(const ipc::req::remove_peer& r) {
  std::lock_guard guard{scope_mu_};
  if (!(r.scope.is_global() && !scopes_.global_interface)) {
    auto dev = device_for(r.scope, scopes_.global_interface, scopes_.dedicated);
    if (!dev)
      return dev.error();
    if (auto st = wg_.remove_peer(*dev, r.pubkey); !st)
      return ipc::overlay_error("remove_peer failed: " + st.error());
    if (!r.scope.is_global())
      unroute_peer(scopes_.dedicated.at(*r.scope.service), r.pubkey);
  }
  if (r.scope.is_global())
    scopes_.global_peers.erase(r.pubkey);
  scopes_.candidates.erase(r.pubkey);
  return ipc::resp::ok{};
}

namespace {

template <class Req, class Dedicated, class Op>
ipc::response allowed_op(const Req& r, const std::optional<std::string>& global,
                         const std::map<std::string, Dedicated>& dedicated,
                         std::string_view op_name, Op&& op) {
  if (r.scope.is_global() && !global)
    return ipc::resp::ok{};
  auto dev = device_for(r.scope, global, dedicated);
  if (!dev)
    return dev.error();
  auto cidr = net::cidr::parse(r.cidr);
  if (!cidr)
    return ipc::other_error("invalid CIDR " + r.cidr + ": " + cidr.error());
  if (auto st = op(*dev, cidr->to_string()); !st)
    return ipc::overlay_error(std::string{op_name} + " failed: " + st.error());
  return ipc::resp::ok{};
}

} // namespace

ipc::response engine::add_allowed_ip(const ipc::req::add_allowed_ip& r) {
  std::lock_guard guard{scope_mu_};
  auto out = allowed_op(r, scopes_.global_interface, scopes_.dedicated,
                        "add_allowed_ip",
                        [&](const std::string& dev, const std::string& cidr) {
                          return wg_.add_allowed_ip(dev, r.pubkey, cidr);
                        });
  if (std::holds_alternative<ipc::resp::ok>(out) && !r.scope.is_global())
    if (auto err = route_peer(scopes_.dedicated.at(*r.scope.service), r.pubkey,
                              {r.cidr}))
      return ipc::overlay_error("add_allowed_ip failed: " + *err);
  return out;
}

ipc::response engine::remove_allowed_ip(const ipc::req::remove_allowed_ip& r) {
  std::lock_guard guard{scope_mu_};
  auto out = allowed_op(r, scopes_.global_interface, scopes_.dedicated,
                        "remove_allowed_ip",
                        [&](const std::string& dev, const std::string& cidr) {
                          return wg_.remove_allowed_ip(dev, r.pubkey, cidr);
                        });
  if (std::holds_alternative<ipc::resp::ok>(out) && !r.scope.is_global())
    unroute_peer(scopes_.dedicated.at(*r.scope.service), r.pubkey,
                 net::cidr::parse(r.cidr)->trunc().to_string());
  return out;
}

// -- routes of service-scope peers
// ----------------------------------------------------------------------

// Without these routes a remote service subnet follows the cluster route
// onto the global device, where no peer carries it, and the dedicated
// devices never see the traffic. CIDRs overlapping the service's own
// subnet (that one belongs to the bridge) and default routes are left
// alone; a route that exists already is not this engine's and is never
// replaced or deleted.
std::optional<std::string>
engine::route_peer(dedicated_record& d, const std::string& key,
                   const std::vector<std::string>& cidrs) {
  auto& links = host_.links();
  for (auto& text : cidrs) {
    auto parsed = net::cidr::parse(text);
    if (!parsed || parsed->prefix() == 0 || parsed->is_v4() != d.subnet.is_v4())
      continue;
    auto c = parsed->trunc();
    if (c.contains(d.subnet.network()) || d.subnet.contains(c.network()))
      continue;
    auto name = c.to_string();
    bool claimed = false;
    for (auto& [peer, routes] : d.peer_routes)
      claimed |= routes.contains(name);
    if (!claimed) {
      auto st = links.add_route_via_dev(to_driver(c.network()),
                                        static_cast<std::uint8_t>(c.prefix()),
                                        d.interface);
      if (!st && st.error().kind() == drivers::error_kind::already_exists)
        continue;
      if (!st)
        return "route " + name + " dev " + d.interface + ": "
               + st.error().what();
    }
    d.peer_routes[key].insert(name);
  }
  return std::nullopt;
}

void engine::unroute_peer(dedicated_record& d, const std::string& key,
                          const std::optional<std::string>& only) {
  auto mine = d.peer_routes.find(key);
  if (mine == d.peer_routes.end())
    return;
  std::set<std::string> dropped;
  if (only) {
    if (mine->second.erase(*only) > 0)
      dropped.insert(*only);
  } else {
    dropped = std::move(mine->second);
    mine->second.clear();
  }
  if (mine->second.empty())
    d.peer_routes.erase(mine);
  for (auto& name : dropped) {
    bool still_claimed = false;
    for (auto& [peer, routes] : d.peer_routes)
      still_claimed |= routes.contains(name);
    if (still_claimed)
      continue;
    auto c = net::cidr::parse(name);
    // Best effort: a device that is gone took its routes with it.
    (void)host_.links().delete_route_via_dev(
      to_driver(c->network()), static_cast<std::uint8_t>(c->prefix()),
      d.interface);
  }
}

} // namespace overlayd::overlay
