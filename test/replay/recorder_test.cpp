// The recorder pairs what the server's byte-stream taps report the way
// the server answers: in order per connection, nothing for ignored frames.

#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

#include "ipc/framing.hpp"
#include "replay/recorder.hpp"
#include "replay/session.hpp"

using namespace overlayd::replay;

namespace {

std::string framed(const std::string& body) {
  return *overlayd::ipc::encode_frame_bytes(body);
}

std::string req(int id, const char* op) {
  return R"({"frame":"request","id":)" + std::to_string(id)
         + R"(,"request":{"op":")" + op + R"("}})";
}

std::string ok(int id) {
  return R"({"frame":"response","id":)" + std::to_string(id)
         + R"(,"response":{"result":"ok"}})";
}

struct temp_file {
  std::filesystem::path path
    = std::filesystem::temp_directory_path()
      / ("orp-rec-" + std::to_string(::getpid()) + ".jsonl");
  ~temp_file() { std::filesystem::remove(path); }
};

} // namespace

TEST_CASE("exchanges pair per connection, in order, across split writes") {
  temp_file f;
  {
    recorder_options o;
    o.file = f.path;
    o.data_dir = "/var/lib/zlayer";
    auto rec = recorder::open(o);
    REQUIRE(rec);
    auto& r = **rec;
    r.on_request(1, req(1, "status"));
    r.on_request(2, req(1, "nat_status"));
    r.on_request(1, req(2, "shutdown"));
    // A response frame from a client is ignored by the server.
    r.on_request(2, ok(9));
    r.on_request(2, req(2, "status"));
    // Connection 2's answers arrive first, both in one write.
    r.on_response_bytes(2, framed(ok(1)) + framed(ok(2)));
    // Connection 1's first answer split across two writes.
    auto a = framed(ok(1));
    r.on_response_bytes(1, a.substr(0, 3));
    r.on_response_bytes(1, a.substr(3));
    // Undecodable without an id: no answer, the connection closes.
    r.on_request(3, "garbage");
    r.on_closed(1); // request 2 on conn 1 was never answered
    CHECK(r.count() == 6);
  }
  auto s = load_session(f.path);
  REQUIRE(s);
  CHECK(s->header.data_dir == "/var/lib/zlayer");
  REQUIRE(s->exchanges.size() == 6);
  const auto& x = s->exchanges;
  CHECK(x[0].conn == 2);
  CHECK(x[0].request == req(1, "nat_status"));
  CHECK(x[0].response == ok(1));
  CHECK(x[1].request == ok(9));
  CHECK_FALSE(x[1].response);
  CHECK(x[2].request == req(2, "status"));
  CHECK(x[2].response == ok(2));
  CHECK(x[3].conn == 1);
  CHECK(x[3].response == ok(1));
  CHECK(x[4].request == "garbage");
  CHECK(x[4].closed);
  CHECK(x[5].request == req(2, "shutdown"));
  CHECK_FALSE(x[5].response);
  for (std::size_t i = 0; i < x.size(); ++i)
    CHECK(x[i].seq == i);
}

TEST_CASE("secrets are redacted unless asked for") {
  temp_file f;
  const std::string guest
    = R"({"frame":"response","id":1,"response":{"result":"guest_config","private_key":"cHJpdg=="}})";
  for (bool keep : {false, true}) {
    {
      recorder_options o;
      o.file = f.path;
      o.keep_secrets = keep;
      auto rec = recorder::open(o);
      REQUIRE(rec);
      (*rec)->on_request(1, req(1, "attach_container"));
      (*rec)->on_response_bytes(1, framed(guest));
    }
    auto s = load_session(f.path);
    REQUIRE(s);
    CHECK(s->header.redacted == !keep);
    REQUIRE(s->exchanges.size() == 1);
    CHECK((s->exchanges[0].response->find("cHJpdg==") != std::string::npos)
          == keep);
  }
}
