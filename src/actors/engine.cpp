#include "actors/embedded.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <type_traits>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <spdlog/spdlog.h>

#include "actors/driver_worker.hpp"
#include "actors/errors.hpp"
#include "actors/ipc_server.hpp"
#include "actors/nat_wiring.hpp"
#include "actors/supervisor.hpp"
#include "actors/system_config.hpp"
#include "actors/transport.hpp"
#include "drivers/host/real_host.hpp"
#include "drivers/host/twin.hpp"
#include "ipc/json_codec.hpp"
#include "overlay/engine.hpp"
#include "overlay/fake_wg_control.hpp"
#include "overlay/wg_control.hpp"

namespace overlayd::actors {

namespace {

using net::unexpected;

// What one frame body decodes to for the ipc_server actor; nothing for a
// frame that is ignored. Runs on the socket's I/O thread.
std::optional<inbound> decode_inbound(conn_id conn, std::string_view body) {
  auto decoded = ipc::decode_frame(body);
  if (!decoded) {
    auto text = "frame codec error: " + decoded.error().message;
    if (auto id = decoded.error().request_id) {
      // The id is certain: answer `err` under it and keep the connection,
      // which the agent would otherwise never re-dial (§1.8).
      spdlog::warn("ipc connection {}: request {} rejected: {}", conn, *id,
                   text);
      return inbound{inbound_reject{*id, std::move(text)}};
    }
    // Without a certain id no answer is possible; close, as the reference
    // does.
    spdlog::warn("ipc connection {}: {}; closing it", conn, text);
    return inbound{inbound_end{std::move(text)}};
  }
  if (auto* req = std::get_if<ipc::request_frame>(&*decoded))
    return inbound{inbound_request{req->id, std::move(req->request)}};
  // Responses and events from a client are ignored, as in the reference.
  spdlog::warn("ipc connection {}: ignoring a frame that is not a request",
               conn);
  return std::nullopt;
}

// Collects the input of one I/O-thread wake-up and hands it to the
// ipc_server actor as one message: under load one wake-up reads frames
// from several connections, and one mailbox hand-off then costs at most
// one worker wake-up instead of one per frame (the dominant cost, design
// §7). Used on the I/O thread only.
class inbound_batcher {
public:
  explicit inbound_batcher(ipc_server_actor dest) : dest_(std::move(dest)) {
    // nop
  }

  void add(conn_id conn, inbound in) {
    auto& item = batch_.items.emplace_back();
    item.conn = conn;
    item.input = std::move(in);
  }

  void flush() {
    if (batch_.items.empty())
      return;
    if (batch_.items.size() == 1) {
      auto& item = batch_.items.front();
      caf::anon_send(dest_, atom::inbound_v, item.conn, std::move(item.input));
    } else {
      caf::anon_send(dest_, atom::inbound_v, std::move(batch_));
    }
    batch_.items.clear();
  }

  const ipc_server_actor& dest() const { return dest_; }

private:
  ipc_server_actor dest_;
  inbound_batch batch_;
};

// Shows response bytes to a tap on their way to the socket.
class tapped_sink : public frame_sink {
public:
  tapped_sink(std::shared_ptr<frame_sink> next,
              std::function<void(uint64_t, std::string_view)> tap)
    : next_(std::move(next)), tap_(std::move(tap)) {
    // nop
  }

  void send(conn_id conn, std::string bytes, after_write then) override {
    tap_(conn, bytes);
    next_->send(conn, std::move(bytes), then);
  }

private:
  std::shared_ptr<frame_sink> next_;
  std::function<void(uint64_t, std::string_view)> tap_;
};

template <class T>
call_result<T> unexpected_response(const ipc::response& r) {
  if (auto* e = std::get_if<ipc::resp::err>(&r))
    return unexpected{e->message};
  return unexpected{"unexpected response `" + std::string{ipc::result_name(r)}
                    + "`"};
}

call_result<void> expect_ok(const ipc::response& r) {
  if (std::holds_alternative<ipc::resp::ok>(r))
    return {};
  if (auto* e = std::get_if<ipc::resp::err>(&r))
    return unexpected{e->message};
  return unexpected{"unexpected response `" + std::string{ipc::result_name(r)}
                    + "`"};
}

} // namespace

struct engine::impl {
  // The host and the core outlive the actor system, which uses them; the
  // destructor stops the system first.
  std::unique_ptr<drivers::twin_host> twin;
  std::unique_ptr<drivers::host_driver> real_host;
  std::unique_ptr<overlay::wg_control> wg;
  std::unique_ptr<overlay::engine> core;

  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  supervisor_actor supervisor;
  ipc_server_actor server_actor;
  std::shared_ptr<socket_server> server;
  engine_config config;

  mutable std::mutex mtx;
  std::condition_variable cv;
  bool stop = false;

  void request_stop() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      stop = true;
    }
    cv.notify_all();
  }
};

net::expected<std::unique_ptr<engine>> engine::start(engine_config config) {
  if (config.data_dir.empty())
    return unexpected{std::string{"engine: the data directory is empty"}};
  auto st = std::make_unique<impl>();
  st->config = config;
  overlay::engine_options core_options;
  core_options.data_dir = config.data_dir;
  drivers::host_driver* host = nullptr;
  if (config.backend == host_backend::twin) {
    st->twin = std::make_unique<drivers::twin_host>();
    host = &st->twin->root();
    st->wg = std::make_unique<overlay::fake_wg_control>(st->twin.get());
    core_options.pid_alive
      = [twin = st->twin.get()](uint32_t pid) { return twin->pid_alive(pid); };
    spdlog::info("engine backend: in-memory host twin (nothing on this "
                 "machine is changed)");
  } else {
    st->real_host = drivers::make_real_host_driver();
    host = st->real_host.get();
    st->wg = overlay::make_device_wg_control(config.uapi_dir.string());
  }
  st->core = std::make_unique<overlay::engine>(*host, *st->wg, core_options);
  configure(st->cfg, config.workers);
  st->sys = std::make_unique<caf::actor_system>(st->cfg);
  driver_pool_options pool_options;
  pool_options.workers = std::max<std::size_t>(1, config.driver_workers);
  auto pool = st->sys->spawn(driver_pool, host, pool_options);
  auto global
    = st->sys->spawn(transport, st->core.get(), std::string{"global"});
  supervisor_children kids{st->core.get(), pool, global};
  // NAT traversal needs real sockets and devices; the twin has neither.
  if (config.backend == host_backend::real)
    kids.nat = make_device_nat_wiring(*st->sys, *st->wg, config.nat_self_tick);
  st->supervisor = st->sys->spawn(supervisor, std::move(kids));
  return std::make_unique<engine>(std::move(st));
}

engine::engine(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

engine::~engine() {
  // Order: no new input, then the actors (the supervisor takes its linked
  // children with it), then the system waits for all of them.
  if (impl_->server)
    impl_->server->stop();
  if (impl_->server_actor)
    caf::anon_send_exit(impl_->server_actor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(impl_->supervisor, caf::exit_reason::user_shutdown);
  impl_->server_actor = ipc_server_actor{};
  impl_->supervisor = supervisor_actor{};
  impl_->sys.reset();
  impl_->server.reset();
  impl_->core.reset();
  impl_->wg.reset();
}

drivers::twin_host* engine::twin() {
  return impl_->twin.get();
}

net::expected<void> engine::listen(const std::filesystem::path& socket) {
  if (impl_->server)
    return unexpected{"already listening on " + impl_->server->path().string()};
  auto srv = socket_server::bind(socket);
  if (!srv)
    return unexpected{srv.error()};
  auto server = *srv;
  std::shared_ptr<frame_sink> sink = server;
  const auto& cfg = impl_->config;
  if (cfg.on_response_bytes)
    sink = std::make_shared<tapped_sink>(sink, cfg.on_response_bytes);
  auto actor = impl_->sys->spawn(ipc_server, impl_->supervisor, sink);
  auto batcher = std::make_shared<inbound_batcher>(actor);
  socket_handlers h;
  h.on_frame
    = [batcher, tap = cfg.on_request_frame](conn_id conn, std::string body) {
        if (tap)
          tap(conn, body);
        if (auto in = decode_inbound(conn, body))
          batcher->add(conn, std::move(*in));
      };
  h.on_end = [batcher](conn_id conn, std::string error) {
    batcher->add(conn, inbound{inbound_end{std::move(error)}});
  };
  h.on_gone = [batcher, tap = cfg.on_connection_gone](conn_id conn) {
    if (tap)
      tap(conn);
    // The connection's last input goes before the news that it is gone.
    batcher->flush();
    caf::anon_send(batcher->dest(), atom::gone_v, conn);
  };
  h.on_round_end = [batcher] { batcher->flush(); };
  h.on_shutdown_sent = [st = impl_.get()] { st->request_stop(); };
  server->start(std::move(h));
  impl_->server = std::move(server);
  impl_->server_actor = std::move(actor);
  return {};
}

ipc::response engine::call(ipc::request request) {
  bool is_shutdown = std::holds_alternative<ipc::req::shutdown>(request);
  ipc::response out = ipc::resp::err{"internal error: no reply"};
  {
    caf::scoped_actor self{*impl_->sys};
    self
      ->request(impl_->supervisor, caf::infinite, ipc_call{std::move(request)})
      .receive([&](ipc_reply& r) { out = std::move(r.response); },
               [&](caf::error& e) { out = ipc::resp::err{wire_message(e)}; });
  }
  if (is_shutdown && std::holds_alternative<ipc::resp::ok>(out))
    impl_->request_stop();
  return out;
}

// -- typed calls --------------------------------------------------------------

call_result<void> engine::set_local_node_id(uint64_t node_id) {
  return expect_ok(call(ipc::req::set_local_node_id{node_id}));
}

call_result<void> engine::set_local_wg_pubkey(std::string pubkey) {
  return expect_ok(call(ipc::req::set_local_wg_pubkey{std::move(pubkey)}));
}

call_result<std::string>
engine::setup_global_overlay(ipc::req::setup_global_overlay request) {
  auto r = call(std::move(request));
  if (auto* b = std::get_if<ipc::resp::bridge_name>(&r))
    return b->name;
  return unexpected_response<std::string>(r);
}

call_result<void> engine::teardown_global_overlay() {
  return expect_ok(call(ipc::req::teardown_global_overlay{}));
}

call_result<ipc::service_overlay_info>
engine::setup_service_overlay(std::string service, ipc::overlay_mode mode) {
  auto r = call(ipc::req::setup_service_overlay{std::move(service), mode});
  if (auto* s = std::get_if<ipc::resp::service_overlay>(&r))
    return static_cast<ipc::service_overlay_info&>(*s);
  return unexpected_response<ipc::service_overlay_info>(r);
}

call_result<void> engine::teardown_service_overlay(std::string service) {
  return expect_ok(
    call(ipc::req::teardown_service_overlay{std::move(service)}));
}

call_result<net::ip_address> engine::allocate_ip(std::string service,
                                                 bool join_global) {
  auto r = call(ipc::req::allocate_ip{std::move(service), join_global});
  if (auto* ip = std::get_if<ipc::resp::allocated_ip>(&r))
    return ip->ip;
  return unexpected_response<net::ip_address>(r);
}

call_result<void> engine::release_ip(net::ip_address ip) {
  return expect_ok(call(ipc::req::release_ip{ip}));
}

call_result<attach_outcome>
engine::attach_container(ipc::req::attach_container request) {
  auto r = call(std::move(request));
  if (auto* a = std::get_if<ipc::resp::attached>(&r))
    return attach_outcome{static_cast<ipc::attach_result&>(*a)};
  if (auto* g = std::get_if<ipc::resp::guest_config>(&r))
    return attach_outcome{static_cast<ipc::guest_overlay_config&>(*g)};
  return unexpected_response<attach_outcome>(r);
}

call_result<void> engine::detach_container(ipc::attach_handle handle) {
  return expect_ok(call(ipc::req::detach_container{std::move(handle)}));
}

call_result<void> engine::add_peer(ipc::peer_spec peer, ipc::peer_scope scope) {
  return expect_ok(call(ipc::req::add_peer{std::move(peer), std::move(scope)}));
}

call_result<void> engine::remove_peer(std::string pubkey,
                                      ipc::peer_scope scope) {
  return expect_ok(
    call(ipc::req::remove_peer{std::move(pubkey), std::move(scope)}));
}

call_result<void> engine::add_allowed_ip(std::string pubkey, std::string cidr,
                                         ipc::peer_scope scope) {
  return expect_ok(call(ipc::req::add_allowed_ip{
    std::move(pubkey), std::move(cidr), std::move(scope)}));
}

call_result<void> engine::remove_allowed_ip(std::string pubkey,
                                            std::string cidr,
                                            ipc::peer_scope scope) {
  return expect_ok(call(ipc::req::remove_allowed_ip{
    std::move(pubkey), std::move(cidr), std::move(scope)}));
}

call_result<void> engine::register_dns(std::string name, net::ip_address ip) {
  return expect_ok(call(ipc::req::register_dns{std::move(name), ip}));
}

call_result<void> engine::unregister_dns(std::string name) {
  return expect_ok(call(ipc::req::unregister_dns{std::move(name)}));
}

call_result<void> engine::write_scoped_resolver(std::string zone,
                                                net::ip_address node_ip,
                                                uint16_t port) {
  return expect_ok(
    call(ipc::req::write_scoped_resolver{std::move(zone), node_ip, port}));
}

call_result<void> engine::remove_scoped_resolver(std::string zone) {
  return expect_ok(call(ipc::req::remove_scoped_resolver{std::move(zone)}));
}

call_result<std::vector<std::string>>
engine::prune_orphan_bridges(std::vector<std::string> live_bridge_names) {
  auto r = call(ipc::req::prune_orphan_bridges{std::move(live_bridge_names)});
  if (auto* p = std::get_if<ipc::resp::pruned_bridges>(&r))
    return p->reclaimed;
  return unexpected_response<std::vector<std::string>>(r);
}

call_result<ipc::status_snapshot> engine::status() {
  auto r = call(ipc::req::status{});
  if (auto* s = std::get_if<ipc::resp::status>(&r))
    return static_cast<ipc::status_snapshot&>(*s);
  return unexpected_response<ipc::status_snapshot>(r);
}

call_result<void> engine::nat_tick() {
  return expect_ok(call(ipc::req::nat_tick{}));
}

call_result<ipc::nat_status_wire> engine::nat_status() {
  auto r = call(ipc::req::nat_status{});
  if (auto* s = std::get_if<ipc::resp::nat_status>(&r))
    return static_cast<ipc::nat_status_wire&>(*s);
  return unexpected_response<ipc::nat_status_wire>(r);
}

call_result<void> engine::shutdown() {
  return expect_ok(call(ipc::req::shutdown{}));
}

// -- lifetime -----------------------------------------------------------------

void engine::wait() {
  std::unique_lock<std::mutex> guard{impl_->mtx};
  impl_->cv.wait(guard, [this] { return impl_->stop; });
}

bool engine::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> guard{impl_->mtx};
  return impl_->cv.wait_for(guard, timeout, [this] { return impl_->stop; });
}

void engine::request_stop() {
  impl_->request_stop();
}

bool engine::stop_requested() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->stop;
}

} // namespace overlayd::actors
