// The overlayd and overlayctl executables as processes: config errors,
// the startup line, the CLI against a live daemon, exit 0 after an in-band
// shutdown, and a graceful stop on SIGINT and SIGTERM.
#include <doctest/doctest.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

std::string env_or_skip(const char* name) {
  auto* v = std::getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name << " is not set (run through meson)");
  return v;
}

std::string read_file(const fs::path& p) {
  std::ifstream in{p};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A child process with stdout and stderr sent to files.
struct process {
  pid_t pid = -1;
  fs::path out;
  fs::path err;

  process(const std::vector<std::string>& argv, const fs::path& dir,
          const std::string& tag, const std::vector<std::string>& env = {})
    : out(dir / (tag + ".out")), err(dir / (tag + ".err")) {
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, 1);
      ::dup2(e, 2);
      std::vector<char*> args;
      for (auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      for (auto& kv : env)
        ::putenv(const_cast<char*>(kv.c_str()));
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }

  ~process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  /// Exit code, or -1 if it did not exit within `limit` (or was killed).
  int wait(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      auto r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }

  std::string stdout_text() const { return read_file(out); }
  std::string stderr_text() const { return read_file(err); }
};

struct process_fixture {
  std::string overlayd = env_or_skip("OVERLAYD_BIN");
  std::string overlayctl = env_or_skip("OVERLAYCTL_BIN");
  std::string conf = env_or_skip("OVERLAYD_CONF");
  fs::path dir
    = fs::temp_directory_path() / ("actors-proc-" + std::to_string(::getpid()));
  std::string sock = (dir / "o.sock").string();

  process_fixture() {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~process_fixture() { fs::remove_all(dir); }

  bool wait_for_socket(const std::string& path) {
    for (int i = 0; i < 500; ++i) {
      if (fs::is_socket(path))
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // Runs overlayctl to completion; returns its exit code, output in `out`.
  int ctl(const std::vector<std::string>& args, std::string& out,
          std::string* err = nullptr) {
    std::vector<std::string> argv{overlayctl, "--socket", sock};
    argv.insert(argv.end(), args.begin(), args.end());
    process p{argv, dir, "ctl"};
    int rc = p.wait();
    out = p.stdout_text();
    if (err)
      *err = p.stderr_text();
    return rc;
  }
};

} // namespace

TEST_CASE_FIXTURE(process_fixture,
                  "a bad config file is refused with file:line:column and "
                  "exit code 2") {
  auto bad = dir / "bad.toml";
  std::ofstream{bad} << "[daemon]\nworkers = \"many\"\n";
  process p{{overlayd, "--config", bad.string(), "--socket", sock}, dir, "d"};
  CHECK(p.wait() == 2);
  CHECK(p.stderr_text().find(bad.string() + ":2:11:") != std::string::npos);
  std::ofstream{bad} << "[daemon\n";
  process q{{overlayd, "--config", bad.string()}, dir, "d2"};
  CHECK(q.wait() == 2);
  CHECK(q.stderr_text().find(bad.string() + ":1:") != std::string::npos);
  process r{{overlayd, "--bogus"}, dir, "d3"};
  CHECK(r.wait() == 2);
}

TEST_CASE_FIXTURE(process_fixture,
                  "the daemon serves overlayctl and exits 0 after "
                  "shutdown") {
  process d{{overlayd, "--config", conf, "--data-dir", dir.string(), "--socket",
             sock, "--log-level", "debug"},
            dir,
            "daemon"};
  REQUIRE(wait_for_socket(sock));
  std::string out, err;
  CHECK(ctl({"status", "--json"}, out) == 0);
  CHECK(out
        == R"({"result":"status","overlay_cidr":"10.200.0.0/16",)"
           R"("peer_count":0,"service_count":0})"
           "\n");
  CHECK(ctl({"status"}, out) == 0);
  CHECK(out.find("overlay cidr  10.200.0.0/16") != std::string::npos);
  CHECK(ctl({"allocate-ip", "web"}, out) == 0);
  CHECK(out == "10.200.0.2\n");
  CHECK(ctl({"release-ip", "10.200.0.2"}, out) == 0);
  CHECK(ctl({"add-peer", "--pubkey", "k", "--endpoint", "192.0.2.1:51820",
             "--allowed-ip", "10.200.1.0/24", "--keepalive", "25"},
            out)
        == 0);
  CHECK(ctl({"remove-peer", "--pubkey", "k"}, out) == 0);
  CHECK(ctl({"nat-status", "--json"}, out) == 0);
  CHECK(out
        == R"({"result":"nat_status","candidates":[],"peers":[],)"
           R"("last_refresh":0})"
           "\n");
  // Engine errors go to stderr with a non-zero exit.
  CHECK(ctl({"add-peer", "--pubkey", "k", "--endpoint", "192.0.2.1:1",
             "--service", "db"},
            out, &err)
        == 1);
  CHECK(err == "overlayctl: no dedicated overlay for service db\n");
  CHECK(ctl({"raw", R"({"op":"frob"})"}, out, &err) == 1);
  CHECK(err.find("unknown variant `frob`") != std::string::npos);
  CHECK(ctl({"raw", "{not json"}, out, &err) == 2);
  CHECK(ctl({"raw", R"({"op":"shutdown"})"}, out) == 0);
  CHECK(out == "{\"result\":\"ok\"}\n");
  CHECK(d.wait() == 0);
  auto log = d.stdout_text();
  CHECK(
    log.find("starting overlayd data_dir=" + dir.string() + " socket=" + sock)
    != std::string::npos);
}

TEST_CASE_FIXTURE(process_fixture, "SIGINT and SIGTERM stop gracefully") {
  for (int sig : {SIGTERM, SIGINT}) {
    process d{
      {overlayd, "--data-dir", dir.string(), "--socket", sock}, dir, "daemon"};
    REQUIRE(wait_for_socket(sock));
    std::string out;
    CHECK(ctl({"status", "--json"}, out) == 0);
    ::kill(d.pid, sig);
    CHECK(d.wait() == 0);
    CHECK(d.stdout_text().find("stopped") != std::string::npos);
    fs::remove(sock);
  }
}

TEST_CASE_FIXTURE(process_fixture,
                  "without --socket both sides derive the socket from the "
                  "data directory") {
  auto data = dir / "data";
  process d{{overlayd, "--data-dir", data.string()}, dir, "daemon"};
  auto derived = (data / "run" / "zlayer-overlayd.sock").string();
  REQUIRE(wait_for_socket(derived));
  process c{
    {overlayctl, "--data-dir", data.string(), "raw", R"({"op":"shutdown"})"},
    dir,
    "ctl"};
  CHECK(c.wait() == 0);
  CHECK(d.wait() == 0);
}

TEST_CASE_FIXTURE(process_fixture,
                  "overlayctl reports a missing daemon on stderr") {
  std::string out, err;
  CHECK(ctl({"status"}, out, &err) == 1);
  CHECK(err.starts_with("overlayctl: cannot connect to " + sock));
  CHECK(ctl({"frobnicate"}, out, &err) == 2);
}

TEST_CASE_FIXTURE(process_fixture,
                  "ZLAYER_DATA_DIR picks the data directory of both sides") {
  auto data = dir / "zd";
  std::vector<std::string> env{"ZLAYER_DATA_DIR=" + data.string()};
  process d{{overlayd}, dir, "daemon", env};
  auto derived = (data / "run" / "zlayer-overlayd.sock").string();
  REQUIRE(wait_for_socket(derived));
  CHECK(d.stdout_text().find("data_dir=" + data.string() + " socket=" + derived)
        != std::string::npos);
  process c{{overlayctl, "raw", R"({"op":"shutdown"})"}, dir, "ctl", env};
  CHECK(c.wait() == 0);
  CHECK(d.wait() == 0);
}
