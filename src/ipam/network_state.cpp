#include "ipam/network_state.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <limits>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace overlayd::ipam {
namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// Thrown only inside this file to unwind a parse; never escapes it.
struct parse_failure {
  std::string reason;
};

[[noreturn]] void fail(std::string reason) {
  throw parse_failure{std::move(reason)};
}

std::string type_of(const json& v) {
  if (v.is_number_float()) {
    return "floating point " + v.dump();
  }
  if (v.is_number_integer() && !v.is_number_unsigned()) {
    return "integer " + v.dump();
  }
  return std::string(v.type_name());
}

template <class T>
T unsigned_field(const json& v, const std::string& where) {
  const auto max = std::numeric_limits<T>::max();
  if (v.is_number_unsigned()) {
    auto n = v.get<std::uint64_t>();
    if (n <= max) {
      return static_cast<T>(n);
    }
  } else if (v.is_number_integer() && v.get<std::int64_t>() == 0) {
    return 0; // "-0"
  }
  fail(where + ": expected an integer in 0.." + std::to_string(max) + ", got "
       + (v.is_number_unsigned() ? v.dump() : type_of(v)));
}

std::string string_field(const json& v, const std::string& where) {
  if (!v.is_string()) {
    fail(where + ": expected a string, got " + type_of(v));
  }
  return v.get<std::string>();
}

std::optional<std::string> optional_string(const json* v,
                                           const std::string& where) {
  if (v == nullptr || v->is_null()) {
    return std::nullopt;
  }
  return string_field(*v, where);
}

// Field lookup over a serde struct that may arrive as an object (by name)
// or an array (by position).
class struct_view {
public:
  struct_view(const json& v, std::vector<std::string_view> fields,
              std::string where)
    : v_(v), fields_(std::move(fields)), where_(std::move(where)) {
    if (v.is_array() && v.size() > fields_.size()) {
      fail(where_ + ": invalid length " + std::to_string(v.size())
           + ", expected at most " + std::to_string(fields_.size())
           + " elements");
    }
    if (!v.is_object() && !v.is_array()) {
      fail(where_ + ": expected an object, got " + type_of(v));
    }
  }

  // nullptr when absent.
  const json* find(std::string_view field) const {
    if (v_.is_object()) {
      auto it = v_.find(field);
      return it == v_.end() ? nullptr : &*it;
    }
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (fields_[i] == field) {
        return i < v_.size() ? &v_[i] : nullptr;
      }
    }
    return nullptr;
  }

  const json& require(std::string_view field) const {
    const json* v = find(field);
    if (v == nullptr) {
      fail(where_ + ": missing field `" + std::string(field) + "`");
    }
    return *v;
  }

  std::string at(std::string_view field) const {
    return where_ + "." + std::string(field);
  }

private:
  const json& v_;
  std::vector<std::string_view> fields_;
  std::string where_;
};

managed_network parse_network(const json& v, const std::string& where) {
  const struct_view s(v,
                      {"owner", "kind", "name", "id", "subnet", "wg_port",
                       "wg_private_key", "wg_public_key", "interface"},
                      where);
  managed_network n;
  n.owner = string_field(s.require("owner"), s.at("owner"));
  n.kind = string_field(s.require("kind"), s.at("kind"));
  n.name = string_field(s.require("name"), s.at("name"));
  n.id = string_field(s.require("id"), s.at("id"));
  n.subnet = string_field(s.require("subnet"), s.at("subnet"));
  if (const json* port = s.find("wg_port"); port && !port->is_null()) {
    n.wg_port = unsigned_field<std::uint16_t>(*port, s.at("wg_port"));
  }
  n.wg_private_key
    = optional_string(s.find("wg_private_key"), s.at("wg_private_key"));
  n.wg_public_key
    = optional_string(s.find("wg_public_key"), s.at("wg_public_key"));
  n.interface = optional_string(s.find("interface"), s.at("interface"));
  return n;
}

network_state parse_state(const json& v) {
  const struct_view s(v, {"version", "networks"}, "marker");
  network_state st;
  if (const json* version = s.find("version")) {
    // `#[serde(default)]` covers a missing key only; null is a type error.
    st.version = unsigned_field<std::uint32_t>(*version, s.at("version"));
  }
  if (const json* nets = s.find("networks")) {
    if (!nets->is_array()) {
      fail(s.at("networks") + ": expected an array, got " + type_of(*nets));
    }
    for (std::size_t i = 0; i < nets->size(); ++i) {
      st.networks.push_back(parse_network(
        (*nets)[i], s.at("networks") + "[" + std::to_string(i) + "]"));
    }
  }
  return st;
}

std::string errno_text(int err) {
  return std::strerror(err);
}

// Writes all of `data` to `fd`, retrying short writes and EINTR.
bool write_all(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  return true;
}

class fd_guard {
public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  // Closes now and reports close()'s verdict (it can carry a write error).
  bool close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }

private:
  int fd_;
};

net::unexpected<error> io_error(const std::string& what,
                                const std::filesystem::path& p, int err) {
  return make_error(errc::io, "failed to " + what + " network-state marker "
                                + p.string() + ": " + errno_text(err));
}

} // namespace

std::string owner_for_service(std::string_view service) {
  return "service:" + std::string(service);
}

std::string owner_for_isolation_network(std::string_view network) {
  return "iso:" + std::string(network);
}

managed_network dedicated_network_entry(std::string_view service,
                                        const std::string& interface,
                                        const net::cidr& subnet,
                                        std::uint16_t wg_port,
                                        const std::string& private_key,
                                        const std::string& public_key) {
  managed_network n;
  n.owner = owner_for_service(service);
  n.kind = std::string(kind_wg_dedicated);
  n.name = interface;
  n.id = public_key;
  n.subnet = subnet.to_string();
  n.wg_port = wg_port;
  n.wg_private_key = private_key;
  n.wg_public_key = public_key;
  n.interface = interface;
  return n;
}

const managed_network* network_state::get(std::string_view owner) const {
  for (const auto& n : networks) {
    if (n.owner == owner) {
      return &n;
    }
  }
  return nullptr;
}

void network_state::upsert(managed_network net) {
  for (auto& n : networks) {
    if (n.owner == net.owner) {
      n = std::move(net);
      return;
    }
  }
  networks.push_back(std::move(net));
}

std::optional<managed_network> network_state::remove(std::string_view owner) {
  for (auto it = networks.begin(); it != networks.end(); ++it) {
    if (it->owner == owner) {
      auto out = std::move(*it);
      networks.erase(it);
      return out;
    }
  }
  return std::nullopt;
}

std::vector<std::uint16_t> network_state::dedicated_ports() const {
  std::vector<std::uint16_t> out;
  for (const auto& n : networks) {
    if (n.owner.starts_with("service:") && n.wg_port) {
      out.push_back(*n.wg_port);
    }
  }
  return out;
}

std::string network_state::to_json() const {
  ordered_json root = ordered_json::object();
  root["version"] = version;
  auto nets = ordered_json::array();
  for (const auto& n : networks) {
    ordered_json o = ordered_json::object();
    o["owner"] = n.owner;
    o["kind"] = n.kind;
    o["name"] = n.name;
    o["id"] = n.id;
    o["subnet"] = n.subnet;
    if (n.wg_port) {
      o["wg_port"] = *n.wg_port;
    }
    if (n.wg_private_key) {
      o["wg_private_key"] = *n.wg_private_key;
    }
    if (n.wg_public_key) {
      o["wg_public_key"] = *n.wg_public_key;
    }
    if (n.interface) {
      o["interface"] = *n.interface;
    }
    nets.push_back(std::move(o));
  }
  root["networks"] = std::move(nets);
  // Rust strings are always UTF-8; replace rather than throw if one of ours
  // is not.
  return root.dump(2, ' ', false, ordered_json::error_handler_t::replace);
}

result<network_state> network_state::from_json(std::string_view text) {
  // serde_json rejects a byte-order mark; nlohmann would skip it.
  if (text.starts_with("\xEF\xBB\xBF")) {
    return make_error(errc::corrupt, "unexpected byte-order mark");
  }
  // serde rejects duplicate fields; nlohmann keeps the last one, so track
  // the keys of every open object.
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto on_event = [&](int, json::parse_event_t ev, json& parsed) {
    switch (ev) {
    case json::parse_event_t::object_start:
      open_objects.emplace_back();
      break;
    case json::parse_event_t::object_end:
      open_objects.pop_back();
      break;
    case json::parse_event_t::key:
      if (!open_objects.back().insert(parsed.get<std::string>()).second
          && duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
      break;
    default:
      break;
    }
    return true;
  };
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), on_event);
  } catch (const json::exception& e) {
    return make_error(errc::corrupt, e.what());
  }
  if (!duplicate.empty()) {
    return make_error(errc::corrupt, "duplicate field `" + duplicate + "`");
  }
  try {
    return parse_state(doc);
  } catch (const parse_failure& f) {
    return make_error(errc::corrupt, f.reason);
  }
}

std::filesystem::path marker_path(const std::filesystem::path& data_dir) {
  return data_dir / "agent_network.json";
}

std::filesystem::path marker_temp_path(const std::filesystem::path& marker) {
  auto tmp = marker;
  tmp.replace_extension(".json.tmp");
  return tmp;
}

result<network_state> read_marker(const std::filesystem::path& marker) {
  int fd = ::open(marker.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      return network_state{};
    }
    return io_error("open", marker, errno);
  }
  fd_guard guard(fd);
  std::string text;
  char buf[8192];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return io_error("read", marker, errno);
    }
    if (n == 0) {
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  auto parsed = network_state::from_json(text);
  if (!parsed) {
    return make_error(errc::corrupt, "corrupt network-state marker "
                                       + marker.string() + ": "
                                       + parsed.error().message);
  }
  return parsed;
}

network_state load_marker(const std::filesystem::path& marker,
                          std::optional<error>* problem) {
  auto r = read_marker(marker);
  if (r) {
    return std::move(r).value();
  }
  if (problem != nullptr) {
    *problem = r.error();
  }
  return network_state{};
}

result<void> save_marker(const std::filesystem::path& marker,
                         const network_state& state) {
  const auto dir = marker.has_parent_path() ? marker.parent_path()
                                            : std::filesystem::path(".");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return make_error(errc::io,
                      "failed to create directory " + dir.string()
                        + " for network-state marker: " + ec.message());
  }

  const auto tmp = marker_temp_path(marker);
  const std::string text = state.to_json();
  {
    int fd
      = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      return io_error("create temp file for", tmp, errno);
    }
    fd_guard guard(fd);
    // A stale temp file from an older run may carry a wider mode.
    if (::fchmod(fd, 0600) != 0 || !write_all(fd, text) || ::fsync(fd) != 0
        || !guard.close()) {
      int err = errno;
      ::unlink(tmp.c_str());
      return io_error("write", tmp, err);
    }
  }
  if (::rename(tmp.c_str(), marker.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_error("rename temp file over", marker, err);
  }
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    return io_error("open directory of", marker, errno);
  }
  fd_guard dguard(dfd);
  if (::fsync(dfd) != 0) {
    return io_error("fsync directory of", marker, errno);
  }
  return {};
}

} // namespace overlayd::ipam
