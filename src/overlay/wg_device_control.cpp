#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "overlay/wg_control.hpp"
#include "wg/io/device.hpp"
#include "wg/key.hpp"

namespace overlayd::overlay {

std::pair<std::string, std::string> generate_key_pair() {
  auto priv = wg::key::generate_private();
  return {priv.to_base64(), priv.public_from_private().to_base64()};
}

namespace {

net::unexpected<std::string> fail(std::string message) {
  return net::unexpected<std::string>{std::move(message)};
}

template <class T>
wg_status from_io(const wg::result<T>& r) {
  if (r)
    return {};
  return fail(r.error().message);
}

class device_wg_control final : public wg_control {
public:
  explicit device_wg_control(std::string uapi_dir)
    : uapi_dir_(std::move(uapi_dir)) {
    // nop
  }

  ~device_wg_control() override {
    std::lock_guard guard{mu_};
    for (auto& [key, a] : attachments_)
      a->close();
    attachments_.clear();
    for (auto& [name, dev] : devices_)
      dev->stop();
  }

  wg_status create_device(const wg_device_spec& spec) override {
    auto priv = wg::key::from_base64(spec.private_key);
    if (!priv)
      return fail("invalid private key for " + spec.ifname);
    wg::device_config cfg;
    cfg.ifname = spec.ifname;
    cfg.uapi_dir = uapi_dir_;
    cfg.mtu = spec.mtu;
    cfg.private_key = *priv;
    cfg.listen_port = spec.listen_port;
    std::lock_guard guard{mu_};
    if (devices_.contains(spec.ifname))
      return fail("device " + spec.ifname + " already exists");
    auto dev = wg::device::create(std::move(cfg));
    if (!dev)
      return fail(dev.error().message);
    (*dev)->start();
    devices_.emplace(spec.ifname, std::move(*dev));
    return {};
  }

  void destroy_device(const std::string& ifname) override {
    std::unique_ptr<wg::device> dev;
    std::vector<std::shared_ptr<device_attachment>> riders;
    {
      std::lock_guard guard{mu_};
      auto i = devices_.find(ifname);
      if (i == devices_.end())
        return;
      dev = std::move(i->second);
      devices_.erase(i);
      riders = take_attachments_locked(
        [&](const auto& slot) { return slot.first == ifname; });
    }
    // Attachments stop using the device before it stops.
    for (auto& a : riders)
      a->close();
    dev->stop();
  }

  wg_status
  attach(const std::string& ifname, const std::string& tag,
         const std::function<std::shared_ptr<device_attachment>(wg::device&)>&
           make) override {
    std::shared_ptr<device_attachment> old;
    {
      std::lock_guard guard{mu_};
      auto i = devices_.find(ifname);
      if (i == devices_.end())
        return fail("no device " + ifname);
      auto made = make(*i->second);
      if (!made)
        return fail("nothing to attach to " + ifname);
      auto& slot = attachments_[{ifname, tag}];
      old = std::exchange(slot, std::move(made));
    }
    if (old)
      old->close();
    return {};
  }

  void detach(const std::string& tag) override {
    std::vector<std::shared_ptr<device_attachment>> gone;
    {
      std::lock_guard guard{mu_};
      gone = take_attachments_locked(
        [&](const auto& slot) { return slot.second == tag; });
    }
    for (auto& a : gone)
      a->close();
  }

  bool has_device(const std::string& ifname) const override {
    std::lock_guard guard{mu_};
    return devices_.contains(ifname);
  }

  std::string public_key(const std::string& ifname) const override {
    auto* dev = find(ifname);
    if (dev == nullptr)
      return {};
    auto k = dev->public_key();
    return k ? k->to_base64() : std::string{};
  }

  wg_status add_peer(const std::string& ifname, const wg_peer& p) override {
    auto* dev = find(ifname);
    if (dev == nullptr)
      return fail("no device " + ifname);
    auto pub = wg::key::from_base64(p.public_key);
    if (!pub)
      return fail("invalid public key " + p.public_key);
    wg::peer_config cfg;
    cfg.public_key = *pub;
    auto ep = wg::endpoint::parse(p.endpoint);
    if (!ep)
      return fail("invalid endpoint " + p.endpoint);
    if (!ep->address().to_string().empty() && ep->port() != 0)
      cfg.endpoint = *ep;
    cfg.persistent_keepalive = p.persistent_keepalive;
    for (auto& text : p.allowed_ips) {
      auto a = wg::allowed_ip::parse(text);
      if (!a)
        return fail("invalid allowed IP " + text);
      cfg.allowed_ips.push_back(*a);
    }
    return from_io(dev->add_or_update_peer(cfg));
  }

  wg_status remove_peer(const std::string& ifname,
                        const std::string& public_key) override {
    auto* dev = find(ifname);
    if (dev == nullptr)
      return fail("no device " + ifname);
    auto pub = wg::key::from_base64(public_key);
    if (!pub)
      return fail("invalid public key " + public_key);
    return from_io(dev->remove_peer(*pub));
  }

  wg_status add_allowed_ip(const std::string& ifname,
                           const std::string& public_key,
                           const std::string& cidr) override {
    return allowed(ifname, public_key, cidr, true);
  }

  wg_status remove_allowed_ip(const std::string& ifname,
                              const std::string& public_key,
                              const std::string& cidr) override {
    return allowed(ifname, public_key, cidr, false);
  }

  wg_status set_endpoint(const std::string& ifname,
                         const std::string& public_key,
                         const std::string& endpoint) override {
    auto t = endpoint_target(ifname, public_key, endpoint);
    if (!t)
      return fail(t.error());
    return from_io(t->dev->set_endpoint(t->pub, t->ep));
  }

  wg_status punch(const std::string& ifname, const std::string& public_key,
                  const std::string& endpoint) override {
    auto t = endpoint_target(ifname, public_key, endpoint);
    if (!t)
      return fail(t.error());
    auto* dev = t->dev;
    const auto& pub = t->pub;
    const auto& ep = t->ep;
    auto st = dev->status_of(pub);
    if (!st)
      return fail("no peer " + public_key + " on " + ifname);
    // The device has no "initiate now" call: it starts a handshake when
    // something is to be sent without a session, and then retransmits on
    // its own 5 s schedule to wherever the endpoint points by then. A
    // punch needs an initiation to this candidate now, so the peer is
    // re-created with the same settings, without session or pending
    // handshake (traffic to it is lost during the attempt either way: the
    // endpoint moves to the candidate being tried).
    // Re-created in one step with its endpoint and keepalive: a packet
    // arriving in between must not start a handshake toward no endpoint,
    // which would hold the next initiation back for 5 s. A new keepalive
    // interval sends one keepalive now, and without a session that starts
    // the handshake. Peers without a keepalive get ZLayer's 25 s.
    if (auto r = dev->remove_peer(pub); !r)
      return fail(r.error().message);
    wg::peer_config again;
    again.public_key = pub;
    again.preshared_key = st->preshared_key;
    again.allowed_ips = st->allowed_ips;
    again.endpoint = ep;
    again.persistent_keepalive
      = st->persistent_keepalive > 0 ? st->persistent_keepalive : 25;
    if (auto r = dev->add_or_update_peer(again); !r)
      return fail(r.error().message);
    // Setting the same endpoint again wakes the device's timer, so the
    // keepalive leaves now rather than at the next timer round.
    return from_io(dev->set_endpoint(pub, ep));
  }

  net::expected<std::vector<ipc::peer_status>>
  peers(const std::string& ifname) const override {
    auto* dev = find(ifname);
    if (dev == nullptr)
      return fail("no device " + ifname);
    std::vector<ipc::peer_status> out;
    for (auto& st : dev->status()) {
      ipc::peer_status p;
      p.public_key = st.public_key.to_hex();
      // Every peer the engine adds has an endpoint; one the device holds
      // none for was added with the unspecified address (a guest), which a
      // UAPI dump prints back as it was set (dataplane.md §3.6).
      p.endpoint
        = st.endpoint ? st.endpoint->to_string() : std::string{"0.0.0.0:0"};
      for (auto& a : st.allowed_ips) {
        if (!p.allowed_ips.empty())
          p.allowed_ips += ",";
        p.allowed_ips += a.to_string();
      }
      p.last_handshake_unix_secs = st.last_handshake_sec;
      out.push_back(std::move(p));
    }
    return out;
  }

private:
  /// A device, a peer key and an endpoint, all resolved from text.
  struct endpoint_call {
    wg::device* dev = nullptr;
    wg::key pub;
    wg::endpoint ep;
  };

  net::expected<endpoint_call> endpoint_target(const std::string& ifname,
                                               const std::string& public_key,
                                               const std::string& endpoint) {
    auto* dev = find(ifname);
    if (dev == nullptr)
      return fail("no device " + ifname);
    auto pub = wg::key::from_base64(public_key);
    auto ep = wg::endpoint::parse(endpoint);
    if (!pub || !ep)
      return fail("invalid key or endpoint " + public_key + " " + endpoint);
    return endpoint_call{dev, *pub, *ep};
  }

  /// Removes the attachments whose (ifname, tag) slot matches; the caller
  /// holds `mu_` and closes them after releasing it.
  template <class Pred>
  std::vector<std::shared_ptr<device_attachment>>
  take_attachments_locked(Pred matches) {
    std::vector<std::shared_ptr<device_attachment>> out;
    for (auto a = attachments_.begin(); a != attachments_.end();) {
      if (matches(a->first)) {
        out.push_back(std::move(a->second));
        a = attachments_.erase(a);
      } else {
        ++a;
      }
    }
    return out;
  }

  // Devices are only erased under the lock and then stopped, and the engine
  // never destroys a device while it issues peer calls on it (design §3:
  // the transport owns its device), so the raw pointer stays valid.
  wg::device* find(const std::string& ifname) const {
    std::lock_guard guard{mu_};
    auto i = devices_.find(ifname);
    return i == devices_.end() ? nullptr : i->second.get();
  }

  wg_status allowed(const std::string& ifname, const std::string& public_key,
                    const std::string& cidr, bool add) {
    auto* dev = find(ifname);
    if (dev == nullptr)
      return fail("no device " + ifname);
    auto pub = wg::key::from_base64(public_key);
    if (!pub)
      return fail("invalid public key " + public_key);
    auto a = wg::allowed_ip::parse(cidr);
    if (!a)
      return fail("invalid CIDR " + cidr);
    if (!dev->status_of(*pub)) {
      // The reference refuses to add to an unknown peer and treats a
      // removal from one as done (dataplane.md §3.6).
      if (add)
        return fail(unknown_peer_for_allowed_ip(cidr, public_key));
      return {};
    }
    return add ? from_io(dev->add_allowed_ip(*pub, *a))
               : from_io(dev->remove_allowed_ip(*pub, *a));
  }

  std::string uapi_dir_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<wg::device>> devices_;
  /// (ifname, tag) -> attachment; closed before its device stops.
  std::map<std::pair<std::string, std::string>,
           std::shared_ptr<device_attachment>>
    attachments_;
};

} // namespace

std::unique_ptr<wg_control> make_device_wg_control(std::string uapi_dir) {
  return std::make_unique<device_wg_control>(std::move(uapi_dir));
}

} // namespace overlayd::overlay
