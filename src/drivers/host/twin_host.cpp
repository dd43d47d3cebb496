#include <cerrno>

#include "drivers/host/dropins.hpp"
#include "drivers/host/twin.hpp"
#include "drivers/host/twin_links.hpp"
#include "drivers/host/twin_parts.hpp"

namespace overlayd::drivers {

namespace twin_detail {

namespace {

class twin_network_manager final : public network_manager_driver {
public:
  explicit twin_network_manager(std::shared_ptr<core> c) : core_(std::move(c)) {
    // nop
  }

  status mark_overlay_interfaces_unmanaged() override {
    if (auto f = core_->enter("mark_overlay_interfaces_unmanaged"))
      return *f;
    std::lock_guard<std::mutex> guard{core_->mtx};
    for (const auto& file : overlay_dropins())
      if (core_->installed_managers.contains(file.manager))
        core_->dropins[file.path] = file.content;
    return {};
  }

  status unmark_overlay_interfaces_unmanaged() override {
    if (auto f = core_->enter("unmark_overlay_interfaces_unmanaged"))
      return *f;
    std::lock_guard<std::mutex> guard{core_->mtx};
    for (const auto& file : overlay_dropins())
      core_->dropins.erase(file.path);
    return {};
  }

private:
  std::shared_ptr<core> core_;
};

std::unique_ptr<host_driver>
make_host(std::shared_ptr<core> c, std::shared_ptr<netns> ns,
          std::shared_ptr<twin_netns_handle> origin) {
  return std::make_unique<composed_host_driver>(
    make_twin_link_driver(c, ns, std::move(origin)), make_twin_sysctls(c, ns),
    make_twin_firewall(c, ns), std::make_unique<twin_network_manager>(c));
}

} // namespace

} // namespace twin_detail

using namespace twin_detail;

twin_host::twin_host() : core_(std::make_shared<core>()) {
  core_->root = core_->make_netns();
  root_ = make_host(core_, core_->root, nullptr);
  root_runner_ = make_twin_iptables(core_, core_->root);
}

twin_host::~twin_host() = default;

host_driver& twin_host::root() {
  return *root_;
}

result<std::unique_ptr<host_driver>>
twin_host::host_in(const std::string& path) {
  std::shared_ptr<netns> ns;
  {
    std::lock_guard<std::mutex> guard{core_->mtx};
    auto it = core_->named.find(path);
    if (it == core_->named.end())
      return error{error_kind::namespace_gone, ENOENT, "host_in", path,
                   "no such namespace"};
    ns = it->second;
  }
  auto handle
    = std::make_shared<twin_netns_handle>(core_, netns_spec::at_path(path), ns);
  return make_host(core_, ns, std::move(handle));
}

status twin_host::add_named_netns(const std::string& path) {
  std::lock_guard<std::mutex> guard{core_->mtx};
  if (core_->named.contains(path))
    return error::from_errno(EEXIST, "add_named_netns", path);
  core_->named[path] = core_->make_netns();
  return {};
}

status twin_host::remove_named_netns(const std::string& path) {
  std::lock_guard<std::mutex> guard{core_->mtx};
  if (core_->named.erase(path) == 0)
    return error::from_errno(ENOENT, "remove_named_netns", path);
  return {};
}

status twin_host::add_process(pid_t pid) {
  std::lock_guard<std::mutex> guard{core_->mtx};
  if (core_->processes.contains(pid))
    return error::from_errno(EEXIST, "add_process", std::to_string(pid));
  core_->processes[pid] = core_->make_netns();
  return {};
}

status twin_host::add_process_in(pid_t pid, const std::string& path) {
  std::lock_guard<std::mutex> guard{core_->mtx};
  if (core_->processes.contains(pid))
    return error::from_errno(EEXIST, "add_process", std::to_string(pid));
  auto it = core_->named.find(path);
  if (it == core_->named.end())
    return error{error_kind::namespace_gone, ENOENT, "add_process", path,
                 "no such namespace"};
  core_->processes[pid] = it->second;
  return {};
}

void twin_host::kill_process(pid_t pid) {
  std::shared_ptr<netns> dying;
  std::lock_guard<std::mutex> guard{core_->mtx};
  auto it = core_->processes.find(pid);
  if (it == core_->processes.end())
    return;
  dying = std::move(it->second);
  core_->processes.erase(it);
}

bool twin_host::pid_alive(pid_t pid) const {
  std::lock_guard<std::mutex> guard{core_->mtx};
  return core_->processes.contains(pid);
}

status twin_host::add_device(std::string_view name, std::string_view kind,
                             bool up) {
  if (auto st = validate_ifname(name, "add_device"); !st)
    return st;
  std::lock_guard<std::mutex> guard{core_->mtx};
  if (find_link(*core_->root, name) != nullptr)
    return error::from_errno(EEXIST, "add_device", std::string{name});
  link dev;
  dev.name = name;
  dev.kind = kind;
  dev.up = up;
  add_link(*core_->root, std::move(dev));
  return {};
}

void twin_host::set_manager_installed(std::string_view manager,
                                      bool installed) {
  std::lock_guard<std::mutex> guard{core_->mtx};
  if (installed)
    core_->installed_managers.emplace(manager);
  else
    core_->installed_managers.erase(std::string{manager});
}

void twin_host::inject(std::string operation, twin_fault fault) {
  std::lock_guard<std::mutex> guard{core_->mtx};
  core_->faults[std::move(operation)] = std::move(fault);
}

void twin_host::clear_faults() {
  std::lock_guard<std::mutex> guard{core_->mtx};
  core_->faults.clear();
}

std::size_t twin_host::call_count(std::string_view operation) const {
  std::lock_guard<std::mutex> guard{core_->mtx};
  auto it = core_->calls.find(operation);
  return it == core_->calls.end() ? 0 : it->second;
}

std::map<std::string, std::string> twin_host::dropin_files() const {
  std::lock_guard<std::mutex> guard{core_->mtx};
  return core_->dropins;
}

command_runner& twin_host::iptables_runner() {
  return *root_runner_;
}

} // namespace overlayd::drivers
