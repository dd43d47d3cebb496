// add_peer latency over the IPC socket, alone and while slow service setups
// run (issue 5, "the design promise, shown"): slow host calls must never
// block peer work. An embedded engine on the host twin serves a socket;
// after setup_global_overlay, one connection times global `add_peer`
// requests (i) with nothing else going on and (ii) while another
// connection keeps `setup_service_overlay` calls in flight back to back,
// each held up by a latency injected on the twin's `create_bridge`.
//
// usage: add_peer_latency [--samples N] [--bridge-delay-ms D] [--gap-us G]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "actors/embedded.hpp"
#include "drivers/host/twin.hpp"
#include "ipc/client.hpp"

namespace {

using namespace overlayd;
using clock_type = std::chrono::steady_clock;

struct options {
  std::size_t samples = 2000;
  std::chrono::milliseconds bridge_delay{500};
  std::chrono::microseconds gap{500};
};

[[noreturn]] void usage(const char* what) {
  std::fprintf(stderr,
               "add_peer_latency: %s\nusage: add_peer_latency [--samples N] "
               "[--bridge-delay-ms D] [--gap-us G]\n",
               what);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      usage("every option takes a value");
    long v = std::strtol(argv[++i], nullptr, 10);
    if (v <= 0)
      usage("values are positive integers");
    if (a == "--samples")
      o.samples = static_cast<std::size_t>(v);
    else if (a == "--bridge-delay-ms")
      o.bridge_delay = std::chrono::milliseconds{v};
    else if (a == "--gap-us")
      o.gap = std::chrono::microseconds{v};
    else
      usage("unknown option");
  }
  return o;
}

// A distinct, well-formed WireGuard key (base64 of 32 bytes) per number.
std::string peer_key(std::uint32_t n) {
  static constexpr char alphabet[]
    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  unsigned char raw[33] = {};
  for (int i = 0; i < 4; ++i)
    raw[i] = static_cast<unsigned char>(n >> (8 * i));
  raw[31] = 0x42;
  std::string out;
  for (int i = 0; i < 33; i += 3) {
    unsigned v = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2];
    for (int k = 3; k >= 0; --k)
      out += alphabet[(v >> (6 * k)) & 63];
  }
  out.resize(43);
  return out + "=";
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto rank = p / 100.0 * static_cast<double>(v.size() - 1);
  auto i = static_cast<std::size_t>(std::floor(rank));
  auto j = std::min(i + 1, v.size() - 1);
  return v[i] + (v[j] - v[i]) * (rank - static_cast<double>(i));
}

ipc::client connect_or_die(const std::string& socket) {
  auto c = ipc::client::connect_with_attempts(socket, 5);
  if (!c) {
    std::fprintf(stderr, "connect: %s\n", c.error().message().c_str());
    std::exit(1);
  }
  return std::move(*c);
}

// One add_peer then a remove_peer of the same key (untimed), so that the
// device's peer table stays the same size across both phases. Returns
// the add_peer latency in µs.
double timed_add_peer(ipc::client& c, std::uint32_t n) {
  ipc::req::add_peer add;
  add.peer.public_key = peer_key(n);
  add.peer.endpoint = "192.0.2.10:51820";
  add.peer.allowed_ips = "10.201." + std::to_string((n >> 8) & 0xff) + "."
                         + std::to_string(n & 0xff) + "/32";
  add.peer.persistent_keepalive_secs = 25;
  auto t0 = clock_type::now();
  auto r = c.call(ipc::request{add});
  auto us
    = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count();
  if (!r) {
    std::fprintf(stderr, "add_peer: %s\n", r.error().message().c_str());
    std::exit(1);
  }
  if (auto rm = c.call(ipc::request{
        ipc::req::remove_peer{add.peer.public_key, ipc::peer_scope::global()}});
      !rm) {
    std::fprintf(stderr, "remove_peer: %s\n", rm.error().message().c_str());
    std::exit(1);
  }
  return us;
}

struct phase {
  std::vector<double> us;
  std::size_t overlapped = 0; ///< samples sent while a setup was in flight
};

phase measure(ipc::client& c, const options& o, std::uint32_t first,
              const std::atomic<bool>* setup_in_flight) {
  phase p;
  p.us.reserve(o.samples);
  for (std::size_t i = 0; i < o.samples; ++i) {
    bool during = setup_in_flight != nullptr && setup_in_flight->load();
    p.us.push_back(timed_add_peer(c, first + static_cast<std::uint32_t>(i)));
    if (during && setup_in_flight->load())
      ++p.overlapped;
    std::this_thread::sleep_for(o.gap);
  }
  return p;
}

void print(const char* label, const phase& p) {
  std::printf("%-34s n=%zu  p50 %9.1f us  p99 %9.1f us  max %9.1f us\n", label,
              p.us.size(), percentile(p.us, 50), percentile(p.us, 99),
              *std::max_element(p.us.begin(), p.us.end()));
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  spdlog::set_level(spdlog::level::err);
  std::string tmpl
    = (std::filesystem::temp_directory_path() / "rpl-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  std::filesystem::path dir = tmpl;
  int rc = 0;
  {
    actors::engine_config cfg;
    cfg.data_dir = dir / "data";
    cfg.backend = actors::host_backend::twin;
    auto eng = actors::engine::start(cfg);
    if (!eng) {
      std::fprintf(stderr, "engine: %s\n", eng.error().c_str());
      return 1;
    }
    auto socket = (dir / "overlayd.sock").string();
    if (auto l = (*eng)->listen(socket); !l) {
      std::fprintf(stderr, "listen: %s\n", l.error().c_str());
      return 1;
    }
    auto peers = connect_or_die(socket);
    ipc::req::setup_global_overlay global;
    global.deployment = "bench";
    global.instance_id = "0";
    global.cluster_cidr = "10.200.0.0/16";
    global.slice_cidr = "10.200.0.0/28";
    global.wg_port = 51820;
    global.nat = ipc::nat_config_spec{};
    global.nat->enabled = false;
    if (auto r = peers.call(ipc::request{global}); !r) {
      std::fprintf(stderr, "setup_global_overlay: %s\n",
                   r.error().message().c_str());
      return 1;
    }

    auto alone = measure(peers, o, 1, nullptr);

    (*eng)->twin()->inject("create_bridge",
                           drivers::twin_fault{o.bridge_delay});
    std::atomic<bool> stop{false}, in_flight{false};
    std::vector<double> setup_ms;
    std::thread slow{[&] {
      auto c = connect_or_die(socket);
      for (unsigned n = 0; !stop.load(); ++n) {
        ipc::req::setup_service_overlay s{"slow" + std::to_string(n),
                                          ipc::overlay_mode::automatic};
        in_flight = true;
        auto t0 = clock_type::now();
        auto r = c.call(ipc::request{s});
        in_flight = false;
        setup_ms.push_back(
          std::chrono::duration<double, std::milli>(clock_type::now() - t0)
            .count());
        if (!r) {
          std::fprintf(stderr, "setup_service_overlay: %s\n",
                       r.error().message().c_str());
          std::exit(1);
        }
      }
    }};
    // Let the first slow setup get under way.
    while (!in_flight.load())
      std::this_thread::yield();
    auto loaded = measure(peers, o, 1'000'000, &in_flight);
    stop = true;
    slow.join();

    print("add_peer alone", alone);
    print("add_peer during slow setups", loaded);
    std::printf("slow setups: %zu, each %.0f..%.0f ms (create_bridge +%lld "
                "ms); add_peer samples sent and answered during one: %zu of "
                "%zu\n",
                setup_ms.size(),
                *std::min_element(setup_ms.begin(), setup_ms.end()),
                *std::max_element(setup_ms.begin(), setup_ms.end()),
                static_cast<long long>(o.bridge_delay.count()),
                loaded.overlapped, loaded.us.size());
    std::printf("ratio during/alone: p50 %.2f  p99 %.2f\n",
                percentile(loaded.us, 50) / percentile(alone.us, 50),
                percentile(loaded.us, 99) / percentile(alone.us, 99));
    // The promise: no add_peer waited for a slow bridge.
    auto worst = *std::max_element(loaded.us.begin(), loaded.us.end());
    if (worst
        >= std::chrono::duration<double, std::micro>(o.bridge_delay).count()) {
      std::printf("BROKEN: an add_peer took %.0f us, as long as a slow "
                  "bridge creation\n",
                  worst);
      rc = 1;
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}
