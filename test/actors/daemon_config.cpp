// The daemon's TOML configuration and the CLI's tables.
#include "app/daemon_config.hpp"
#include "app/ctl_format.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

using overlayd::app::parse_daemon_config;

TEST_CASE("the shipped config parses to the defaults") {
  auto* path = std::getenv("OVERLAYD_CONF");
  REQUIRE(path != nullptr);
  auto cfg = overlayd::app::load_daemon_config(path);
  REQUIRE_MESSAGE(cfg, cfg.error());
  CHECK(cfg->data_dir.empty());
  CHECK(cfg->socket.empty());
  CHECK(cfg->workers == 0);
  CHECK(cfg->log_level == "info");
  CHECK_FALSE(cfg->nat_self_tick);
}

TEST_CASE("[nat] self_tick turns the standalone ticker on") {
  auto cfg = parse_daemon_config("[nat]\nself_tick = true\n", "n.toml");
  REQUIRE(cfg);
  CHECK(cfg->nat_self_tick);
  CHECK(parse_daemon_config("[nat]\nself_tick = 1\n", "n.toml").error()
        == "n.toml:2:13: nat.self_tick: expected true or false");
  CHECK_FALSE(parse_daemon_config("[nat]\nticks = true\n", "n.toml"));
}

TEST_CASE("every key is read") {
  auto cfg = parse_daemon_config("[daemon]\n"
                                 "data_dir = \"/srv/z\"\n"
                                 "socket = \"/run/o.sock\"\n"
                                 "workers = 3\n"
                                 "[log]\n"
                                 "level = \"debug\"\n",
                                 "t.toml");
  REQUIRE(cfg);
  CHECK(cfg->data_dir == "/srv/z");
  CHECK(cfg->socket == "/run/o.sock");
  CHECK(cfg->workers == 3);
  CHECK(cfg->log_level == "debug");
  CHECK(parse_daemon_config("", "empty.toml"));
}

TEST_CASE("errors name file, line and column") {
  CHECK(parse_daemon_config("[daemon]\nworkers = \"x\"\n", "a.toml").error()
        == "a.toml:2:11: daemon.workers: expected an integer from 0 to 256");
  CHECK(parse_daemon_config("[daemon]\nsocker = \"x\"\n", "a.toml").error()
        == "a.toml:2:10: daemon.socker: unknown key");
  CHECK(parse_daemon_config("\n[nope]\n", "a.toml")
          .error()
          .starts_with("a.toml:2:1: unknown section [nope]"));
  CHECK(parse_daemon_config("[log]\nlevel = \"loud\"\n", "a.toml")
          .error()
          .starts_with("a.toml:2:9: log.level: unknown level \"loud\""));
  CHECK(parse_daemon_config("daemon = 1\n", "a.toml")
          .error()
          .starts_with("a.toml:1:10: daemon: expected a table"));
  auto syntax = parse_daemon_config("[daemon\n", "b.toml");
  REQUIRE_FALSE(syntax);
  CHECK(syntax.error().starts_with("b.toml:1:"));
  CHECK(overlayd::app::load_daemon_config("/nonexistent/x.toml")
          .error()
          .starts_with("/nonexistent/x.toml:0:0: cannot open"));
}

TEST_CASE("the status table shows every field, absent ones as a dash") {
  overlayd::ipc::status_snapshot s;
  s.overlay_cidr = "10.200.0.0/16";
  s.peer_count = 1;
  s.peers.push_back({"abcd", "1.2.3.4:51820", "10.200.0.2/32", 0});
  auto text = overlayd::app::format_status(s);
  CHECK(text.starts_with("interface     -\n"));
  CHECK(text.find("overlay cidr  10.200.0.0/16\n") != std::string::npos);
  CHECK(text.find("peers         1\n") != std::string::npos);
  CHECK(text.find("abcd        1.2.3.4:51820  10.200.0.2/32  never")
        != std::string::npos);
}
