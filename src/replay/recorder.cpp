#include "replay/recorder.hpp"

#include "ipc/json_codec.hpp"
#include "replay/redact.hpp"

namespace overlayd::replay {

using net::unexpected;

namespace {

std::uint64_t micros(recorder::clock::duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return us < 0 ? 0 : static_cast<std::uint64_t>(us);
}

} // namespace

recorder::recorder(recorder_options opts) : opts_(std::move(opts)) {
  // nop
}

recorder::~recorder() {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [id, c] : conns_)
    drain_unanswered_locked(id, c, false);
  out_.flush();
}

net::expected<std::unique_ptr<recorder>> recorder::open(recorder_options opts) {
  auto rec = std::make_unique<recorder>(std::move(opts));
  rec->out_.open(rec->opts_.file, std::ios::trunc);
  if (!rec->out_)
    return unexpected{"cannot open the recording file "
                      + rec->opts_.file.string()};
  session_header h;
  h.recorded_at = utc_now_text();
  h.data_dir = rec->opts_.data_dir;
  h.config = rec->opts_.config;
  h.redacted = !rec->opts_.keep_secrets;
  rec->out_ << header_line(h) << '\n';
  rec->out_.flush();
  if (!rec->out_)
    return unexpected{"cannot write the recording file "
                      + rec->opts_.file.string()};
  return rec;
}

void recorder::on_request(std::uint64_t conn, std::string_view body) {
  auto now = clock::now();
  // Mirror the server's decision without holding the lock.
  bool answer = true;
  bool ends = false;
  auto decoded = ipc::decode_frame(body);
  if (!decoded) {
    answer = decoded.error().request_id.has_value();
    ends = !answer;
  } else if (!std::holds_alternative<ipc::request_frame>(*decoded)) {
    answer = false;
  }
  std::lock_guard<std::mutex> guard{mtx_};
  auto& c = conns_[conn];
  if (c.ended) {
    // The server reads no further once it has decided to close.
    write_locked(conn, std::string{body}, std::nullopt, now, {}, false);
    return;
  }
  if (!answer && c.waiting.empty()) {
    write_locked(conn, std::string{body}, std::nullopt, now, {}, ends);
  } else {
    c.waiting.push_back({std::string{body}, now, answer});
  }
  if (ends)
    c.ended = true;
}

void recorder::on_response_bytes(std::uint64_t conn, std::string_view bytes) {
  auto now = clock::now();
  std::lock_guard<std::mutex> guard{mtx_};
  auto& c = conns_[conn];
  c.responses.feed(bytes);
  for (;;) {
    auto body = c.responses.next();
    if (!body || !*body)
      break;
    // Requests that get no answer and stand before this one are done.
    while (!c.waiting.empty() && !c.waiting.front().expects_answer) {
      auto& p = c.waiting.front();
      write_locked(conn, p.body, std::nullopt, p.arrival, {}, false);
      c.waiting.pop_front();
    }
    if (c.waiting.empty()) {
      // An answer to nothing we saw: keep it visible rather than drop it.
      write_locked(conn, "", std::move(**body), now, {}, false);
      continue;
    }
    auto p = std::move(c.waiting.front());
    c.waiting.pop_front();
    write_locked(conn, p.body, std::move(**body), p.arrival, now - p.arrival,
                 false);
  }
  // Frames the server will not answer and that now lead the queue.
  while (!c.waiting.empty() && !c.waiting.front().expects_answer) {
    auto& p = c.waiting.front();
    bool last_before_close = c.ended && c.waiting.size() == 1;
    write_locked(conn, p.body, std::nullopt, p.arrival, {}, last_before_close);
    c.waiting.pop_front();
  }
}

void recorder::on_closed(std::uint64_t conn) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = conns_.find(conn);
  if (i == conns_.end())
    return;
  drain_unanswered_locked(conn, i->second, true);
  conns_.erase(i);
}

void recorder::drain_unanswered_locked(std::uint64_t conn, connection& c,
                                       bool closed) {
  while (!c.waiting.empty()) {
    auto& p = c.waiting.front();
    write_locked(conn, p.body, std::nullopt, p.arrival, {},
                 closed && c.waiting.size() == 1);
    c.waiting.pop_front();
  }
}

void recorder::record(std::uint64_t conn, std::string_view request_body,
                      std::optional<std::string_view> response_body,
                      clock::time_point arrival, clock::duration latency,
                      bool closed) {
  std::lock_guard<std::mutex> guard{mtx_};
  std::optional<std::string> resp;
  if (response_body)
    resp = std::string{*response_body};
  write_locked(conn, std::string{request_body}, std::move(resp), arrival,
               latency, closed);
}

void recorder::write_locked(std::uint64_t conn, const std::string& request,
                            std::optional<std::string> response,
                            clock::time_point arrival, clock::duration latency,
                            bool closed) {
  exchange x;
  x.seq = seq_++;
  x.conn = conn;
  x.at_us = micros(arrival - start_);
  x.latency_us = response ? micros(latency) : 0;
  x.request = opts_.keep_secrets ? request : redact_body(request);
  if (response)
    x.response
      = opts_.keep_secrets ? std::move(*response) : redact_body(*response);
  x.closed = closed;
  out_ << exchange_line(x) << '\n';
  // One line per exchange reaches the disk promptly: a crashed daemon's
  // recording is exactly what one wants to replay.
  out_.flush();
}

std::uint64_t recorder::count() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return seq_;
}

void recorder::flush() {
  std::lock_guard<std::mutex> guard{mtx_};
  out_.flush();
}

} // namespace overlayd::replay
