#include "replay/mutation.hpp"

#include <array>

#include <nlohmann/json.hpp>

#include "replay/wire.hpp"

namespace overlayd::replay {

namespace {

using json = nlohmann::ordered_json;

constexpr std::array<std::string_view, 12> idempotent_ops{
  "status",
  "nat_status",
  "set_local_node_id",
  "set_local_wg_pubkey",
  "register_dns",
  "unregister_dns",
  "write_scoped_resolver",
  "remove_scoped_resolver",
  "add_peer",
  "remove_peer",
  "add_allowed_ip",
  "remove_allowed_ip",
};

std::string le32(std::uint32_t n) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

// Reads what the daemon says to a frame it must refuse without an answer:
// it closes the connection. Nothing else is acceptable.
void expect_silent_close(raw_connection& c, std::chrono::milliseconds timeout,
                         mutation_outcome& out) {
  auto in = c.read_frame(timeout);
  if (in.body) {
    out.problem = "answered a frame it cannot decode: " + *in.body;
  } else if (in.timed_out) {
    out.problem = "kept the connection open after an undecodable frame";
  } else {
    out.ok = true;
  }
}

void check_alive(const std::string& socket, std::chrono::milliseconds timeout,
                 mutation_outcome& out) {
  auto c = raw_connection::connect(socket, timeout);
  if (!c) {
    out.ok = false;
    out.problem += (out.problem.empty() ? "" : "; ")
                   + std::string{"daemon "
                                 "unreachable afterwards: "}
                   + c.error();
    return;
  }
  const std::string probe
    = R"({"frame":"request","id":424242,"request":{"op":"status"}})";
  if (auto s = c->send_frame(probe); !s) {
    out.ok = false;
    out.problem += "; follow-up status not sent: " + s.error();
    return;
  }
  auto in = c->read_frame(timeout);
  auto j = in.body ? json::parse(*in.body, nullptr, false) : json{};
  bool good = in.body && j.is_object() && j.value("frame", "") == "response"
              && j.value("id", 0ull) == 424242ull && j.contains("response")
              && j["response"].value("result", "") == "status";
  if (!good) {
    out.ok = false;
    out.problem += (out.problem.empty() ? "" : "; ")
                   + std::string{"follow-up status not answered: "}
                   + (in.body        ? *in.body
                      : in.eof       ? std::string{"connection closed"}
                      : in.timed_out ? std::string{"timed out"}
                                     : in.error);
  }
}

} // namespace

std::string_view to_string(mutation_kind kind) noexcept {
  switch (kind) {
  case mutation_kind::drop:
    return "drop";
  case mutation_kind::truncate:
    return "truncate";
  case mutation_kind::corrupt_byte:
    return "corrupt-byte";
  case mutation_kind::corrupt_length:
    return "corrupt-length";
  case mutation_kind::corrupt_op:
    return "corrupt-op";
  case mutation_kind::duplicate:
    return "duplicate";
  }
  return "?";
}

bool is_idempotent_op(const std::string& op) noexcept {
  for (auto o : idempotent_ops)
    if (o == op)
      return true;
  return false;
}

mutation_kind pick_mutation(std::mt19937_64& rng, const std::string& op) {
  auto n = is_idempotent_op(op) ? 6u : 5u;
  return static_cast<mutation_kind>(rng() % n);
}

mutation_outcome run_mutation(const std::string& socket,
                              const std::string& body, mutation_kind kind,
                              std::mt19937_64& rng,
                              std::chrono::milliseconds timeout) {
  mutation_outcome out;
  out.description = std::string{to_string(kind)};
  auto conn = raw_connection::connect(socket, timeout);
  if (!conn) {
    out.problem = "cannot connect: " + conn.error();
    return out;
  }
  auto& c = *conn;
  auto len = static_cast<std::uint32_t>(body.size());
  switch (kind) {
  case mutation_kind::drop: {
    auto k = rng() % 4;
    out.description += " after " + std::to_string(k) + " prefix bytes";
    (void)c.send_bytes(le32(len).substr(0, k));
    c.close();
    out.ok = true;
    break;
  }
  case mutation_kind::truncate: {
    auto k = body.empty() ? 0 : rng() % body.size();
    out.description
      += " " + std::to_string(k) + "/" + std::to_string(body.size()) + " bytes";
    (void)c.send_bytes(le32(len) + body.substr(0, k));
    c.shutdown_write();
    expect_silent_close(c, timeout, out);
    break;
  }
  case mutation_kind::corrupt_byte: {
    auto copy = body;
    auto at = copy.empty() ? 0 : rng() % copy.size();
    char bad = (rng() % 2) ? '\xff' : '\0';
    if (!copy.empty())
      copy[at] = bad;
    out.description
      += " at " + std::to_string(at) + " to " + (bad == '\0' ? "0x00" : "0xff");
    (void)c.send_bytes(le32(len) + copy);
    expect_silent_close(c, timeout, out);
    break;
  }
  case mutation_kind::corrupt_length: {
    auto n
      = static_cast<std::uint32_t>(8 * 1024 * 1024 + 1 + rng() % 0x7000'0000u);
    out.description += " " + std::to_string(n);
    (void)c.send_bytes(le32(n) + body);
    expect_silent_close(c, timeout, out);
    break;
  }
  case mutation_kind::corrupt_op: {
    auto j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("request")
        || !j["request"].is_object() || !j.contains("id")
        || !j["id"].is_number_unsigned()) {
      out.description += " (not a request frame; sent as is)";
      (void)c.send_frame(body);
      c.close();
      out.ok = true;
      break;
    }
    auto id = j["id"].get<std::uint64_t>();
    j["request"]["op"] = "mutated_" + std::to_string(rng() % 1000);
    out.description += " " + j["request"]["op"].get<std::string>();
    (void)c.send_frame(j.dump());
    auto in = c.read_frame(timeout);
    auto r = in.body ? json::parse(*in.body, nullptr, false) : json{};
    bool good = in.body && r.is_object() && r.value("frame", "") == "response"
                && r.value("id", ~0ull) == id && r.contains("response")
                && r["response"].value("result", "") == "err";
    if (good) {
      out.ok = true;
    } else if (in.eof && !in.body) {
      // Strict reference parity (close without an answer) is allowed by
      // the spec too (§1.8).
      out.ok = true;
      out.description += " (closed, reference behaviour)";
    } else {
      out.problem = "unknown op not answered by an err under id "
                    + std::to_string(id) + ": "
                    + (in.body        ? *in.body
                       : in.timed_out ? std::string{"timed out"}
                                      : in.error);
    }
    break;
  }
  case mutation_kind::duplicate:
    out.problem = "duplicate is done by the replayer";
    return out;
  }
  c.close();
  check_alive(socket, timeout, out);
  return out;
}

} // namespace overlayd::replay
