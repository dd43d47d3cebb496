#pragma once

// An engine on the in-memory twin with the fake WireGuard control, plus a
// fingerprint of everything the engine may change on the host, so tests can
// say "back to how it was".

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>

#include "drivers/host/twin.hpp"
#include "overlay/engine.hpp"
#include "overlay/fake_wg_control.hpp"

namespace overlayd::overlay::testing {

class temp_dir {
public:
  temp_dir() {
    auto tmpl
      = (std::filesystem::temp_directory_path() / "oot-unit-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

private:
  std::filesystem::path path_;
};

/// Links (with kind, state, master, addresses), routes, the IPv4
/// forwarding switch, both iptables tables and the drop-in files of the
/// twin's initial namespace, as text.
inline std::string host_fingerprint(drivers::twin_host& twin) {
  std::ostringstream out;
  auto& links = twin.root().links();
  auto all_links = links.list_links();
  auto all_routes = links.list_routes();
  if (!all_links || !all_routes)
    return "listing failed";
  for (auto& l : *all_links) {
    out << "link " << l.name << " " << l.kind << " up=" << l.up
        << " master=" << l.master;
    for (auto& a : l.addresses)
      out << " " << a.address.to_string() << "/" << int{a.prefix_len};
    out << "\n";
  }
  for (auto& r : *all_routes)
    out << "route " << r.destination.to_string() << "/"
        << int{r.destination_len} << " dev " << r.device << "\n";
  out << "ip_forward "
      << twin.root().sysctls().read("net.ipv4.ip_forward").value_or("?")
      << "\n";
  for (auto table : {"filter", "nat"}) {
    auto listing
      = twin.iptables_runner().run({"iptables", "-w", "-t", table, "-S"});
    out << (listing ? listing->out : std::string{"?"});
  }
  for (auto& [path, content] : twin.dropin_files())
    out << "dropin " << path << "\n";
  return out.str();
}

struct twin_engine {
  drivers::twin_host twin;
  fake_wg_control wg{&twin};
  temp_dir dir;
  std::unique_ptr<engine> eng;

  explicit twin_engine(bool rootless = false) { restart(rootless); }

  /// A new engine on the same host and data directory (a daemon restart).
  void restart(bool rootless = false) {
    engine_options opts;
    opts.data_dir = dir.path();
    opts.rootless = rootless;
    opts.pid_alive = [this](std::uint32_t pid) {
      return twin.pid_alive(static_cast<pid_t>(pid));
    };
    eng.reset();
    // The old process's TUNs die with it.
    for (auto& name : wg.device_names())
      wg.destroy_device(name);
    eng = std::make_unique<engine>(twin.root(), wg, opts);
  }

  ipc::response setup_global(std::uint16_t port = 51820) {
    ipc::req::setup_global_overlay r;
    r.deployment = "dep";
    r.instance_id = "i0";
    r.cluster_cidr = "10.200.0.0/16";
    r.slice_cidr = "10.200.0.0/28";
    r.wg_port = port;
    return eng->setup_global_overlay(r);
  }

  ipc::response setup_service(const std::string& service,
                              ipc::overlay_mode mode) {
    return eng->setup_service_overlay({service, mode});
  }

  ipc::response attach_pid(std::uint32_t pid, const std::string& service,
                           bool join_global = false, bool ephemeral = false,
                           std::optional<std::string> isolation = {}) {
    ipc::req::attach_container r;
    r.handle = ipc::linux_pid_handle{pid};
    r.service = service;
    r.join_global = join_global;
    r.ephemeral = ephemeral;
    r.isolation_network = std::move(isolation);
    return eng->attach_container(r);
  }

  ipc::response detach_pid(std::uint32_t pid) {
    return eng->detach_container({ipc::linux_pid_handle{pid}});
  }
};

/// The error text of a response, "" if it is not an error.
inline std::string error_of(const ipc::response& r) {
  auto* e = std::get_if<ipc::resp::err>(&r);
  return e ? e->message : std::string{};
}

} // namespace overlayd::overlay::testing
