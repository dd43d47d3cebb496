#include "ipam/subnet_registry.hpp"

#include <nlohmann/json.hpp>

#include <limits>

namespace overlayd::ipam {
namespace {

constexpr std::uint64_t fnv_offset = 0xcbf29ce484222325ULL;
constexpr std::uint64_t fnv_prime = 0x100000001b3ULL;

void fnv_mix(std::uint64_t& h, unsigned char byte) noexcept {
  h ^= byte;
  h *= fnv_prime;
}

net::unexpected<error> invalid_cidr(const std::string& what) {
  return make_error(errc::invalid_cidr, "Invalid CIDR notation: " + what);
}

result<void> check_prefixes(const net::cidr& cluster, unsigned slice_prefix) {
  const auto p = std::to_string(slice_prefix);
  if (slice_prefix <= cluster.prefix()) {
    return invalid_cidr("slice prefix /" + p + " must be more specific than "
                        + "cluster prefix /"
                        + std::to_string(cluster.prefix()));
  }
  if (slice_prefix > cluster.address().bits()) {
    return invalid_cidr("slice prefix /" + p + " exceeds address family max /"
                        + std::to_string(cluster.address().bits()));
  }
  return {};
}

registry_snapshot::key make_key(std::string_view service,
                                std::string_view node) {
  return {std::string(service), std::string(node)};
}

} // namespace

std::uint64_t hash_service_node(std::string_view service,
                                std::string_view node) noexcept {
  std::uint64_t h = fnv_offset;
  for (unsigned char b : service) {
    fnv_mix(h, b);
  }
  fnv_mix(h, 0x1f); // ("ab","c") and ("a","bc") must differ
  for (unsigned char b : node) {
    fnv_mix(h, b);
  }
  return h;
}

result<service_subnet_registry>
service_subnet_registry::make(net::cidr cluster, unsigned slice_prefix) {
  if (auto ok = check_prefixes(cluster, slice_prefix); !ok) {
    return net::unexpected(ok.error());
  }
  return service_subnet_registry(cluster, slice_prefix);
}

result<service_subnet_registry>
service_subnet_registry::for_cluster(net::cidr cluster) {
  return make(cluster, default_slice_prefix(cluster));
}

std::uint64_t service_subnet_registry::capacity() const noexcept {
  const unsigned bits = slice_prefix_ - cluster_.prefix();
  return bits >= 64 ? std::numeric_limits<std::uint64_t>::max()
                    : std::uint64_t{1} << bits;
}

net::cidr
service_subnet_registry::slice_at(std::uint64_t index) const noexcept {
  const unsigned shift = cluster_.address().bits() - slice_prefix_;
  const auto base = cluster_.network();
  net::ip_address addr;
  if (base.is_v4()) {
    // Truncated to 32 bits and wrapping, as in the reference.
    const auto offset = static_cast<std::uint32_t>(index) << shift;
    addr = net::ip_address::v4(base.to_v4_uint() + offset);
  } else {
    addr = net::ip_address::v6(base.to_uint() + (net::uint128{index} << shift));
  }
  return *net::cidr::make(addr, slice_prefix_);
}

bool service_subnet_registry::usable(const net::cidr& slice) const {
  if (by_slice_.contains(slice)) {
    return false;
  }
  for (const auto& ip : reserved_) {
    if (slice.contains(ip)) {
      return false;
    }
  }
  return true;
}

std::optional<net::cidr>
service_subnet_registry::first_free(std::string_view service,
                                    std::string_view node) const {
  const std::uint64_t n = capacity();
  const std::uint64_t start = hash_service_node(service, node) % n;
  // Every slice is tried at most once; the bound also ends the scan when
  // all are taken.
  const std::uint64_t limit
    = std::min<std::uint64_t>(n, by_slice_.size() + reserved_.size() + 1);
  for (std::uint64_t i = 0; i < limit; ++i) {
    auto slice = slice_at((start + i) % n);
    if (usable(slice)) {
      return slice;
    }
  }
  return std::nullopt;
}

result<net::cidr> service_subnet_registry::assign(std::string_view service,
                                                  std::string_view node) {
  auto k = make_key(service, node);
  if (auto it = by_key_.find(k); it != by_key_.end()) {
    return it->second;
  }
  auto slice = first_free(service, node);
  if (!slice) {
    return make_error(errc::exhausted,
                      "ServiceSubnetRegistry::assign(" + k.first + ", "
                        + k.second
                        + ") failed: No available IP addresses in CIDR range",
                      wire_kind::overlay);
  }
  by_slice_.emplace(*slice, k);
  by_key_.emplace(std::move(k), *slice);
  return *slice;
}

std::optional<net::cidr>
service_subnet_registry::probe(std::string_view service,
                               std::string_view node) const {
  if (auto existing = get(service, node)) {
    return existing;
  }
  return first_free(service, node);
}

std::optional<net::cidr>
service_subnet_registry::release(std::string_view service,
                                 std::string_view node) {
  auto it = by_key_.find(make_key(service, node));
  if (it == by_key_.end()) {
    return std::nullopt;
  }
  auto slice = it->second;
  by_slice_.erase(slice);
  by_key_.erase(it);
  return slice;
}

std::optional<net::cidr>
service_subnet_registry::get(std::string_view service,
                             std::string_view node) const {
  auto it = by_key_.find(make_key(service, node));
  if (it == by_key_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::optional<service_subnet_registry::key>
service_subnet_registry::owner_of(const net::cidr& slice) const {
  auto it = by_slice_.find(slice);
  if (it == by_slice_.end()) {
    return std::nullopt;
  }
  return it->second;
}

registry_snapshot service_subnet_registry::snapshot() const {
  registry_snapshot snap;
  snap.cluster_cidr = cluster_;
  snap.slice_prefix = slice_prefix_;
  // std::map iterates in (service, node) order already.
  for (const auto& [k, slice] : by_key_) {
    snap.assignments.emplace_back(k, slice);
  }
  return snap;
}

result<service_subnet_registry>
service_subnet_registry::restore(const registry_snapshot& snap) {
  auto made = make(snap.cluster_cidr, snap.slice_prefix);
  if (!made) {
    return made;
  }
  auto& reg = *made;
  for (const auto& [k, slice] : snap.assignments) {
    const auto s = slice.to_string();
    if (slice.prefix() != snap.slice_prefix) {
      return make_error(errc::invalid_cidr,
                        "Invalid CIDR notation: assigned slice " + s
                          + " does not match configured prefix /"
                          + std::to_string(snap.slice_prefix));
    }
    if (!snap.cluster_cidr.contains(slice.network())) {
      return make_error(errc::invalid_cidr,
                        "Invalid CIDR notation: assigned slice " + s
                          + " is not contained in cluster CIDR "
                          + snap.cluster_cidr.to_string());
    }
    const auto normal = slice.trunc();
    if (auto other = reg.by_slice_.find(normal); other != reg.by_slice_.end()) {
      return make_error(errc::invalid_cidr,
                        "Invalid CIDR notation: assigned slice " + s
                          + " is assigned to both (" + other->second.first
                          + ", " + other->second.second + ") and (" + k.first
                          + ", " + k.second + ")");
    }
    if (!reg.by_key_.emplace(k, normal).second) {
      return make_error(errc::invalid_cidr, "Invalid CIDR notation: key ("
                                              + k.first + ", " + k.second
                                              + ") is assigned twice");
    }
    reg.by_slice_.emplace(normal, k);
  }
  return made;
}

std::string registry_snapshot::to_json() const {
  auto assigned = nlohmann::ordered_json::array();
  for (const auto& [k, slice] : assignments) {
    assigned.push_back({{k.first, k.second}, slice.to_string()});
  }
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  root["cluster_cidr"] = cluster_cidr.to_string();
  root["slice_prefix"] = slice_prefix;
  root["assignments"] = std::move(assigned);
  return root.dump(-1, ' ', false,
                   nlohmann::ordered_json::error_handler_t::replace);
}

result<registry_snapshot> registry_snapshot::from_json(std::string_view text) {
  using json = nlohmann::json;
  auto corrupt = [](const std::string& why) {
    return make_error(errc::corrupt, "invalid registry snapshot: " + why);
  };
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) {
    return corrupt("not valid JSON");
  }
  if (!doc.is_object()) {
    return corrupt("expected an object");
  }
  auto cluster = doc.find("cluster_cidr");
  auto prefix = doc.find("slice_prefix");
  auto assigned = doc.find("assignments");
  if (cluster == doc.end() || !cluster->is_string()) {
    return corrupt("`cluster_cidr` must be a CIDR string");
  }
  if (prefix == doc.end() || !prefix->is_number_unsigned()
      || prefix->get<std::uint64_t>() > 255) {
    return corrupt("`slice_prefix` must be an integer 0..255");
  }
  if (assigned == doc.end() || !assigned->is_array()) {
    return corrupt("`assignments` must be an array");
  }
  registry_snapshot snap;
  auto c = net::cidr::parse(cluster->get<std::string>());
  if (!c) {
    return corrupt("cluster_cidr " + cluster->get<std::string>() + ": "
                   + c.error());
  }
  snap.cluster_cidr = *c;
  snap.slice_prefix = prefix->get<unsigned>();
  for (const auto& entry : *assigned) {
    const bool shape_ok = entry.is_array() && entry.size() == 2
                          && entry[0].is_array() && entry[0].size() == 2
                          && entry[0][0].is_string() && entry[0][1].is_string()
                          && entry[1].is_string();
    if (!shape_ok) {
      return corrupt("each assignment must be [[service, node], cidr], got "
                     + entry.dump());
    }
    auto slice = net::cidr::parse(entry[1].get<std::string>());
    if (!slice) {
      return corrupt("slice " + entry[1].get<std::string>() + ": "
                     + slice.error());
    }
    snap.assignments.push_back(
      {{entry[0][0].get<std::string>(), entry[0][1].get<std::string>()},
       *slice});
  }
  return snap;
}

} // namespace overlayd::ipam
