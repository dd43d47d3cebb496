#include "ipc/messages.hpp"

#include "ipc/wire_tags.hpp"

#include <array>

namespace overlayd::ipc {

namespace {

// The tables live in wire_tags.hpp, shared with the decoder.
static_assert(detail::request_tags.size() == std::variant_size_v<request>);
static_assert(detail::response_tags.size() == std::variant_size_v<response>);

} // namespace

std::string_view to_string(overlay_mode mode) noexcept {
  switch (mode) {
  case overlay_mode::shared:
    return "shared";
  case overlay_mode::dedicated:
    return "dedicated";
  case overlay_mode::automatic:
    break;
  }
  return "auto";
}

std::optional<overlay_mode> parse_overlay_mode(std::string_view text) noexcept {
  if (text == "auto" || text == "isolated")
    return overlay_mode::automatic;
  if (text == "shared")
    return overlay_mode::shared;
  if (text == "dedicated")
    return overlay_mode::dedicated;
  return std::nullopt;
}

std::string_view op_name(const request& r) noexcept {
  return detail::request_tags[r.index()];
}

std::string_view result_name(const response& r) noexcept {
  return detail::response_tags[r.index()];
}

} // namespace overlayd::ipc
