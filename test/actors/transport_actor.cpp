// The device-less global transport mirrors peers and their usable NAT
// candidates the way the reference's `global_peers` / `peer_candidates`
// bookkeeping does (reference tests `add_peer_records_candidates_and_
// remove_clears_them`, `add_global_peer_with_no_host_adapter_...`).
#include "actors/transport.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "deterministic.hpp"

using namespace overlayd;
using actors::transport_snapshot;

namespace {

struct transport_fixture : test::deterministic_fixture {
  actors::transport_actor t = sys.spawn(actors::transport);

  ~transport_fixture() {
    caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
    run();
  }

  transport_snapshot snap() {
    return ask<transport_snapshot>(t, atom::snapshot_v);
  }
};

ipc::peer_spec peer(std::string key,
                    std::vector<ipc::nat_candidate_wire> cands = {}) {
  ipc::peer_spec p;
  p.public_key = std::move(key);
  p.endpoint = "1.2.3.4:51820";
  p.allowed_ips = "10.200.0.2/32";
  p.candidates = std::move(cands);
  return p;
}

} // namespace

TEST_CASE_FIXTURE(transport_fixture,
                  "peers are mirrored and candidates recorded") {
  caf::anon_send(
    t, atom::add_peer_v,
    peer("k", {{"host", "192.168.1.5:51820", 100}, {"bogus", "1.2.3.4:5", 1}}));
  run();
  auto s = snap();
  CHECK_FALSE(s.has_device);
  REQUIRE(s.peers.size() == 1);
  CHECK(s.peers[0].public_key == "k");
  CHECK(s.peers_with_candidates == std::vector<std::string>{"k"});
  // Only unusable candidates: the entry goes, the peer stays.
  caf::anon_send(t, atom::add_peer_v,
                 peer("k", {{"host", "not-an-addr", 100}}));
  run();
  s = snap();
  CHECK(s.peers.size() == 1);
  CHECK(s.peers_with_candidates.empty());
  // Allowed-IP changes without a device are skipped.
  caf::anon_send(t, atom::add_allowed_v, std::string{"k"},
                 std::string{"10.1.0.0/16"});
  run();
  CHECK(snap().peers[0].allowed_ips == "10.200.0.2/32");
  caf::anon_send(t, atom::add_peer_v,
                 peer("k", {{"relay", "[fd00::1]:3478", 10}}));
  caf::anon_send(t, atom::remove_peer_v, std::string{"k"});
  run();
  s = snap();
  CHECK(s.peers.empty());
  CHECK(s.peers_with_candidates.empty());
}

TEST_CASE("usable candidates need a known type and a socket address") {
  auto out = actors::usable_candidates({{"host", "10.0.0.1:1", 1},
                                        {"server-reflexive", "1.2.3.4:5", 2},
                                        {"relay", "[::1]:3478", 3},
                                        {"srflx", "1.2.3.4:5", 4},
                                        {"host", "example.com:1", 5}});
  REQUIRE(out.size() == 3);
  CHECK(out[2].priority == 3);
}
