#include "actors/nat_convert.hpp"

namespace overlayd::actors {

stun::converted_nat_config to_stun_config(const ipc::nat_config_spec& spec) {
  stun::nat_config_spec s;
  s.enabled = spec.enabled;
  s.stun_servers = spec.stun_servers;
  for (const auto& t : spec.turn_servers)
    s.turn_servers.push_back({t.addr, t.username, t.credential});
  s.hole_punch_timeout_secs = spec.hole_punch_timeout_secs;
  s.stun_refresh_interval_secs = spec.stun_refresh_interval_secs;
  s.max_candidate_pairs = static_cast<std::size_t>(spec.max_candidate_pairs);
  if (spec.relay_server) {
    const auto& r = *spec.relay_server;
    stun::relay_server_spec rs;
    rs.listen_port = r.listen_port;
    rs.external_addr = r.external_addr;
    rs.max_sessions = static_cast<std::size_t>(r.max_sessions);
    rs.auth_credential = r.auth_credential;
    s.relay_server = std::move(rs);
  }
  return stun::nat_config_from_spec(s);
}

std::vector<stun::candidate_wire>
to_stun_candidates(const std::vector<ipc::nat_candidate_wire>& wire) {
  std::vector<stun::candidate_wire> out;
  out.reserve(wire.size());
  for (const auto& c : wire)
    out.push_back({c.candidate_type, c.address, c.priority});
  return out;
}

ipc::nat_status_wire to_status_wire(const stun::nat_status& status) {
  ipc::nat_status_wire out;
  for (const auto& c : status.candidates)
    out.candidates.push_back({c.candidate_type, c.address, c.priority});
  for (const auto& p : status.peers)
    out.peers.push_back({p.node_id, p.connection_type, p.remote_endpoint});
  out.last_refresh = status.last_refresh;
  return out;
}

} // namespace overlayd::actors
