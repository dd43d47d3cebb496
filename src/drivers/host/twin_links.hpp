#pragma once

// The twin's link_driver and namespace handle (internal to twin.cpp files).

#include <memory>

#include "drivers/host/twin_state.hpp"

namespace overlayd::drivers::twin_detail {

/// A namespace pinned in the twin: holds the namespace alive and remembers
/// how it was reached.
class twin_netns_handle final : public netns_handle {
public:
  twin_netns_handle(std::shared_ptr<core> c, netns_spec spec,
                    std::shared_ptr<netns> ns)
    : core_(std::move(c)), spec_(std::move(spec)), ns_(std::move(ns)) {
    // nop
  }

  const netns_spec& spec() const noexcept override { return spec_; }
  bool origin_alive() const override;
  /// As `origin_alive`, with `core::mtx` already held.
  bool origin_alive_locked() const;
  const std::shared_ptr<netns>& ns() const noexcept { return ns_; }

private:
  std::shared_ptr<core> core_;
  netns_spec spec_;
  std::shared_ptr<netns> ns_;
};

/// Makes the link driver of one twin namespace; `origin` is set for drivers
/// obtained through `enter_netns` (their calls fail once it is gone).
std::unique_ptr<link_driver>
make_twin_link_driver(std::shared_ptr<core> c, std::shared_ptr<netns> ns,
                      std::shared_ptr<twin_netns_handle> origin);

} // namespace overlayd::drivers::twin_detail
