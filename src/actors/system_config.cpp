#include "actors/system_config.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>

#include "actors/atoms.hpp"
#include "actors/errors.hpp"

namespace overlayd::actors {

void configure(caf::actor_system_config& cfg, std::size_t workers) {
  if (workers == 0)
    workers = std::max<std::size_t>(2, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<int64_t>(workers));
  // An idle CAF 0.17 worker spins (100 polls), then polls with sleeps
  // (500 x 50 us, plus Linux's 50 us timer slack), and only then blocks on
  // a condition variable that an enqueue signals. The sleeping phase costs
  // a context switch per round and delays a request from the socket thread
  // by up to a whole round. Skipping it (spin, then block) measured on 2
  // busy cores: one connection p50 80-87 us -> 26-30 us; 8 connections
  // server CPU per request 21-22 us -> 15-17 us, req/s up 0-30%
  // (bench/replay/run.sh BUILD 3 1 and 3 8). Shorter sleeps instead (5 us)
  // were worse, and lowering the timer slack made the polling eat the CPU.
  cfg.set("work-stealing.moderate-poll-attempts", int64_t{0});
  cfg.add_message_types<caf::id_block::overlayd>();
  cfg.add_error_category(
    caf::atom("overlayd"),
    [](uint8_t code, caf::atom_value, const caf::message& ctx) {
      std::string text;
      if (ctx.match_elements<std::string>())
        text = ctx.get_as<std::string>(0);
      return std::string{static_cast<ec>(code) == ec::overlay ? "overlay"
                                                              : "other"}
             + ": " + text;
    });
}

} // namespace overlayd::actors
