#include "ipam/siphash.hpp"

#include <bit>

namespace overlayd::ipam {
namespace {

struct sip_state {
  std::uint64_t v0, v1, v2, v3;

  void round() noexcept {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }

  // One compression round per message word: the "1" in SipHash-1-3.
  void compress(std::uint64_t m) noexcept {
    v3 ^= m;
    round();
    v0 ^= m;
  }
};

} // namespace

siphash13::siphash13(std::uint64_t k0, std::uint64_t k1) noexcept
  : v0_(k0 ^ 0x736f6d6570736575ULL), v1_(k1 ^ 0x646f72616e646f6dULL),
    v2_(k0 ^ 0x6c7967656e657261ULL), v3_(k1 ^ 0x7465646279746573ULL) {}

void siphash13::write(const void* data, std::size_t len) noexcept {
  const auto* p = static_cast<const unsigned char*>(data);
  length_ += len;
  sip_state s{v0_, v1_, v2_, v3_};
  for (std::size_t i = 0; i < len; ++i) {
    tail_ |= std::uint64_t{p[i]} << (8 * ntail_);
    if (++ntail_ == 8) {
      s.compress(tail_);
      tail_ = 0;
      ntail_ = 0;
    }
  }
  v0_ = s.v0;
  v1_ = s.v1;
  v2_ = s.v2;
  v3_ = s.v3;
}

std::uint64_t siphash13::finish() const noexcept {
  sip_state s{v0_, v1_, v2_, v3_};
  // The last word carries the low byte of the total length in its top byte.
  s.compress(((length_ & 0xff) << 56) | tail_);
  s.v2 ^= 0xff;
  for (int i = 0; i < 3; ++i) {
    s.round();
  }
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

std::uint64_t default_hash_str(std::string_view s) noexcept {
  siphash13 h;
  h.write_str(s);
  return h.finish();
}

} // namespace overlayd::ipam
