#include "stun/nat_engine.hpp"

#include <algorithm>

namespace overlayd::stun {

void nat_engine::configure(const converted_nat_config& c) {
  config_ = c.config;
  credential_ = c.relay_credential;
}

void nat_engine::set_peer_candidates(const std::string& pubkey,
                                     const std::vector<candidate_wire>& wire,
                                     std::uint64_t now_unix) {
  std::vector<candidate> parsed;
  for (const auto& w : wire)
    if (auto c = from_wire(w, now_unix))
      parsed.push_back(*c);
  if (parsed.empty())
    peer_candidates_.erase(pubkey);
  else
    peer_candidates_[pubkey] = std::move(parsed);
}

void nat_engine::remove_peer(const std::string& pubkey) {
  peer_candidates_.erase(pubkey);
  peer_connection_.erase(pubkey);
  attempts_.erase(pubkey);
}

std::optional<connection_type>
nat_engine::connection(const std::string& pubkey) const {
  auto it = peer_connection_.find(pubkey);
  if (it == peer_connection_.end())
    return std::nullopt;
  return it->second;
}

const std::vector<candidate>*
nat_engine::peer_candidates(const std::string& k) const {
  auto it = peer_candidates_.find(k);
  return it == peer_candidates_.end() ? nullptr : &it->second;
}

void nat_engine::finish(const peer_attempt& a,
                        std::vector<attempt_outcome>& done) {
  attempt_outcome o{a.pubkey(), a.kind(), a.connection(), a.winner()};
  if (o.connection)
    peer_connection_[a.pubkey()] = *o.connection;
  else if (warn_)
    for (const auto& n : a.notes())
      warn_(n);
  done.push_back(std::move(o));
}

void nat_engine::connect_known_peers(const traversal_time& now, wg_control& wg,
                                     std::vector<attempt_outcome>& done) {
  if (!started_)
    return;
  std::uint64_t cutoff = now.unix_secs > reconnect_cutoff_secs
                           ? now.unix_secs - reconnect_cutoff_secs
                           : 0;
  for (const auto& [key, cands] : peer_candidates_) {
    if (attempts_.count(key))
      continue; // still trying from an earlier tick
    attempt_kind kind = attempt_kind::connect;
    if (handshake_since(wg, key, cutoff)) {
      auto ct = peer_connection_.find(key);
      // Alive: leave it, unless it rides the relay and a direct candidate
      // might have opened since (§7.3, which overlayd never ran).
      if (ct == peer_connection_.end()
          || ct->second != connection_type::relayed)
        continue;
      kind = attempt_kind::upgrade;
    }
    std::optional<udp_endpoint> restore;
    if (auto cur = wg.endpoint(key); cur.ok())
      restore = *cur;
    peer_attempt a(key, cands, kind, active_.hole_punch_timeout_secs,
                   active_.max_candidate_pairs, restore);
    if (a.candidates().empty()) {
      if (kind == attempt_kind::connect && warn_)
        warn_(a.failure_text());
      continue;
    }
    if (a.step(now, wg) == peer_attempt::state::running)
      attempts_.emplace(key, std::move(a));
    else
      finish(a, done);
  }
}

status nat_engine::tick(const traversal_time& now, const nat_services& svc,
                        wg_control& wg) {
  warn_ = svc.warn;
  std::vector<attempt_outcome> done;
  if (!started_) {
    nat_config cfg = config_.value_or(nat_config{});
    if (!cfg.enabled)
      return status::success();
    if (cfg.relay_server && !relay_started_ && svc.start_relay) {
      auto s = svc.start_relay(*cfg.relay_server, credential_.value_or(""));
      if (s)
        relay_started_ = true;
      else if (warn_)
        warn_("Built-in relay server failed to start: " + s.error);
    }
    auto g = svc.gather ? svc.gather(cfg)
                        : result<gathered_candidates>::failure(
                          "no candidate gathering available");
    if (!g) {
      if (warn_)
        warn_("NAT candidate gathering failed: " + g.error());
      return status::success(); // the next tick retries all of this
    }
    active_ = cfg;
    local_ = g->candidates;
    reflexive_ = g->reflexive;
    behavior_ = g->behavior;
    started_ = true;
    last_refresh_ = now.unix_secs;
    connect_known_peers(now, wg, done);
  }

  status outcome = status::success();
  auto d = svc.discover ? svc.discover()
                        : result<stun_discovery, stun_error>::failure(
                          {stun_error::kind::no_servers, 0, 0, {}});
  if (d) {
    auto r = refresh_candidates(local_, reflexive_, d->results, wg_port_,
                                now.unix_secs);
    local_ = std::move(r.candidates);
    reflexive_ = d->results;
    behavior_ = d->behavior;
    last_refresh_ = now.unix_secs;
    if (svc.refresh_relays)
      svc.refresh_relays();
  } else {
    outcome = status::failure("NAT maintenance tick failed: STUN discovery "
                              "failed: "
                              + d.error().message());
  }
  connect_known_peers(now, wg, done);
  return outcome;
}

std::vector<attempt_outcome> nat_engine::poll(const traversal_time& now,
                                              wg_control& wg) {
  std::vector<attempt_outcome> done;
  for (auto it = attempts_.begin(); it != attempts_.end();) {
    if (it->second.step(now, wg) == peer_attempt::state::running) {
      ++it;
      continue;
    }
    finish(it->second, done);
    it = attempts_.erase(it);
  }
  return done;
}

nat_status nat_engine::status_snapshot(wg_control& wg) const {
  nat_status s;
  for (const auto& c : local_)
    s.candidates.push_back(to_wire(c));
  for (const auto& [key, ct] : peer_connection_) {
    nat_peer_status p{key, std::string(display_name(ct)), std::nullopt};
    if (auto ep = wg.endpoint(key); ep.ok() && ep->has_value())
      p.remote_endpoint = (*ep)->to_string();
    s.peers.push_back(std::move(p));
  }
  s.last_refresh = last_refresh_;
  return s;
}

} // namespace overlayd::stun
