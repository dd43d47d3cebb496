// u32 little-endian length + body, 8 MiB limit (spec §1.5).

#include <doctest/doctest.h>

#include <string>

#include "ipc/framing.hpp"
#include "ipc/json_codec.hpp"

using namespace overlayd::ipc;

namespace {

std::string header(std::uint32_t n) {
  std::string h(4, '\0');
  for (int i = 0; i < 4; ++i)
    h[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return h;
}

std::optional<std::string> pull(frame_decoder& d) {
  auto r = d.next();
  REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message()));
  return *r;
}

} // namespace

TEST_CASE("encoding writes a little-endian length before the body") {
  auto f = encode_frame_bytes("abc");
  REQUIRE(f);
  CHECK(*f == std::string("\x03\x00\x00\x00", 4) + "abc");
  auto big = encode_frame_bytes(std::string(0x01020304 % max_frame_bytes, 'x'));
  REQUIRE(big);
  CHECK(big->substr(0, 4) == header(0x01020304 % max_frame_bytes));
  CHECK(*encode_frame_bytes("") == std::string(4, '\0'));
}

TEST_CASE("exactly 8 MiB is allowed, one byte more is not") {
  std::string body(max_frame_bytes, 'a');
  auto ok = encode_frame_bytes(body);
  REQUIRE(ok);
  frame_decoder d;
  d.feed(*ok);
  auto got = pull(d);
  REQUIRE(got);
  CHECK(got->size() == max_frame_bytes);

  body.push_back('a');
  auto too_big = encode_frame_bytes(body);
  REQUIRE_FALSE(too_big);
  CHECK(too_big.error().what == framing_error::kind::too_large);
  CHECK(too_big.error().message()
        == "frame too large: 8388609 bytes (max 8388608)");

  // On receive the prefix alone triggers the error, before any body byte.
  frame_decoder r;
  r.feed(header(max_frame_bytes + 1));
  auto e = r.next();
  REQUIRE_FALSE(e);
  CHECK(e.error().message() == "frame too large: 8388609 bytes (max 8388608)");
  // Sticky: the stream cannot be resynchronised.
  r.feed(header(2) + "{}");
  CHECK_FALSE(r.next());
  CHECK(r.at_eof().what == framing_error::kind::too_large);

  frame_decoder huge;
  huge.feed(header(0xffffffffu));
  CHECK(huge.next().error().len == 0xffffffffu);
}

TEST_CASE("an empty body is a frame whose JSON then fails") {
  frame_decoder d;
  d.feed(header(0));
  auto got = pull(d);
  REQUIRE(got);
  CHECK(got->empty());
  CHECK_FALSE(decode_frame(*got));
  CHECK_FALSE(pull(d));
  CHECK(d.at_eof().what == framing_error::kind::closed);
}

TEST_CASE("a body split across writes, byte by byte") {
  auto body
    = std::string{R"({"frame":"request","id":1,"request":{"op":"status"}})"};
  auto bytes = *encode_frame_bytes(body);
  frame_decoder d;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    d.feed(bytes.substr(i, 1));
    CHECK_FALSE(pull(d));
  }
  d.feed(bytes.substr(bytes.size() - 1));
  auto got = pull(d);
  REQUIRE(got);
  CHECK(*got == body);
  CHECK(d.buffered() == 0);
}

TEST_CASE("pipelined frames in one read come out in order") {
  std::string stream;
  for (int i = 1; i <= 50; ++i)
    stream += *encode_frame_bytes("body" + std::to_string(i));
  stream += header(10) + "part"; // a partial sixth-one-and-fiftieth frame
  frame_decoder d;
  d.feed(stream);
  for (int i = 1; i <= 50; ++i) {
    auto got = pull(d);
    REQUIRE(got);
    CHECK(*got == "body" + std::to_string(i));
  }
  CHECK_FALSE(pull(d));
  CHECK(d.mid_frame());
  d.feed("ial!!!");
  CHECK(*pull(d) == "partial!!!");
}

TEST_CASE(
  "end of stream: between frames is closed, inside a body is an error") {
  for (std::size_t prefix = 0; prefix < 4; ++prefix) {
    frame_decoder d;
    d.feed(header(5).substr(0, prefix));
    CHECK_FALSE(pull(d));
    CHECK(d.at_eof().what == framing_error::kind::closed);
    CHECK(d.at_eof().message() == "connection closed by peer");
  }
  frame_decoder d;
  d.feed(header(10) + "12345");
  CHECK_FALSE(pull(d));
  auto e = d.at_eof();
  CHECK(e.what == framing_error::kind::truncated);
  CHECK(e.message() == "io error: early eof");
  frame_decoder header_only;
  header_only.feed(header(1));
  CHECK_FALSE(pull(header_only));
  CHECK(header_only.at_eof().what == framing_error::kind::truncated);
}

TEST_CASE("the u64::MAX id survives framing and decoding") {
  auto body = encode_request_frame(UINT64_MAX, req::status{});
  frame_decoder d;
  d.feed(*encode_frame_bytes(body));
  auto got = pull(d);
  REQUIRE(got);
  auto f = decode_frame(*got);
  REQUIRE(f);
  CHECK(std::get<request_frame>(*f).id == UINT64_MAX);
}
