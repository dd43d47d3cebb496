// overlay-replay: replays recorded overlayd IPC sessions (JSON lines, see
// replay/session.hpp) against a fresh in-process engine or a running
// daemon, compares every answer, and doubles as a load and robustness
// tool. Exit codes: 0 all passed, 1 a mismatch or error, 2 usage,
// 77 nothing failed but some answers are pending (meson's "skip").

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "replay/corpus.hpp"
#include "replay/load.hpp"
#include "replay/pid_map.hpp"
#include "replay/recorder.hpp"
#include "replay/replayer.hpp"
#include "replay/session.hpp"
#include "replay/target.hpp"

namespace {

using namespace overlayd::replay;
namespace net = overlayd::net;

constexpr int exit_fail = 1;
constexpr int exit_usage = 2;
constexpr int exit_pending = 77;

constexpr const char* usage_text
  = "usage: overlay-replay [options] SESSION.jsonl...\n"
    "       overlay-replay --to-corpus RECORDING OUT [--pending-label L]\n"
    "                      [--description TEXT]\n"
    "\n"
    "  --socket PATH     replay against a running daemon (default: a fresh\n"
    "                    in-process engine per session)\n"
    "  --pace            keep the recorded timing\n"
    "  --mutate SEED     mix in dropped, duplicated, truncated and corrupted\n"
    "                    frames; the daemon must survive and still answer\n"
    "  --mutate-rate R   share of exchanges that get a mutation (0.5)\n"
    "  --max             load mode: as fast as possible, no content check\n"
    "  --concurrency N   load mode over N connections\n"
    "  --repeat N        load mode: passes over the session per connection\n"
    "  --duration SECS   load mode: run this long instead\n"
    "  --record OUT      write what this run saw as a recording\n"
    "  --keep-secrets    with --record: do not redact keys\n"
    "  --timeout MS      wait this long for one answer (10000)\n"
    "  --pid SYM=REAL    with --socket: send pid REAL wherever the session's\n"
    "                    linux_pid handles name its container process SYM\n"
    "                    (a real process in a namespace of its own; repeat\n"
    "                    for each; unmapped pids are sent as they are)\n"
    "  --pending-ok      exit 0 when nothing failed but answers are pending\n"
    "  -v, --verbose     print every exchange\n";

struct options {
  std::vector<std::string> files;
  std::optional<std::string> socket;
  bool pace = false;
  std::optional<std::uint64_t> mutate;
  double mutate_rate = 0.5;
  bool load = false;
  unsigned concurrency = 1;
  std::uint64_t repeat = 1;
  double duration = 0;
  std::optional<std::string> record;
  bool keep_secrets = false;
  unsigned timeout_ms = 10000;
  bool verbose = false;
  bool pending_ok = false;
  std::optional<std::pair<std::string, std::string>> to_corpus;
  corpus_options corpus;
  pid_map pids;
};

[[noreturn]] void usage_error(const std::string& what) {
  std::fprintf(stderr, "overlay-replay: %s\n\n%s", what.c_str(), usage_text);
  std::exit(exit_usage);
}

std::uint64_t to_u64(const std::string& flag, const std::string& v) {
  try {
    std::size_t used = 0;
    auto n = std::stoull(v, &used);
    if (used == v.size() && !v.empty() && v[0] != '-')
      return n;
  } catch (const std::exception&) {
  }
  usage_error(flag + " needs an unsigned number, not \"" + v + "\"");
}

double to_double(const std::string& flag, const std::string& v) {
  try {
    std::size_t used = 0;
    auto d = std::stod(v, &used);
    if (used == v.size() && d >= 0)
      return d;
  } catch (const std::exception&) {
  }
  usage_error(flag + " needs a non-negative number, not \"" + v + "\"");
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(usage_text, stdout);
      std::exit(0);
    } else if (a == "--socket") {
      o.socket = value();
    } else if (a == "--pace") {
      o.pace = true;
    } else if (a == "--mutate") {
      o.mutate = to_u64(a, value());
    } else if (a == "--mutate-rate") {
      o.mutate_rate = to_double(a, value());
      if (o.mutate_rate > 1)
        usage_error("--mutate-rate is a share between 0 and 1");
    } else if (a == "--max") {
      o.load = true;
    } else if (a == "--concurrency") {
      o.concurrency = static_cast<unsigned>(to_u64(a, value()));
      if (o.concurrency == 0 || o.concurrency > 1024)
        usage_error("--concurrency must be 1..1024");
      o.load = true;
    } else if (a == "--repeat") {
      o.repeat = to_u64(a, value());
    } else if (a == "--duration") {
      o.duration = to_double(a, value());
    } else if (a == "--record") {
      o.record = value();
    } else if (a == "--keep-secrets") {
      o.keep_secrets = true;
    } else if (a == "--timeout") {
      o.timeout_ms = static_cast<unsigned>(to_u64(a, value()));
    } else if (a == "--pid") {
      auto m = parse_pid_mapping(value());
      if (!m)
        usage_error(m.error());
      o.pids[m->first] = m->second;
    } else if (a == "--pending-ok") {
      o.pending_ok = true;
    } else if (a == "-v" || a == "--verbose") {
      o.verbose = true;
    } else if (a == "--to-corpus") {
      auto in = value();
      o.to_corpus = std::pair{in, value()};
    } else if (a == "--pending-label") {
      o.corpus.pending_label = value();
    } else if (a == "--description") {
      o.corpus.description = value();
    } else if (a.starts_with("-")) {
      usage_error("unknown option \"" + a + "\"");
    } else {
      o.files.push_back(a);
    }
  }
  if (!o.to_corpus && o.files.empty())
    usage_error("no session file given");
  if (o.load && o.mutate)
    usage_error("--mutate checks answers; it does not combine with --max or "
                "--concurrency");
  if (o.load && o.record)
    usage_error("--record does not combine with load mode");
  if (o.record && o.files.size() != 1)
    usage_error("--record takes exactly one session");
  if (!o.pids.empty() && !o.socket)
    usage_error("--pid maps pids for a daemon (--socket); the in-process "
                "engine creates the session's processes on its twin");
  return o;
}

std::unique_ptr<target> make_target(const options& o, const session_header& h);

// A request script (exchanges without `response`) is first run against a
// fresh in-process engine and recorded; its header carries over to the
// entry. An exchange's `reference` (the reference server's answer) becomes
// the expected response; with `pending` it stays a note beside ours.
net::expected<session> record_script(const options& o, const session& script) {
  auto tgt = make_target(o, script.header);
  auto tmp = o.to_corpus->second + ".recording";
  recorder_options ropts;
  ropts.file = tmp;
  ropts.config = {{"generated_from", o.to_corpus->first},
                  {"engine", o.socket ? "daemon at " + *o.socket
                                      : std::string{"in-process"}}};
  auto rec = recorder::open(ropts);
  if (!rec)
    return net::unexpected{rec.error()};
  replay_options ro;
  ro.record_to = rec->get();
  ro.response_timeout = std::chrono::milliseconds{o.timeout_ms};
  ro.pids = o.pids;
  auto r = replay_session(script, tgt->socket(), ro, std::cerr);
  rec->reset();
  if (!r)
    return net::unexpected{r.error()};
  auto recorded = load_session(tmp);
  std::filesystem::remove(tmp);
  if (!recorded)
    return net::unexpected{recorded.error()};
  if (recorded->exchanges.size() != script.exchanges.size())
    return net::unexpected{"the script has "
                           + std::to_string(script.exchanges.size())
                           + " exchanges but the run recorded "
                           + std::to_string(recorded->exchanges.size())};
  for (std::size_t i = 0; i < script.exchanges.size(); ++i) {
    auto& x = recorded->exchanges[i];
    const auto& from = script.exchanges[i];
    x.conn = from.conn;
    if (from.pending)
      x.pending = from.pending;
    x.reference = from.reference;
    // A script that states the reference server's answer makes it the
    // expected one: the entry then pins the reference, not our engine.
    if (from.reference && !from.pending) {
      if (x.response != from.reference)
        std::fprintf(stderr,
                     "overlay-replay: exchange %zu answers unlike the "
                     "reference; the entry expects the reference\n"
                     "  ours:      %s\n  reference: %s\n",
                     i, x.response.value_or("<none>").c_str(),
                     from.reference->c_str());
      x.response = from.reference;
      x.reference.reset();
    }
  }
  recorded->header.rules = script.header.rules;
  recorded->header.pending = script.header.pending;
  recorded->header.description = script.header.description;
  recorded->header.processes = script.header.processes;
  recorded->header.data_dir = "";
  return recorded;
}

int make_corpus(const options& o) {
  auto rec = load_session(o.to_corpus->first);
  if (!rec) {
    std::fprintf(stderr, "overlay-replay: %s\n", rec.error().c_str());
    return exit_fail;
  }
  bool is_script = false;
  for (const auto& x : rec->exchanges)
    is_script |= x.expectation_unknown;
  if (is_script) {
    auto recorded = record_script(o, *rec);
    if (!recorded) {
      std::fprintf(stderr, "overlay-replay: %s\n", recorded.error().c_str());
      return exit_fail;
    }
    rec = std::move(*recorded);
  }
  auto entry = to_corpus(std::move(*rec), o.corpus);
  if (auto saved = save_session(entry, o.to_corpus->second); !saved) {
    std::fprintf(stderr, "overlay-replay: %s\n", saved.error().c_str());
    return exit_fail;
  }
  std::size_t pending = 0;
  for (const auto& x : entry.exchanges)
    pending += x.pending.has_value();
  std::printf("%s: %zu exchanges, %zu rules, %zu pending\n",
              o.to_corpus->second.c_str(), entry.exchanges.size(),
              entry.header.rules.size(), pending);
  return 0;
}

std::unique_ptr<target> make_target(const options& o, const session_header& h) {
  if (o.socket)
    return target::external(*o.socket);
  auto t = target::in_process(h.processes);
  if (!t) {
    std::fprintf(stderr, "overlay-replay: %s\n", t.error().c_str());
    std::exit(exit_fail);
  }
  return std::move(*t);
}

int run_file(const options& o, const std::string& file) {
  auto s = load_session(file);
  if (!s) {
    std::fprintf(stderr, "overlay-replay: %s\n", s.error().c_str());
    return exit_fail;
  }
  auto tgt = make_target(o, s->header);
  auto timeout = std::chrono::milliseconds{o.timeout_ms};
  if (o.load) {
    load_options lo;
    lo.concurrency = o.concurrency;
    lo.repeat = o.repeat;
    lo.duration
      = std::chrono::milliseconds{static_cast<long long>(o.duration * 1000)};
    lo.pace = o.pace;
    lo.response_timeout = timeout;
    lo.pids = o.pids;
    auto r = run_load(*s, tgt->socket(), lo);
    if (!r) {
      std::fprintf(stderr, "overlay-replay: %s: %s\n", file.c_str(),
                   r.error().c_str());
      return exit_fail;
    }
    print_load(std::cout,
               file + " x" + std::to_string(o.concurrency) + " connections",
               *r);
    return r->errors == 0 ? 0 : exit_fail;
  }
  std::unique_ptr<recorder> rec;
  if (o.record) {
    recorder_options ro;
    ro.file = *o.record;
    ro.data_dir = tgt->data_dir().string();
    ro.config = {{"replayed_from", file}};
    ro.keep_secrets = o.keep_secrets;
    auto opened = recorder::open(ro);
    if (!opened) {
      std::fprintf(stderr, "overlay-replay: %s\n", opened.error().c_str());
      return exit_fail;
    }
    rec = std::move(*opened);
  }
  replay_options ro;
  ro.pace = o.pace;
  ro.mutate_seed = o.mutate;
  ro.mutate_rate = o.mutate_rate;
  ro.response_timeout = timeout;
  ro.record_to = rec.get();
  ro.verbose = o.verbose;
  ro.pids = o.pids;
  auto r = replay_session(*s, tgt->socket(), ro, std::cout);
  if (!r) {
    std::fprintf(stderr, "overlay-replay: %s: %s\n", file.c_str(),
                 r.error().c_str());
    return exit_fail;
  }
  auto verdict = r->overall();
  std::printf("%s: %s; %zu exchanges: %zu passed, %zu pending, %zu failed",
              file.c_str(),
              verdict == outcome::pass      ? "PASS"
              : verdict == outcome::pending ? "PENDING"
                                            : "FAIL",
              r->exchanges, r->passed, r->pending, r->failed);
  if (o.mutate)
    std::printf("; %zu mutations, %zu failed", r->mutations,
                r->mutation_failures);
  auto rate = r->seconds > 0
                ? static_cast<double>(r->latencies_us.size()) / r->seconds
                : 0.0;
  std::printf("; %.0f req/s, latency us p50 %.1f p90 %.1f p99 %.1f\n", rate,
              percentile(r->latencies_us, 50), percentile(r->latencies_us, 90),
              percentile(r->latencies_us, 99));
  if (verdict == outcome::pending) {
    std::set<std::string> labels;
    if (s->header.pending)
      labels.insert(*s->header.pending);
    for (const auto& x : s->exchanges)
      if (x.pending)
        labels.insert(*x.pending);
    std::string joined;
    for (const auto& l : labels)
      joined += (joined.empty() ? "" : ", ") + l;
    std::printf("  pending on: %s\n", joined.c_str());
  }
  if (verdict == outcome::pending)
    return o.pending_ok ? 0 : exit_pending;
  return verdict == outcome::pass ? 0 : exit_fail;
}

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  auto o = parse_args(argc, argv);
  // The in-process engine's warnings about rejected frames are expected
  // here (the corpus sends bad frames on purpose); --verbose shows them.
  spdlog::set_level(o.verbose ? spdlog::level::info : spdlog::level::err);
  if (o.to_corpus)
    return make_corpus(o);
  int worst = 0;
  for (const auto& f : o.files) {
    int rc = run_file(o, f);
    if (rc == exit_fail || (rc == exit_pending && worst == 0))
      worst = rc;
  }
  return worst;
}
