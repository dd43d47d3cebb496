#include "ipc/framing.hpp"

namespace overlayd::ipc {

namespace {

std::uint32_t read_le32(const char* p) noexcept {
  auto b = [p](int i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i]));
  };
  return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
}

} // namespace

std::string framing_error::message() const {
  switch (what) {
  case kind::too_large:
    return "frame too large: " + std::to_string(len) + " bytes (max "
           + std::to_string(max_frame_bytes) + ")";
  case kind::truncated:
    return "io error: early eof";
  case kind::closed:
    break;
  }
  return "connection closed by peer";
}

net::expected<std::string, framing_error>
encode_frame_bytes(std::string_view body) {
  if (body.size() > max_frame_bytes)
    return net::unexpected{
      framing_error{framing_error::kind::too_large, body.size()}};
  std::string out;
  out.reserve(frame_header_bytes + body.size());
  auto n = static_cast<std::uint32_t>(body.size());
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(body);
  return out;
}

void frame_decoder::feed(std::string_view bytes) {
  // Compact lazily so pipelined frames do not cost a copy each.
  if (pos_ > 0 && pos_ >= buf_.size() / 2) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

net::expected<std::optional<std::string>, framing_error> frame_decoder::next() {
  if (error_)
    return net::unexpected{*error_};
  if (buffered() < frame_header_bytes)
    return std::optional<std::string>{};
  auto len = read_le32(buf_.data() + pos_);
  // Checked before anything is buffered for the body (§1.5).
  if (len > max_frame_bytes) {
    error_ = framing_error{framing_error::kind::too_large, len};
    return net::unexpected{*error_};
  }
  if (buffered() < frame_header_bytes + len)
    return std::optional<std::string>{};
  std::string body = buf_.substr(pos_ + frame_header_bytes, len);
  pos_ += frame_header_bytes + len;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return std::optional<std::string>{std::move(body)};
}

bool frame_decoder::mid_frame() const noexcept {
  return buffered() >= frame_header_bytes;
}

framing_error frame_decoder::at_eof() const {
  if (error_)
    return *error_;
  if (mid_frame())
    return framing_error{framing_error::kind::truncated,
                         read_le32(buf_.data() + pos_)};
  return framing_error{framing_error::kind::closed, 0};
}

} // namespace overlayd::ipc
