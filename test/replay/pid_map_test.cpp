// Container processes: the session header's symbolic pids, and mapping
// them to the real pids of a run.

#include <doctest/doctest.h>

#include "replay/pid_map.hpp"
#include "replay/session.hpp"

using namespace overlayd::replay;

TEST_CASE("the header's container processes round-trip and are validated") {
  session_header h;
  h.processes = {4242, 4243};
  auto back = parse_header(header_line(h));
  REQUIRE(back);
  CHECK(back->processes == std::vector<std::uint32_t>{4242, 4243});
  // Absent: none, and the line does not mention them.
  CHECK(header_line(session_header{}).find("processes") == std::string::npos);
  CHECK_FALSE(parse_header(R"({"overlay_replay":1,"processes":4242})"));
  CHECK_FALSE(parse_header(R"({"overlay_replay":1,"processes":[0]})"));
  CHECK_FALSE(parse_header(R"({"overlay_replay":1,"processes":[-3]})"));
  CHECK_FALSE(parse_header(R"({"overlay_replay":1,"processes":["4242"]})"));
}

TEST_CASE("mappings are SYMBOLIC=REAL") {
  auto m = parse_pid_mapping("4242=31337");
  REQUIRE(m);
  CHECK(m->first == 4242);
  CHECK(m->second == 31337);
  for (const char* bad :
       {"4242", "=1", "1=", "a=1", "1=b", "0=5", "5=0", "1=2=3", "-1=2"})
    CHECK_FALSE(parse_pid_mapping(bad));
}

TEST_CASE("only linux_pid handles get the real pid") {
  pid_map pids{{4242, 31337}};
  std::string attach
    = R"({"frame":"request","id":3,"request":{"op":"attach_container",)"
      R"("handle":{"platform":"linux_pid","pid":4242},"service":"web",)"
      R"("join_global":false,"ephemeral":false}})";
  auto sent = substitute_pids(attach, pids);
  CHECK(sent.find(R"("pid":31337)") != std::string::npos);
  CHECK(sent.find("4242") == std::string::npos);
  // Key order is kept (the server sees a normal client frame).
  CHECK(sent.find(R"({"frame":"request","id":3,)") == 0);
  // Unmapped pids, other numbers equal to a symbolic pid, and bodies
  // that are not JSON pass through byte for byte.
  std::string other = R"({"frame":"request","id":4,"request":{"op":)"
                      R"("detach_container","handle":{"platform":)"
                      R"("linux_pid","pid":9999}}})";
  CHECK(substitute_pids(other, pids) == other);
  std::string port = R"({"frame":"request","id":5,"request":{"op":)"
                     R"("write_scoped_resolver","zone":"z",)"
                     R"("node_ip":"10.0.0.1","port":4242}})";
  CHECK(substitute_pids(port, pids) == port);
  CHECK(substitute_pids("not json 4242", pids) == "not json 4242");
  CHECK(substitute_pids(attach, {}) == attach);
}
