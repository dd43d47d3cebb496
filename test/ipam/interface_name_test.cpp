#include "ipam/interface_name.hpp"
#include "ipam/siphash.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace overlayd::ipam;

namespace {

// The hash make_interface_name falls back to: every part and the suffix
// hashed as a Rust `str`.
std::uint64_t name_hash(std::initializer_list<std::string_view> parts,
                        std::string_view suffix) {
  siphash13 h;
  for (auto p : parts) {
    h.write_str(p);
  }
  h.write_str(suffix);
  return h.finish();
}

} // namespace

TEST_CASE("siphash13 matches Rust DefaultHasher for str") {
  CHECK(default_hash_str("abc") == 0xef09e0f4895a251dULL);
  CHECK(default_hash_str("alpha") == 0x3c87f3c3317bd39aULL);

  // str::hash is the bytes followed by 0xFF.
  siphash13 raw;
  raw.write("abc\xff", 4);
  CHECK(raw.finish() == 0xef09e0f4895a251dULL);
}

TEST_CASE("siphash13 is independent of how the stream is split") {
  const std::string text = "the quick brown fox jumps over the lazy dog!";
  siphash13 whole;
  whole.write(text.data(), text.size());
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    siphash13 split;
    split.write(text.data(), cut);
    split.write(text.data() + cut, text.size() - cut);
    CHECK(split.finish() == whole.finish());
  }
  // finish() does not consume the state.
  CHECK(whole.finish() == whole.finish());
}

TEST_CASE("siphash13 hashes of the dataplane spec vectors") {
  CHECK(name_hash({"dep", "i0"}, "g") == 0xd23886b389194ab8ULL);
  CHECK(name_hash({"dep", "i0", "web"}, "b") == 0x9030aa19bb874d9dULL);
  CHECK(name_hash({"dep", "i0", "shared"}, "sh") == 0xd3759c4d3d68f155ULL);
  CHECK(name_hash({"zlayer-manager"}, "g") == 0x4b72278e21887f17ULL);
  CHECK(name_hash({"my-deployment", "a1b2c3d4", "web"}, "b")
        == 0x2ac7e3ce734eb13aULL);
  CHECK(
    name_hash({"abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"}, "s")
    == 0x00cedeb133ea8bf7ULL);
}

TEST_CASE("make_interface_name: dataplane spec vectors") {
  CHECK(make_interface_name({"dep", "i0"}, "g") == "zl-dep-i0-g");
  CHECK(make_interface_name({"dep", "i0", "web"}, "b") == "zl-dep-i0-web-b");
  CHECK(make_interface_name({"dep", "i0", "shared"}, "sh")
        == "zl-d3759c4d3-sh");
  CHECK(make_interface_name({"zlayer-manager"}, "g") == "zl-4b72278e21-g");
  CHECK(make_interface_name({"my-deployment", "a1b2c3d4", "web"}, "b")
        == "zl-2ac7e3ce73-b");
  // The hash has a leading zero nibble that {:x} drops.
  CHECK(make_interface_name(
          {"abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"}, "s")
        == "zl-cedeb133ea-s");
}

TEST_CASE("make_interface_name: ipc spec vectors") {
  CHECK(make_interface_name({"prod", "42"}, "g") == "zl-prod-42-g");
  CHECK(make_interface_name({"prod", "0", "web"}, "b") == "zl-prod-0-web-b");
  CHECK(make_interface_name({"zlayer", "a1b2c3d4"}, "g") == "zl-8884a724fa-g");
  CHECK(make_interface_name({"zlayer", "a1b2c3d4", "web"}, "b")
        == "zl-39a1bffa4a-b");
  CHECK(make_interface_name({"zlayer", "a1b2c3d4", "web"}, "d")
        == "zl-e5ee453f8e-d");
  CHECK(make_interface_name({"zlayer", "a1b2c3d4", "shared"}, "sh")
        == "zl-522764a10-sh");
  CHECK(make_interface_name({"x"}, "") == "zl-x");
  CHECK(make_interface_name(
          {"my-very-long-deployment-name-that-goes-on-and-on"}, "")
        == "zl-fe6257726422");
}

TEST_CASE("make_interface_name: exactly 15 bytes is kept verbatim") {
  // "zl-" + "abcdefghij" + "-g" = 15 bytes.
  CHECK(make_interface_name({"abcdefghij"}, "g") == "zl-abcdefghij-g");
  // One more byte switches to the hash.
  const auto hashed = make_interface_name({"abcdefghijk"}, "g");
  CHECK(hashed != "zl-abcdefghijk-g");
  CHECK(hashed.size() <= max_ifname_len);
  CHECK(hashed.ends_with("-g"));
}

TEST_CASE("make_interface_name: a suffix too long to keep is dropped") {
  // budget = 15 - (3 + 1 + 11) = 0: only "zl-" + 12 hex chars.
  const std::string suffix = "elevenchars";
  const auto name = make_interface_name({"some-deployment"}, suffix);
  const auto hash = name_hash({"some-deployment"}, suffix);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(hash));
  CHECK(name == "zl-" + std::string(hex).substr(0, 12));

  // A suffix longer than the whole limit saturates the same way.
  const std::string huge(20, 's');
  CHECK(make_interface_name({"dep"}, huge).size() <= max_ifname_len);
}

TEST_CASE("make_interface_name: reference cases never exceed the limit") {
  struct tc {
    std::vector<std::string_view> parts;
    std::string_view suffix;
  };
  const std::vector<tc> cases = {
    {{"a"}, "g"},
    {{"zlayer-manager"}, "g"},
    {{"my-very-long-deployment-name-that-goes-on-and-on"}, "g"},
    {{"zlayer", "manager"}, "s"},
    {{"abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz"}, "s"},
    {{"x"}, ""},
  };
  for (const auto& c : cases) {
    const auto name = make_interface_name(c.parts, c.suffix);
    CAPTURE(name);
    CHECK(name.size() <= max_ifname_len);
    CHECK(name.starts_with("zl-"));
  }
}

TEST_CASE("make_interface_name is deterministic") {
  CHECK(make_interface_name({"zlayer-manager"}, "g")
        == make_interface_name({"zlayer-manager"}, "g"));
}

TEST_CASE("named link helpers") {
  CHECK(global_interface_name("prod", "42") == "zl-prod-42-g");
  CHECK(service_bridge_name("prod", "0", "web") == "zl-prod-0-web-b");
  CHECK(dedicated_interface_name("zlayer", "a1b2c3d4", "web")
        == "zl-e5ee453f8e-d");
  CHECK(shared_bridge_name("zlayer", "a1b2c3d4") == "zl-522764a10-sh");
  CHECK(host_veth_name(4242, "s") == "veth-4242-s");
  CHECK(peer_veth_name(4242, "g") == "vc-4242-g");
}

TEST_CASE("veth_owner_pid reads the pid like the orphan sweep") {
  CHECK(veth_owner_pid("veth-4242-s") == 4242u);
  CHECK(veth_owner_pid("vc-17-g") == 17u);
  CHECK(veth_owner_pid("veth-99") == 99u);
  CHECK(veth_owner_pid("veth-+7-s") == 7u);
  CHECK_FALSE(veth_owner_pid("veth-abc-s"));
  CHECK_FALSE(veth_owner_pid("veth--s"));
  CHECK_FALSE(veth_owner_pid("veth-4294967296-s")); // overflows u32
  CHECK_FALSE(veth_owner_pid("vethx-1-s"));
  CHECK_FALSE(veth_owner_pid("eth0"));
}

TEST_CASE("orphan bridge selection") {
  const std::unordered_set<std::string> live
    = {"zl-prod-0-web-b", "zl-prod-0-api-b"};
  const std::unordered_set<std::string> protected_names
    = {"zl-prod-0-g", "zl-prod-0-shared-sh", "zl-prod-0-db-d"};
  const std::vector<std::string> host_links = {"zl-prod-0-web-b",
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
  for (const auto& l : host_links) {
    if (is_orphan_service_bridge(l, live, protected_names)) {
      orphans.push_back(l);
    }
  }
  CHECK(orphans
        == std::vector<std::string>{"zl-1ca4568944-b", "zl-81c6bc17c7-b",
                                    "zl-prod-0-gone-d"});
}
