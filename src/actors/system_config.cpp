#include "actors/system_config.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/timespan.hpp>

#include "actors/atoms.hpp"
#include "actors/errors.hpp"

namespace overlayd::actors {

void configure(caf::actor_system_config& cfg, std::size_t workers) {
  if (workers == 0)
    workers = std::max<std::size_t>(2, std::thread::hardware_concurrency());
  cfg.set("scheduler.max-threads", static_cast<int64_t>(workers));
  // An idle CAF 0.17 worker polls its queue with uninterruptible sleeps
  // (50 us by default, plus Linux's 50 us timer slack) before it blocks, so
  // a request arriving from the socket thread waited up to ~100 us. 5 us
  // (~55 us with the slack) roughly halves that; the polling phase stays
  // bounded (500 rounds), then the worker blocks and an enqueue wakes it.
  // Lowering the timer slack as well made the hop ~20 us but the polling
  // then ate the CPU the rest of the process needs (measured on 2 cores).
  cfg.set("work-stealing.moderate-sleep-duration",
          caf::timespan{std::chrono::microseconds(5)});
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
