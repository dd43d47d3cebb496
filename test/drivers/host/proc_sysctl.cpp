// The file-backed sysctl driver over a scratch root (no privileges).

#include "drivers/host/proc_sysctl_driver.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>

#include "host_support.hpp"

using namespace overlayd::drivers;
namespace fs = std::filesystem;

TEST_CASE("a redirected sysctl root is read and written like /proc/sys") {
  odh::scratch_dir root;
  fs::create_directories(root.path() + "/net/ipv4");
  fs::create_directories(root.path() + "/net/ipv6/conf/eth0.100");
  { std::ofstream{root.path() + "/net/ipv4/ip_forward"} << "0\n"; }
  {
    std::ofstream{root.path() + "/net/ipv6/conf/eth0.100/forwarding"} << "0\n";
  }
  proc_sysctl_driver s{root.path() + "/"};
  CHECK(s.root() == root.path());
  CHECK(*s.read("net.ipv4.ip_forward") == "0");
  REQUIRE(s.write("net.ipv4.ip_forward", "1"));
  std::ifstream in{root.path() + "/net/ipv4/ip_forward"};
  std::string raw{std::istreambuf_iterator<char>{in}, {}};
  CHECK(raw == "1"); // verbatim, no newline added
  REQUIRE(s.write("net.ipv6.conf.eth0/100.forwarding", "1"));
  CHECK(*s.read("net/ipv6/conf/eth0.100/forwarding") == "1");
  // A key that does not exist is never created.
  auto missing = s.write("net.ipv4.nope", "1");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind() == error_kind::not_found);
  CHECK(missing.error().object() == "net.ipv4.nope");
  CHECK_FALSE(fs::exists(root.path() + "/net/ipv4/nope"));
  auto escape = s.read("net/../../etc/passwd");
  REQUIRE_FALSE(escape);
  CHECK(escape.error().kind() == error_kind::invalid_argument);
}
