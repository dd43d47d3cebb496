#include "wg/noise.hpp"

#include <cstring>

namespace overlayd::wg::noise {

namespace {

using crypto::bytes;
using crypto::digest;

constexpr std::string_view construction
  = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
constexpr std::string_view identifier = "WireGuard v1 zx2c4 Jason@zx2c4.com";

bytes as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

bytes as_bytes(const key& k) {
  return {k.data(), key::size};
}

// C0 = HASH(CONSTRUCTION) and H0 = HASH(C0 || IDENTIFIER), computed once.
const digest& initial_chain_key() {
  static const digest c0 = crypto::hash({as_bytes(construction)});
  return c0;
}

const digest& initial_hash_seed() {
  static const digest h0
    = crypto::hash({initial_chain_key(), as_bytes(identifier)});
  return h0;
}

void mix_hash(digest& h, bytes data) {
  h = crypto::hash({h, data});
}

// Zeroes a digest when it leaves scope, so early returns leak nothing.
struct scoped_digest {
  digest value{};
  ~scoped_digest() { crypto::wipe(value.data(), value.size()); }
};

key new_ephemeral() {
  return key::generate_private();
}

} // namespace

uint32_t load_le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8
         | static_cast<uint32_t>(p[2]) << 16
         | static_cast<uint32_t>(p[3]) << 24;
}

uint64_t load_le64(const uint8_t* p) {
  return static_cast<uint64_t>(load_le32(p))
         | static_cast<uint64_t>(load_le32(p + 4)) << 32;
}

void store_le32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void store_le64(uint8_t* p, uint64_t v) {
  store_le32(p, static_cast<uint32_t>(v));
  store_le32(p + 4, static_cast<uint32_t>(v >> 32));
}

void identity::set(const std::optional<key>& k) {
  if (!k || k->is_zero()) {
    valid = false;
    private_key.wipe();
    public_key = key{};
    initial_hash = {};
    return;
  }
  valid = true;
  private_key = *k;
  public_key = k->public_from_private();
  initial_hash = crypto::hash({initial_hash_seed(), as_bytes(public_key)});
}

void peer_secrets::recompute(const identity& self) {
  initial_hash = crypto::hash({initial_hash_seed(), as_bytes(remote_static)});
  static_static_ok
    = self.valid && crypto::dh(static_static, self.private_key, remote_static);
  if (!static_static_ok)
    static_static = {};
}

peer_secrets::~peer_secrets() {
  preshared.wipe();
  crypto::wipe(static_static.data(), static_static.size());
}

void handshake::clear() {
  state = stage::zeroed;
  crypto::wipe(hash.data(), hash.size());
  crypto::wipe(chain_key.data(), chain_key.size());
  ephemeral_private.wipe();
  remote_ephemeral = key{};
  local_index = 0;
  remote_index = 0;
}

handshake::~handshake() {
  clear();
}

initiation_claim::~initiation_claim() {
  crypto::wipe(hash.data(), hash.size());
  crypto::wipe(chain_key.data(), chain_key.size());
}

session_keys::~session_keys() {
  crypto::wipe(send.data(), send.size());
  crypto::wipe(receive.data(), receive.size());
}

bool create_initiation(const identity& self, const peer_secrets& peer,
                       handshake& hs, uint32_t local_index, const tai64n& now,
                       std::span<uint8_t> out) {
  if (!self.valid || !peer.static_static_ok || out.size() != initiation_size)
    return false;
  digest h = peer.initial_hash;
  digest c = initial_chain_key();
  key eph = new_ephemeral();
  key eph_pub = eph.public_from_private();

  std::memset(out.data(), 0, out.size());
  store_le32(out.data(), type_initiation);
  store_le32(out.data() + init_sender, local_index);
  std::memcpy(out.data() + init_ephemeral, eph_pub.data(), key::size);
  crypto::kdf(c, as_bytes(eph_pub), &c);
  mix_hash(h, as_bytes(eph_pub));

  scoped_digest k;
  scoped_digest shared;
  if (!crypto::dh(shared.value, eph, peer.remote_static))
    return false;
  crypto::kdf(c, shared.value, &c, &k.value);
  crypto::aead_seal(out.data() + init_static, k.value, 0,
                    as_bytes(self.public_key), h);
  mix_hash(h, {out.data() + init_static, key::size + 16});

  crypto::kdf(c, peer.static_static, &c, &k.value);
  crypto::aead_seal(out.data() + init_timestamp, k.value, 0, now, h);
  mix_hash(h, {out.data() + init_timestamp, now.size() + 16});

  hs.state = handshake::stage::initiation_created;
  hs.hash = h;
  hs.chain_key = c;
  hs.ephemeral_private = eph;
  hs.local_index = local_index;
  hs.remote_index = 0;
  eph.wipe();
  crypto::wipe(c.data(), c.size());
  return true;
}

std::optional<initiation_claim>
open_initiation_static(const identity& self, std::span<const uint8_t> msg) {
  if (!self.valid || msg.size() != initiation_size
      || load_le32(msg.data()) != type_initiation)
    return std::nullopt;
  initiation_claim claim;
  claim.sender_index = load_le32(msg.data() + init_sender);
  std::memcpy(claim.remote_ephemeral.data(), msg.data() + init_ephemeral,
              key::size);
  digest& h = claim.hash;
  digest& c = claim.chain_key;
  h = self.initial_hash;
  c = initial_chain_key();
  crypto::kdf(c, as_bytes(claim.remote_ephemeral), &c);
  mix_hash(h, as_bytes(claim.remote_ephemeral));

  scoped_digest shared;
  scoped_digest k;
  if (!crypto::dh(shared.value, self.private_key, claim.remote_ephemeral))
    return std::nullopt;
  crypto::kdf(c, shared.value, &c, &k.value);
  bytes sealed{msg.data() + init_static, key::size + 16};
  if (!crypto::aead_open(claim.remote_static.data(), k.value, 0, sealed, h))
    return std::nullopt;
  mix_hash(h, sealed);
  return claim;
}

consume_status finish_initiation(const initiation_claim& claim,
                                 std::span<const uint8_t> msg,
                                 const peer_secrets& peer, handshake& hs,
                                 clock::time_point now) {
  if (!peer.static_static_ok || msg.size() != initiation_size)
    return consume_status::bad;
  digest h = claim.hash;
  scoped_digest c;
  c.value = claim.chain_key;
  scoped_digest k;
  crypto::kdf(c.value, peer.static_static, &c.value, &k.value);
  bytes sealed{msg.data() + init_timestamp, tai64n{}.size() + 16};
  tai64n stamp;
  if (!crypto::aead_open(stamp.data(), k.value, 0, sealed, h))
    return consume_status::bad;
  mix_hash(h, sealed);

  // A recorded initiation must not be replayed, and a peer may not make
  // us do DH work more often than 50 times a second.
  if (!tai64n_after(stamp, hs.last_timestamp))
    return consume_status::replay;
  if (hs.last_initiation_consumed
      && now - *hs.last_initiation_consumed
           <= std::chrono::milliseconds(1000 / 50))
    return consume_status::flood;

  hs.state = handshake::stage::initiation_consumed;
  hs.hash = h;
  hs.chain_key = c.value;
  hs.remote_ephemeral = claim.remote_ephemeral;
  hs.remote_index = claim.sender_index;
  hs.last_timestamp = stamp;
  hs.last_initiation_consumed = now;
  return consume_status::ok;
}

bool create_response(const peer_secrets& peer, handshake& hs,
                     uint32_t local_index, std::span<uint8_t> out) {
  if (hs.state != handshake::stage::initiation_consumed
      || out.size() != response_size)
    return false;
  digest h = hs.hash;
  scoped_digest c;
  c.value = hs.chain_key;
  key eph = new_ephemeral();
  key eph_pub = eph.public_from_private();

  std::memset(out.data(), 0, out.size());
  store_le32(out.data(), type_response);
  store_le32(out.data() + resp_sender, local_index);
  store_le32(out.data() + resp_receiver, hs.remote_index);
  std::memcpy(out.data() + resp_ephemeral, eph_pub.data(), key::size);
  crypto::kdf(c.value, as_bytes(eph_pub), &c.value);
  mix_hash(h, as_bytes(eph_pub));

  scoped_digest shared;
  bool ok = crypto::dh(shared.value, eph, hs.remote_ephemeral);
  if (ok) {
    crypto::kdf(c.value, shared.value, &c.value);
    ok = crypto::dh(shared.value, eph, peer.remote_static);
  }
  eph.wipe();
  if (!ok)
    return false;
  crypto::kdf(c.value, shared.value, &c.value);

  scoped_digest tau;
  scoped_digest k;
  crypto::kdf(c.value, as_bytes(peer.preshared), &c.value, &tau.value,
              &k.value);
  mix_hash(h, tau.value);
  crypto::aead_seal(out.data() + resp_empty, k.value, 0, {}, h);
  mix_hash(h, {out.data() + resp_empty, 16});

  hs.state = handshake::stage::response_created;
  hs.hash = h;
  hs.chain_key = c.value;
  hs.local_index = local_index;
  return true;
}

bool consume_response(const identity& self, const peer_secrets& peer,
                      handshake& hs, std::span<const uint8_t> msg) {
  if (!self.valid || msg.size() != response_size
      || load_le32(msg.data()) != type_response
      || hs.state != handshake::stage::initiation_created
      || load_le32(msg.data() + resp_receiver) != hs.local_index)
    return false;
  digest h = hs.hash;
  scoped_digest c;
  c.value = hs.chain_key;
  key remote_eph;
  std::memcpy(remote_eph.data(), msg.data() + resp_ephemeral, key::size);
  crypto::kdf(c.value, as_bytes(remote_eph), &c.value);
  mix_hash(h, as_bytes(remote_eph));

  scoped_digest shared;
  if (!crypto::dh(shared.value, hs.ephemeral_private, remote_eph))
    return false;
  crypto::kdf(c.value, shared.value, &c.value);
  if (!crypto::dh(shared.value, self.private_key, remote_eph))
    return false;
  crypto::kdf(c.value, shared.value, &c.value);

  scoped_digest tau;
  scoped_digest k;
  crypto::kdf(c.value, as_bytes(peer.preshared), &c.value, &tau.value,
              &k.value);
  mix_hash(h, tau.value);
  bytes sealed{msg.data() + resp_empty, 16};
  uint8_t nothing[1];
  if (!crypto::aead_open(nothing, k.value, 0, sealed, h))
    return false;
  mix_hash(h, sealed);

  hs.state = handshake::stage::response_consumed;
  hs.hash = h;
  hs.chain_key = c.value;
  hs.remote_ephemeral = remote_eph;
  hs.remote_index = load_le32(msg.data() + resp_sender);
  return true;
}

std::optional<session_keys> derive_session(handshake& hs) {
  bool initiator = hs.state == handshake::stage::response_consumed;
  if (!initiator && hs.state != handshake::stage::response_created)
    return std::nullopt;
  session_keys keys;
  scoped_digest first;
  scoped_digest second;
  crypto::kdf(hs.chain_key, {}, &first.value, &second.value);
  keys.send = initiator ? first.value : second.value;
  keys.receive = initiator ? second.value : first.value;
  keys.local_index = hs.local_index;
  keys.remote_index = hs.remote_index;
  keys.initiator = initiator;
  hs.clear();
  return keys;
}

} // namespace overlayd::wg::noise
