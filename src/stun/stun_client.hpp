#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stun/net_address.hpp"
#include "stun/result.hpp"
#include "stun/stun_message.hpp"

namespace overlayd::stun {

struct stun_server_config {
  std::string address; // "host:port" or a literal socket address
  std::optional<std::string> label;

  // What the reference reports as `ReflexiveAddress.server`.
  const std::string& name() const { return label ? *label : address; }
  friend bool operator==(const stun_server_config&, const stun_server_config&)
    = default;
};

struct reflexive_address {
  udp_endpoint address; // as the server observed our throwaway socket
  std::string server;   // label, or the configured address
};

enum class nat_behavior { endpoint_independent, symmetric };

// Same port everywhere (or fewer than 2 results) => endpoint-independent.
// Meaningless with per-query sockets, kept because the reference exposes it.
nat_behavior detect_nat_behavior(const std::vector<reflexive_address>& rs);

// How a configured STUN address is resolved (§3.4).
struct server_address {
  enum class kind { literal, host_port, invalid };
  kind type = kind::invalid;
  udp_endpoint literal;   // kind::literal
  std::string host;       // kind::host_port, brackets stripped
  std::uint16_t port = 0; // kind::host_port
};
server_address classify_server_address(std::string_view address);

// Name -> first address, or nullopt. Runs on the calling thread.
using resolver_fn = std::function<std::optional<ip_address>(
  const std::string& host, std::uint16_t port)>;
// getaddrinfo(), first result (what Rust's `lookup_host` does).
resolver_fn system_resolver();

struct stun_client_options {
  std::chrono::milliseconds timeout{3000};
  // Physical egress interface to pin query sockets to, asked once per
  // `discover()` pass; an empty/absent answer means "do not pin".
  std::function<std::optional<std::string>()> egress_iface;
  resolver_fn resolver; // empty: bypass_resolver() (dns_resolver.hpp)
  // Called with a warning text for things the reference only logs.
  std::function<void(const std::string&)> warn;
};

struct stun_discovery {
  std::vector<reflexive_address> results; // completion order
  nat_behavior behavior = nat_behavior::endpoint_independent;
};

// Stateless and const after construction, so safe to share across threads.
// Every call blocks the caller for at most about `timeout` (plus DNS).
class stun_client {
public:
  explicit stun_client(std::vector<stun_server_config> servers,
                       stun_client_options options = {});

  // One Binding Request from a fresh socket, one answer or a timeout.
  result<reflexive_address, stun_error>
  query_server(const udp_endpoint& server, const std::string& name,
               const std::optional<std::string>& pin_iface = {}) const;

  // All servers in parallel; results in completion order. Fails with the
  // last error when nothing answered, or no_servers.
  result<stun_discovery, stun_error> discover() const;

  const std::vector<stun_server_config>& servers() const { return servers_; }

private:
  void warn(const std::string& msg) const;

  std::vector<stun_server_config> servers_;
  stun_client_options options_;
};

} // namespace overlayd::stun
