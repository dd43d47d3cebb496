#include "app/daemon_config.hpp"

#include <fstream>
#include <sstream>

#include <toml++/toml.h>

namespace overlayd::app {

namespace {

std::string where(const std::string& origin, const toml::source_region& src) {
  return origin + ":" + std::to_string(src.begin.line) + ":"
         + std::to_string(src.begin.column);
}

using error = net::unexpected<std::string>;

// Applies one `[section]` table; `apply` handles a key and returns an error
// text, or empty when the key was understood.
template <class Apply>
net::expected<void> each_key(const std::string& origin,
                             const std::string& section, const toml::table& tbl,
                             Apply apply) {
  for (auto&& [key, node] : tbl) {
    auto name = std::string{key.str()};
    auto problem = apply(name, node);
    if (!problem.empty())
      return error{where(origin, node.source()) + ": " + section + "." + name
                   + ": " + problem};
  }
  return {};
}

std::string read_string(const toml::node& node, std::string& out) {
  auto v = node.value<std::string>();
  if (!node.is_string() || !v)
    return "expected a string";
  out = *v;
  return {};
}

} // namespace

bool is_log_level(const std::string& name) {
  for (auto known : {"trace", "debug", "info", "warn", "warning", "error",
                     "err", "critical", "off"})
    if (name == known)
      return true;
  return false;
}

net::expected<daemon_config> parse_daemon_config(const std::string& text,
                                                 const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return error{where(origin, e.source()) + ": "
                 + std::string{e.description()}};
  }
  daemon_config cfg;
  for (auto&& [key, node] : root) {
    auto section = std::string{key.str()};
    auto* tbl = node.as_table();
    if (tbl == nullptr)
      return error{where(origin, node.source()) + ": " + section
                   + ": expected a table such as [" + section + "]"};
    net::expected<void> res;
    if (section == "daemon") {
      res = each_key(
        origin, section, *tbl,
        [&](const std::string& k, const toml::node& v) -> std::string {
          if (k == "data_dir")
            return read_string(v, cfg.data_dir);
          if (k == "socket")
            return read_string(v, cfg.socket);
          if (k == "workers") {
            auto n = v.value<int64_t>();
            if (!v.is_integer() || !n || *n < 0 || *n > 256)
              return "expected an integer from 0 to 256";
            cfg.workers = static_cast<std::size_t>(*n);
            return {};
          }
          return "unknown key";
        });
    } else if (section == "engine") {
      res = each_key(
        origin, section, *tbl,
        [&](const std::string& k, const toml::node& v) -> std::string {
          if (k == "backend") {
            std::string backend;
            if (auto e = read_string(v, backend); !e.empty())
              return e;
            if (backend != "real" && backend != "twin")
              return "unknown backend \"" + backend + "\" (real, twin)";
            cfg.backend = backend;
            return {};
          }
          if (k == "driver_workers") {
            auto n = v.value<int64_t>();
            if (!v.is_integer() || !n || *n < 1 || *n > 64)
              return "expected an integer from 1 to 64";
            cfg.driver_workers = static_cast<std::size_t>(*n);
            return {};
          }
          if (k == "uapi_dir")
            return read_string(v, cfg.uapi_dir);
          if (k == "twin_processes") {
            auto* pids = v.as_array();
            if (pids == nullptr)
              return "expected an array of pids";
            cfg.twin_processes.clear();
            for (const auto& p : *pids) {
              auto n = p.value<int64_t>();
              if (!p.is_integer() || !n || *n < 1 || *n > 0x3fffffff)
                return "expected an array of pids (integers from 1)";
              cfg.twin_processes.push_back(static_cast<uint32_t>(*n));
            }
            return {};
          }
          return "unknown key";
        });
    } else if (section == "log") {
      res = each_key(
        origin, section, *tbl,
        [&](const std::string& k, const toml::node& v) -> std::string {
          if (k == "level") {
            std::string level;
            if (auto e = read_string(v, level); !e.empty())
              return e;
            if (!is_log_level(level))
              return "unknown level \"" + level
                     + "\" (trace, debug, info, warn, error, "
                       "critical, off)";
            cfg.log_level = level;
            return {};
          }
          return "unknown key";
        });
    } else if (section == "replay") {
      res = each_key(
        origin, section, *tbl,
        [&](const std::string& k, const toml::node& v) -> std::string {
          if (k == "record")
            return read_string(v, cfg.record_file);
          if (k == "keep_secrets") {
            if (!v.is_boolean())
              return "expected true or false";
            cfg.record_secrets = *v.value<bool>();
            return {};
          }
          return "unknown key";
        });
    } else if (section == "nat") {
      res = each_key(
        origin, section, *tbl,
        [&](const std::string& k, const toml::node& v) -> std::string {
          if (k == "self_tick") {
            if (!v.is_boolean())
              return "expected true or false";
            cfg.nat_self_tick = *v.value<bool>();
            return {};
          }
          return "unknown key";
        });
    } else {
      return error{where(origin, node.source()) + ": unknown section ["
                   + section + "]"};
    }
    if (!res)
      return error{res.error()};
  }
  return cfg;
}

net::expected<daemon_config>
load_daemon_config(const std::filesystem::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return error{path.string() + ":0:0: cannot open the config file"};
  std::ostringstream text;
  text << in.rdbuf();
  return parse_daemon_config(text.str(), path.string());
}

} // namespace overlayd::app
