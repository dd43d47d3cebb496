#include "replay/replayer.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <thread>

#include "ipc/json_codec.hpp"
#include "replay/mutation.hpp"
#include "replay/recorder.hpp"
#include "replay/rules.hpp"
#include "replay/wire.hpp"

namespace overlayd::replay {

using net::unexpected;
using clock_type = std::chrono::steady_clock;

namespace {

// How the server treats a frame body (the same decision as its reader).
struct expectation {
  bool answered = true;
  bool closes = false;
};

expectation expect_for(const std::string& body) {
  auto decoded = ipc::decode_frame(body);
  if (!decoded) {
    bool answered = decoded.error().request_id.has_value();
    return {answered, !answered};
  }
  if (!std::holds_alternative<ipc::request_frame>(*decoded))
    return {false, false};
  return {};
}

std::string describe(const raw_connection::incoming& in) {
  if (in.body)
    return *in.body;
  if (in.eof)
    return "<connection closed>";
  if (in.timed_out)
    return "<no response before the timeout>";
  return "<" + in.error + ">";
}

struct runner {
  const session& s;
  const std::string& socket;
  const replay_options& opts;
  std::ostream& report;
  std::vector<rule> rules;
  capture_map captures;
  std::map<std::uint64_t, raw_connection> conns;
  std::mt19937_64 rng;
  replay_result result;

  std::vector<const rule*> rules_for(const exchange& x,
                                     const std::string& op) const {
    std::vector<const rule*> out;
    for (const auto& r : rules)
      if (r.applies_to(x.seq, op))
        out.push_back(&r);
    return out;
  }

  net::expected<raw_connection*> conn_for(std::uint64_t id) {
    auto i = conns.find(id);
    if (i != conns.end() && i->second.is_open())
      return &i->second;
    auto c = raw_connection::connect(socket, opts.response_timeout);
    if (!c)
      return unexpected{c.error()};
    auto [j, ok] = conns.insert_or_assign(id, std::move(*c));
    (void)ok;
    return &j->second;
  }

  void diff(const exchange& x, const std::string& op, const std::string& sent,
            const std::string& expected, const std::string& got,
            const std::vector<mismatch>& ms, const std::string& headline) {
    report << "exchange " << x.seq << " (conn " << x.conn << ", " << op
           << "): " << headline << "\n"
           << "  request:  " << sent << "\n"
           << "  expected: " << expected << "\n"
           << "  got:      " << got << "\n";
    for (const auto& m : ms)
      report << "  at " << (m.path.empty() ? "<body>" : m.path) << ": "
             << m.what << "\n";
  }

  // The request as this run sends it: values generated on this run and
  // the real pids of the session's container processes put in.
  std::string outgoing(const exchange& x) const {
    return substitute_pids(substitute_captures(x.request, captures), opts.pids);
  }

  // The well-formed request and its comparison. Returns the body received.
  void run_one(const exchange& x) {
    auto op = request_op(x.request);
    auto sent = outgoing(x);
    auto c = conn_for(x.conn);
    if (!c) {
      ++result.failed;
      report << "exchange " << x.seq << " (" << op
             << "): cannot connect: " << c.error() << "\n";
      return;
    }
    auto& conn = **c;
    bool duplicate = opts.mutate_seed && is_idempotent_op(op) && x.response
                     && (rng() % 6 == 0);
    auto arrival = clock_type::now();
    auto sent_ok = conn.send_frame(sent);
    if (duplicate && sent_ok)
      sent_ok = conn.send_frame(sent);
    if (!sent_ok) {
      ++result.failed;
      report << "exchange " << x.seq << " (" << op
             << "): send failed: " << sent_ok.error() << "\n";
      conn.close();
      return;
    }
    expectation exp = expect_for(sent);
    if (!x.expectation_unknown) {
      exp.answered = x.response.has_value();
      exp.closes = x.closed;
    }
    std::optional<std::string> got;
    raw_connection::incoming in;
    if (exp.answered) {
      in = conn.read_frame(opts.response_timeout);
      got = in.body;
    } else if (exp.closes) {
      in = conn.read_frame(opts.response_timeout);
      got = in.body;
    }
    auto latency = clock_type::now() - arrival;
    if (got)
      result.latencies_us.push_back(
        std::chrono::duration<double, std::micro>(latency).count());
    if (opts.record_to)
      opts.record_to->record(x.conn, sent, got, arrival, latency,
                             exp.closes && in.eof);
    ++result.exchanges;
    if (opts.verbose)
      report << "exchange " << x.seq << " (" << op << ") -> " << describe(in)
             << "\n";
    if (x.expectation_unknown) {
      ++result.passed;
      return;
    }
    bool pending = x.pending || s.header.pending;
    std::string pending_label
      = x.pending ? *x.pending : s.header.pending.value_or("");
    if (!x.response) {
      bool ok = !got && (!x.closed || in.eof);
      if (!ok) {
        ++result.failed;
        diff(x, op, sent,
             x.closed ? "<no response; connection closed>" : "<no response>",
             describe(in), {}, "MISMATCH");
      } else {
        ++result.passed;
      }
      return;
    }
    if (!got) {
      ++result.failed;
      diff(x, op, sent, *x.response, describe(in), {}, "MISMATCH");
      conn.close();
      return;
    }
    auto ms = compare_bodies(*x.response, *got, rules_for(x, op), captures);
    if (duplicate) {
      // The second answer is read even after a mismatch, so the stream
      // stays aligned for the exchanges that follow.
      auto second = conn.read_frame(opts.response_timeout);
      ++result.mutations;
      auto ms2 = !ms.empty() ? std::vector<mismatch>{}
                 : second.body
                   ? compare_bodies(*x.response, *second.body, rules_for(x, op),
                                    captures)
                   : std::vector<mismatch>{{"", "no second answer"}};
      if (!ms2.empty()) {
        ++result.mutation_failures;
        diff(x, op, sent, *x.response, describe(second), ms2,
             "MUTATION duplicate: second answer differs");
      } else if (opts.verbose) {
        report << "  mutation duplicate: ok\n";
      }
    }
    if (ms.empty()) {
      if (pending) {
        ++result.pending;
        if (opts.verbose)
          report << "  pending (" << pending_label << ")\n";
      } else {
        ++result.passed;
      }
      return;
    }
    if (pending && x.reference) {
      capture_map scratch = captures;
      if (compare_bodies(*x.reference, *got, rules_for(x, op), scratch)
            .empty()) {
        ++result.failed;
        diff(x, op, sent, *x.response, *got, {},
             "now answers as the reference: drop `pending` (" + pending_label
               + ") and make the reference answer the expected one");
        return;
      }
    }
    ++result.failed;
    diff(x, op, sent, *x.response, *got, ms,
         pending ? "MISMATCH (pending " + pending_label + ")" : "MISMATCH");
  }

  void mutate(const exchange& x) {
    auto op = request_op(x.request);
    // A mutated shutdown could still stop the daemon: leave it alone.
    if (op == "shutdown" || expect_for(x.request).closes)
      return;
    if (std::generate_canonical<double, 32>(rng) >= opts.mutate_rate)
      return;
    auto kind = static_cast<mutation_kind>(rng() % 5);
    auto sent = outgoing(x);
    auto m = run_mutation(socket, sent, kind, rng, opts.response_timeout);
    ++result.mutations;
    if (!m.ok) {
      ++result.mutation_failures;
      report << "exchange " << x.seq << " (" << op << "): MUTATION "
             << m.description << " failed: " << m.problem << "\n";
    } else if (opts.verbose) {
      report << "exchange " << x.seq << " (" << op << "): mutation "
             << m.description << ": ok\n";
    }
  }

  void run() {
    auto start = clock_type::now();
    for (const auto& x : s.exchanges) {
      if (opts.pace)
        std::this_thread::sleep_until(start
                                      + std::chrono::microseconds{x.at_us});
      if (opts.mutate_seed)
        mutate(x);
      run_one(x);
    }
    result.seconds
      = std::chrono::duration<double>(clock_type::now() - start).count();
  }
};

} // namespace

net::expected<replay_result> replay_session(const session& s,
                                            const std::string& socket,
                                            const replay_options& opts,
                                            std::ostream& report) {
  auto rules = parse_rules(s.header.rules);
  if (!rules)
    return unexpected{"session rules: " + rules.error()};
  runner r{s, socket, opts, report, std::move(*rules), {}, {}, {}, {}};
  r.rng.seed(opts.mutate_seed.value_or(0));
  r.run();
  return std::move(r.result);
}

double percentile(std::vector<double> samples, double p) {
  if (samples.empty())
    return 0;
  std::sort(samples.begin(), samples.end());
  auto rank = p / 100.0 * static_cast<double>(samples.size() - 1);
  auto i = static_cast<std::size_t>(std::floor(rank));
  auto j = std::min(i + 1, samples.size() - 1);
  auto frac = rank - static_cast<double>(i);
  return samples[i] + (samples[j] - samples[i]) * frac;
}

} // namespace overlayd::replay
