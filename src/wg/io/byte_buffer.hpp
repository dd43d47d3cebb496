#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace overlayd::wg {

/// A fixed-size byte buffer that is not zero-filled, so large packet
/// buffers only cost resident memory once traffic touches them.
class byte_buffer {
public:
  byte_buffer() = default;
  explicit byte_buffer(std::size_t size)
    : data_(std::make_unique_for_overwrite<std::uint8_t[]>(size)), size_(size) {
    // nop
  }
  std::uint8_t* data() noexcept { return data_.get(); }
  const std::uint8_t* data() const noexcept { return data_.get(); }
  std::size_t size() const noexcept { return size_; }

private:
  std::unique_ptr<std::uint8_t[]> data_;
  std::size_t size_ = 0;
};

} // namespace overlayd::wg
