#include "actors/nat_global_device.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

#include <spdlog/spdlog.h>

#include "stun/pubkey.hpp"

namespace overlayd::actors {

namespace {

// The attachment's tag on the device (one relay path per device).
constexpr const char* relay_tag = "nat-relay-path";

// How long the node with the greater key waits before its punch: more
// than a round trip through a relay, far less than a punch timeout.
constexpr std::chrono::milliseconds punch_stagger{250};

} // namespace

// The relay path as a device attachment. `close` (device destroyed, or we
// let go) and every use take the same lock, so the path never outlives the
// device and is never used after it is gone.
class nat_global_device::attachment final : public overlay::device_attachment {
public:
  explicit attachment(std::unique_ptr<stun::relay_path> path)
    : path_(std::move(path)) {
    // nop
  }

  void close() override {
    std::lock_guard guard{mu_};
    path_.reset();
  }

  bool open() const {
    std::lock_guard guard{mu_};
    return path_ != nullptr;
  }

  template <class F>
  void with(F&& f) {
    std::lock_guard guard{mu_};
    if (path_)
      f(*path_);
  }

private:
  mutable std::mutex mu_;
  std::unique_ptr<stun::relay_path> path_;
};

nat_global_device::nat_global_device(
  overlay::wg_control& wg, std::shared_ptr<const global_device_name> name,
  stun::nat_runtime* runtime)
  : wg_(wg), name_(std::move(name)), runtime_(runtime) {
  // nop
}

nat_global_device::~nat_global_device() {
  std::lock_guard guard{mu_};
  if (path_) {
    wg_.detach(relay_tag);
    path_->close();
  }
}

void nat_global_device::sync_relay_path() {
  if (runtime_ == nullptr)
    return;
  auto name = name_->get();
  std::lock_guard guard{mu_};
  if (name && path_ && path_->open() && attached_to_ == *name)
    return;
  if (path_) {
    wg_.detach(relay_tag);
    path_->close();
    path_.reset();
    attached_to_.clear();
  }
  if (!name || !wg_.has_device(*name))
    return;
  std::shared_ptr<attachment> made;
  auto st = wg_.attach(
    *name, relay_tag,
    [&](wg::device& dev) -> std::shared_ptr<overlay::device_attachment> {
      stun::relay_path_options o;
      o.log = [](const std::string& m) { spdlog::info("relay path: {}", m); };
      made = std::make_shared<attachment>(
        stun::make_relay_path(*runtime_, dev, std::move(o)));
      return made;
    });
  if (!st) {
    spdlog::warn("NAT relay path not attached to {}: {}", *name, st.error());
    return;
  }
  path_ = std::move(made);
  attached_to_ = *name;
  spdlog::info("NAT relay path attached to {}", *name);
  // Addresses registered before the device existed.
  path_->with([&](stun::relay_path& p) {
    for (const auto& [key, relays] : peer_relays_)
      for (const auto& r : relays)
        p.add_peer_relay(r);
  });
}

void nat_global_device::set_peer_candidates(
  const std::string& pubkey, const std::vector<stun::candidate>& candidates) {
  std::vector<stun::udp_endpoint> relays;
  for (const auto& c : candidates)
    if (c.type == stun::candidate_type::relay)
      relays.push_back(c.address);
  sync_relay_path();
  std::lock_guard guard{mu_};
  auto& known = peer_relays_[pubkey];
  if (path_) {
    path_->with([&](stun::relay_path& p) {
      for (const auto& old : known)
        if (std::find(relays.begin(), relays.end(), old) == relays.end())
          p.remove_peer_relay(old);
      for (const auto& r : relays)
        if (!p.add_peer_relay(r))
          spdlog::info("relay candidate {} of peer {} skipped", r.to_string(),
                       pubkey);
    });
  }
  if (relays.empty())
    peer_relays_.erase(pubkey);
  else
    known = std::move(relays);
}

stun::relay_path_counters nat_global_device::relay_counters() const {
  std::lock_guard guard{mu_};
  stun::relay_path_counters out;
  if (path_)
    path_->with([&](stun::relay_path& p) { out = p.counters(); });
  return out;
}

std::optional<ipc::peer_status>
nat_global_device::find_peer(const std::string& pubkey,
                             std::string& error) const {
  auto name = name_->get();
  if (!name) {
    error = "global overlay not set up";
    return std::nullopt;
  }
  auto hex = stun::pubkey_b64_to_hex(pubkey);
  if (!hex) {
    error = "invalid public key " + pubkey;
    return std::nullopt;
  }
  auto peers = wg_.peers(*name);
  if (!peers) {
    error = peers.error();
    return std::nullopt;
  }
  for (auto& p : *peers)
    if (p.public_key == *hex)
      return p;
  error = "peer " + pubkey + " not found on " + *name;
  return std::nullopt;
}

stun::status nat_global_device::set_endpoint(const std::string& pubkey,
                                             const stun::udp_endpoint& ep) {
  // Before the device sends to a relay address, the path must claim it.
  sync_relay_path();
  auto name = name_->get();
  if (!name)
    return stun::status::failure("global overlay not set up");
  {
    std::lock_guard guard{mu_};
    if (path_)
      path_->with([&](stun::relay_path& p) {
        if (p.claims(ep)) {
          auto c = p.counters();
          spdlog::info("NAT: peer {} tried over the relay at {} (relay "
                       "path: {} sent, {} received, {} dropped, {} "
                       "permissions, {} failed)",
                       pubkey, ep.to_string(), c.sent, c.received, c.dropped,
                       c.permissions, c.permission_failures);
        }
      });
  }
  // Two nodes punch toward each other at the same moment (their ticks are
  // simultaneous). Initiations that cross both arrive, each side drops its
  // own pending handshake for the other's (as WireGuard does), and both
  // then hold a responder session nobody confirms until the 5 s
  // retransmit. So one side, the one with the greater key (both agree on
  // which), lets the other's initiation go first.
  if (wg_.public_key(*name) > pubkey)
    std::this_thread::sleep_for(punch_stagger);
  auto st = wg_.punch(*name, pubkey, ep.to_string());
  if (!st)
    return stun::status::failure(st.error());
  return stun::status::success();
}

stun::result<std::optional<stun::udp_endpoint>>
nat_global_device::endpoint(const std::string& pubkey) {
  using out = stun::result<std::optional<stun::udp_endpoint>>;
  std::string error;
  auto p = find_peer(pubkey, error);
  if (!p)
    return out::failure(error);
  // A peer added without a usable endpoint (a guest's "0.0.0.0:0", as the
  // device dump prints it) has none to restore or report.
  auto ep = stun::udp_endpoint::parse(p->endpoint);
  if (!ep || ep->port == 0)
    return out(std::optional<stun::udp_endpoint>{});
  return out(std::move(ep));
}

stun::result<std::uint64_t>
nat_global_device::last_handshake(const std::string& pubkey) {
  using out = stun::result<std::uint64_t>;
  sync_relay_path();
  std::string error;
  auto p = find_peer(pubkey, error);
  if (!p)
    return out::failure(error);
  if (auto ep = stun::udp_endpoint::parse(p->endpoint)) {
    std::lock_guard guard{mu_};
    if (path_)
      path_->with([&](stun::relay_path& rp) {
        if (rp.claims(*ep)) {
          auto c = rp.counters();
          spdlog::debug("NAT: relay path to {}: {} sent, {} received, {} "
                        "dropped",
                        ep->to_string(), c.sent, c.received, c.dropped);
        }
      });
  }
  return out(static_cast<std::uint64_t>(
    std::max<std::int64_t>(0, p->last_handshake_unix_secs)));
}

} // namespace overlayd::actors
