#pragma once

// Internal: a port of the grammar of Rust's std::net address parser. Each
// read_* either consumes what it read and returns a value, or consumes
// nothing and returns nullopt (Rust's `read_atomically`), so alternatives
// can simply be tried one after another.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace overlayd::net::detail {

class rust_addr_parser {
public:
  /// `ipnet_grammar` selects the copy of the grammar inside the `ipnet`
  /// crate, which differs from std in two corners: IPv4 octets may have
  /// leading zeros, and `::` may stand for zero groups (`1:2:3:4:5:6:7::8`).
  explicit rust_addr_parser(std::string_view text, bool ipnet_grammar = false)
    : text_(text), ipnet_grammar_(ipnet_grammar) {
    // nop
  }

  bool at_end() const noexcept { return pos_ == text_.size(); }
  std::size_t position() const noexcept { return pos_; }

  /// Consumes `c` if it is next.
  bool read_char(char c) noexcept;

  /// Greedy digits in `radix`; fails on overflow of `max_value`, on more
  /// than `max_digits` digits (0 = unlimited), or on a leading zero when
  /// `allow_zero_prefix` is false and more than one digit was read.
  std::optional<std::uint64_t> read_number(unsigned radix,
                                           std::size_t max_digits,
                                           bool allow_zero_prefix,
                                           std::uint64_t max_value) noexcept;

  std::optional<std::array<std::uint8_t, 4>> read_ipv4() noexcept;
  std::optional<std::array<std::uint16_t, 8>> read_ipv6() noexcept;

private:
  std::size_t read_groups(std::uint16_t* groups, std::size_t limit,
                          bool& ended_with_ipv4) noexcept;

  std::string_view text_;
  std::size_t pos_ = 0;
  bool ipnet_grammar_ = false;
};

} // namespace overlayd::net::detail
