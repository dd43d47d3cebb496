#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "stun/net_address.hpp"
#include "stun/stun_client.hpp"

namespace overlayd::stun {

// The resolver STUN names go through (§3.4): the real upstream servers,
// bypassing a local stub (possibly our own overlay DNS forwarder, which
// may not work before the overlay does), then the system resolver.

// `nameserver` lines of the first file that has a non-loopback one
// (systemd-resolved's upstream list first, then /etc/resolv.conf).
std::vector<udp_endpoint> resolv_conf_upstreams(
  const std::vector<std::string>& paths
  = {"/run/systemd/resolve/resolv.conf", "/etc/resolv.conf"});

// Used when no upstream is configured: Cloudflare and Google.
std::vector<udp_endpoint> public_dns_fallback();

// One A query, then AAAA if there was no A record (IPv4 first, as the
// reference's resolver does); the first address wins. Servers are tried in
// order, each with `timeout`.
std::optional<ip_address>
dns_lookup_first(const std::string& name,
                 const std::vector<udp_endpoint>& servers,
                 std::chrono::milliseconds timeout = std::chrono::seconds(2));

// dns_lookup_first through `upstreams` (empty: resolv.conf, else the
// public fallback), then getaddrinfo().
resolver_fn bypass_resolver(std::vector<udp_endpoint> upstreams = {},
                            std::chrono::milliseconds timeout
                            = std::chrono::seconds(2));

// Wire helpers, exposed for tests.
std::vector<std::uint8_t>
build_dns_query(std::uint16_t id, const std::string& name, std::uint16_t qtype);
std::optional<ip_address> parse_dns_answer(const std::uint8_t* data,
                                           std::size_t len, std::uint16_t id,
                                           std::uint16_t qtype);

} // namespace overlayd::stun
