#include "replay/load.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "ipc/json_codec.hpp"
#include "replay/replayer.hpp"
#include "replay/wire.hpp"

namespace overlayd::replay {

using net::unexpected;
using clock_type = std::chrono::steady_clock;

namespace {

struct planned {
  std::string body;
  std::uint64_t id = 0;
  std::uint64_t at_us = 0;
};

// The requests a closed loop can send: decodable request frames, minus
// `shutdown`.
std::vector<planned> plan(const session& s, const pid_map& pids) {
  std::vector<planned> out;
  for (const auto& x : s.exchanges) {
    auto f = ipc::decode_frame(x.request);
    if (!f)
      continue;
    auto* r = std::get_if<ipc::request_frame>(&*f);
    if (r == nullptr || std::holds_alternative<ipc::req::shutdown>(r->request))
      continue;
    out.push_back({substitute_pids(x.request, pids), r->id, x.at_us});
  }
  return out;
}

// Cheap check of a response body: a response frame under `id`. Done on
// the text, so that the client side costs little next to the daemon.
bool answers(const std::string& body, std::uint64_t id) {
  auto head = R"({"frame":"response","id":)" + std::to_string(id) + ",";
  return body.compare(0, head.size(), head) == 0;
}

} // namespace

net::expected<load_result> run_load(const session& s, const std::string& socket,
                                    const load_options& opts) {
  auto work = plan(s, opts.pids);
  if (work.empty())
    return unexpected{
      std::string{"the session has no request a load loop can send"}};
  unsigned n = opts.concurrency == 0 ? 1 : opts.concurrency;
  std::vector<std::vector<double>> lat(n);
  std::vector<std::uint64_t> errors(n, 0);
  std::mutex err_mtx;
  std::string first_error;
  std::atomic<bool> go{false};
  auto note = [&](const std::string& e) {
    std::lock_guard<std::mutex> guard{err_mtx};
    if (first_error.empty())
      first_error = e;
  };
  std::vector<std::thread> threads;
  clock_type::time_point start;
  for (unsigned w = 0; w < n; ++w) {
    threads.emplace_back([&, w] {
      auto c = raw_connection::connect(socket, opts.response_timeout);
      while (!go.load())
        std::this_thread::yield();
      if (!c) {
        ++errors[w];
        note(c.error());
        return;
      }
      auto deadline = start + opts.duration;
      lat[w].reserve(work.size() * 64);
      for (std::uint64_t pass = 0;; ++pass) {
        if (opts.duration.count() > 0 ? clock_type::now() >= deadline
                                      : pass >= opts.repeat)
          break;
        auto pass_start = clock_type::now();
        for (const auto& p : work) {
          if (opts.pace)
            std::this_thread::sleep_until(pass_start
                                          + std::chrono::microseconds{p.at_us});
          auto t0 = clock_type::now();
          if (auto sent = c->send_frame(p.body); !sent) {
            ++errors[w];
            note(sent.error());
            return;
          }
          auto in = c->read_frame(opts.response_timeout);
          auto t1 = clock_type::now();
          if (!in.body || !answers(*in.body, p.id)) {
            ++errors[w];
            note(in.body        ? "unexpected answer: " + *in.body
                 : in.eof       ? std::string{"connection closed"}
                 : in.timed_out ? std::string{"timeout"}
                                : in.error);
            if (!in.body)
              return;
            continue;
          }
          lat[w].push_back(
            std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
      }
    });
  }
  start = clock_type::now();
  go.store(true);
  for (auto& t : threads)
    t.join();
  load_result r;
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  std::vector<double> all;
  for (unsigned w = 0; w < n; ++w) {
    all.insert(all.end(), lat[w].begin(), lat[w].end());
    r.errors += errors[w];
  }
  r.requests = all.size();
  r.p50_us = percentile(all, 50);
  r.p90_us = percentile(all, 90);
  r.p99_us = percentile(all, 99);
  r.max_us = percentile(all, 100);
  r.first_error = first_error;
  return r;
}

void print_load(std::ostream& out, const std::string& label,
                const load_result& r) {
  char line[256];
  std::snprintf(line, sizeof line,
                "%s: %llu requests in %.3f s = %.0f req/s; latency us "
                "p50 %.1f p90 %.1f p99 %.1f max %.1f; errors %llu",
                label.c_str(), static_cast<unsigned long long>(r.requests),
                r.seconds, r.rate(), r.p50_us, r.p90_us, r.p99_us, r.max_us,
                static_cast<unsigned long long>(r.errors));
  out << line << "\n";
  if (!r.first_error.empty())
    out << "  first error: " << r.first_error << "\n";
}

} // namespace overlayd::replay
