#include "wg/timers.hpp"

#include "wg/crypto.hpp"

namespace overlayd::wg {

std::chrono::nanoseconds peer_timers::rekey_timeout_with_jitter() {
  auto jitter = std::chrono::milliseconds(
    crypto::random_uniform(limits::rekey_timeout_jitter_max_ms));
  return limits::rekey_timeout + jitter;
}

void peer_timers::on_data_sent(time_point now) {
  // Expect an answer within KEEPALIVE + REKEY_TIMEOUT, else re-handshake.
  if (!new_handshake)
    new_handshake
      = now + limits::keepalive_timeout + rekey_timeout_with_jitter();
}

void peer_timers::on_data_received(time_point now) {
  if (!send_keepalive)
    send_keepalive = now + limits::keepalive_timeout;
  else
    need_another_keepalive = true;
}

void peer_timers::on_any_authenticated_packet_sent() {
  send_keepalive.reset();
}

void peer_timers::on_any_authenticated_packet_received() {
  new_handshake.reset();
}

void peer_timers::on_any_authenticated_packet_traversal(
  time_point now, uint16_t keepalive_interval) {
  if (keepalive_interval > 0)
    persistent_keepalive = now + std::chrono::seconds(keepalive_interval);
}

void peer_timers::on_handshake_initiated(time_point now) {
  retransmit_handshake = now + rekey_timeout_with_jitter();
}

void peer_timers::on_handshake_complete() {
  retransmit_handshake.reset();
  handshake_attempts = 0;
  sent_last_minute_handshake = false;
}

void peer_timers::on_session_derived(time_point now) {
  zero_key_material = now + 3 * limits::reject_after_time;
}

std::optional<peer_timers::time_point> peer_timers::earliest() const {
  std::optional<time_point> best;
  for (const auto* t : {&retransmit_handshake, &send_keepalive, &new_handshake,
                        &zero_key_material, &persistent_keepalive}) {
    if (*t && (!best || **t < *best))
      best = *t;
  }
  return best;
}

void peer_timers::stop_all() {
  retransmit_handshake.reset();
  send_keepalive.reset();
  new_handshake.reset();
  zero_key_material.reset();
  persistent_keepalive.reset();
}

} // namespace overlayd::wg
