#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

// Hex helpers shared by the stun tests; spaces and '|' are ignored so the
// vectors can be pasted as nat.md prints them.
inline std::vector<std::uint8_t> unhex(std::string_view s) {
  std::vector<std::uint8_t> out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

template <class Bytes>
std::string tohex(const Bytes& b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto x : b) {
    s.push_back(d[static_cast<std::uint8_t>(x) >> 4]);
    s.push_back(d[static_cast<std::uint8_t>(x) & 15]);
  }
  return s;
}
