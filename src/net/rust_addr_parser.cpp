#include "net/rust_addr_parser.hpp"

namespace overlayd::net::detail {

namespace {

int digit_value(char c, unsigned radix) noexcept {
  int v = -1;
  if (c >= '0' && c <= '9')
    v = c - '0';
  else if (c >= 'a' && c <= 'z')
    v = c - 'a' + 10;
  else if (c >= 'A' && c <= 'Z')
    v = c - 'A' + 10;
  return v >= 0 && static_cast<unsigned>(v) < radix ? v : -1;
}

} // namespace

bool rust_addr_parser::read_char(char c) noexcept {
  if (pos_ < text_.size() && text_[pos_] == c) {
    ++pos_;
    return true;
  }
  return false;
}

std::optional<std::uint64_t>
rust_addr_parser::read_number(unsigned radix, std::size_t max_digits,
                              bool allow_zero_prefix,
                              std::uint64_t max_value) noexcept {
  auto start = pos_;
  bool leading_zero = pos_ < text_.size() && text_[pos_] == '0';
  std::uint64_t result = 0;
  std::size_t digits = 0;
  while (pos_ < text_.size()) {
    auto d = digit_value(text_[pos_], radix);
    if (d < 0)
      break;
    ++pos_;
    ++digits;
    // Rust checks overflow of the target integer type on every digit.
    if (result > (max_value - static_cast<std::uint64_t>(d)) / radix) {
      pos_ = start;
      return std::nullopt;
    }
    result = result * radix + static_cast<std::uint64_t>(d);
    if (max_digits != 0 && digits > max_digits) {
      pos_ = start;
      return std::nullopt;
    }
  }
  if (digits == 0 || (!allow_zero_prefix && leading_zero && digits > 1)) {
    pos_ = start;
    return std::nullopt;
  }
  return result;
}

std::optional<std::array<std::uint8_t, 4>>
rust_addr_parser::read_ipv4() noexcept {
  auto start = pos_;
  std::array<std::uint8_t, 4> out{};
  for (std::size_t i = 0; i < 4; ++i) {
    if (i > 0 && !read_char('.')) {
      pos_ = start;
      return std::nullopt;
    }
    auto n = read_number(10, 3, ipnet_grammar_, 0xff);
    if (!n) {
      pos_ = start;
      return std::nullopt;
    }
    out[i] = static_cast<std::uint8_t>(*n);
  }
  return out;
}

// Reads colon-separated groups into groups[0..limit), stopping at the
// first position where no group follows. A dotted quad may end the run if
// at least two slots remain for it.
std::size_t rust_addr_parser::read_groups(std::uint16_t* groups,
                                          std::size_t limit,
                                          bool& ended_with_ipv4) noexcept {
  ended_with_ipv4 = false;
  for (std::size_t i = 0; i < limit; ++i) {
    if (i + 1 < limit) {
      auto save = pos_;
      if (i == 0 || read_char(':')) {
        if (auto v4 = read_ipv4()) {
          groups[i] = static_cast<std::uint16_t>((*v4)[0] << 8 | (*v4)[1]);
          groups[i + 1] = static_cast<std::uint16_t>((*v4)[2] << 8 | (*v4)[3]);
          ended_with_ipv4 = true;
          return i + 2;
        }
      }
      pos_ = save;
    }
    auto save = pos_;
    if (i > 0 && !read_char(':')) {
      pos_ = save;
      return i;
    }
    auto g = read_number(16, 4, true, 0xffff);
    if (!g) {
      pos_ = save;
      return i;
    }
    groups[i] = static_cast<std::uint16_t>(*g);
  }
  return limit;
}

std::optional<std::array<std::uint16_t, 8>>
rust_addr_parser::read_ipv6() noexcept {
  auto start = pos_;
  std::array<std::uint16_t, 8> head{};
  bool head_ipv4 = false;
  auto head_size = read_groups(head.data(), 8, head_ipv4);
  if (head_size == 8)
    return head;
  // A dotted quad is only allowed at the very end.
  if (head_ipv4 || !read_char(':') || !read_char(':')) {
    pos_ = start;
    return std::nullopt;
  }
  // "::" stands for at least one zero group, so at most 7 remain (ipnet
  // forgot that and allows 8 - head_size).
  std::array<std::uint16_t, 8> tail{};
  bool tail_ipv4 = false;
  auto limit = ipnet_grammar_ ? 8 - head_size : 8 - (head_size + 1);
  auto tail_size = read_groups(tail.data(), limit, tail_ipv4);
  for (std::size_t i = 0; i < tail_size; ++i)
    head[8 - tail_size + i] = tail[i];
  return head;
}

} // namespace overlayd::net::detail
