#include "ipam/network_state.hpp"
#include "ipam/port_allocator.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

using namespace overlayd::ipam;
namespace fs = std::filesystem;

namespace {

// A fresh directory under $TMPDIR, removed with everything in it.
class temp_dir {
public:
  temp_dir() {
    auto tmpl = (fs::temp_directory_path() / "ipam-marker-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

private:
  fs::path path_;
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

managed_network sample(std::string owner, std::string id) {
  managed_network n;
  n.owner = std::move(owner);
  n.kind = "hcn-internal";
  n.name = "zlayer-overlay";
  n.id = std::move(id);
  n.subnet = "10.200.0.0/28";
  return n;
}

managed_network dedicated_web() {
  return dedicated_network_entry("web", "zl-prod-0-web-d",
                                 *overlayd::net::cidr::parse("10.200.64.0/26"),
                                 51421, "PRIVb64=", "PUBKEYb64=");
}

const char* const spec_example = R"({
  "version": 1,
  "networks": [
    {
      "owner": "base",
      "kind": "hcn-internal",
      "name": "zlayer-overlay",
      "id": "aabbccdd-eeff-0011-2233-445566778899",
      "subnet": "10.200.0.0/28"
    },
    {
      "owner": "service:web",
      "kind": "wg-dedicated",
      "name": "zl-prod-0-web-d",
      "id": "PUBKEYb64=",
      "subnet": "10.200.64.0/26",
      "wg_port": 51421,
      "wg_private_key": "PRIVb64=",
      "wg_public_key": "PUBKEYb64=",
      "interface": "zl-prod-0-web-d"
    }
  ]
})";

network_state spec_state() {
  network_state st;
  st.upsert(
    sample(std::string(owner_base), "aabbccdd-eeff-0011-2233-445566778899"));
  st.upsert(dedicated_web());
  return st;
}

} // namespace

TEST_CASE("the dedicated entry has the reference's shape") {
  const auto n = dedicated_web();
  CHECK(n.owner == "service:web");
  CHECK(n.kind == "wg-dedicated");
  CHECK(n.name == "zl-prod-0-web-d");
  CHECK(n.interface == "zl-prod-0-web-d");
  CHECK(n.id == "PUBKEYb64=");
  CHECK(n.wg_public_key == "PUBKEYb64=");
  CHECK(n.wg_private_key == "PRIVb64=");
  CHECK(n.subnet == "10.200.64.0/26");
  CHECK(n.wg_port == 51421);
  CHECK(n.has_dedicated_identity());
}

TEST_CASE("owner keys") {
  CHECK(owner_for_service("alpha") == "service:alpha");
  CHECK(owner_for_isolation_network("alpha") == "iso:alpha");
  CHECK(owner_for_service("alpha") != owner_for_isolation_network("alpha"));
  CHECK(owner_base == "base");
}

TEST_CASE("serialisation is byte-identical to serde_json pretty") {
  CHECK(network_state{}.to_json()
        == "{\n  \"version\": 1,\n  \"networks\": []\n}");
  CHECK(spec_state().to_json() == spec_example);
}

TEST_CASE("control characters are escaped like serde_json") {
  network_state st;
  auto n = sample("service:a\"b\\c\n\x01", "id");
  st.upsert(n);
  const auto text = st.to_json();
  CHECK(text.find(R"("owner": "service:a\"b\\c\n\u0001")")
        != std::string::npos);
  auto back = network_state::from_json(text);
  REQUIRE(back);
  CHECK(back->networks.at(0).owner == n.owner);
}

TEST_CASE("the spec example parses back to the same state") {
  auto st = network_state::from_json(spec_example);
  REQUIRE(st);
  CHECK(*st == spec_state());
  CHECK(st->get("service:web")->has_dedicated_identity());
  CHECK_FALSE(st->get("base")->has_dedicated_identity());
}

TEST_CASE("upsert replaces the same owner and get finds it") {
  network_state st;
  st.upsert(sample(std::string(owner_base), "guid-1"));
  st.upsert(sample(std::string(owner_base), "guid-2"));
  REQUIRE(st.networks.size() == 1);
  CHECK(st.get(owner_base)->id == "guid-2");
}

TEST_CASE("distinct owners coexist and remove targets one") {
  network_state st;
  st.upsert(sample(std::string(owner_base), "base-guid"));
  st.upsert(sample(owner_for_service("web"), "web-guid"));
  CHECK(st.networks.size() == 2);
  auto removed = st.remove(owner_base);
  REQUIRE(removed);
  CHECK(removed->id == "base-guid");
  CHECK(st.networks.size() == 1);
  CHECK(st.get(owner_base) == nullptr);
  CHECK(st.get(owner_for_service("web"))->id == "web-guid");
  CHECK_FALSE(st.remove("service:nope"));
}

TEST_CASE("upsert keeps the position of a replaced entry") {
  network_state st;
  st.upsert(sample("a", "1"));
  st.upsert(sample("b", "2"));
  st.upsert(sample("a", "3"));
  REQUIRE(st.networks.size() == 2);
  CHECK(st.networks[0].owner == "a");
  CHECK(st.networks[0].id == "3");
}

TEST_CASE("dedicated ports come from service entries only") {
  network_state st = spec_state();
  auto base = sample(std::string(owner_base), "g");
  base.wg_port = 51999; // not a service: ignored
  st.upsert(base);
  auto other = dedicated_web();
  other.owner = owner_for_service("api");
  other.wg_port = 51422;
  st.upsert(other);
  auto no_port = sample(owner_for_service("db"), "x");
  st.upsert(no_port);
  CHECK(st.dedicated_ports() == std::vector<std::uint16_t>{51421, 51422});

  const auto seeds = st.dedicated_ports();
  dedicated_port_allocator ports(default_wg_port, seeds);
  CHECK(*ports.allocate() == 51423);
}

TEST_CASE("marker paths") {
  CHECK(marker_path("/var/lib/zlayer") == "/var/lib/zlayer/agent_network.json");
  CHECK(marker_temp_path("/d/agent_network.json")
        == "/d/agent_network.json.tmp");
}

TEST_CASE("save then read round-trips, dedicated fields included") {
  temp_dir dir;
  const auto path = marker_path(dir.path() / "nested" / "data");
  auto st = spec_state();
  REQUIRE(save_marker(path, st)); // creates the parent directories
  CHECK(read_file(path) == spec_example);
  CHECK_FALSE(fs::exists(marker_temp_path(path)));

  auto loaded = read_marker(path);
  REQUIRE(loaded);
  CHECK(*loaded == st);
  const auto* web = loaded->get(owner_for_service("web"));
  REQUIRE(web != nullptr);
  CHECK(web->wg_port == 51421);
  CHECK(web->wg_private_key == "PRIVb64=");
  CHECK(web->interface == "zl-prod-0-web-d");

  // It holds private keys: owner-only.
  struct stat sb {};
  REQUIRE(::stat(path.c_str(), &sb) == 0);
  CHECK((sb.st_mode & 0777) == 0600);
}

TEST_CASE("a missing marker is the empty state") {
  temp_dir dir;
  const auto path = marker_path(dir.path());
  auto st = read_marker(path);
  REQUIRE(st);
  CHECK(st->version == network_state_version);
  CHECK(st->networks.empty());
  std::optional<error> problem;
  CHECK(load_marker(path, &problem) == network_state{});
  CHECK_FALSE(problem);
}

TEST_CASE("an older marker without dedicated fields still loads") {
  temp_dir dir;
  const auto path = marker_path(dir.path());
  write_file(path, R"({
      "version": 1,
      "networks": [
        { "owner": "base", "kind": "hcn-internal", "name": "zlayer-overlay",
          "id": "legacy-guid", "subnet": "10.200.0.0/28" }
      ]
    })");
  auto st = read_marker(path);
  REQUIRE(st);
  const auto* base = st->get(owner_base);
  REQUIRE(base != nullptr);
  CHECK(base->id == "legacy-guid");
  CHECK_FALSE(base->wg_port);
  CHECK_FALSE(base->wg_private_key);
  CHECK_FALSE(base->wg_public_key);
  CHECK_FALSE(base->interface);
}

TEST_CASE("parsing is as lenient as serde") {
  // Unknown fields, any version, nulls for options, defaults for missing.
  auto st = network_state::from_json(R"({"version": 7, "extra": [1,2],
    "networks": [{"owner":"o","kind":"k","name":"n","id":"i","subnet":"s",
                  "wg_port": null, "interface": null, "future": true}]})");
  REQUIRE(st);
  CHECK(st->version == 7);
  CHECK(st->networks.at(0).owner == "o");
  CHECK_FALSE(st->networks.at(0).wg_port);

  auto empty_obj = network_state::from_json("{}");
  REQUIRE(empty_obj);
  CHECK(*empty_obj == network_state{});

  // serde structs also parse from arrays, in field order.
  auto empty_arr = network_state::from_json("[]");
  REQUIRE(empty_arr);
  CHECK(*empty_arr == network_state{});
  auto arr = network_state::from_json(R"([3, [["o","k","n","i","s",51421]]])");
  REQUIRE(arr);
  CHECK(arr->version == 3);
  CHECK(arr->networks.at(0).wg_port == 51421);
}

TEST_CASE("what serde rejects is a corrupt marker with a reason") {
  struct tc {
    const char* text;
    const char* reason;
  };
  const tc cases[] = {
    {"{\"version\": 1, \"netw", "parse error"},
    {"", "parse error"},
    {"{\"networks\": null}", "marker.networks: expected an array, got null"},
    {"{\"version\": null}", "marker.version"},
    {"{\"version\": 1.0}", "floating point"},
    {"{\"version\": -1}", "marker.version"},
    {"{\"version\": 4294967296}", "marker.version"},
    {"{\"version\": 1, \"version\": 2}", "duplicate field `version`"},
    {"{\"networks\": [{\"kind\":\"k\",\"name\":\"n\",\"id\":\"i\","
     "\"subnet\":\"s\"}]}",
     "marker.networks[0]: missing field `owner`"},
    {"{\"networks\": [{\"owner\":\"o\",\"kind\":\"k\",\"name\":\"n\","
     "\"id\":\"i\",\"subnet\":\"s\",\"wg_port\":70000}]}",
     "marker.networks[0].wg_port: expected an integer in 0..65535, got 70000"},
    {"{\"networks\": [{\"owner\":7,\"kind\":\"k\",\"name\":\"n\","
     "\"id\":\"i\",\"subnet\":\"s\"}]}",
     "marker.networks[0].owner: expected a string"},
    {"[1, [], 3]", "invalid length 3"},
    {"\"just a string\"", "expected an object"},
    {"\xEF\xBB\xBF{}", "byte-order mark"},
    {"{} trailing", "parse error"},
  };
  for (const auto& c : cases) {
    const std::string text = c.text;
    CAPTURE(text);
    auto r = network_state::from_json(text);
    REQUIRE_FALSE(r);
    CAPTURE(r.error().message);
    CHECK(r.error().code == errc::corrupt);
    CHECK(r.error().message.find(c.reason) != std::string::npos);
  }
}

TEST_CASE("a corrupt marker file gives a clear error naming it") {
  temp_dir dir;
  const auto path = marker_path(dir.path());
  write_file(path, "{\"version\": 1, \"networks\": [ {\"owner\": ");
  auto r = read_marker(path);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::corrupt);
  CHECK(r.error().message.starts_with("corrupt network-state marker "
                                      + path.string() + ": "));

  // The reference's lenient load falls back to empty and reports why.
  std::optional<error> problem;
  CHECK(load_marker(path, &problem) == network_state{});
  REQUIRE(problem);
  CHECK(problem->code == errc::corrupt);
}

TEST_CASE("an unreadable marker is an io error") {
  temp_dir dir;
  const auto path = marker_path(dir.path());
  fs::create_directory(path); // a directory where the file should be
  auto r = read_marker(path);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::io);
  CHECK(r.error().message.find(path.string()) != std::string::npos);
}

TEST_CASE("a crash mid-save leaves the old marker intact") {
  temp_dir dir;
  const auto path = marker_path(dir.path());
  network_state old_state;
  old_state.upsert(sample(std::string(owner_base), "old"));
  REQUIRE(save_marker(path, old_state));

  // Simulate a crash after a partial write of the next version's temp file
  // (before the rename): the marker must still read as the old state.
  write_file(marker_temp_path(path), "{\n  \"version\": 1,\n  \"netw");
  auto r = read_marker(path);
  REQUIRE(r);
  CHECK(*r == old_state);

  // The next save overwrites the stale temp file and replaces the marker.
  auto new_state = spec_state();
  REQUIRE(save_marker(path, new_state));
  CHECK(read_file(path) == spec_example);
  CHECK_FALSE(fs::exists(marker_temp_path(path)));
  auto again = read_marker(path);
  REQUIRE(again);
  CHECK(*again == new_state);
}

TEST_CASE("a stale temp file alone does not create a marker") {
  temp_dir dir;
  const auto path = marker_path(dir.path());
  write_file(marker_temp_path(path), "{\"version\": 1, \"networks\": []}");
  auto r = read_marker(path);
  REQUIRE(r);
  CHECK(r->networks.empty());
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("a failed save reports the path and leaves no temp file") {
  temp_dir dir;
  // The marker's parent is a regular file: the directory cannot exist.
  const auto blocker = dir.path() / "blocker";
  write_file(blocker, "x");
  auto r = save_marker(marker_path(blocker), network_state{});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::io);
  CHECK(r.error().message.find(blocker.string()) != std::string::npos);

  // Rename onto a non-empty directory fails after the temp file was
  // written; the temp file must be cleaned up and the directory untouched.
  const auto path = marker_path(dir.path());
  fs::create_directory(path);
  write_file(path / "keep", "k");
  auto r2 = save_marker(path, spec_state());
  REQUIRE_FALSE(r2);
  CHECK(r2.error().code == errc::io);
  CHECK(r2.error().message.find("rename") != std::string::npos);
  CHECK_FALSE(fs::exists(marker_temp_path(path)));
  CHECK(fs::exists(path / "keep"));
}
