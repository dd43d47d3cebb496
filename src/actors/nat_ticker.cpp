#include "actors/nat_ticker.hpp"

#include <chrono>
#include <utility>

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

namespace overlayd::actors {

namespace {

// Stands in when no WireGuard device was given: every call fails with a
// message, so traversal reports it instead of crashing.
struct no_wg_device : stun::wg_control {
  stun::status set_endpoint(const std::string&,
                            const stun::udp_endpoint&) override {
    return stun::status::failure("no WireGuard device for NAT traversal");
  }
  stun::result<std::optional<stun::udp_endpoint>>
  endpoint(const std::string&) override {
    return stun::result<std::optional<stun::udp_endpoint>>::failure(
      "no WireGuard device for NAT traversal");
  }
  stun::result<std::uint64_t> last_handshake(const std::string&) override {
    return stun::result<std::uint64_t>::failure(
      "no WireGuard device for NAT traversal");
  }
};

// CAF default-constructs the state; the engine needs the port, so it is
// built when the actor starts.
struct nat_ticker_state {
  nat_ticker_options opts;
  std::optional<stun::nat_engine> engine_;
  stun::nat_engine& engine() { return *engine_; }
  const stun::nat_engine& engine() const { return *engine_; }

  stun::traversal_time now() const {
    if (opts.clock)
      return opts.clock();
    using namespace std::chrono;
    auto unix = duration_cast<seconds>(system_clock::now().time_since_epoch());
    auto mono
      = duration_cast<milliseconds>(steady_clock::now().time_since_epoch());
    return {static_cast<std::uint64_t>(unix.count()), mono};
  }

  // The configured interval, or the Default config's 60 s; never 0, so a
  // zero in a config cannot turn the self-tick into a busy loop.
  std::chrono::seconds refresh_interval() const {
    const auto& c = engine().configured();
    std::uint64_t secs = c ? c->stun_refresh_interval_secs
                           : stun::nat_config{}.stun_refresh_interval_secs;
    return std::chrono::seconds(secs == 0 ? 1 : secs);
  }

  void warn(const std::string& m) const {
    if (opts.services.warn)
      opts.services.warn(m);
  }

  void candidates_changed(const std::string& key) const {
    if (!opts.peer_candidates_changed)
      return;
    const auto* c = engine().peer_candidates(key);
    opts.peer_candidates_changed(key, c ? *c : std::vector<stun::candidate>{});
  }

  stun::status tick() { return engine().tick(now(), opts.services, *opts.wg); }

  void poll() {
    if (engine().running_attempts() == 0)
      return;
    for (const auto& o : engine().poll(now(), *opts.wg))
      if (!o.connection && o.kind == stun::attempt_kind::connect)
        warn("NAT traversal failed for peer " + o.pubkey
             + ": exhausted all candidates");
  }
};

using ticker_ptr = nat_ticker_actor::stateful_pointer<nat_ticker_state>;

nat_ticker_actor::behavior_type nat_ticker(ticker_ptr self,
                                           nat_ticker_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  if (!st.opts.wg)
    st.opts.wg = std::make_shared<no_wg_device>();
  st.engine_.emplace(st.opts.wg_port);
  if (st.opts.initial_config)
    st.engine().configure(*st.opts.initial_config);
  // The poll timer keeps ticking for the actor's life: an attempt started
  // by a tick is stepped within a second, as in §7.2.
  self->send(self, atom::nat_poll_v);
  if (st.opts.self_tick)
    self->send(self, atom::nat_self_v);
  return {
    [self](atom::nat_config, stun::converted_nat_config& c) {
      self->state.engine().configure(c);
    },
    [self](atom::nat_cands, std::string& key,
           std::vector<stun::candidate_wire>& wire) {
      auto& st = self->state;
      st.engine().set_peer_candidates(key, wire, st.now().unix_secs);
      st.candidates_changed(key);
    },
    [self](atom::nat_rmpeer, std::string& key) {
      self->state.engine().remove_peer(key);
      self->state.candidates_changed(key);
    },
    [self](atom::nat_tick) { return self->state.tick(); },
    [self](atom::nat_status) {
      return self->state.engine().status_snapshot(*self->state.opts.wg);
    },
    [self](atom::nat_poll) {
      self->state.poll();
      self->delayed_send(self, stun::handshake_poll_interval, atom::nat_poll_v);
    },
    [self](atom::nat_self) {
      auto& st = self->state;
      if (auto s = st.tick(); !s)
        st.warn(s.error);
      self->delayed_send(self, st.refresh_interval(), atom::nat_self_v);
    },
  };
}

} // namespace

nat_ticker_actor spawn_nat_ticker(caf::actor_system& sys,
                                  nat_ticker_options options) {
  if (options.detached)
    return sys.spawn<caf::detached>(nat_ticker, std::move(options));
  return sys.spawn(nat_ticker, std::move(options));
}

} // namespace overlayd::actors
