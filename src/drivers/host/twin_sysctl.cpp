#include <cerrno>
#include <cstdlib>

#include "drivers/host/sysctl_name.hpp"
#include "drivers/host/twin_parts.hpp"

namespace overlayd::drivers::twin_detail {

namespace {

/// Parses like the kernel's proc_dointvec: optional leading blanks, an
/// optional '-', a number in base 0 (0x.. hex, 0.. octal), then the end or
/// a blank (anything after it is ignored).
std::optional<long> parse_int(std::string_view text) {
  std::string copy{text};
  const char* p = copy.c_str();
  while (*p == ' ' || *p == '\t' || *p == '\n')
    ++p;
  bool neg = false;
  if (*p == '-') {
    neg = true;
    ++p;
  }
  if (*p < '0' || *p > '9')
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  unsigned long v = std::strtoul(p, &end, 0);
  if (errno != 0 || v > 0x7fffffffUL)
    return std::nullopt;
  if (*end != '\0' && *end != ' ' && *end != '\t' && *end != '\n')
    return std::nullopt;
  return neg ? -static_cast<long>(v) : static_cast<long>(v);
}

/// Where a key lives: a namespace-wide entry or a device's conf entry.
struct sysctl_slot {
  std::string* value = nullptr;
  link* device = nullptr;
  std::string family; ///< "ipv4"/"ipv6" for conf entries
  std::string leaf;
  bool is_all = false;
};

sysctl_slot locate(netns& ns, const std::string& path) {
  sysctl_slot slot;
  auto it = ns.sysctls.find(path);
  // net/<family>/conf/<dev>/<leaf>
  std::string_view p{path};
  if (p.starts_with("net/ipv4/conf/") || p.starts_with("net/ipv6/conf/")) {
    slot.family = std::string{p.substr(4, 4)};
    auto rest = p.substr(14);
    auto slash = rest.find('/');
    if (slash != std::string_view::npos) {
      auto dev = rest.substr(0, slash);
      slot.leaf = std::string{rest.substr(slash + 1)};
      slot.is_all = dev == "all";
      if (it == ns.sysctls.end() && dev != "all" && dev != "default") {
        if (auto* l = find_link(ns, dev)) {
          auto conf = l->conf.find({slot.family, slot.leaf});
          if (conf != l->conf.end()) {
            slot.value = &conf->second;
            slot.device = l;
          }
        }
        return slot;
      }
    }
  }
  if (it != ns.sysctls.end())
    slot.value = &it->second;
  return slot;
}

class twin_sysctls final : public sysctl_driver {
public:
  twin_sysctls(std::shared_ptr<core> c, std::shared_ptr<netns> ns)
    : core_(std::move(c)), ns_(std::move(ns)) {
    // nop
  }

  result<std::string> read(std::string_view key) override {
    auto at = open_slot("read_sysctl", key);
    if (!at)
      return at.error();
    return *at->slot.value;
  }

  status write(std::string_view key, std::string_view value) override {
    auto at = open_slot("write_sysctl", key);
    if (!at)
      return at.error();
    auto& ns = *ns_;
    auto& slot = at->slot;
    if (value.empty())
      return {}; // a zero-byte write never reaches the handler
    auto parsed = parse_int(value);
    if (!parsed)
      return error::from_errno(EINVAL, "write_sysctl", std::string{key});
    auto text = std::to_string(*parsed);
    *slot.value = text;
    // The "all" forwarding switches (and net.ipv4.ip_forward, which is
    // ipv4's "all") rewrite "default" and every device.
    bool v4_all
      = at->path == "net/ipv4/ip_forward"
        || (slot.family == "ipv4" && slot.is_all && slot.leaf == "forwarding");
    bool v6_all
      = slot.family == "ipv6" && slot.is_all && slot.leaf == "forwarding";
    if (v4_all || v6_all) {
      std::string fam = v4_all ? "ipv4" : "ipv6";
      ns.sysctls["net/" + fam + "/conf/all/forwarding"] = text;
      ns.sysctls["net/" + fam + "/conf/default/forwarding"] = text;
      if (v4_all)
        ns.sysctls["net/ipv4/ip_forward"] = text;
      for (auto& [index, l] : ns.links)
        l.conf[{fam, "forwarding"}] = text;
    }
    return {};
  }

private:
  /// An existing sysctl, found and still locked.
  struct open_sysctl {
    std::unique_lock<std::mutex> lock; ///< the twin's lock, held
    std::string path;                  ///< "net/ipv4/ip_forward"
    sysctl_slot slot;                  ///< value is never null
  };

  /// What read and write start with: fault injection, the key's syntax,
  /// peers that died, and ENOENT for a key the namespace lacks.
  result<open_sysctl> open_slot(std::string_view op, std::string_view key) {
    if (auto f = core_->enter(op, key))
      return *f;
    auto path = sysctl_key_to_path(key);
    if (!path)
      return path.error();
    std::unique_lock<std::mutex> lock{core_->mtx};
    reap_dead_peers(*ns_);
    auto slot = locate(*ns_, *path);
    if (slot.value == nullptr)
      return error::from_errno(ENOENT, std::string{op}, std::string{key});
    return open_sysctl{std::move(lock), std::move(*path), slot};
  }

  std::shared_ptr<core> core_;
  std::shared_ptr<netns> ns_;
};

} // namespace

std::unique_ptr<sysctl_driver> make_twin_sysctls(std::shared_ptr<core> c,
                                                 std::shared_ptr<netns> ns) {
  return std::make_unique<twin_sysctls>(std::move(c), std::move(ns));
}

} // namespace overlayd::drivers::twin_detail
