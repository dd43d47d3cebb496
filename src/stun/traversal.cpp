#include "stun/traversal.hpp"

#include <algorithm>

namespace overlayd::stun {

bool handshake_since(wg_control& wg, const std::string& pubkey,
                     std::uint64_t since) {
  auto t = wg.last_handshake(pubkey);
  return t.ok() && *t > 0 && *t >= since;
}

peer_attempt::peer_attempt(std::string pubkey,
                           std::vector<candidate> candidates, attempt_kind kind,
                           std::uint64_t timeout_secs, std::size_t max_pairs,
                           std::optional<udp_endpoint> restore_to)
  : pubkey_(std::move(pubkey)), kind_(kind),
    timeout_(std::chrono::seconds(
      kind == attempt_kind::upgrade ? upgrade_timeout_secs : timeout_secs)),
    restore_to_(restore_to) {
  for (auto& c : candidates) {
    if (kind == attempt_kind::upgrade && c.type == candidate_type::relay)
      continue;
    if (c.type == candidate_type::relay && c.address.ip.is_loopback()) {
      notes_.push_back("skipped loopback relay candidate "
                       + c.address.to_string());
      continue;
    }
    candidates_.push_back(c);
  }
  sort_by_priority(candidates_);
  if (candidates_.size() > max_pairs)
    candidates_.resize(max_pairs);
}

std::string peer_attempt::failure_text() const {
  return "NAT traversal failed for peer " + pubkey_
         + ": exhausted all candidates";
}

// Points the peer at the next candidate that accepts the endpoint.
bool peer_attempt::begin_next(const traversal_time& now, wg_control& wg) {
  while (next_ < candidates_.size()) {
    const candidate& c = candidates_[next_++];
    // Recorded before the update, whole seconds, as the reference does.
    since_ = now.unix_secs;
    auto s = wg.set_endpoint(pubkey_, c.address);
    if (!s) {
      notes_.push_back("Hole punch failed for peer " + pubkey_
                       + ": endpoint update failed: " + s.error);
      continue;
    }
    deadline_ = now.mono + timeout_;
    in_flight_ = true;
    return true;
  }
  return false;
}

peer_attempt::state peer_attempt::step(const traversal_time& now,
                                       wg_control& wg) {
  while (state_ == state::running) {
    if (!in_flight_ && !begin_next(now, wg)) {
      state_ = state::failed;
      if (restore_to_) {
        auto s = wg.set_endpoint(pubkey_, *restore_to_);
        if (!s)
          notes_.push_back("restoring endpoint " + restore_to_->to_string()
                           + " failed: " + s.error);
      }
      notes_.push_back(failure_text());
      break;
    }
    if (now.mono >= deadline_) {
      in_flight_ = false; // timed out: on to the next candidate now
      continue;
    }
    if (handshake_since(wg, pubkey_, since_)) {
      const candidate& c = candidates_[next_ - 1];
      state_ = state::succeeded;
      connection_ = connection_for(c.type);
      winner_ = c.address;
    }
    break; // poll again in handshake_poll_interval
  }
  return state_;
}

} // namespace overlayd::stun
