// Socket path derivation must equal zlayer-paths' byte for byte (§1.2).

#include <doctest/doctest.h>

#include "ipc/socket_path.hpp"

using namespace overlayd::ipc;

namespace {

path_env root() {
  path_env e;
  e.is_root = true;
  e.home = "/root";
  return e;
}

path_env user(std::string home = "/home/u") {
  path_env e;
  e.home = std::move(home);
  return e;
}

} // namespace

TEST_CASE("FNV-1a fallback test vector from the spec") {
  std::string dir = "/var/lib/forgejo-runner/workdir/9dbc274201705d7d/"
                    "hostexecutor/target/zlayer-e2e/cluster_3node/node1/data";
  CHECK(default_overlayd_socket_path_for(dir, root())
        == "/tmp/zlayer-overlayd-8c71ef019112ff6f.sock");
  CHECK(hex16(fnv1a64(dir, "overlayd")) == "8c71ef019112ff6f");
  CHECK(fnv1a64("", "") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a", "") == 0xaf63dc4c8601ec8cull); // published FNV-1a vector
  CHECK(hex16(1) == "0000000000000001");
}

TEST_CASE("the platform default data dir maps to /var/run") {
  for (auto dir : {"/var/lib/zlayer", "/var/lib/zlayer/", "/var/lib//zlayer",
                   "/var/lib/./zlayer", "//var/lib/zlayer/."})
    CHECK_MESSAGE(default_overlayd_socket_path_for(dir, root())
                    == "/var/run/zlayer-overlayd.sock",
                  dir);
  // '..' is not resolved, relative is not absolute.
  CHECK(default_overlayd_socket_path_for("/var/lib/zlayer/../zlayer", root())
        == "/var/lib/zlayer/../zlayer/run/zlayer-overlayd.sock");
  CHECK(default_overlayd_socket_path_for("var/lib/zlayer", root())
        == "var/lib/zlayer/run/zlayer-overlayd.sock");
}

TEST_CASE("the answer depends on the caller's euid and HOME") {
  CHECK(platform_default_data_dir(user()) == "/home/u/.zlayer");
  CHECK(default_overlayd_socket_path_for("/home/u/.zlayer", user())
        == "/var/run/zlayer-overlayd.sock");
  CHECK(default_overlayd_socket_path_for("/home/u/.zlayer", root())
        == "/home/u/.zlayer/run/zlayer-overlayd.sock");
  path_env no_home;
  CHECK(platform_default_data_dir(no_home) == "/var/lib/zlayer");
  CHECK(platform_default_data_dir(user("/home/u/")) == "/home/u/.zlayer");
  CHECK(platform_default_data_dir(user("")) == ".zlayer");
}

TEST_CASE("ZLAYER_DATA_DIR changes the default dir, not the socket rule") {
  auto env = root();
  env.zlayer_data_dir = "/srv/z";
  CHECK(default_data_dir(env) == "/srv/z");
  CHECK(default_overlayd_socket_path_for("/srv/z", env)
        == "/srv/z/run/zlayer-overlayd.sock");
  CHECK(default_overlayd_socket_path_for("/var/lib/zlayer", env)
        == "/var/run/zlayer-overlayd.sock");
  env.zlayer_data_dir = "";
  CHECK(default_data_dir(env) == "/var/lib/zlayer");
  // ... but the WireGuard dir rule does honour it.
  env.zlayer_data_dir = "/srv/z";
  CHECK(wireguard_dir_for("/srv/z", env) == "/var/run/wireguard");
  CHECK(wireguard_dir_for("/var/lib/zlayer", env)
        == "/var/lib/zlayer/run/wireguard");
}

TEST_CASE("103 bytes is the limit; the hash is over the dir as given") {
  // "{dir}/run/zlayer-overlayd.sock" adds 25 bytes.
  std::string dir78 = "/" + std::string(77, 'd');
  CHECK(default_overlayd_socket_path_for(dir78, root()).size() == 103);
  CHECK(default_overlayd_socket_path_for(dir78, root())
        == dir78 + "/run/zlayer-overlayd.sock");
  std::string dir79 = dir78 + "d";
  CHECK(default_overlayd_socket_path_for(dir79, root())
        == "/tmp/zlayer-overlayd-" + hex16(fnv1a64(dir79, "overlayd"))
             + ".sock");
  // A trailing slash is not doubled by join, and still hashes as given.
  CHECK(default_overlayd_socket_path_for("/srv/z/", root())
        == "/srv/z/run/zlayer-overlayd.sock");
  auto with_slash = default_overlayd_socket_path_for(dir79 + "/", root());
  CHECK(with_slash
        == "/tmp/zlayer-overlayd-" + hex16(fnv1a64(dir79 + "/", "overlayd"))
             + ".sock");
  CHECK(with_slash != default_overlayd_socket_path_for(dir79, root()));

  // The WireGuard dir falls back past 82 bytes.
  std::string wg_dir = "/" + std::string(67, 'w'); // + "/run/wireguard" = 82
  CHECK(wireguard_dir_for(wg_dir, root()) == wg_dir + "/run/wireguard");
  CHECK(wireguard_dir_for(wg_dir + "w", root())
        == "/tmp/zlayer-wg-" + hex16(fnv1a64(wg_dir + "w", "wg")));
}

TEST_CASE("path helpers follow Rust's PathBuf") {
  CHECK(path_join("/a", "b") == "/a/b");
  CHECK(path_join("/a/", "b") == "/a/b");
  CHECK(path_join("", "b") == "b");
  CHECK(path_join("/a", "/b") == "/b");
  CHECK(path_equal("/a/b", "/a//b/"));
  CHECK(path_equal("a/./b", "a/b"));
  CHECK_FALSE(path_equal("./a", "a"));
  CHECK_FALSE(path_equal("/a", "a"));
  CHECK_FALSE(path_equal("/a/../b", "/b"));
}

TEST_CASE("daemon flags: --data-dir and --socket") {
  auto env = root();
  auto none = resolve_endpoints(std::nullopt, std::nullopt, env);
  CHECK(none.data_dir == "/var/lib/zlayer");
  CHECK(none.socket == "/var/run/zlayer-overlayd.sock");
  auto dir = resolve_endpoints(std::string{"/srv/o"}, std::nullopt, env);
  CHECK(dir.data_dir == "/srv/o");
  CHECK(dir.socket == "/srv/o/run/zlayer-overlayd.sock");
  auto both
    = resolve_endpoints(std::string{"/srv/o"}, std::string{"/tmp/x.sock"}, env);
  CHECK(both.data_dir == "/srv/o");
  CHECK(both.socket == "/tmp/x.sock");
  env.zlayer_data_dir = "/srv/env";
  auto from_env = resolve_endpoints(std::nullopt, std::nullopt, env);
  CHECK(from_env.data_dir == "/srv/env");
  CHECK(from_env.socket == "/srv/env/run/zlayer-overlayd.sock");
}
