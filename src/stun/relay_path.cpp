// The relay as a device path: see relay_path.hpp for the design.
#include "stun/relay_path.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "wg/io/datagram_path.hpp"
#include "wg/io/device.hpp"

namespace overlayd::stun {

udp_endpoint to_udp_endpoint(const wg::endpoint& ep) {
  udp_endpoint out;
  auto raw = ep.address().bytes();
  out.ip.family
    = raw.size() == 4 ? ip_address::family_t::v4 : ip_address::family_t::v6;
  std::memcpy(out.ip.bytes.data(), raw.data(), raw.size());
  out.ip = out.ip.unmapped();
  out.port = ep.port();
  return out;
}

wg::endpoint to_wg_endpoint(const udp_endpoint& ep) {
  ip_address ip = ep.ip.unmapped();
  auto wip = *wg::ip_address::from_bytes(
    std::span<const std::uint8_t>(ip.bytes.data(), ip.is_v4() ? 4u : 16u));
  return wg::endpoint(wip, ep.port);
}

// The wg::datagram_path the device calls, plus the permission worker.
// Shared by the relay_path handle and the device (which may hold it for
// the rest of a batch after uninstall; `closed_` makes that harmless).
class relay_path::impl final : public wg::datagram_path {
public:
  impl(nat_runtime& runtime, relay_path_options options)
    : runtime_(runtime), options_(std::move(options)) {
    // nop
  }

  void start() {
    worker_ = std::thread([this] { work(); });
  }

  // After this no call reaches the runtime or the device again.
  void close() {
    {
      std::unique_lock life(life_mu_);
      closed_ = true;
    }
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable())
      worker_.join();
  }

  // -- wg::datagram_path ------------------------------------------------------

  bool claims(const wg::endpoint& to) override {
    std::shared_lock life(life_mu_);
    if (closed_)
      return false;
    return claims(to_udp_endpoint(to));
  }

  void send(const wg::endpoint& to,
            std::span<const std::uint8_t> datagram) override {
    wg::outgoing_datagram one{to, datagram};
    send_batch({&one, 1});
  }

  // Runs of datagrams to one ready address leave with one sendmmsg; the
  // others wait for their permission or are dropped.
  void send_batch(std::span<const wg::outgoing_datagram> batch) override {
    std::shared_lock life(life_mu_);
    if (closed_)
      return;
    auto& runs = scratch_runs();
    auto& spans = scratch_spans();
    runs.clear();
    spans.clear();
    {
      std::lock_guard lock(mu_);
      sync_generation();
      const wg::endpoint* last = nullptr;
      state last_state = state::pending;
      entry* e = nullptr;
      for (const auto& d : batch) {
        if (!last || !(*last == d.to)) {
          last = &d.to;
          auto ep = to_udp_endpoint(d.to);
          auto it = entries_.find(ep);
          e = it == entries_.end() ? nullptr : &it->second;
          if (e && e->st == state::failed && clock::now() >= e->retry_at) {
            e->st = state::pending; // time to try again
            cv_.notify_all();
          }
          last_state = e ? e->st : state::failed;
          if (last_state == state::ready)
            runs.push_back({ep, spans.size(), 0});
        }
        if (last_state == state::ready) {
          spans.push_back(d.bytes);
          runs.back().count++;
        } else if (e && last_state != state::failed
                   && e->waiting.size() < options_.max_waiting) {
          e->waiting.emplace_back(d.bytes.begin(), d.bytes.end());
        } else {
          dropped_++;
        }
      }
    }
    for (const auto& r : runs) {
      auto sent = runtime_.relay_send_batch(
        r.to, std::span(spans).subspan(r.first, r.count));
      if (sent) {
        sent_ += *sent;
        dropped_ += r.count - *sent;
        continue;
      }
      // No allocation permits it (any more): ask for the permission again.
      dropped_ += r.count;
      std::lock_guard lock(mu_);
      if (auto it = entries_.find(r.to);
          it != entries_.end() && it->second.st == state::ready) {
        it->second.st = state::pending;
        cv_.notify_all();
      }
    }
  }

  // -- from the runtime's relay clients ---------------------------------------

  void on_data(wg::device& dev, std::span<const relay_datagram> batch) {
    std::vector<wg::injected_datagram> in;
    in.reserve(batch.size());
    {
      // The relay delivered these, so one of our allocations permits each
      // sender: answers to it (after roaming) take the relay too.
      std::lock_guard lock(mu_);
      sync_generation();
      const udp_endpoint* last = nullptr;
      for (const auto& d : batch) {
        if (!last || !(*last == d.peer)) {
          auto [it, fresh] = entries_.try_emplace(d.peer);
          if (fresh)
            cv_.notify_all(); // relay_permit finds the permission at once
          last = &d.peer;
        }
        in.push_back({to_wg_endpoint(d.peer), d.raw});
      }
    }
    received_ += in.size();
    dev.inject_datagrams(in);
  }

  // -- registration -----------------------------------------------------------

  bool add(const udp_endpoint& raw) {
    auto ep = raw.unmapped();
    std::lock_guard lock(mu_);
    sync_generation();
    if (ep.ip.is_loopback()
        && std::find(own_ips_.begin(), own_ips_.end(), ep.ip) == own_ips_.end())
      return false;
    auto [it, fresh] = entries_.try_emplace(ep);
    it->second.registered = true;
    if (fresh)
      cv_.notify_all();
    return true;
  }

  void remove(const udp_endpoint& ep) {
    std::lock_guard lock(mu_);
    entries_.erase(ep.unmapped());
  }

  bool claims(const udp_endpoint& ep) {
    std::lock_guard lock(mu_);
    sync_generation();
    return entries_.count(ep) != 0;
  }

  bool ready(const udp_endpoint& ep) {
    std::lock_guard lock(mu_);
    sync_generation();
    auto it = entries_.find(ep.unmapped());
    return it != entries_.end() && it->second.st == state::ready;
  }

  relay_path_counters counters() const {
    return {sent_.load(), received_.load(), dropped_.load(),
            permissions_.load(), permission_failures_.load()};
  }

private:
  using clock = std::chrono::steady_clock;

  // Per-thread scratch space for send_batch (several device threads call
  // it at once).
  struct run {
    udp_endpoint to;
    std::size_t first, count;
  };
  static std::vector<run>& scratch_runs() {
    thread_local std::vector<run> v;
    return v;
  }
  static std::vector<std::span<const std::uint8_t>>& scratch_spans() {
    thread_local std::vector<std::span<const std::uint8_t>> v;
    return v;
  }
  enum class state { pending, permitting, ready, failed };
  struct entry {
    state st = state::pending;
    bool registered = false;
    clock::time_point retry_at{};
    std::vector<std::vector<std::uint8_t>> waiting;
  };

  void log(const std::string& m) const {
    if (options_.log)
      options_.log(m);
  }

  // Caller holds mu_. New allocations have no permissions and maybe other
  // relay addresses: start every entry over.
  void sync_generation() {
    auto g = runtime_.relay_generation();
    if (g == gen_)
      return;
    gen_ = g;
    own_ips_.clear();
    for (const auto& a : runtime_.relay_addresses())
      own_ips_.push_back(a.ip.unmapped());
    for (auto& [ep, e] : entries_)
      if (e.st != state::permitting)
        e.st = state::pending;
    cv_.notify_all();
  }

  // Creates permissions for pending entries, one at a time (each is one
  // round trip to the relay), and retries failed ones when due.
  void work() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      sync_generation();
      auto now = clock::now();
      std::optional<udp_endpoint> next;
      for (auto& [ep, e] : entries_) {
        if (e.st == state::failed && now >= e.retry_at)
          e.st = state::pending;
        if (e.st == state::pending && !next)
          next = ep;
      }
      if (!next) {
        cv_.wait_for(lock, std::chrono::seconds(1));
        continue;
      }
      entries_[*next].st = state::permitting;
      auto gen = gen_;
      lock.unlock();
      auto st = runtime_.relay_permit(*next);
      lock.lock();
      auto it = entries_.find(*next);
      if (it == entries_.end())
        continue; // removed meanwhile
      auto& e = it->second;
      if (gen != runtime_.relay_generation()) {
        e.st = state::pending; // allocations changed under us
        continue;
      }
      if (!st) {
        permission_failures_++;
        e.st = state::failed;
        e.retry_at = clock::now() + options_.permission_retry;
        dropped_ += e.waiting.size();
        e.waiting.clear();
        log("relay path: permission for " + next->to_string() + ": "
            + st.error);
        continue;
      }
      permissions_++;
      e.st = state::ready;
      auto waiting = std::move(e.waiting);
      e.waiting.clear();
      lock.unlock();
      for (const auto& d : waiting) {
        if (runtime_.relay_send(*next, d))
          sent_++;
        else
          dropped_++;
      }
      lock.lock();
    }
  }

  nat_runtime& runtime_;
  relay_path_options options_;
  std::shared_mutex life_mu_;
  bool closed_ = false;

  mutable std::mutex mu_; // everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::uint64_t gen_ = ~std::uint64_t{0};
  std::vector<ip_address> own_ips_;
  std::unordered_map<udp_endpoint, entry, udp_endpoint_hash> entries_;
  std::thread worker_;

  std::atomic<std::uint64_t> sent_{0}, received_{0}, dropped_{0},
    permissions_{0}, permission_failures_{0};
};

relay_path::relay_path(nat_runtime& runtime, wg::device& device,
                       relay_path_options options)
  : impl_(std::make_shared<impl>(runtime, std::move(options))) {
  impl_->start();
  runtime.set_relay_batch_sink(
    [p = impl_.get(), &device](const udp_endpoint&,
                               std::span<const relay_datagram> batch) {
      p->on_data(device, batch);
    });
  device.set_datagram_path(impl_);
  runtime_ = &runtime;
  device_ = &device;
}

relay_path::~relay_path() {
  // No DATA callback is running once the sink is replaced, no device call
  // uses the runtime once the impl is closed.
  runtime_->set_relay_batch_sink(nullptr);
  impl_->close();
  device_->set_datagram_path(nullptr);
}

bool relay_path::add_peer_relay(const udp_endpoint& peer_relay) {
  return impl_->add(peer_relay);
}

std::size_t
relay_path::add_peer_candidates(const std::vector<candidate>& candidates) {
  std::size_t n = 0;
  for (const auto& c : candidates)
    if (c.type == candidate_type::relay && add_peer_relay(c.address))
      ++n;
  return n;
}

void relay_path::remove_peer_relay(const udp_endpoint& peer_relay) {
  impl_->remove(peer_relay);
}

bool relay_path::claims(const udp_endpoint& ep) const {
  return impl_->claims(ep.unmapped());
}

bool relay_path::ready(const udp_endpoint& ep) const {
  return impl_->ready(ep);
}

relay_path_counters relay_path::counters() const {
  return impl_->counters();
}

std::unique_ptr<relay_path> make_relay_path(nat_runtime& runtime,
                                            wg::device& device,
                                            relay_path_options options) {
  return std::make_unique<relay_path>(runtime, device, std::move(options));
}

} // namespace overlayd::stun
