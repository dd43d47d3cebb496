#include "actors/transport.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

namespace overlayd::actors {

std::vector<ipc::nat_candidate_wire>
usable_candidates(const std::vector<ipc::nat_candidate_wire>& wire) {
  std::vector<ipc::nat_candidate_wire> out;
  for (const auto& c : wire) {
    bool known_type = c.candidate_type == "host"
                      || c.candidate_type == "server-reflexive"
                      || c.candidate_type == "relay";
    if (known_type && net::socket_address::parse(c.address))
      out.push_back(c);
  }
  return out;
}

transport_actor::behavior_type
transport(transport_actor::stateful_pointer<transport_state> self) {
  return {
    [self](atom::add_peer, ipc::peer_spec& spec) {
      auto& st = self->state;
      spdlog::warn("global overlay has no device yet; skipping the device "
                   "install of peer {} (kept for guest configs)",
                   spec.public_key);
      // Candidates replace the recorded set when at least one is usable,
      // otherwise the entry goes away (reference `AddPeer`).
      auto usable = usable_candidates(spec.candidates);
      if (usable.empty())
        st.candidates.erase(spec.public_key);
      else
        st.candidates.insert_or_assign(spec.public_key, std::move(usable));
      auto key = spec.public_key;
      st.peers.insert_or_assign(std::move(key), std::move(spec));
    },
    [self](atom::remove_peer, const std::string& pubkey) {
      auto& st = self->state;
      spdlog::warn("global overlay has no device yet; skipping the device "
                   "removal of peer {}",
                   pubkey);
      st.peers.erase(pubkey);
      st.candidates.erase(pubkey);
    },
    [](atom::add_allowed, const std::string& pubkey, const std::string& cidr) {
      spdlog::warn("global overlay has no device yet; skipping allowed IP {} "
                   "for peer {}",
                   cidr, pubkey);
    },
    [](atom::rm_allowed, const std::string& pubkey, const std::string& cidr) {
      spdlog::warn("global overlay has no device yet; skipping removal of "
                   "allowed IP {} for peer {}",
                   cidr, pubkey);
    },
    [self](atom::snapshot) {
      transport_snapshot snap;
      snap.has_device = false;
      for (const auto& [key, spec] : self->state.peers)
        snap.peers.push_back(spec);
      for (const auto& [key, list] : self->state.candidates)
        snap.peers_with_candidates.push_back(key);
      return snap;
    },
  };
}

} // namespace overlayd::actors
