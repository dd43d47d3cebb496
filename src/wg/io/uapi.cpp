#include "wg/io/uapi.hpp"

#include <charconv>
#include <limits>

namespace overlayd::wg::uapi {

namespace {

io_error invalid(std::string message) {
  return io_error{err_invalid, std::move(message)};
}

// Decimal digits only, like Go's strconv.ParseUint(s, 10, bits).
template <class T>
std::optional<T> parse_unsigned(std::string_view text) {
  if (text.empty())
    return std::nullopt;
  for (char c : text)
    if (c < '0' || c > '9')
      return std::nullopt;
  T value{};
  auto [ptr, ec]
    = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size())
    return std::nullopt;
  return value;
}

std::optional<key> parse_hex_key(std::string_view text) {
  if (text.size() != 2 * key::size)
    return std::nullopt;
  return key::from_hex(text);
}

std::optional<allowed_ip> parse_prefix(std::string_view text) {
  // Like Go's netip.ParsePrefix the length is mandatory.
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash + 1 == text.size())
    return std::nullopt;
  if (!parse_unsigned<unsigned>(text.substr(slash + 1)))
    return std::nullopt;
  return allowed_ip::parse(text);
}

result<void> parse_interface_line(std::string_view name, std::string_view value,
                                  set_request& req) {
  if (name == "private_key") {
    auto k = parse_hex_key(value);
    if (!k)
      return invalid("invalid private_key: not 64 hex digits");
    req.private_key = *k;
  } else if (name == "listen_port") {
    auto port = parse_unsigned<std::uint16_t>(value);
    if (!port)
      return invalid("invalid listen_port '" + std::string{value} + "'");
    req.listen_port = *port;
  } else if (name == "fwmark") {
    auto mark = parse_unsigned<std::uint32_t>(value);
    if (!mark)
      return invalid("invalid fwmark '" + std::string{value} + "'");
    req.fwmark = *mark;
  } else if (name == "replace_peers") {
    if (value != "true")
      return invalid("invalid replace_peers value '" + std::string{value}
                     + "'");
    req.replace_peers = true;
  } else {
    return invalid("invalid UAPI device key '" + std::string{name} + "'");
  }
  return {};
}

result<void> parse_peer_line(std::string_view name, std::string_view value,
                             peer_change& peer) {
  if (name == "update_only") {
    if (value != "true")
      return invalid("invalid update_only value '" + std::string{value} + "'");
    peer.update_only = true;
  } else if (name == "remove") {
    if (value != "true")
      return invalid("invalid remove value '" + std::string{value} + "'");
    peer.remove = true;
  } else if (name == "preshared_key") {
    auto k = parse_hex_key(value);
    if (!k)
      return invalid("invalid preshared_key: not 64 hex digits");
    peer.preshared_key = *k;
  } else if (name == "endpoint") {
    auto ep = endpoint::parse(value);
    if (!ep)
      return invalid("invalid endpoint '" + std::string{value} + "'");
    peer.endpoint = *ep;
  } else if (name == "persistent_keepalive_interval") {
    auto secs = parse_unsigned<std::uint16_t>(value);
    if (!secs)
      return invalid("invalid persistent_keepalive_interval '"
                     + std::string{value} + "'");
    peer.persistent_keepalive = *secs;
  } else if (name == "replace_allowed_ips") {
    if (value != "true")
      return invalid("invalid replace_allowed_ips value '" + std::string{value}
                     + "'");
    // Edits before the replace are wiped by it.
    peer.replace_allowed_ips = true;
    peer.allowed_ips.clear();
  } else if (name == "allowed_ip") {
    bool remove = !value.empty() && value.front() == '-';
    auto prefix = parse_prefix(remove ? value.substr(1) : value);
    if (!prefix)
      return invalid("invalid allowed_ip '" + std::string{value} + "'");
    peer.allowed_ips.push_back({prefix->masked(), remove});
  } else if (name == "protocol_version") {
    if (value != "1")
      return invalid("invalid protocol_version '" + std::string{value} + "'");
  } else {
    return invalid("invalid UAPI peer key '" + std::string{name} + "'");
  }
  return {};
}

} // namespace

result<set_request> parse_set(std::string_view body) {
  set_request req;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto end = body.find('\n', pos);
    if (end == std::string_view::npos)
      end = body.size();
    auto line = body.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty())
      break; // an empty line ends the operation
    auto eq = line.find('=');
    if (eq == std::string_view::npos)
      return io_error{err_protocol,
                      "malformed UAPI line '" + std::string{line} + "'"};
    auto name = line.substr(0, eq);
    auto value = line.substr(eq + 1);
    if (name == "public_key") {
      auto k = parse_hex_key(value);
      if (!k)
        return invalid("invalid public_key: not 64 hex digits");
      req.peers.push_back(peer_change{});
      req.peers.back().public_key = *k;
      continue;
    }
    auto res = req.peers.empty()
                 ? parse_interface_line(name, value, req)
                 : parse_peer_line(name, value, req.peers.back());
    if (!res)
      return res.error();
  }
  return req;
}

std::string format_get(const device_state& state) {
  std::string out;
  out.reserve(128 + state.peers.size() * 320);
  auto line = [&out](std::string_view name, const std::string& value) {
    out.append(name).append("=").append(value).append("\n");
  };
  if (!state.private_key.is_zero())
    line("private_key", state.private_key.to_hex());
  if (state.listen_port != 0)
    line("listen_port", std::to_string(state.listen_port));
  if (state.fwmark != 0)
    line("fwmark", std::to_string(state.fwmark));
  for (const auto& p : state.peers) {
    line("public_key", p.public_key.to_hex());
    line("preshared_key", p.preshared_key.to_hex());
    line("protocol_version", "1");
    if (p.endpoint)
      line("endpoint", p.endpoint->to_string());
    line("last_handshake_time_sec", std::to_string(p.last_handshake_sec));
    line("last_handshake_time_nsec", std::to_string(p.last_handshake_nsec));
    line("tx_bytes", std::to_string(p.tx_bytes));
    line("rx_bytes", std::to_string(p.rx_bytes));
    line("persistent_keepalive_interval",
         std::to_string(p.persistent_keepalive));
    for (const auto& a : p.allowed_ips)
      line("allowed_ip", a.to_string());
  }
  return out;
}

std::string format_errno(int code) {
  return code == 0 ? std::string{"errno=0\n\n"}
                   : "errno=-" + std::to_string(code) + "\n\n";
}

} // namespace overlayd::wg::uapi
