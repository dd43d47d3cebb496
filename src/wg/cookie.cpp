#include "wg/cookie.hpp"

#include "wg/noise.hpp"

#include <cstring>

namespace overlayd::wg {

namespace {

using crypto::bytes;

constexpr std::string_view label_mac1 = "mac1----";
constexpr std::string_view label_cookie = "cookie--";

crypto::digest labelled_key(std::string_view label, const key& k) {
  return crypto::hash(
    {bytes(reinterpret_cast<const uint8_t*>(label.data()), label.size()),
     bytes(k.data(), key::size)});
}

// Cookie input: address bytes then port in network order.
std::array<uint8_t, 18> source_bytes(const endpoint& source, std::size_t& n) {
  std::array<uint8_t, 18> out{};
  auto addr = source.address().bytes();
  std::memcpy(out.data(), addr.data(), addr.size());
  out[addr.size()] = static_cast<uint8_t>(source.port() >> 8);
  out[addr.size() + 1] = static_cast<uint8_t>(source.port());
  n = addr.size() + 2;
  return out;
}

} // namespace

void cookie_checker::set_public_key(const key& our_public) {
  mac1_key_ = labelled_key(label_mac1, our_public);
  cookie_key_ = labelled_key(label_cookie, our_public);
}

bool cookie_checker::check_mac1(std::span<const uint8_t> msg) const {
  if (msg.size() < 32)
    return false;
  auto at = mac1_offset(msg.size());
  auto want = crypto::mac(mac1_key_, msg.first(at));
  return crypto::equal(want, msg.subspan(at, 16));
}

crypto::mac_tag cookie_checker::cookie_for(const endpoint& source,
                                           clock::time_point now) {
  // Caller holds mu_. The secret changes every two minutes so a cookie
  // cannot be used for long.
  if (!secret_set_ || now - *secret_set_ > cookie_refresh_time) {
    crypto::random_bytes(secret_);
    secret_set_ = now;
  }
  std::size_t n = 0;
  auto src = source_bytes(source, n);
  return crypto::mac(secret_, bytes(src.data(), n));
}

bool cookie_checker::check_mac2(std::span<const uint8_t> msg,
                                const endpoint& source, clock::time_point now) {
  if (msg.size() < 32)
    return false;
  crypto::mac_tag cookie;
  {
    std::lock_guard guard{mu_};
    if (!secret_set_ || now - *secret_set_ > cookie_refresh_time)
      return false;
    cookie = cookie_for(source, now);
  }
  auto at = mac2_offset(msg.size());
  auto want = crypto::mac(cookie, msg.first(at));
  return crypto::equal(want, msg.subspan(at, 16));
}

std::array<uint8_t, 64> cookie_checker::make_reply(std::span<const uint8_t> msg,
                                                   const endpoint& source,
                                                   clock::time_point now) {
  crypto::mac_tag cookie;
  {
    std::lock_guard guard{mu_};
    cookie = cookie_for(source, now);
  }
  std::array<uint8_t, 64> reply{};
  noise::store_le32(reply.data(), noise::type_cookie_reply);
  // The receiver is the sender index of the message we answer; both
  // initiation and response carry it at offset 4.
  std::memcpy(reply.data() + noise::cookie_receiver, msg.data() + 4, 4);
  std::span<uint8_t> nonce(reply.data() + noise::cookie_nonce, 24);
  crypto::random_bytes(nonce);
  auto mac1 = msg.subspan(mac1_offset(msg.size()), 16);
  crypto::xaead_seal(reply.data() + noise::cookie_payload, cookie_key_, nonce,
                     cookie, mac1);
  return reply;
}

void cookie_generator::set_peer_key(const key& peer_public) {
  mac1_key_ = labelled_key(label_mac1, peer_public);
  cookie_key_ = labelled_key(label_cookie, peer_public);
  last_mac1_.reset();
  cookie_set_.reset();
}

bool cookie_generator::has_fresh_cookie(clock::time_point now) const {
  return cookie_set_ && now - *cookie_set_ <= cookie_refresh_time;
}

void cookie_generator::add_macs(std::span<uint8_t> msg, clock::time_point now) {
  auto m1 = mac1_offset(msg.size());
  auto m2 = mac2_offset(msg.size());
  auto mac1 = crypto::mac(mac1_key_, msg.first(m1));
  std::memcpy(msg.data() + m1, mac1.data(), 16);
  last_mac1_ = mac1;
  if (has_fresh_cookie(now)) {
    auto mac2 = crypto::mac(cookie_, msg.first(m2));
    std::memcpy(msg.data() + m2, mac2.data(), 16);
  } else {
    std::memset(msg.data() + m2, 0, 16);
  }
}

bool cookie_generator::consume_reply(std::span<const uint8_t> reply,
                                     clock::time_point now) {
  if (reply.size() != noise::cookie_reply_size || !last_mac1_)
    return false;
  crypto::mac_tag cookie;
  if (!crypto::xaead_open(
        cookie.data(), cookie_key_, reply.subspan(noise::cookie_nonce, 24),
        reply.subspan(noise::cookie_payload, 32), *last_mac1_))
    return false;
  cookie_ = cookie;
  cookie_set_ = now;
  return true;
}

bool rate_limiter::allow(const ip_address& source, clock::time_point now) {
  using namespace std::chrono;
  constexpr int64_t cost = 1'000'000'000 / packets_per_second;
  constexpr int64_t max_tokens = cost * packets_burstable;
  // One bucket per IPv4 address and per IPv6 /64, which is what one host
  // usually controls.
  ip_address bucket_key = source;
  if (source.is_v6()) {
    std::array<uint8_t, 16> b{};
    std::memcpy(b.data(), source.bytes().data(), 8);
    bucket_key = ip_address::v6(b);
  }
  std::lock_guard guard{mu_};
  collect_garbage(now);
  auto [it, fresh] = buckets_.try_emplace(bucket_key);
  bucket& b = it->second;
  if (fresh) {
    b.tokens_ns = max_tokens - cost;
    b.last = now;
    return true;
  }
  auto elapsed = duration_cast<nanoseconds>(now - b.last).count();
  b.last = now;
  b.tokens_ns
    = std::min(max_tokens, b.tokens_ns + std::max<int64_t>(0, elapsed));
  if (b.tokens_ns >= cost) {
    b.tokens_ns -= cost;
    return true;
  }
  return false;
}

void rate_limiter::collect_garbage(clock::time_point now) {
  // Caller holds mu_. A bucket idle for a second is full again anyway.
  if (last_gc_ && now - *last_gc_ < std::chrono::seconds(1))
    return;
  last_gc_ = now;
  std::erase_if(buckets_, [now](const auto& entry) {
    return now - entry.second.last > std::chrono::seconds(1);
  });
}

std::size_t rate_limiter::tracked_sources() const {
  std::lock_guard guard{mu_};
  return buckets_.size();
}

} // namespace overlayd::wg
