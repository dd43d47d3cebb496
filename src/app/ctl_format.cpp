#include "app/ctl_format.hpp"

#include <algorithm>
#include <vector>

namespace overlayd::app {

namespace {

template <class T>
std::string or_dash(const std::optional<T>& v) {
  if (!v)
    return "-";
  if constexpr (std::is_same_v<T, std::string>)
    return v->empty() ? "-" : *v;
  else
    return v->to_string();
}

std::string dash_if_empty(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string handshake_text(int64_t secs) {
  return secs == 0 ? "never" : std::to_string(secs);
}

} // namespace

std::string format_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string format_status(const ipc::status_snapshot& s) {
  std::string out = format_table({
    {"interface", or_dash(s.interface)},
    {"node ip", or_dash(s.node_ip)},
    {"public key", or_dash(s.public_key)},
    {"overlay cidr", or_dash(s.overlay_cidr)},
    {"slice cidr", or_dash(s.slice_cidr)},
    {"peers", std::to_string(s.peer_count)},
    {"services", std::to_string(s.service_count)},
  });
  if (!s.peers.empty()) {
    std::vector<std::vector<std::string>> rows{
      {"PEER (hex)", "ENDPOINT", "ALLOWED IPS", "LAST HANDSHAKE"}};
    for (const auto& p : s.peers)
      rows.push_back({p.public_key, dash_if_empty(p.endpoint),
                      dash_if_empty(p.allowed_ips),
                      handshake_text(p.last_handshake_unix_secs)});
    out += "\n" + format_table(rows);
  }
  if (!s.dedicated_services.empty()) {
    std::vector<std::vector<std::string>> rows{{"SERVICE", "INTERFACE", "PORT",
                                                "OVERLAY IP", "SUBNET", "PEERS",
                                                "PUBLIC KEY"}};
    for (const auto& d : s.dedicated_services)
      rows.push_back({d.service, d.interface, std::to_string(d.listen_port),
                      d.overlay_ip.to_string(), d.subnet,
                      std::to_string(d.peer_count), d.public_key});
    out += "\n" + format_table(rows);
  }
  return out;
}

std::string format_nat_status(const ipc::nat_status_wire& s, int64_t now_unix) {
  std::string refresh = "never";
  if (s.last_refresh != 0) {
    refresh = std::to_string(s.last_refresh);
    auto age = now_unix - static_cast<int64_t>(s.last_refresh);
    if (age >= 0)
      refresh += " (" + std::to_string(age) + " s ago)";
  }
  std::string out = format_table({
    {"last refresh", refresh},
    {"candidates", std::to_string(s.candidates.size())},
    {"peers", std::to_string(s.peers.size())},
  });
  if (!s.candidates.empty()) {
    std::vector<std::vector<std::string>> rows{{"TYPE", "ADDRESS", "PRIORITY"}};
    for (const auto& c : s.candidates)
      rows.push_back({c.candidate_type, c.address, std::to_string(c.priority)});
    out += "\n" + format_table(rows);
  }
  if (!s.peers.empty()) {
    std::vector<std::vector<std::string>> rows{
      {"PEER", "CONNECTION", "REMOTE ENDPOINT"}};
    for (const auto& p : s.peers)
      rows.push_back(
        {p.node_id, p.connection_type, or_dash(p.remote_endpoint)});
    out += "\n" + format_table(rows);
  }
  return out;
}

} // namespace overlayd::app
