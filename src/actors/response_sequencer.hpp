#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

namespace overlayd::actors {

/// Puts one connection's outputs back into arrival order (design §3 rule 1:
/// the ZLayer client waits for its own id and skips others, so a response
/// that overtakes an earlier one would hang it).
template <class T>
class response_sequencer {
public:
  using slot = uint64_t;

  /// Reserves the next slot, in the order requests arrive.
  slot reserve() { return next_reserved_++; }

  /// Stores the output for `s` and returns every output that may leave now,
  /// in order. Filling a slot twice or one never reserved is ignored.
  std::vector<T> fill(slot s, T value) {
    std::vector<T> ready;
    if (s < next_out_ || s >= next_reserved_)
      return ready;
    held_.emplace(s, std::move(value));
    for (auto i = held_.begin(); i != held_.end() && i->first == next_out_;) {
      ready.push_back(std::move(i->second));
      i = held_.erase(i);
      ++next_out_;
    }
    return ready;
  }

  /// Number of reserved slots whose output has not left yet.
  size_t outstanding() const { return next_reserved_ - next_out_; }

private:
  slot next_reserved_ = 0;
  slot next_out_ = 0;
  std::map<slot, T> held_;
};

} // namespace overlayd::actors
