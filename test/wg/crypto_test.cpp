#include "wg/blake2s.hpp"
#include "wg/crypto.hpp"
#include "wg/tai64n.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace overlayd::wg;

namespace {

std::string hex(std::span<const uint8_t> b) {
  static constexpr char d[] = "0123456789abcdef";
  std::string s;
  for (auto x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

std::span<const uint8_t> text(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::vector<uint8_t> counting(std::size_t n) {
  std::vector<uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = static_cast<uint8_t>(i);
  return v;
}

// RFC 7693 Appendix E: deterministic input generator of the self-test.
std::vector<uint8_t> selftest_seq(std::size_t len, uint32_t seed) {
  uint32_t a = 0xDEAD4BAD * seed;
  uint32_t b = 1;
  std::vector<uint8_t> out(len);
  for (std::size_t i = 0; i < len; ++i) {
    uint32_t t = a + b;
    a = b;
    b = t;
    out[i] = static_cast<uint8_t>(t >> 24);
  }
  return out;
}

} // namespace

TEST_CASE("BLAKE2s RFC 7693 appendix B: \"abc\"") {
  CHECK(hex(blake2s::hash(text("abc")))
        == "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

TEST_CASE("BLAKE2s RFC 7693 appendix E self-test (keyed and unkeyed)") {
  const std::size_t out_lens[] = {16, 20, 28, 32};
  const std::size_t in_lens[] = {0, 3, 64, 65, 255, 1024};
  blake2s grand;
  for (auto outlen : out_lens) {
    for (auto inlen : in_lens) {
      auto in = selftest_seq(inlen, static_cast<uint32_t>(inlen));
      uint8_t md[32];
      blake2s plain(outlen);
      plain.update(in);
      plain.finish(md);
      grand.update({md, outlen});
      auto k = selftest_seq(outlen, static_cast<uint32_t>(outlen));
      blake2s keyed(outlen, k);
      keyed.update(in);
      keyed.finish(md);
      grand.update({md, outlen});
    }
  }
  uint8_t result[32];
  grand.finish(result);
  CHECK(hex(result)
        == "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe");
}

TEST_CASE("BLAKE2s keyed known answers around block boundaries") {
  auto k = counting(32);
  struct kat {
    std::size_t len;
    const char* digest;
  } kats[] = {
    {0, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49"},
    {1, "40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1"},
    {63, "c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd"},
    {64, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4"},
    {65, "21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8"},
    {255, "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd"},
  };
  for (const auto& t : kats) {
    CAPTURE(t.len);
    auto in = counting(t.len);
    uint8_t md[32];
    blake2s h(32, k);
    // Feed in uneven pieces to exercise buffering.
    std::size_t pos = 0;
    for (std::size_t step = 1; pos < in.size(); ++step) {
      auto n = std::min(step, in.size() - pos);
      h.update({in.data() + pos, n});
      pos += n;
    }
    h.finish(md);
    CHECK(hex(md) == t.digest);
  }
  CHECK(hex(crypto::mac(k, text("hello world")))
        == "9dc39de6198d670172a4bf1a20c88f06");
}

TEST_CASE("HMAC-BLAKE2s vectors") {
  CHECK(hex(crypto::hmac(text("key"), {text("The quick brown fox "),
                                       text("jumps over the lazy dog")}))
        == "f93215bb90d4af4c3061cd932fb169fb8bb8a91d0b4022baea1271e1323cd9a0");
  // A key longer than the block is hashed first.
  CHECK(hex(crypto::hmac(counting(100), {text("long key")}))
        == "096d2dec44b647196383c466daf27592cf0c187793f83d1e9f8a19efc137d0d1");
  CHECK(hex(crypto::hmac({}, {}))
        == "eaf4bb25938f4d20e72656bbbc7a9bf63c0c18537333c35bdb67db1402661acd");
}

TEST_CASE("Noise constants and KDF chain") {
  auto c0 = crypto::hash({text("Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s")});
  CHECK(hex(c0)
        == "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36");
  auto h0 = crypto::hash({c0, text("WireGuard v1 zx2c4 Jason@zx2c4.com")});
  CHECK(hex(h0)
        == "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3");
  crypto::digest t1, t2, t3;
  auto input = counting(32);
  crypto::kdf(c0, input, &t1, &t2, &t3);
  CHECK(hex(t1)
        == "6ff66e10ab4a55ac8144a867fcd9f8ee64d4bd6239223338cb3437cf085ab031");
  CHECK(hex(t2)
        == "203b22d63d63e35cebb9e40210cf8c1d7f90879428a4c766cda9ef34bb299398");
  CHECK(hex(t3)
        == "35a7b2fc3e4f59db341dbe588e3b75897980c463d5bbb855f8ed8134ff40133a");
  crypto::digest only1;
  crypto::kdf(c0, input, &only1);
  CHECK(only1 == t1);
}

TEST_CASE("AEAD round trip, counter nonce and tamper detection") {
  auto k = counting(32);
  auto msg = counting(100);
  std::vector<uint8_t> box(116);
  crypto::aead_seal(box.data(), k, 7, msg, text("ad"));
  std::vector<uint8_t> back(100);
  CHECK(crypto::aead_open(back.data(), k, 7, box, text("ad")));
  CHECK(back == msg);
  CHECK_FALSE(crypto::aead_open(back.data(), k, 8, box, text("ad")));
  CHECK_FALSE(crypto::aead_open(back.data(), k, 7, box, text("AD")));
  box[3] ^= 1;
  CHECK_FALSE(crypto::aead_open(back.data(), k, 7, box, text("ad")));
  // In place.
  std::vector<uint8_t> buf = msg;
  buf.resize(116);
  crypto::aead_seal(buf.data(), k, 1, {buf.data(), 100}, {});
  CHECK(crypto::aead_open(buf.data(), k, 1, buf, {}));
  CHECK(std::equal(msg.begin(), msg.end(), buf.begin()));

  auto nonce = counting(24);
  std::vector<uint8_t> xbox(48);
  crypto::xaead_seal(xbox.data(), k, nonce, counting(32), text("mac1"));
  std::vector<uint8_t> xback(32);
  CHECK(crypto::xaead_open(xback.data(), k, nonce, xbox, text("mac1")));
  CHECK(xback == counting(32));
  CHECK_FALSE(crypto::xaead_open(xback.data(), k, nonce, xbox, text("mac2")));
}

TEST_CASE("X25519 rejects low-order points") {
  auto a = key::generate_private();
  auto b = key::generate_private();
  crypto::digest ab, ba;
  CHECK(crypto::dh(ab, a, b.public_from_private()));
  CHECK(crypto::dh(ba, b, a.public_from_private()));
  CHECK(ab == ba);
  CHECK_FALSE(crypto::dh(ab, a, key{})); // the zero point
}

TEST_CASE("TAI64N labels are ordered and coarse") {
  using namespace std::chrono;
  system_clock::time_point t{seconds(1700000000) + milliseconds(500)};
  auto a = make_tai64n(t);
  CHECK(hex(a).substr(0, 16) == "400000006553f10a");
  auto b = make_tai64n(t + milliseconds(20));
  CHECK(tai64n_after(b, a));
  CHECK_FALSE(tai64n_after(a, b));
  CHECK_FALSE(tai64n_after(a, a));
  // Within one 2^24 ns step the label does not change.
  CHECK(make_tai64n(t + nanoseconds(1)) == a);
}
