#include "actors/errors.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/to_string.hpp>

namespace overlayd::actors {

caf::error make_overlay_error(std::string message) {
  return caf::make_error(ec::overlay, std::move(message));
}

caf::error make_other_error(std::string message) {
  return caf::make_error(ec::other, std::move(message));
}

std::string wire_message(const caf::error& err) {
  if (err.category() == caf::atom("overlayd")) {
    std::string text;
    const auto& ctx = err.context();
    if (ctx.match_elements<std::string>())
      text = ctx.get_as<std::string>(0);
    if (static_cast<ec>(err.code()) == ec::overlay)
      return "overlay engine error: " + text;
    return text;
  }
  return "internal error: " + caf::to_string(err);
}

} // namespace overlayd::actors
