#pragma once

#include "wg/endpoint.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace overlayd::wg {

/// A CIDR prefix such as 10.0.0.0/24 or fd00::/64.
struct allowed_ip {
  ip_address address;
  uint8_t cidr = 0;

  /// "10.0.0.0/24", "fd00::/64"; a bare address means a host route.
  /// Rejects a prefix length beyond the family's bit length.
  static std::optional<allowed_ip> parse(std::string_view text);
  /// The same prefix with the host bits cleared.
  allowed_ip masked() const;
  std::string to_string() const;

  friend auto operator<=>(const allowed_ip&, const allowed_ip&) = default;
};

/// Cryptokey routing table: a path-compressed binary trie per address
/// family mapping prefixes to an owner (a peer). Lookups return the owner of
/// the longest matching prefix. Not synchronised: the engine guards it.
template <class Owner>
class allowed_ips_trie {
public:
  /// Inserts or re-assigns `prefix` (host bits ignored) to `owner`; like
  /// WireGuard, re-adding a prefix owned by another peer moves it. Returns
  /// the previous owner, if the prefix had one.
  std::optional<Owner> insert(const allowed_ip& prefix, Owner owner);
  /// Removes `prefix` only if `owner` owns it; returns whether it did.
  bool remove(const allowed_ip& prefix, const Owner& owner);
  /// Removes every prefix owned by `owner`.
  void remove_all(const Owner& owner);
  /// Owner of the longest prefix containing `address`, if any.
  std::optional<Owner> lookup(const ip_address& address) const;
  /// Every prefix owned by `owner`, IPv4 first, in trie order.
  std::vector<allowed_ip> prefixes_of(const Owner& owner) const;
  /// Number of prefixes stored.
  std::size_t size() const { return size_; }

private:
  struct node {
    std::array<uint8_t, 16> bits{};
    uint8_t cidr = 0;
    bool has_owner = false;
    Owner owner{};
    std::unique_ptr<node> child[2];
  };

  std::unique_ptr<node>& root_for(const ip_address& a) {
    return a.is_v4() ? v4_ : v6_;
  }
  bool remove_rec(std::unique_ptr<node>& slot,
                  const std::array<uint8_t, 16>& bits, uint8_t cidr,
                  const Owner& owner);
  void remove_all_rec(std::unique_ptr<node>& slot, const Owner& owner);
  static void collect(const node* n, bool v6, const Owner& owner,
                      std::vector<allowed_ip>& out);
  static void compact(std::unique_ptr<node>& slot);

  std::unique_ptr<node> v4_;
  std::unique_ptr<node> v6_;
  std::size_t size_ = 0;
};

} // namespace overlayd::wg

// ---- implementation ------------------------------------------------------

namespace overlayd::wg::detail {

inline int prefix_bit(const std::array<uint8_t, 16>& bits, unsigned i) {
  return (bits[i / 8] >> (7 - i % 8)) & 1;
}

/// Number of leading bits `a` and `b` share, at most `limit`.
inline unsigned common_bits(const std::array<uint8_t, 16>& a,
                            const std::array<uint8_t, 16>& b, unsigned limit) {
  unsigned n = 0;
  for (unsigned byte = 0; n < limit; ++byte, n += 8) {
    uint8_t diff = a[byte] ^ b[byte];
    if (diff != 0) {
      n += static_cast<unsigned>(__builtin_clz(diff)) - 24;
      break;
    }
  }
  return n < limit ? n : limit;
}

inline std::array<uint8_t, 16> mask_bits(const std::array<uint8_t, 16>& a,
                                         unsigned cidr) {
  std::array<uint8_t, 16> out{};
  for (unsigned i = 0; i < 16; ++i) {
    if (cidr >= (i + 1) * 8)
      out[i] = a[i];
    else if (cidr > i * 8)
      out[i] = a[i] & static_cast<uint8_t>(0xff << (8 - (cidr - i * 8)));
  }
  return out;
}

inline std::array<uint8_t, 16> address_bits(const ip_address& a) {
  std::array<uint8_t, 16> out{};
  auto raw = a.bytes();
  std::copy(raw.begin(), raw.end(), out.begin());
  return out;
}

} // namespace overlayd::wg::detail

namespace overlayd::wg {

template <class Owner>
std::optional<Owner> allowed_ips_trie<Owner>::insert(const allowed_ip& prefix,
                                                     Owner owner) {
  auto bit_len = static_cast<unsigned>(prefix.address.bit_length());
  unsigned cidr = prefix.cidr > bit_len ? bit_len : prefix.cidr;
  auto key = detail::mask_bits(detail::address_bits(prefix.address), cidr);
  auto make = [&] {
    auto n = std::make_unique<node>();
    n->bits = key;
    n->cidr = static_cast<uint8_t>(cidr);
    n->has_owner = true;
    n->owner = owner;
    ++size_;
    return n;
  };
  std::unique_ptr<node>* slot = &root_for(prefix.address);
  for (;;) {
    node* n = slot->get();
    if (n == nullptr) {
      *slot = make();
      return std::nullopt;
    }
    unsigned limit = n->cidr < cidr ? n->cidr : cidr;
    unsigned common = detail::common_bits(n->bits, key, limit);
    if (common == n->cidr && n->cidr == cidr) {
      std::optional<Owner> previous;
      if (n->has_owner)
        previous = n->owner;
      else
        ++size_;
      n->has_owner = true;
      n->owner = owner;
      return previous;
    }
    if (common == n->cidr) {
      // n is a strict prefix of the new key: descend.
      slot = &n->child[detail::prefix_bit(key, n->cidr)];
      continue;
    }
    if (common == cidr) {
      // The new key is a strict prefix of n: it becomes n's parent.
      auto fresh = make();
      fresh->child[detail::prefix_bit(n->bits, cidr)] = std::move(*slot);
      *slot = std::move(fresh);
      return std::nullopt;
    }
    // They diverge at bit `common`: join them under an ownerless node.
    auto glue = std::make_unique<node>();
    glue->bits = detail::mask_bits(key, common);
    glue->cidr = static_cast<uint8_t>(common);
    auto fresh = make();
    int fresh_side = detail::prefix_bit(key, common);
    glue->child[1 - fresh_side] = std::move(*slot);
    glue->child[fresh_side] = std::move(fresh);
    *slot = std::move(glue);
    return std::nullopt;
  }
}

template <class Owner>
void allowed_ips_trie<Owner>::compact(std::unique_ptr<node>& slot) {
  node* n = slot.get();
  if (n == nullptr || n->has_owner)
    return;
  if (!n->child[0] && !n->child[1]) {
    slot.reset();
  } else if (!n->child[0] || !n->child[1]) {
    auto only = std::move(n->child[0] ? n->child[0] : n->child[1]);
    slot = std::move(only);
  }
}

template <class Owner>
bool allowed_ips_trie<Owner>::remove_rec(std::unique_ptr<node>& slot,
                                         const std::array<uint8_t, 16>& bits,
                                         uint8_t cidr, const Owner& owner) {
  node* n = slot.get();
  if (n == nullptr || n->cidr > cidr
      || detail::common_bits(n->bits, bits, n->cidr) < n->cidr)
    return false;
  bool removed = false;
  if (n->cidr == cidr) {
    if (!n->has_owner || !(n->owner == owner))
      return false;
    n->has_owner = false;
    n->owner = Owner{};
    --size_;
    removed = true;
  } else {
    removed = remove_rec(n->child[detail::prefix_bit(bits, n->cidr)], bits,
                         cidr, owner);
  }
  if (removed)
    compact(slot);
  return removed;
}

template <class Owner>
bool allowed_ips_trie<Owner>::remove(const allowed_ip& prefix,
                                     const Owner& owner) {
  auto bit_len = static_cast<unsigned>(prefix.address.bit_length());
  unsigned cidr = prefix.cidr > bit_len ? bit_len : prefix.cidr;
  auto key = detail::mask_bits(detail::address_bits(prefix.address), cidr);
  return remove_rec(root_for(prefix.address), key, static_cast<uint8_t>(cidr),
                    owner);
}

template <class Owner>
void allowed_ips_trie<Owner>::remove_all_rec(std::unique_ptr<node>& slot,
                                             const Owner& owner) {
  node* n = slot.get();
  if (n == nullptr)
    return;
  remove_all_rec(n->child[0], owner);
  remove_all_rec(n->child[1], owner);
  if (n->has_owner && n->owner == owner) {
    n->has_owner = false;
    n->owner = Owner{};
    --size_;
  }
  compact(slot);
}

template <class Owner>
void allowed_ips_trie<Owner>::remove_all(const Owner& owner) {
  remove_all_rec(v4_, owner);
  remove_all_rec(v6_, owner);
}

template <class Owner>
std::optional<Owner>
allowed_ips_trie<Owner>::lookup(const ip_address& address) const {
  auto key = detail::address_bits(address);
  const node* n = address.is_v4() ? v4_.get() : v6_.get();
  auto bit_len = static_cast<unsigned>(address.bit_length());
  const node* best = nullptr;
  while (n != nullptr
         && detail::common_bits(n->bits, key, n->cidr) == n->cidr) {
    if (n->has_owner)
      best = n;
    if (n->cidr >= bit_len)
      break;
    n = n->child[detail::prefix_bit(key, n->cidr)].get();
  }
  if (best == nullptr)
    return std::nullopt;
  return best->owner;
}

template <class Owner>
void allowed_ips_trie<Owner>::collect(const node* n, bool v6,
                                      const Owner& owner,
                                      std::vector<allowed_ip>& out) {
  if (n == nullptr)
    return;
  if (n->has_owner && n->owner == owner) {
    allowed_ip entry;
    if (v6) {
      entry.address = ip_address::v6(n->bits);
    } else {
      entry.address
        = ip_address::v4({n->bits[0], n->bits[1], n->bits[2], n->bits[3]});
    }
    entry.cidr = n->cidr;
    out.push_back(entry);
  }
  collect(n->child[0].get(), v6, owner, out);
  collect(n->child[1].get(), v6, owner, out);
}

template <class Owner>
std::vector<allowed_ip>
allowed_ips_trie<Owner>::prefixes_of(const Owner& owner) const {
  std::vector<allowed_ip> out;
  collect(v4_.get(), false, owner, out);
  collect(v6_.get(), true, owner, out);
  return out;
}

} // namespace overlayd::wg
