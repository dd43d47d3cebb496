#include "overlay/fake_wg_control.hpp"

#include <algorithm>

#include "wg/key.hpp"

namespace overlayd::overlay {

namespace {

net::unexpected<std::string> fail(std::string message) {
  return net::unexpected<std::string>{std::move(message)};
}

} // namespace

void fake_wg_control::record(std::string call) {
  calls_.push_back(std::move(call));
}

wg_status fake_wg_control::create_device(const wg_device_spec& spec) {
  std::lock_guard guard{mu_};
  record("create " + spec.ifname + " " + std::to_string(spec.listen_port));
  if (fail_next_create_) {
    auto msg = std::move(*fail_next_create_);
    fail_next_create_.reset();
    return fail(msg);
  }
  if (devices_.contains(spec.ifname))
    return fail("device " + spec.ifname + " already exists");
  auto priv = wg::key::from_base64(spec.private_key);
  if (!priv)
    return fail("invalid private key for " + spec.ifname);
  if (twin_ != nullptr) {
    auto st = twin_->add_device(spec.ifname, "tun", false);
    if (!st)
      return fail(st.error().what());
    (void)twin_->root().links().set_mtu(spec.ifname,
                                        static_cast<std::uint32_t>(spec.mtu));
  }
  devices_[spec.ifname]
    = device_state{spec, priv->public_from_private().to_base64(), {}};
  return {};
}

void fake_wg_control::destroy_device(const std::string& ifname) {
  std::lock_guard guard{mu_};
  record("destroy " + ifname);
  if (devices_.erase(ifname) > 0 && twin_ != nullptr)
    (void)twin_->root().links().delete_link(ifname);
}

bool fake_wg_control::has_device(const std::string& ifname) const {
  std::lock_guard guard{mu_};
  return devices_.contains(ifname);
}

std::string fake_wg_control::public_key(const std::string& ifname) const {
  std::lock_guard guard{mu_};
  auto i = devices_.find(ifname);
  return i == devices_.end() ? std::string{} : i->second.public_key;
}

wg_status fake_wg_control::add_peer(const std::string& ifname,
                                    const wg_peer& peer) {
  std::lock_guard guard{mu_};
  record("add_peer " + ifname + " " + peer.public_key);
  auto i = devices_.find(ifname);
  if (i == devices_.end())
    return fail("no device " + ifname);
  if (!wg::key::from_base64(peer.public_key))
    return fail("invalid public key " + peer.public_key);
  auto& slot = i->second.peers[peer.public_key];
  auto allowed = slot.allowed_ips;
  for (auto& a : peer.allowed_ips)
    if (std::find(allowed.begin(), allowed.end(), a) == allowed.end())
      allowed.push_back(a);
  slot = peer;
  slot.allowed_ips = std::move(allowed);
  return {};
}

wg_status fake_wg_control::remove_peer(const std::string& ifname,
                                       const std::string& public_key) {
  std::lock_guard guard{mu_};
  record("remove_peer " + ifname + " " + public_key);
  auto i = devices_.find(ifname);
  if (i == devices_.end())
    return fail("no device " + ifname);
  i->second.peers.erase(public_key);
  return {};
}

wg_status fake_wg_control::add_allowed_ip(const std::string& ifname,
                                          const std::string& public_key,
                                          const std::string& cidr) {
  std::lock_guard guard{mu_};
  record("add_allowed_ip " + ifname + " " + public_key + " " + cidr);
  auto i = devices_.find(ifname);
  if (i == devices_.end())
    return fail("no device " + ifname);
  auto p = i->second.peers.find(public_key);
  if (p == i->second.peers.end())
    return fail(unknown_peer_for_allowed_ip(cidr, public_key));
  auto& a = p->second.allowed_ips;
  if (std::find(a.begin(), a.end(), cidr) == a.end())
    a.push_back(cidr);
  return {};
}

wg_status fake_wg_control::remove_allowed_ip(const std::string& ifname,
                                             const std::string& public_key,
                                             const std::string& cidr) {
  std::lock_guard guard{mu_};
  record("remove_allowed_ip " + ifname + " " + public_key + " " + cidr);
  auto i = devices_.find(ifname);
  if (i == devices_.end())
    return fail("no device " + ifname);
  auto p = i->second.peers.find(public_key);
  if (p == i->second.peers.end())
    return {}; // nothing to remove (dataplane.md §3.6)
  auto& a = p->second.allowed_ips;
  a.erase(std::remove(a.begin(), a.end(), cidr), a.end());
  return {};
}

wg_status fake_wg_control::set_endpoint(const std::string& ifname,
                                        const std::string& public_key,
                                        const std::string& endpoint) {
  std::lock_guard guard{mu_};
  record("set_endpoint " + ifname + " " + public_key + " " + endpoint);
  auto i = devices_.find(ifname);
  if (i == devices_.end())
    return fail("no device " + ifname);
  auto p = i->second.peers.find(public_key);
  if (p == i->second.peers.end())
    return fail("unknown peer " + public_key);
  p->second.endpoint = endpoint;
  return {};
}

net::expected<std::vector<ipc::peer_status>>
fake_wg_control::peers(const std::string& ifname) const {
  std::lock_guard guard{mu_};
  auto i = devices_.find(ifname);
  if (i == devices_.end())
    return fail("no device " + ifname);
  std::vector<ipc::peer_status> out;
  for (auto& [key, p] : i->second.peers) {
    ipc::peer_status st;
    st.public_key = wg::key::from_base64(key)->to_hex();
    st.endpoint = p.endpoint;
    for (auto& a : p.allowed_ips)
      st.allowed_ips += (st.allowed_ips.empty() ? "" : ",") + a;
    out.push_back(std::move(st));
  }
  return out;
}

std::vector<std::string> fake_wg_control::calls() const {
  std::lock_guard guard{mu_};
  return calls_;
}

std::optional<fake_wg_control::device_state>
fake_wg_control::device(const std::string& ifname) const {
  std::lock_guard guard{mu_};
  auto i = devices_.find(ifname);
  if (i == devices_.end())
    return std::nullopt;
  return i->second;
}

std::vector<std::string> fake_wg_control::device_names() const {
  std::lock_guard guard{mu_};
  std::vector<std::string> out;
  for (auto& [name, d] : devices_)
    out.push_back(name);
  return out;
}

void fake_wg_control::fail_next_create(std::string message) {
  std::lock_guard guard{mu_};
  fail_next_create_ = std::move(message);
}

} // namespace overlayd::overlay
