#include "drivers/host/orphan_sweep.hpp"

namespace overlayd::drivers {

result<orphan_sweep_report> sweep_orphan_veths(link_driver& links,
                                               const pid_alive_fn& pid_alive) {
  auto listed = links.list_links();
  if (!listed)
    return listed.error();
  std::vector<std::string> names;
  for (const auto& link : *listed)
    names.push_back(link.name);
  orphan_sweep_report report;
  for (auto& name : select_orphan_veths(names, pid_alive)) {
    if (auto st = links.delete_link(name); !st)
      report.failures.push_back(st.error());
    else
      report.deleted.push_back(std::move(name));
  }
  return report;
}

} // namespace overlayd::drivers
