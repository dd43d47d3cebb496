#include "stun/nat_runtime.hpp"

namespace overlayd::stun {

nat_runtime::nat_runtime(nat_runtime_options options)
  : options_(std::move(options)), sink_(options_.on_relay_data) {}

nat_runtime::~nat_runtime() {
  shutdown();
}

void nat_runtime::warn(const std::string& m) const {
  if (options_.warn)
    options_.warn(m);
}

nat_services nat_runtime::services() {
  nat_services s;
  s.start_relay = [this](const relay_server_config& c, const std::string& k) {
    return start_relay(c, k);
  };
  s.gather = [this](const nat_config& c) { return gather(c); };
  s.discover = [this] { return discover(); };
  s.refresh_relays = [this] { refresh_relays(); };
  s.warn = options_.warn;
  return s;
}

status nat_runtime::start_relay(const relay_server_config& cfg,
                                const std::string& credential) {
  std::lock_guard lock(mu_);
  if (server_)
    return status::success();
  auto o = options_.relay_defaults;
  o.config = cfg;
  o.credential = credential;
  if (!o.log)
    o.log = options_.warn;
  auto server = std::make_unique<relay_server>(std::move(o));
  auto bound = server->start();
  if (!bound)
    return status::failure(bound.error());
  server_addr_ = *bound;
  server_ = std::move(server);
  return status::success();
}

result<gathered_candidates> nat_runtime::gather(const nat_config& cfg) {
  std::optional<network_snapshot> net;
  if (options_.read_network)
    net = options_.read_network();
  auto egress = resolve_physical_egress(net);

  stun_client_options so;
  so.timeout = options_.stun_timeout;
  so.resolver = options_.resolver;
  so.warn = options_.warn;
  std::optional<std::string> pin;
  if (egress && !egress->iface.empty())
    pin = egress->iface;
  so.egress_iface = [pin] { return pin; };
  auto stun = std::make_unique<stun_client>(cfg.stun_servers, so);
  stun_client* stun_raw = stun.get();
  {
    std::lock_guard lock(mu_);
    stun_ = std::move(stun);
  }

  gather_sources src;
  src.wg_port = options_.wg_port;
  src.egress = egress;
  src.local_ip
    = [](ip_address::family_t f, const std::optional<std::string>& iface) {
        return udp_connect_local_ip(f, iface);
      };
  src.stun = [stun_raw] { return stun_raw->discover(); };
  src.relays = [this, &cfg] {
    std::vector<udp_endpoint> addrs;
    std::vector<std::unique_ptr<relay_client>> fresh;
    for (const auto& t : cfg.turn_servers) {
      relay_client_options ro;
      ro.server = t;
      ro.log = options_.warn;
      // The sink reports which of our allocations a datagram came in on;
      // that address is known only once the allocation exists.
      struct holder {
        std::mutex mu;
        std::optional<udp_endpoint> relay;
      };
      auto own = std::make_shared<holder>();
      // The clients die before the runtime (shutdown), so `this` is safe.
      ro.on_data_batch = [own, this](std::span<const relay_datagram> batch) {
        std::optional<udp_endpoint> mine;
        {
          std::lock_guard l(own->mu);
          mine = own->relay;
        }
        if (mine)
          deliver(*mine, batch);
      };
      auto c = relay_client::create(ro);
      if (!c) {
        warn("relay " + t.address + ": " + c.error());
        continue;
      }
      auto a = (*c)->allocate();
      if (!a) {
        warn("relay " + t.address + ": " + a.error());
        continue;
      }
      {
        std::lock_guard l(own->mu);
        own->relay = *a;
      }
      addrs.push_back(*a);
      fresh.push_back(std::move(*c));
    }
    {
      std::unique_lock lock(relays_mu_);
      std::swap(relays_, fresh);
      relay_gen_++;
    }
    fresh.clear(); // the replaced clients deallocate, outside the lock
    return addrs;
  };
  src.warn = options_.warn;
  src.now_unix = unix_now();
  return gather_candidates(src);
}

result<stun_discovery, stun_error> nat_runtime::discover() {
  stun_client* s;
  {
    std::lock_guard lock(mu_);
    s = stun_.get();
  }
  if (!s)
    return result<stun_discovery, stun_error>::failure(
      {stun_error::kind::no_servers, 0, 0, {}});
  return s->discover();
}

void nat_runtime::refresh_relays() {
  // Shared: the data path keeps sending while a refresh waits for its reply.
  std::shared_lock lock(relays_mu_);
  for (auto& c : relays_)
    if (c->is_active())
      if (auto s = c->refresh(); !s)
        warn(s.error);
}

relay_client* nat_runtime::relay_for(const udp_endpoint& peer_relay) {
  std::shared_lock lock(relays_mu_);
  for (auto& c : relays_)
    if (c->is_active() && c->relay_address()
        && c->relay_address()->ip.family == peer_relay.ip.family)
      return c.get();
  return nullptr;
}

std::vector<udp_endpoint> nat_runtime::relay_addresses() const {
  std::shared_lock lock(relays_mu_);
  std::vector<udp_endpoint> out;
  for (const auto& c : relays_)
    if (auto a = c->relay_address())
      out.push_back(*a);
  return out;
}

std::optional<udp_endpoint> nat_runtime::relay_server_address() const {
  std::lock_guard lock(mu_);
  return server_addr_;
}

void nat_runtime::shutdown() {
  std::vector<std::unique_ptr<relay_client>> relays;
  std::unique_ptr<relay_server> server;
  {
    std::unique_lock lock(relays_mu_);
    relays = std::move(relays_);
    relays_.clear();
    relay_gen_++;
  }
  {
    std::lock_guard lock(mu_);
    server = std::move(server_);
    server_addr_.reset();
  }
  relays.clear(); // each deallocates
  if (server)
    server->stop();
}

void nat_runtime::deliver(const udp_endpoint& mine,
                          std::span<const relay_datagram> batch) const {
  std::shared_lock lock(sink_mu_);
  if (batch_sink_)
    batch_sink_(mine, batch);
  else if (sink_)
    for (const auto& d : batch)
      sink_(mine, d.peer, d.raw);
}

void nat_runtime::set_relay_data_sink(relay_data_sink sink) {
  std::unique_lock lock(sink_mu_);
  sink_ = std::move(sink);
}

void nat_runtime::set_relay_batch_sink(relay_batch_sink sink) {
  std::unique_lock lock(sink_mu_);
  batch_sink_ = std::move(sink);
}

bool nat_runtime::relay_send(const udp_endpoint& peer_relay,
                             std::span<const std::uint8_t> datagram) const {
  std::shared_lock lock(relays_mu_);
  for (const auto& c : relays_)
    if (c->permits(peer_relay))
      return c->send_data_fast(peer_relay, datagram);
  return false;
}

std::optional<std::size_t> nat_runtime::relay_send_batch(
  const udp_endpoint& peer_relay,
  std::span<const std::span<const std::uint8_t>> datagrams) const {
  std::shared_lock lock(relays_mu_);
  for (const auto& c : relays_)
    if (c->permits(peer_relay))
      return c->send_data_batch(peer_relay, datagrams);
  return std::nullopt;
}

status nat_runtime::relay_permit(const udp_endpoint& peer_relay) {
  std::shared_lock lock(relays_mu_);
  relay_client* same_relay = nullptr;
  relay_client* same_family = nullptr;
  for (const auto& c : relays_) {
    if (c->permits(peer_relay))
      return status::success();
    if (!c->is_active())
      continue;
    auto a = c->relay_address();
    if (!a || a->ip.unmapped().family != peer_relay.ip.unmapped().family)
      continue;
    if (!same_family)
      same_family = c.get();
    if (!same_relay && a->ip.unmapped() == peer_relay.ip.unmapped())
      same_relay = c.get();
  }
  relay_client* pick = same_relay ? same_relay : same_family;
  if (!pick)
    return status::failure("no relay allocation can reach "
                           + peer_relay.to_string());
  return pick->ensure_permission(peer_relay);
}

} // namespace overlayd::stun
