#pragma once

// Noise_IKpsk2 handshake of WireGuard (whitepaper section 5.4): message
// layouts, the initiator and responder state machine and the derivation of
// transport keys. Pure functions over explicit state; the engine supplies
// locking, index allocation and MACs (cookie.hpp).

#include "wg/clock.hpp"
#include "wg/crypto.hpp"
#include "wg/key.hpp"
#include "wg/tai64n.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace overlayd::wg::noise {

enum message_type : uint32_t {
  type_initiation = 1,
  type_response = 2,
  type_cookie_reply = 3,
  type_transport = 4,
};

// Exact wire sizes; anything else is dropped.
inline constexpr std::size_t initiation_size = 148;
inline constexpr std::size_t response_size = 92;
inline constexpr std::size_t cookie_reply_size = 64;
inline constexpr std::size_t transport_header_size = 16;
inline constexpr std::size_t keepalive_size = transport_header_size + 16;

// Field offsets.
inline constexpr std::size_t init_sender = 4;
inline constexpr std::size_t init_ephemeral = 8;
inline constexpr std::size_t init_static = 40;    // 32 + 16 tag
inline constexpr std::size_t init_timestamp = 88; // 12 + 16 tag
inline constexpr std::size_t resp_sender = 4;
inline constexpr std::size_t resp_receiver = 8;
inline constexpr std::size_t resp_ephemeral = 12;
inline constexpr std::size_t resp_empty = 44; // 0 + 16 tag
inline constexpr std::size_t cookie_receiver = 4;
inline constexpr std::size_t cookie_nonce = 8;
inline constexpr std::size_t cookie_payload = 32; // 16 + 16 tag
inline constexpr std::size_t data_receiver = 4;
inline constexpr std::size_t data_counter = 8;

uint32_t load_le32(const uint8_t* p);
uint64_t load_le64(const uint8_t* p);
void store_le32(uint8_t* p, uint32_t v);
void store_le64(uint8_t* p, uint64_t v);

/// This device's static key pair and what can be precomputed from it.
struct identity {
  bool valid = false;
  key private_key;
  key public_key;
  crypto::digest initial_hash{}; // HASH(HASH(C0 || ID) || Spub_ours)

  void set(const std::optional<key>& private_key);
};

/// Per-peer secrets: the peer's static key, the preshared key and the
/// precomputed static-static DH.
struct peer_secrets {
  key remote_static;
  key preshared; // all zero when none is configured
  bool static_static_ok = false;
  crypto::digest static_static{};
  crypto::digest initial_hash{}; // HASH(HASH(C0 || ID) || Spub_peer)

  void recompute(const identity& self);
  ~peer_secrets();
};

/// One peer's handshake in progress.
struct handshake {
  enum class stage : uint8_t {
    zeroed,
    initiation_created,
    initiation_consumed,
    response_created,
    response_consumed,
  };
  stage state = stage::zeroed;
  crypto::digest hash{};
  crypto::digest chain_key{};
  key ephemeral_private;
  key remote_ephemeral;
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  // Replay and flood protection survive clear().
  tai64n last_timestamp{};
  std::optional<clock::time_point> last_initiation_consumed;

  /// Forgets the session in progress and wipes its secrets.
  void clear();
  ~handshake();
};

/// Initiator: writes a 148-byte initiation (MACs left zero) and moves the
/// handshake to initiation_created. False when the identity or the peer's
/// static key is unusable.
bool create_initiation(const identity& self, const peer_secrets& peer,
                       handshake& hs, uint32_t local_index, const tai64n& now,
                       std::span<uint8_t> out);

/// Responder, first half: authenticates the initiator's static key without
/// knowing the peer yet.
struct initiation_claim {
  key remote_static;
  key remote_ephemeral;
  crypto::digest hash{};
  crypto::digest chain_key{};
  uint32_t sender_index = 0;
  ~initiation_claim();
};
std::optional<initiation_claim>
open_initiation_static(const identity& self, std::span<const uint8_t> msg);

enum class consume_status { ok, bad, replay, flood };
/// Responder, second half with the peer found: checks the timestamp, the
/// TAI64N replay rule and the initiation flood limit, then records the
/// initiation in `hs` (initiation_consumed). `hs` is untouched on failure.
consume_status finish_initiation(const initiation_claim& claim,
                                 std::span<const uint8_t> msg,
                                 const peer_secrets& peer, handshake& hs,
                                 clock::time_point now);

/// Responder: writes a 92-byte response (MACs left zero) to the consumed
/// initiation and moves to response_created.
bool create_response(const peer_secrets& peer, handshake& hs,
                     uint32_t local_index, std::span<uint8_t> out);

/// Initiator: checks a response addressed to hs.local_index and moves to
/// response_consumed. `hs` is untouched on failure.
bool consume_response(const identity& self, const peer_secrets& peer,
                      handshake& hs, std::span<const uint8_t> msg);

struct session_keys {
  crypto::digest send{};
  crypto::digest receive{};
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  bool initiator = false;
  ~session_keys();
};
/// Derives the transport keys once the handshake is complete on this side
/// (response_consumed or response_created) and clears the handshake.
std::optional<session_keys> derive_session(handshake& hs);

} // namespace overlayd::wg::noise
