// overlayctl: drives a running overlayd over its IPC socket, with the same
// socket rules as the daemon (--socket, else derived from --data-dir or
// $ZLAYER_DATA_DIR). Results go to stdout; errors to stderr with exit 1
// (2 for usage errors).

#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "app/ctl_format.hpp"
#include "app/raw_call.hpp"
#include "ipc/client.hpp"
#include "ipc/json_codec.hpp"
#include "ipc/socket_path.hpp"

namespace {

namespace ipc = overlayd::ipc;

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

constexpr std::string_view usage_text
  = "usage: overlayctl [--socket PATH] [--data-dir PATH] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  status [--json]               the daemon's overlay state\n"
    "  nat-status [--json]           NAT candidates and peer paths\n"
    "  allocate-ip SERVICE [--join-global]\n"
    "  release-ip IP\n"
    "  add-peer --pubkey KEY --endpoint IP:PORT [--allowed-ip CIDR]...\n"
    "           [--keepalive SECS] [--service NAME]\n"
    "  remove-peer --pubkey KEY [--service NAME]\n"
    "  raw 'JSON'                    send one request object as is and\n"
    "                                print the response object\n";

[[noreturn]] void usage_error(const std::string& what) {
  std::cerr << "overlayctl: " << what << "\n\n" << usage_text;
  std::exit(exit_usage);
}

[[noreturn]] void fail(const std::string& what) {
  std::cerr << "overlayctl: " << what << "\n";
  std::exit(exit_failure);
}

// Arguments after the command: `--name value`, `--name=value`, switches
// and positionals.
struct args {
  std::vector<std::string> items;
  size_t pos = 0;

  bool done() const { return pos >= items.size(); }
  std::string next(const std::string& what) {
    if (done())
      usage_error(what + " is missing");
    return items[pos++];
  }
};

ipc::response ask_daemon(const std::string& socket, const ipc::request& r) {
  auto conn = ipc::client::connect(socket);
  if (!conn)
    fail("cannot connect to " + socket + ": " + conn.error().message());
  auto resp = conn->request(r);
  if (!resp)
    fail(resp.error().message());
  if (auto* e = std::get_if<ipc::resp::err>(&*resp))
    fail(e->message);
  return *resp;
}

overlayd::net::ip_address parse_ip(const std::string& text) {
  auto ip = overlayd::net::ip_address::parse(text);
  if (!ip)
    usage_error("\"" + text + "\": " + ip.error());
  return *ip;
}

uint64_t parse_u64(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    auto v = std::stoull(text, &used);
    if (used == text.size() && !text.starts_with("-"))
      return v;
  } catch (...) {
  }
  usage_error(what + " must be a non-negative integer, not \"" + text + "\"");
}

int cmd_status(const std::string& socket, args a, bool nat) {
  bool json = false;
  while (!a.done()) {
    auto x = a.next("option");
    if (x == "--json")
      json = true;
    else
      usage_error("unknown option \"" + x + "\"");
  }
  auto r = nat ? ask_daemon(socket, ipc::req::nat_status{})
               : ask_daemon(socket, ipc::req::status{});
  if (json) {
    std::cout << ipc::encode_response(r) << "\n";
    return 0;
  }
  if (auto* s = std::get_if<ipc::resp::status>(&r))
    std::cout << overlayd::app::format_status(*s);
  else if (auto* n = std::get_if<ipc::resp::nat_status>(&r))
    std::cout << overlayd::app::format_nat_status(*n, std::time(nullptr));
  else
    fail("unexpected response `" + std::string{ipc::result_name(r)} + "`");
  return 0;
}

int cmd_allocate(const std::string& socket, args a) {
  std::optional<std::string> service;
  bool join_global = false;
  while (!a.done()) {
    auto x = a.next("argument");
    if (x == "--join-global")
      join_global = true;
    else if (x.starts_with("--"))
      usage_error("unknown option \"" + x + "\"");
    else if (!service)
      service = x;
    else
      usage_error("unexpected argument \"" + x + "\"");
  }
  if (!service)
    usage_error("allocate-ip needs a SERVICE");
  auto r = ask_daemon(socket, ipc::req::allocate_ip{*service, join_global});
  if (auto* ip = std::get_if<ipc::resp::allocated_ip>(&r)) {
    std::cout << ip->ip.to_string() << "\n";
    return 0;
  }
  fail("unexpected response `" + std::string{ipc::result_name(r)} + "`");
}

int cmd_release(const std::string& socket, args a) {
  auto ip = parse_ip(a.next("IP"));
  if (!a.done())
    usage_error("unexpected argument \"" + a.next("") + "\"");
  ask_daemon(socket, ipc::req::release_ip{ip});
  std::cout << "ok\n";
  return 0;
}

// `--name value` or `--name=value`.
bool take_option(args& a, const std::string& arg, const std::string& name,
                 std::string& out) {
  if (arg == name) {
    out = a.next(name + " value");
    return true;
  }
  if (arg.starts_with(name + "=")) {
    out = arg.substr(name.size() + 1);
    return true;
  }
  return false;
}

int cmd_peer(const std::string& socket, args a, bool add) {
  ipc::peer_spec peer;
  ipc::peer_scope scope;
  std::vector<std::string> allowed;
  std::string value;
  while (!a.done()) {
    auto x = a.next("option");
    if (take_option(a, x, "--pubkey", value)) {
      peer.public_key = value;
    } else if (add && take_option(a, x, "--endpoint", value)) {
      peer.endpoint = value;
    } else if (add && take_option(a, x, "--allowed-ip", value)) {
      allowed.push_back(value);
    } else if (add && take_option(a, x, "--keepalive", value)) {
      peer.persistent_keepalive_secs = parse_u64(value, "--keepalive");
    } else if (take_option(a, x, "--service", value)) {
      scope = ipc::peer_scope::of_service(value);
    } else if (!x.starts_with("--") && peer.public_key.empty()) {
      peer.public_key = x;
    } else {
      usage_error("unknown option \"" + x + "\"");
    }
  }
  if (peer.public_key.empty())
    usage_error("--pubkey is required");
  if (!add) {
    ask_daemon(socket, ipc::req::remove_peer{peer.public_key, scope});
    std::cout << "ok\n";
    return 0;
  }
  if (peer.endpoint.empty())
    usage_error("--endpoint is required");
  for (size_t i = 0; i < allowed.size(); ++i)
    peer.allowed_ips += (i == 0 ? "" : ",") + allowed[i];
  ask_daemon(socket, ipc::req::add_peer{peer, scope});
  std::cout << "ok\n";
  return 0;
}

int cmd_raw(const std::string& socket, args a) {
  auto text = a.next("JSON request");
  if (!a.done())
    usage_error("raw takes one argument (quote the JSON)");
  auto r = overlayd::app::raw_call(socket, text);
  if (!r) {
    if (r.error().usage)
      usage_error(r.error().message);
    fail(r.error().message);
  }
  std::cout << ipc::encode_response(*r) << "\n";
  if (auto* e = std::get_if<ipc::resp::err>(&*r))
    fail(e->message);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::optional<std::string> socket_flag;
  std::optional<std::string> data_dir_flag;
  int i = 1;
  for (; i < argc; ++i) {
    std::string x = argv[i];
    auto value = [&](const std::string& name) -> std::optional<std::string> {
      if (x == name) {
        if (i + 1 >= argc)
          usage_error(name + " needs a value");
        return std::string{argv[++i]};
      }
      if (x.starts_with(name + "="))
        return x.substr(name.size() + 1);
      return std::nullopt;
    };
    if (x == "-h" || x == "--help") {
      std::cout << usage_text;
      return 0;
    }
    if (auto v = value("--socket"))
      socket_flag = v;
    else if (auto v = value("--data-dir"))
      data_dir_flag = v;
    else if (x.starts_with("-"))
      usage_error("unknown option \"" + x + "\"");
    else
      break;
  }
  if (i >= argc)
    usage_error("no command given");
  std::string cmd = argv[i++];
  args rest{{argv + i, argv + argc}};
  auto socket = ipc::resolve_endpoints(data_dir_flag, socket_flag,
                                       ipc::path_env::from_process())
                  .socket;
  if (cmd == "status")
    return cmd_status(socket, rest, false);
  if (cmd == "nat-status")
    return cmd_status(socket, rest, true);
  if (cmd == "allocate-ip")
    return cmd_allocate(socket, rest);
  if (cmd == "release-ip")
    return cmd_release(socket, rest);
  if (cmd == "add-peer")
    return cmd_peer(socket, rest, true);
  if (cmd == "remove-peer")
    return cmd_peer(socket, rest, false);
  if (cmd == "raw")
    return cmd_raw(socket, rest);
  usage_error("unknown command \"" + cmd + "\"");
}
