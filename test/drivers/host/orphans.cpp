#include "drivers/host/orphans.hpp"

#include <doctest/doctest.h>
#include <unistd.h>

using namespace overlayd::drivers;

TEST_CASE("container veth names carry the owning pid") {
  CHECK(container_veth_pid("veth-4242-s") == 4242u);
  CHECK(container_veth_pid("vc-4242-g") == 4242u);
  CHECK(container_veth_pid("veth-7") == 7u);
  CHECK(container_veth_pid("veth-+7-s") == 7u); // as Rust's parser
  CHECK_FALSE(container_veth_pid("veth9a1b2c"));
  CHECK_FALSE(container_veth_pid("veth--s"));
  CHECK_FALSE(container_veth_pid("veth-abc-s"));
  CHECK_FALSE(container_veth_pid("veth-12x-s"));
  CHECK_FALSE(container_veth_pid("vc-99999999999-s")); // overflows u32
  CHECK_FALSE(container_veth_pid("zl-4242-b"));
  CHECK_FALSE(container_veth_pid("eth0"));
}

TEST_CASE("only veths of dead pids are orphans") {
  auto alive = [](std::uint32_t pid) { return pid == 100; };
  std::vector<std::string> links{"lo",       "eth0",       "veth-100-s",
                                 "vc-100-g", "veth-200-s", "vc-200-s",
                                 "veth-x-s", "zl-dep-g",   "veth9abc"};
  CHECK(select_orphan_veths(links, alive)
        == std::vector<std::string>{"veth-200-s", "vc-200-s"});
  CHECK_FALSE(is_orphan_veth("veth-100-s", alive));
  CHECK(is_orphan_veth("vc-3-s", alive));
}

TEST_CASE("the real pid check sees this process and not an absurd pid") {
  CHECK(proc_pid_exists(static_cast<std::uint32_t>(::getpid())));
  CHECK_FALSE(proc_pid_exists(4000000000u));
}

TEST_CASE("orphan bridge selection matches the reference test") {
  std::set<std::string, std::less<>> live{"zl-prod-0-web-b", "zl-prod-0-api-b"};
  std::set<std::string, std::less<>> protected_names{
    "zl-prod-0-g", "zl-prod-0-shared-sh", "zl-prod-0-db-d"};
  std::vector<std::string> host_links{"zl-prod-0-web-b",
                                      "zl-prod-0-api-b",
                                      "zl-prod-0-g",
                                      "zl-prod-0-shared-sh",
                                      "zl-prod-0-db-d",
                                      "zl-1ca4568944-b",
                                      "zl-81c6bc17c7-b",
                                      "zl-prod-0-gone-d",
                                      "veth-4242-s",
                                      "vc-4242-g",
                                      "eth0",
                                      "lo",
                                      "docker0",
                                      "zl-not-a-bridge"};
  std::vector<std::string> orphans;
  for (const auto& name : host_links)
    if (is_orphan_service_bridge(name, live, protected_names))
      orphans.push_back(name);
  CHECK(orphans
        == std::vector<std::string>{"zl-1ca4568944-b", "zl-81c6bc17c7-b",
                                    "zl-prod-0-gone-d"});
}

TEST_CASE("the bridge predicate needs both the zl- prefix and -b/-d suffix") {
  std::set<std::string, std::less<>> none;
  CHECK(is_orphan_service_bridge("zl-x-b", none, none));
  CHECK(is_orphan_service_bridge("zl-x-d", none, none));
  CHECK_FALSE(is_orphan_service_bridge("br-x-b", none, none));
  CHECK_FALSE(is_orphan_service_bridge("zl-x-g", none, none));
  CHECK_FALSE(is_orphan_service_bridge("zl-x-sh", none, none));
  CHECK_FALSE(is_orphan_service_bridge("zl-x-bb", none, none));
}
