#include "actors/request_gate.hpp"

namespace overlayd::actors {

bool request_gate::may_start_ahead_of_nothing(const resource& res) const {
  switch (res.what) {
  case resource::kind::none:
    return !barrier_running_;
  case resource::kind::keyed:
    return !barrier_running_ && !running_keys_.contains(res.key);
  case resource::kind::barrier:
    return running_.empty();
  }
  return false;
}

void request_gate::start(ticket id, const resource& res) {
  if (res.what == resource::kind::barrier)
    barrier_running_ = true;
  else if (res.what == resource::kind::keyed)
    running_keys_.insert(res.key);
  running_.emplace(id, res);
}

request_gate::admission request_gate::submit(resource res) {
  auto id = next_++;
  bool blocked_by_waiting = false;
  switch (res.what) {
  case resource::kind::none:
    blocked_by_waiting = waiting_barriers_ > 0;
    break;
  case resource::kind::keyed:
    blocked_by_waiting
      = waiting_barriers_ > 0 || waiting_keys_.contains(res.key);
    break;
  case resource::kind::barrier:
    blocked_by_waiting = !waiting_.empty();
    break;
  }
  if (!blocked_by_waiting && may_start_ahead_of_nothing(res)) {
    start(id, res);
    return {id, true};
  }
  if (res.what == resource::kind::barrier)
    ++waiting_barriers_;
  else if (res.what == resource::kind::keyed)
    ++waiting_keys_[res.key];
  waiting_.push_back({id, std::move(res)});
  return {id, false};
}

std::vector<request_gate::ticket> request_gate::finish(ticket id) {
  auto i = running_.find(id);
  if (i == running_.end())
    return {};
  if (i->second.what == resource::kind::barrier)
    barrier_running_ = false;
  else if (i->second.what == resource::kind::keyed)
    running_keys_.erase(i->second.key);
  running_.erase(i);
  std::vector<ticket> started;
  // Keys of entries that stay queued: later entries on them must not pass.
  std::unordered_set<std::string> passed_over;
  bool all_before_started = true;
  for (auto j = waiting_.begin(); j != waiting_.end() && !barrier_running_;) {
    auto& res = j->res;
    bool go = false;
    if (res.what == resource::kind::barrier) {
      // Nothing queued behind a waiting barrier may overtake it.
      if (!all_before_started || !running_.empty())
        break;
      go = true;
    } else if (res.what == resource::kind::keyed) {
      go = !running_keys_.contains(res.key) && !passed_over.contains(res.key);
      if (!go)
        passed_over.insert(res.key);
    } else {
      go = true;
    }
    if (!go) {
      all_before_started = false;
      ++j;
      continue;
    }
    if (res.what == resource::kind::barrier) {
      --waiting_barriers_;
    } else if (res.what == resource::kind::keyed) {
      if (--waiting_keys_[res.key] == 0)
        waiting_keys_.erase(res.key);
    }
    start(j->id, res);
    started.push_back(j->id);
    j = waiting_.erase(j);
  }
  return started;
}

} // namespace overlayd::actors
