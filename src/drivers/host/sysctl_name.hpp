#pragma once

#include <string>
#include <string_view>

#include "drivers/error.hpp"

namespace overlayd::drivers {

/// Translates a sysctl key into a path relative to the /proc/sys root, with
/// the rules of sysctl(8): the first separator in the key decides its form.
/// - Dotted form (`net.ipv4.ip_forward`): '.' separates components and a '/'
///   stands for a literal '.' inside a component, so the interface `eth0.100`
///   is written `net.ipv6.conf.eth0/100.forwarding` and maps to
///   `net/ipv6/conf/eth0.100/forwarding`.
/// - Slash form (`net/ipv4/ip_forward`): taken as a path unchanged.
/// Rejects empty keys, empty components, `.`/`..` components (which would
/// escape the root) and NUL bytes, naming the key in the error.
result<std::string> sysctl_key_to_path(std::string_view key);

/// The inverse for a relative path: `net/ipv6/conf/eth0.100/forwarding`
/// becomes `net.ipv6.conf.eth0/100.forwarding`. The path must be valid
/// (as produced by `sysctl_key_to_path`).
std::string sysctl_path_to_key(std::string_view path);

/// Escapes one component (an interface name) for the dotted form: every '.'
/// becomes '/'.
std::string sysctl_escape_component(std::string_view component);

/// The key of the per-interface IPv6 forwarding switch,
/// `net.ipv6.conf.<dev>.forwarding`, with dots in `dev` escaped.
std::string ipv6_forwarding_key(std::string_view dev);

/// The key of the global IPv4 forwarding switch, `net.ipv4.ip_forward`.
inline constexpr std::string_view ipv4_forward_key = "net.ipv4.ip_forward";

/// Trims trailing whitespace (the kernel ends every value with '\n').
std::string_view trim_sysctl_value(std::string_view raw);

} // namespace overlayd::drivers
