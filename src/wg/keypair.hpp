#pragma once

#include "wg/clock.hpp"
#include "wg/crypto.hpp"
#include "wg/replay_window.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>

namespace overlayd::wg {

struct peer;

/// One transport session: the keys from a completed handshake, the send
/// counter and the receive replay window. Immutable apart from the counter
/// (atomic) and the window (own lock), so packets can be sealed and opened
/// in parallel without the peer lock.
struct keypair {
  crypto::digest send_key{};
  crypto::digest receive_key{};
  uint32_t local_index = 0;
  uint32_t remote_index = 0;
  bool initiator = false;
  clock::time_point created;
  std::atomic<uint64_t> send_counter{0};

  std::mutex replay_mu;
  replay_window replay;

  keypair() = default;
  keypair(const keypair&) = delete;
  keypair& operator=(const keypair&) = delete;
  ~keypair() {
    crypto::wipe(send_key.data(), send_key.size());
    crypto::wipe(receive_key.data(), receive_key.size());
  }
};

} // namespace overlayd::wg
