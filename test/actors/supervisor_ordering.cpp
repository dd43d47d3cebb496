// Design §3 ordering, end to end through the ipc_server and supervisor
// actors on the deterministic scheduler: a request held up on one resource
// does not delay requests on other resources, while each connection's
// responses still leave in request order.
#include "actors/ipc_server.hpp"
#include "actors/supervisor.hpp"
#include "actors/transport.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <map>
#include <mutex>
#include <vector>

#include "deterministic.hpp"
#include "held_pool.hpp"
#include "ipc/framing.hpp"
#include "ipc/json_codec.hpp"
#include "recording_sink.hpp"

using namespace overlayd;
using actors::after_write;
using actors::conn_id;
using actors::inbound;
using actors::inbound_end;
using actors::inbound_reject;
using actors::inbound_request;

namespace {

net::ip_address ip(const char* text) {
  return *net::ip_address::parse(text);
}

struct ordering_fixture : test::deterministic_fixture {
  // Host work on service "slow" waits until the test lets it go.
  test::twin_core host;
  test::held_pool_actor pool = sys.spawn(test::held_pool, &host.twin.root(),
                                         std::set<std::string>{"service:slow"});
  actors::transport_actor transport
    = sys.spawn(actors::transport, host.core.get(), std::string{"global"});
  actors::supervisor_actor sup = sys.spawn(
    actors::supervisor,
    actors::supervisor_children{host.core.get(), pool, transport, {}});
  std::shared_ptr<test::recording_sink> sink
    = std::make_shared<test::recording_sink>();
  actors::ipc_server_actor server = sys.spawn(
    actors::ipc_server, sup, std::shared_ptr<actors::frame_sink>{sink});

  ordering_fixture() { run(); }

  ~ordering_fixture() {
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    run();
  }

  void request(conn_id conn, uint64_t id, ipc::request r) {
    caf::anon_send(server, atom::inbound_v, conn,
                   inbound{inbound_request{id, std::move(r)}});
  }

  test::held_pool_state& pool_state() {
    return deref<test::held_pool_impl>(pool).state;
  }

  actors::supervisor_state& sup_state() {
    return deref<caf::stateful_actor<actors::supervisor_state,
                                     actors::supervisor_actor::base>>(sup)
      .state;
  }

  // Lets the oldest held job run and answer.
  void release_one() {
    REQUIRE(!pool_state().held.empty());
    caf::anon_send(pool, atom::release_v);
    run();
  }

  static bool allocated(const ipc::response& r) {
    return std::holds_alternative<ipc::resp::allocated_ip>(r);
  }
};

} // namespace

TEST_CASE_FIXTURE(ordering_fixture,
                  "a held resource does not delay others and responses "
                  "stay in request order") {
  // Connection 1 pipelines a request on a held resource and one on another.
  request(1, 1, ipc::req::allocate_ip{"slow", false});
  request(1, 2, ipc::req::register_dns{"web.overlay", ip("10.200.0.5")});
  // Other connections ask about other resources meanwhile.
  request(2, 7, ipc::req::status{});
  request(3, 1, ipc::req::allocate_ip{"fast", false});
  run();

  // The other connections got their answers although "slow" is held.
  CHECK(sink->ids(2) == std::vector<uint64_t>{7});
  CHECK(std::holds_alternative<ipc::resp::status>(sink->last(2)));
  CHECK(sink->ids(3) == std::vector<uint64_t>{1});
  CHECK(sink->last(3)
        == ipc::response{ipc::resp::allocated_ip{ip("10.200.0.2")}});
  // Connection 1's second request already ran...
  CHECK(host.core->dns_records().count("web.overlay") == 1);
  // ...but its response waits behind the first one.
  CHECK(sink->ids(1).empty());

  release_one();
  // Both leave together, in request order.
  REQUIRE(sink->writes[1].size() == 1);
  CHECK(sink->ids(1) == std::vector<uint64_t>{1, 2});
  auto& frames = sink->writes[1][0].frames;
  CHECK(frames[0].response
        == ipc::response{ipc::resp::allocated_ip{ip("10.200.0.3")}});
  CHECK(frames[1].response == ipc::response{ipc::resp::ok{}});
}

TEST_CASE_FIXTURE(ordering_fixture,
                  "requests on the same resource run one at a time in "
                  "arrival order") {
  request(1, 1, ipc::req::allocate_ip{"slow", false});
  request(2, 1, ipc::req::allocate_ip{"slow", false});
  request(3, 1, ipc::req::allocate_ip{"fast", false});
  run();
  // The second "slow" allocation has not even reached the ipam yet.
  CHECK(pool_state().seen
        == std::vector<std::string>{"service:slow", "service:fast"});
  CHECK(sink->ids(2).empty());
  release_one();
  CHECK(sink->ids(1) == std::vector<uint64_t>{1});
  CHECK(pool_state().seen
        == std::vector<std::string>{"service:slow", "service:fast",
                                    "service:slow"});
  release_one();
  CHECK(allocated(sink->last(2)));
}

TEST_CASE_FIXTURE(ordering_fixture,
                  "shutdown is a barrier: it waits for earlier requests and "
                  "later ones see it") {
  request(1, 1, ipc::req::allocate_ip{"slow", false});
  request(2, 1, ipc::req::shutdown{});
  request(3, 1, ipc::req::status{});
  run();
  CHECK(sink->ids(2).empty());
  CHECK(sink->ids(3).empty());
  CHECK_FALSE(sup_state().shutting_down);
  release_one();
  CHECK(sink->ids(1) == std::vector<uint64_t>{1});
  // The shutdown reply closes its connection and signals the process.
  REQUIRE(sink->writes[2].size() == 1);
  CHECK(sink->writes[2][0].frames[0].response
        == ipc::response{ipc::resp::ok{}});
  CHECK(sink->writes[2][0].then == after_write::close_and_signal);
  CHECK(sink->last(3)
        == ipc::response{ipc::resp::err{"overlayd is shutting down"}});
}

TEST_CASE_FIXTURE(ordering_fixture,
                  "rejected frames and the end of input keep their place in "
                  "line") {
  request(1, 1, ipc::req::allocate_ip{"slow", false});
  caf::anon_send(server, atom::inbound_v, conn_id{1},
                 inbound{inbound_reject{2, "frame codec error: bad"}});
  caf::anon_send(server, atom::inbound_v, conn_id{1}, inbound{inbound_end{}});
  // Input after the end is ignored.
  request(1, 3, ipc::req::status{});
  run();
  CHECK(sink->ids(1).empty());
  release_one();
  REQUIRE(sink->writes[1].size() == 1);
  CHECK(sink->ids(1) == std::vector<uint64_t>{1, 2});
  CHECK(sink->writes[1][0].frames[1].response
        == ipc::response{ipc::resp::err{"frame codec error: bad"}});
  CHECK(sink->writes[1][0].then == after_write::close);
}

TEST_CASE_FIXTURE(ordering_fixture,
                  "responses for a connection that is gone are dropped") {
  request(1, 1, ipc::req::allocate_ip{"slow", false});
  run();
  caf::anon_send(server, atom::gone_v, conn_id{1});
  run();
  release_one();
  CHECK(sink->ids(1).empty());
}
