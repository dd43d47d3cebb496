#include "replay/session.hpp"

#include <chrono>
#include <ctime>
#include <fstream>

namespace overlayd::replay {

using json = nlohmann::ordered_json;
using net::unexpected;

std::string header_line(const session_header& h) {
  json j;
  j["overlay_replay"] = h.version;
  if (h.description)
    j["description"] = *h.description;
  j["recorded_at"] = h.recorded_at;
  j["data_dir"] = h.data_dir;
  j["config"] = h.config;
  j["redacted"] = h.redacted;
  if (h.pending)
    j["pending"] = *h.pending;
  if (!h.processes.empty())
    j["processes"] = h.processes;
  j["rules"] = h.rules;
  return j.dump();
}

std::string exchange_line(const exchange& x) {
  json j;
  j["seq"] = x.seq;
  j["conn"] = x.conn;
  j["at_us"] = x.at_us;
  j["latency_us"] = x.latency_us;
  j["request"] = x.request;
  if (!x.expectation_unknown)
    j["response"] = x.response ? json(*x.response) : json(nullptr);
  if (x.closed)
    j["closed"] = true;
  if (x.pending)
    j["pending"] = *x.pending;
  if (x.reference)
    j["reference"] = *x.reference;
  return j.dump();
}

namespace {

template <class T>
net::expected<T> field(const json& j, const char* key, T fallback) {
  auto i = j.find(key);
  if (i == j.end() || i->is_null())
    return fallback;
  try {
    return i->get<T>();
  } catch (const std::exception&) {
    return unexpected{std::string{"field `"} + key + "` has the wrong type"};
  }
}

std::optional<std::string> opt_string(const json& j, const char* key) {
  auto i = j.find(key);
  if (i == j.end() || !i->is_string())
    return std::nullopt;
  return i->get<std::string>();
}

} // namespace

net::expected<session_header> parse_header(const std::string& line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return unexpected{std::string{"the header is not a JSON object"}};
  auto v = j.find("overlay_replay");
  if (v == j.end() || !v->is_number_integer())
    return unexpected{
      std::string{"the header has no integer `overlay_replay` version"}};
  session_header h;
  h.version = v->get<int>();
  if (h.version != format_version)
    return unexpected{"unsupported session format version "
                      + std::to_string(h.version) + " (this build reads "
                      + std::to_string(format_version) + ")"};
  h.recorded_at = opt_string(j, "recorded_at").value_or("");
  h.data_dir = opt_string(j, "data_dir").value_or("");
  if (auto c = j.find("config"); c != j.end())
    h.config = *c;
  auto red = field<bool>(j, "redacted", true);
  if (!red)
    return unexpected{red.error()};
  h.redacted = *red;
  if (auto r = j.find("rules"); r != j.end()) {
    if (!r->is_array())
      return unexpected{std::string{"header `rules` must be an array"}};
    h.rules = *r;
  }
  h.pending = opt_string(j, "pending");
  h.description = opt_string(j, "description");
  if (auto p = j.find("processes"); p != j.end()) {
    auto bad = unexpected{
      std::string{"header `processes` must list pids (integers from 1)"}};
    if (!p->is_array())
      return bad;
    for (const auto& pid : *p) {
      if (!pid.is_number_unsigned() || pid.get<std::uint64_t>() == 0
          || pid.get<std::uint64_t>() > 0x3fffffff)
        return bad;
      h.processes.push_back(pid.get<std::uint32_t>());
    }
  }
  return h;
}

net::expected<exchange> parse_exchange(const std::string& line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return unexpected{std::string{"not a JSON object"}};
  exchange x;
  auto seq = field<std::uint64_t>(j, "seq", 0);
  auto conn = field<std::uint64_t>(j, "conn", 1);
  auto at = field<std::uint64_t>(j, "at_us", 0);
  auto lat = field<std::uint64_t>(j, "latency_us", 0);
  auto closed = field<bool>(j, "closed", false);
  for (auto* e : {&seq, &conn, &at, &lat})
    if (!*e)
      return unexpected{e->error()};
  if (!closed)
    return unexpected{closed.error()};
  x.seq = *seq;
  x.conn = *conn;
  x.at_us = *at;
  x.latency_us = *lat;
  x.closed = *closed;
  auto req = j.find("request");
  if (req == j.end() || !req->is_string())
    return unexpected{
      std::string{"`request` must be the frame body as a JSON string"}};
  x.request = req->get<std::string>();
  if (auto r = j.find("response"); r == j.end()) {
    x.expectation_unknown = true;
  } else if (r->is_string()) {
    x.response = r->get<std::string>();
  } else if (!r->is_null()) {
    return unexpected{
      std::string{"`response` must be the frame body as a string, or null"}};
  }
  x.pending = opt_string(j, "pending");
  x.reference = opt_string(j, "reference");
  return x;
}

net::expected<session> load_session(const std::filesystem::path& file) {
  std::ifstream in{file};
  if (!in)
    return unexpected{"cannot open " + file.string()};
  session s;
  std::string line;
  std::size_t line_no = 0;
  bool have_header = false;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    auto where = file.string() + ":" + std::to_string(line_no) + ": ";
    if (!have_header) {
      auto h = parse_header(line);
      if (!h)
        return unexpected{where + h.error()};
      s.header = std::move(*h);
      have_header = true;
      continue;
    }
    auto x = parse_exchange(line);
    if (!x)
      return unexpected{where + x.error()};
    s.exchanges.push_back(std::move(*x));
  }
  if (!have_header)
    return unexpected{file.string() + ": empty session (no header line)"};
  return s;
}

net::expected<void> save_session(const session& s,
                                 const std::filesystem::path& file) {
  std::ofstream out{file, std::ios::trunc};
  if (!out)
    return unexpected{"cannot write " + file.string()};
  out << header_line(s.header) << '\n';
  for (const auto& x : s.exchanges)
    out << exchange_line(x) << '\n';
  out.flush();
  if (!out)
    return unexpected{"write error on " + file.string()};
  return {};
}

std::string request_op(const std::string& request_body) {
  json j = json::parse(request_body, nullptr, false);
  if (j.is_discarded())
    return "<not json>";
  if (!j.is_object())
    return "<not an object>";
  auto f = j.find("frame");
  if (f == j.end() || !f->is_string())
    return "<no frame tag>";
  if (*f != "request")
    return "<" + f->get<std::string>() + " frame>";
  auto r = j.find("request");
  if (r == j.end() || !r->is_object())
    return "<no request>";
  auto op = r->find("op");
  if (op == r->end() || !op->is_string())
    return "<no op>";
  return op->get<std::string>();
}

std::string utc_now_text() {
  auto now
    = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

} // namespace overlayd::replay
