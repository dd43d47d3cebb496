// The ipc_server's batch input (one message per I/O-thread wake-up, see
// engine.cpp): every item is taken exactly as if it had come alone, so a
// batch keeps design §3's rules - each connection's responses leave in its
// request order, and a request held up on one resource does not delay
// another connection in the same batch.
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
using actors::inbound_batch;
using actors::inbound_end;
using actors::inbound_reject;
using actors::inbound_request;

namespace {

struct batch_fixture : test::deterministic_fixture {
  // Every host job waits until the test lets it go.
  test::twin_core host;
  test::held_pool_actor pool
    = sys.spawn(test::held_pool, &host.twin.root(), std::set<std::string>{"*"});
  actors::transport_actor transport
    = sys.spawn(actors::transport, host.core.get(), std::string{"global"});
  actors::supervisor_actor sup = sys.spawn(
    actors::supervisor,
    actors::supervisor_children{host.core.get(), pool, transport, {}});
  std::shared_ptr<test::recording_sink> sink
    = std::make_shared<test::recording_sink>();
  actors::ipc_server_actor server = sys.spawn(
    actors::ipc_server, sup, std::shared_ptr<actors::frame_sink>{sink});

  batch_fixture() { run(); }

  ~batch_fixture() {
    caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    run();
  }

  static void add(inbound_batch& b, conn_id conn, inbound in) {
    auto& item = b.items.emplace_back();
    item.conn = conn;
    item.input = std::move(in);
  }

  static void add(inbound_batch& b, conn_id conn, uint64_t id, ipc::request r) {
    add(b, conn, inbound{inbound_request{id, std::move(r)}});
  }
};

} // namespace

TEST_CASE_FIXTURE(batch_fixture,
                  "one batch from several connections keeps each "
                  "connection's order and does not hold up the others") {
  inbound_batch b;
  add(b, 1, 1, ipc::req::allocate_ip{"web", false}); // held
  add(b, 2, 7, ipc::req::status{});
  add(b, 1, 2, ipc::req::status{});
  add(b, 1, inbound{inbound_reject{3, "frame codec error: bad"}});
  add(b, 2, 8, ipc::req::nat_status{});
  caf::anon_send(server, atom::inbound_v, std::move(b));
  run();
  // Connection 2 is answered while connection 1 waits on its first request.
  CHECK(sink->ids(2) == std::vector<uint64_t>{7, 8});
  CHECK(sink->ids(1).empty());
  caf::anon_send(pool, atom::release_v);
  run();
  CHECK(sink->ids(1) == std::vector<uint64_t>{1, 2, 3});
  CHECK(sink->last_then(1) == after_write::keep_open);
}

TEST_CASE_FIXTURE(batch_fixture,
                  "an end of input inside a batch closes after the earlier "
                  "responses and ignores what follows") {
  inbound_batch b;
  add(b, 1, 1, ipc::req::status{});
  add(b, 1, inbound{inbound_end{}});
  add(b, 1, 2, ipc::req::status{});
  caf::anon_send(server, atom::inbound_v, std::move(b));
  run();
  CHECK(sink->ids(1) == std::vector<uint64_t>{1});
  CHECK(sink->last_then(1) == after_write::close);
}
