#pragma once

#include "drivers/error.hpp"

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <variant>
#include <vector>

namespace overlayd::drivers {

// -- value types --------------------------------------------------------------

/// Longest interface name the kernel accepts (IFNAMSIZ - 1).
inline constexpr std::size_t max_ifname_len = 15;

/// Checks an interface name the way the kernel does (dev_valid_name): not
/// empty, at most 15 bytes, not "." or "..", no '/', ':' or whitespace, no
/// NUL. Returns an `invalid_argument` error naming the bad input and the
/// operation `op`.
status validate_ifname(std::string_view name, std::string_view op);

/// An IPv4 or IPv6 address (no prefix, no scope id).
struct ip_address {
  enum class family_t : std::uint8_t { v4 = 4, v6 = 6 };

  family_t family = family_t::v4;
  /// Network byte order; only the first 4 bytes are used for v4.
  std::array<std::uint8_t, 16> bytes{};

  static ip_address v4(std::uint8_t a, std::uint8_t b, std::uint8_t c,
                       std::uint8_t d);
  /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text ("10.0.0.1", "fd00::1").
  static result<ip_address> parse(std::string_view text);

  bool is_v6() const noexcept { return family == family_t::v6; }
  /// 4 or 16.
  std::size_t size() const noexcept { return is_v6() ? 16 : 4; }
  /// AF_INET or AF_INET6.
  int af() const noexcept;
  /// 32 or 128.
  unsigned max_prefix() const noexcept { return is_v6() ? 128 : 32; }
  /// Canonical text ("10.0.0.1", "fd00::1").
  std::string to_string() const;

  friend bool operator==(const ip_address&, const ip_address&) = default;
  friend auto operator<=>(const ip_address&, const ip_address&) = default;
};

/// An address assigned to a link.
struct address_info {
  ip_address address;
  std::uint8_t prefix_len = 0;

  friend bool operator==(const address_info&, const address_info&) = default;
  friend auto operator<=>(const address_info&, const address_info&) = default;
};

/// One link as the kernel reports it.
struct link_info {
  std::string name;
  int index = 0;
  /// IFLA_INFO_KIND: "bridge", "veth", "tun", "dummy"...; empty when the
  /// link has no kind (e.g. "lo").
  std::string kind;
  std::uint32_t mtu = 0;
  /// IFF_* flags as reported (ifi_flags).
  std::uint32_t flags = 0;
  /// Administratively up (IFF_UP).
  bool up = false;
  /// ifindex of the master (bridge), 0 when not enslaved.
  int master_index = 0;
  /// Name of the master, empty when not enslaved.
  std::string master;
  /// Addresses of every family, sorted.
  std::vector<address_info> addresses;
};

/// A route in the main table (254).
struct route_info {
  ip_address destination;
  std::uint8_t destination_len = 0;
  std::optional<ip_address> gateway;
  /// Output device name (RTA_OIF), empty when none.
  std::string device;
  std::optional<ip_address> preferred_source;
  /// RT_SCOPE_* (0 universe, 253 link, 254 host).
  std::uint8_t scope = 0;
  /// RTPROT_* (4 static, 2 kernel...).
  std::uint8_t protocol = 0;
  /// RTA_PRIORITY, 0 when absent.
  std::uint32_t metric = 0;

  friend bool operator==(const route_info&, const route_info&) = default;
};

/// Which network namespace to open: the one of a process, or a named one
/// (a bind mount such as `/var/run/netns/<name>`; tests use these).
struct netns_spec {
  std::variant<pid_t, std::string> where;

  static netns_spec of_pid(pid_t pid) { return {pid}; }
  static netns_spec at_path(std::string path) { return {std::move(path)}; }
  /// "pid 42" or "/var/run/netns/x", for messages.
  std::string describe() const;
};

/// A namespace pinned once (the real backend keeps the opened fd): moving
/// links into it and entering it always reach the same namespace even if the
/// process exits or the name is removed meanwhile. Obtained from
/// `link_driver::pin_netns` and only usable with the driver that made it.
class netns_handle {
public:
  virtual ~netns_handle() = default;
  /// What was opened ("pid 42", "/var/run/netns/x").
  virtual const netns_spec& spec() const noexcept = 0;
  /// False once the origin no longer refers to the pinned namespace: the
  /// process exited (or its pid was reused), or the name was removed.
  virtual bool origin_alive() const = 0;
};

// -- the interface ------------------------------------------------------------

/// Link, address, route and namespace operations on one network namespace.
///
/// Every name is validated with `validate_ifname` before the kernel sees it.
/// Idempotence (spec dataplane.md §4.2, §4.3, §13.7) is part of the contract
/// and is what both backends implement:
///
/// | operation                  | missing / existing                        |
/// |----------------------------|-------------------------------------------|
/// | delete_link                | missing link: success                     |
/// | create_bridge              | existing link of that name: success       |
/// | create_veth_pair           | either name exists: already_exists error  |
/// | set_link_up/down, set_mtu  | missing link: not_found error             |
/// | add_address                | existing address: already_exists error    |
/// | delete_address             | missing address or link: success          |
/// | flush_addresses            | missing link: not_found error             |
/// | add_default_route_via_gw   | a default route exists: already_exists    |
/// | add_route_via_dev          | existing route: already_exists error      |
/// | replace_route_via_dev      | existing route: replaced, success         |
/// | delete_route_via_dev       | missing route or dev: success             |
/// | set_master                 | either link missing: not_found error      |
/// | bridge_member_count        | missing link: 0                           |
///
/// Implementations are thread-safe: calls may come from several threads.
class link_driver {
public:
  virtual ~link_driver() = default;

  // -- links ------------------------------------------------------------------

  /// The link named `name`; `not_found` if there is none.
  virtual result<link_info> get_link(std::string_view name) = 0;
  /// True iff a link of that name exists.
  virtual result<bool> link_exists(std::string_view name) = 0;
  /// Every link of the namespace, ordered by ifindex.
  virtual result<std::vector<link_info>> list_links() = 0;

  /// Creates a bridge, down, STP off. An existing link of that name is
  /// success (its type is not checked, as the reference does).
  virtual status create_bridge(std::string_view name) = 0;
  /// Turns STP on or off on an existing bridge; `not_found` if missing,
  /// `invalid_argument` if the link is not a bridge.
  virtual status set_bridge_stp(std::string_view name, bool on) = 0;
  /// Creates a veth pair. The `peer` end is created up, the `host` end down
  /// (as the reference does). `already_exists` if either name is taken.
  virtual status create_veth_pair(std::string_view host, std::string_view peer)
    = 0;
  /// Deletes a link (a veth pair goes with either end). Missing is success.
  virtual status delete_link(std::string_view name) = 0;

  virtual status set_link_up(std::string_view name) = 0;
  virtual status set_link_down(std::string_view name) = 0;
  virtual status set_mtu(std::string_view name, std::uint32_t mtu) = 0;
  /// Enslaves `link` to `bridge` (IFLA_MASTER).
  virtual status set_master(std::string_view link, std::string_view bridge) = 0;
  /// Number of links whose master is `bridge`; 0 when `bridge` is missing.
  virtual result<std::size_t> bridge_member_count(std::string_view bridge) = 0;

  // -- addresses --------------------------------------------------------------

  /// Adds `address/prefix_len` (v4 gets the broadcast address).
  virtual status add_address(std::string_view link, const ip_address& address,
                             std::uint8_t prefix_len)
    = 0;
  virtual status delete_address(std::string_view link,
                                const ip_address& address,
                                std::uint8_t prefix_len)
    = 0;
  /// Removes every address (both families) from the link.
  virtual status flush_addresses(std::string_view link) = 0;

  // -- routes (main table) ----------------------------------------------------

  /// `default via gateway` (family from the gateway), no output device.
  virtual status add_default_route_via_gateway(const ip_address& gateway) = 0;
  /// `destination/len dev device` scope link, proto static, CREATE|EXCL.
  virtual status add_route_via_dev(const ip_address& destination,
                                   std::uint8_t destination_len,
                                   std::string_view device)
    = 0;
  /// Creates or replaces `destination/len dev device [src source]`, scope
  /// link, proto static. A family mismatch between destination and source is
  /// `invalid_argument` with no kernel call.
  virtual status replace_route_via_dev(const ip_address& destination,
                                       std::uint8_t destination_len,
                                       std::string_view device,
                                       const std::optional<ip_address>& source)
    = 0;
  /// Deletes `destination/len dev device`; missing route or device is
  /// success.
  virtual status delete_route_via_dev(const ip_address& destination,
                                      std::uint8_t destination_len,
                                      std::string_view device)
    = 0;
  /// The main table's routes of both families (no local/broadcast table).
  virtual result<std::vector<route_info>> list_routes() = 0;

  // -- namespaces -------------------------------------------------------------

  /// Opens and pins a namespace. A missing pid or path is `namespace_gone`
  /// naming the pid or path.
  virtual result<std::shared_ptr<netns_handle>>
  pin_netns(const netns_spec& spec) = 0;
  /// Moves `link` into `target` and renames it `new_name` there (one
  /// RTM_SETLINK), so that no other name ever appears in the target. The
  /// link arrives down. `not_found` if `link` is missing, `already_exists`
  /// if `new_name` is taken in the target (the link then stays where it
  /// was), `namespace_gone` if the target's origin disappeared.
  virtual status move_link_to_netns(std::string_view link,
                                    const netns_handle& target,
                                    std::string_view new_name)
    = 0;
  /// A driver whose every call runs inside `target` (the real backend uses a
  /// dedicated thread; the caller's thread never changes namespace). Each of
  /// its calls fails with `namespace_gone` once the origin has disappeared.
  virtual result<std::unique_ptr<link_driver>>
  enter_netns(std::shared_ptr<netns_handle> target) = 0;
};

/// Runs `work` with a driver inside `target` and returns its status: the
/// `with_netns` of the reference.
status with_netns(link_driver& driver, std::shared_ptr<netns_handle> target,
                  const std::function<status(link_driver&)>& work);

} // namespace overlayd::drivers
