#!/usr/bin/env python3
# Writes the request scripts of the replay corpus into the directory given
# as the only argument. Turn each into a corpus entry with
#   overlay-replay --to-corpus scripts/NAME.jsonl NAME.jsonl
# (see test/replay/regenerate.sh). The sequences follow what ZLayer's main
# daemon sends (spec ipc.md 8.1 and section 4); `expect` notes what the
# reference server answers (spec ipc.md section 4 and
# reference/overlayd_server.rs), so that the review of a regenerated entry
# has the reference answer next to ours.
import json, sys, os
OUT = sys.argv[1]

def frame(i, req):
    return json.dumps({"frame": "request", "id": i, "request": req}, separators=(",", ":"))

def resp(i, r):
    return json.dumps({"frame": "response", "id": i, "response": r}, separators=(",", ":"))

class Script:
    def __init__(self, name, description, processes=()):
        self.name, self.description = name, description
        self.lines = []
        self.ids = {}
        self.rules = []
        # Symbolic pids of the containers (linux_pid handles) the session
        # attaches; the replay creates each as a process with a network
        # namespace of its own (twin process, or a real one on a host).
        self.processes = list(processes)
    def send(self, conn, req, pending=None, reference=None, raw=None):
        i = self.ids.get(conn, 0) + 1
        self.ids[conn] = i
        x = {"seq": len(self.lines), "conn": conn,
             "request": raw if raw is not None else frame(i, req)}
        if pending: x["pending"] = pending
        if reference is not None: x["reference"] = resp(i, reference)
        self.lines.append(x)
        return x["seq"]
    def raw(self, conn, body, pending=None):
        x = {"seq": len(self.lines), "conn": conn, "request": body}
        if pending: x["pending"] = pending
        self.lines.append(x)
    def save(self):
        h = {"overlay_replay": 1, "description": self.description,
             "data_dir": "", "config": {}, "rules": self.rules}
        if self.processes:
            h["processes"] = self.processes
        with open(os.path.join(OUT, self.name + ".jsonl"), "w") as f:
            f.write(json.dumps(h, separators=(",", ":")) + "\n")
            for x in self.lines:
                f.write(json.dumps(x, separators=(",", ":")) + "\n")

OK = {"result": "ok"}
# What ZLayer stamps into setup_global_overlay: NAT config with a loopback
# STUN server and traversal off, so that no tick contacts the internet and
# the NAT answers are deterministic (the reference: disabled NAT makes
# nat_tick a no-op).
NAT_OFF = {"enabled": False, "stun_servers": ["127.0.0.1:3478"], "turn_servers": [],
           "hole_punch_timeout_secs": 0, "stun_refresh_interval_secs": 0,
           "max_candidate_pairs": 0}
GLOBAL = {"op": "setup_global_overlay", "deployment": "prod", "instance_id": "0",
          "cluster_cidr": "10.200.0.0/16", "slice_cidr": "10.200.0.0/28",
          "wg_port": 51820, "nat": NAT_OFF, "host_adapter_mandatory": False}
PEER_A = "hM9ptkVXVzU/4fnN0aM1qYjMZVsfW5DMrUL45IlgMW8="
PEER_B = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
NODE_KEY = "cGxhY2Vob2xkZXJub2Rla2V5Zm9yb3ZlcmxheWQxMjM="
STATUS = {"op": "status"}

def service(name, mode):
    return {"op": "setup_service_overlay", "service": name, "mode": mode}

def attach_pid(pid, svc, join_global=False, ephemeral=False, **extra):
    r = {"op": "attach_container", "handle": {"platform": "linux_pid", "pid": pid},
         "service": svc, "join_global": join_global, "ephemeral": ephemeral}
    r.update(extra)
    return r

def detach(handle):
    return {"op": "detach_container", "handle": handle}

def start_node(s, key=True):
    """What the agent sends first (spec ipc.md 8.1)."""
    s.send(1, {"op": "set_local_node_id", "node_id": 7})
    if key:
        s.send(1, {"op": "set_local_wg_pubkey", "pubkey": NODE_KEY})
    s.send(1, GLOBAL)

# -- start-up: what ZLayer's agent sends when it reaches overlayd ---------------
s = Script("startup", "agent start-up (spec ipc.md 8.1): status of a fresh "
           "server, node id, key, global overlay (and again: idempotent), "
           "status, global peers with candidates, allowed IPs, status with "
           "the device's peers (hex keys), NAT tick and status")
s.send(1, STATUS)
start_node(s)
s.send(1, GLOBAL)
s.send(1, STATUS)
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32,10.200.16.0/28", "persistent_keepalive_secs": 25,
           "candidates": [{"candidate_type": "host", "address": "192.168.1.5:51820", "priority": 100},
                          {"candidate_type": "server-reflexive", "address": "203.0.113.5:40000", "priority": 50}],
           "scope": {"scope": "global"}})
s.send(1, {"op": "add_peer", "public_key": PEER_B, "endpoint": "[2001:db8::7]:51820",
           "allowed_ips": "10.200.32.1/32", "persistent_keepalive_secs": 0})
s.send(1, {"op": "add_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.16.64/26",
           "scope": {"scope": "global"}})
s.send(1, STATUS)
s.send(1, {"op": "nat_tick"})
s.send(1, {"op": "nat_status"})
# A second agent connection (the agent reconnects lazily) sees the same node.
s.send(2, STATUS)
s.save()

# -- service lifecycle ----------------------------------------------------------
s = Script("service_lifecycle", "services in all three modes: auto bridges "
           "(idempotent), one shared bridge for every shared service, a "
           "dedicated device (identity, idempotent) with service-scoped peers "
           "and allowed IPs, status, DNS, scoped resolvers, teardown (also "
           "of unknown services), pruning of orphan bridges")
start_node(s)
s.send(1, service("web", "auto"))
s.send(1, service("web", "auto"))
s.send(1, service("cache", "shared"))
s.send(1, service("queue", "shared"))
s.send(1, service("db", "dedicated"))
s.send(1, service("db", "dedicated"))
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51421",
           "allowed_ips": "10.200.134.66/32", "persistent_keepalive_secs": 25,
           "scope": {"scope": "service", "service": "db"}})
s.send(1, {"op": "add_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.134.0/26",
           "scope": {"scope": "service", "service": "db"}})
s.send(1, {"op": "register_dns", "name": "web.prod.overlay", "ip": "10.200.1.194"})
s.send(1, {"op": "register_dns", "name": "db.prod.overlay", "ip": "fd00:200::5"})
s.send(1, {"op": "write_scoped_resolver", "zone": "overlay", "node_ip": "10.200.0.1", "port": 53})
s.send(1, STATUS)
s.send(1, {"op": "remove_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.134.0/26",
           "scope": {"scope": "service", "service": "db"}})
s.send(1, {"op": "remove_peer", "pubkey": PEER_A,
           "scope": {"scope": "service", "service": "db"}})
s.send(1, {"op": "teardown_service_overlay", "service": "db"})
# Gone with its device: service-scoped peers now fail.
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51421",
           "allowed_ips": "10.200.134.66/32", "persistent_keepalive_secs": 25,
           "scope": {"scope": "service", "service": "db"}})
s.send(1, {"op": "teardown_service_overlay", "service": "web"})
s.send(1, {"op": "teardown_service_overlay", "service": "web"})
s.send(1, {"op": "teardown_service_overlay", "service": "never-set-up"})
s.send(1, STATUS)
# Bridges of services the agent no longer runs: `old` is reclaimed, `api`
# is live, the shared bridge is protected.
s.send(1, service("api", "auto"))
s.send(1, service("old", "auto"))
s.send(1, {"op": "prune_orphan_bridges", "live_bridge_names": ["zl-prod-0-api-b"]})
s.send(1, {"op": "prune_orphan_bridges", "live_bridge_names": ["zl-prod-0-api-b"]})
s.send(1, {"op": "unregister_dns", "name": "web.prod.overlay"})
s.send(1, {"op": "remove_scoped_resolver", "zone": "overlay"})
s.send(1, STATUS)
s.save()

# -- container churn ------------------------------------------------------------
s = Script("container_churn", "containers: node-slice addresses before the "
           "overlay (LIFO re-use, node IP never handed out), then attach and "
           "detach of linux_pid containers on auto, shared and dedicated "
           "services (eth1 on the global overlay, ephemeral last-leaver "
           "teardown), guest_managed and host_shared handles, windows "
           "refused, unknown detaches",
           processes=[4242, 4243, 4244, 4245, 4246, 4247])
s.send(1, {"op": "set_local_node_id", "node_id": 7})
s.send(1, {"op": "allocate_ip", "service": "web", "join_global": False})
s.send(1, {"op": "allocate_ip", "service": "web", "join_global": True})
s.send(1, {"op": "allocate_ip", "service": "api", "join_global": False})
s.send(1, {"op": "release_ip", "ip": "10.200.0.3"})
s.send(1, {"op": "allocate_ip", "service": "api", "join_global": False})
s.send(1, {"op": "release_ip", "ip": "10.200.0.1"})
s.send(1, {"op": "allocate_ip", "service": "web", "join_global": False})
s.send(1, {"op": "set_local_wg_pubkey", "pubkey": NODE_KEY})
s.send(1, GLOBAL)
s.send(1, service("web", "auto"))
s.send(1, service("cache", "shared"))
s.send(1, service("db", "dedicated"))
s.send(1, {"op": "allocate_ip", "service": "web", "join_global": False})
s.send(1, {"op": "allocate_ip", "service": "cache", "join_global": False})
s.send(1, attach_pid(4242, "web", join_global=True))
s.send(1, attach_pid(4243, "web", isolation_network="net-a"))
s.send(1, attach_pid(4244, "web", ephemeral=True))
s.send(1, attach_pid(4245, "cache", join_global=True))
s.send(1, attach_pid(4246, "db"))
s.send(1, {"op": "attach_container", "handle": {"platform": "guest_managed", "id": "vm-1"},
           "service": "web", "join_global": True, "dns_server": "10.200.0.1",
           "dns_domain": "overlay", "ephemeral": False})
s.send(1, {"op": "attach_container", "handle": {"platform": "host_shared", "id": "ctr-1"},
           "service": "web", "join_global": False, "ephemeral": False})
s.send(1, {"op": "attach_container", "handle": {"platform": "windows_container",
           "container_id": "ctr-abc", "ip": "10.200.0.5"}, "service": "web",
           "join_global": False, "ephemeral": True, "isolation_network": "net-a"})
s.send(1, STATUS)
# Nothing is live for the agent, but every bridge still has members (and
# the dedicated device is protected): the zero-member guard keeps them all.
s.send(1, {"op": "prune_orphan_bridges", "live_bridge_names": []})
for h in ({"platform": "linux_pid", "pid": 4243}, {"platform": "linux_pid", "pid": 4244},
          {"platform": "linux_pid", "pid": 9999}, {"platform": "guest_managed", "id": "vm-1"},
          {"platform": "guest_managed", "id": "vm-never"},
          {"platform": "host_shared", "id": "ctr-1"},
          {"platform": "windows_container", "container_id": "aabbccdd-eeff-0011-2233-445566778899"}):
    s.send(1, detach(h))
# web still has 4242: the ephemeral leaver did not take the bridge down.
s.send(1, STATUS)
# The last ephemeral member of `batch` leaves: its bridge goes with it.
s.send(1, service("batch", "auto"))
s.send(1, attach_pid(4247, "batch", ephemeral=True))
s.send(1, STATUS)
s.send(1, detach({"platform": "linux_pid", "pid": 4247}))
s.send(1, STATUS)
# Re-attach after a detach gets the released address back.
s.send(1, detach({"platform": "linux_pid", "pid": 4245}))
s.send(1, attach_pid(4245, "cache"))
for pid in (4242, 4245, 4246):
    s.send(1, detach({"platform": "linux_pid", "pid": pid}))
# Now the web bridge and the dedicated service's bridge are empty: both
# go (the dedicated device itself is protected), and their services stop
# counting.
s.send(1, {"op": "prune_orphan_bridges", "live_bridge_names": []})
s.send(1, STATUS)
s.save()

# -- teardown -------------------------------------------------------------------
s = Script("teardown", "teardown: peers and allowed IPs removed, a "
           "container's service detached and torn down, global overlay "
           "torn down (twice), peers skipped without a device, status, "
           "in-band shutdown", processes=[4242])
start_node(s)
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32", "persistent_keepalive_secs": 25})
s.send(1, service("web", "auto"))
s.send(1, attach_pid(4242, "web", join_global=True))
s.send(1, {"op": "remove_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.16.1/32"})
s.send(1, {"op": "remove_peer", "pubkey": PEER_A})
s.send(1, {"op": "remove_peer", "pubkey": PEER_B, "scope": {"scope": "global"}})
s.send(1, {"op": "unregister_dns", "name": "never-registered.overlay"})
s.send(1, detach({"platform": "linux_pid", "pid": 4242}))
s.send(1, {"op": "teardown_service_overlay", "service": "web"})
# A service left up: global teardown deletes its bridge from the host but
# keeps the in-memory service maps (ipc.md 4.4), so it still counts.
s.send(1, service("api", "auto"))
s.send(1, STATUS)
s.send(1, {"op": "teardown_global_overlay"})
s.send(1, {"op": "teardown_global_overlay"})
s.send(1, STATUS)
# No global device: global peer changes are skipped and answered ok.
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32", "persistent_keepalive_secs": 25})
s.send(1, {"op": "add_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.16.0/28"})
s.send(1, {"op": "remove_peer", "pubkey": PEER_A})
s.send(1, {"op": "shutdown"})
s.save()

# -- error paths ----------------------------------------------------------------
s = Script("errors", "error paths: bad input answered by err under the request's "
           "id (before and after the global overlay), frames that close the "
           "connection, frames that are ignored, and probe connections "
           "(spec ipc.md 1.6, 1.8)", processes=[4242])
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "peer.example:51820",
           "allowed_ips": "10.200.16.1/32", "persistent_keepalive_secs": 25})
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32", "persistent_keepalive_secs": 25,
           "scope": {"scope": "service", "service": "x"}})
s.send(1, {"op": "remove_peer", "pubkey": PEER_A, "scope": {"scope": "service", "service": "x"}})
s.send(1, {"op": "add_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.1.0/24",
           "scope": {"scope": "service", "service": "x"}})
s.send(1, {"op": "remove_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.1.0/24",
           "scope": {"scope": "service", "service": "x"}})
s.send(1, {"op": "write_scoped_resolver", "zone": "overlay", "node_ip": "10.200.0.1", "port": 53})
s.send(1, {"op": "remove_scoped_resolver", "zone": "overlay"})
# Attaches that need the overlay (or a service bridge) first.
s.send(1, {"op": "attach_container", "handle": {"platform": "guest_managed", "id": "vm-1"},
           "service": "web", "join_global": True, "ephemeral": False})
s.send(1, {"op": "attach_container", "handle": {"platform": "host_shared", "id": "ctr-1"},
           "service": "web", "join_global": False, "ephemeral": False})
s.send(1, attach_pid(4242, "web"))
s.send(1, {"op": "attach_container", "handle": {"platform": "windows_container",
           "container_id": "ctr-abc"}, "service": "web", "join_global": False,
           "ephemeral": False})
s.send(1, {"op": "setup_global_overlay", "deployment": "prod", "instance_id": "0",
           "cluster_cidr": "10.200.0.0/33", "wg_port": 51820})
s.send(1, {"op": "setup_global_overlay", "deployment": "prod", "instance_id": "0",
           "cluster_cidr": "10.200.0.0/16", "slice_cidr": "10.200.0.0", "wg_port": 51820})
s.send(1, service("web", "Shared"))
s.send(1, {"op": "set_local_node_id", "node_id": -1})
s.send(1, {"op": "release_ip", "ip": "10.200.0.300"})
s.send(1, {"op": "status", "junk": 1})
s.send(1, {"op": "frobnicate"})
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32", "persistent_keepalive_secs": 25, "scope": "global"})
s.send(1, STATUS)
# With the global overlay up: bad CIDRs reach the device's parser, and a
# service scope needs a dedicated device, not an auto bridge.
s.send(1, GLOBAL)
s.send(1, {"op": "add_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.1.0"})
s.send(1, {"op": "remove_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.1.0/40"})
s.send(1, service("web", "auto"))
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32", "persistent_keepalive_secs": 25,
           "scope": {"scope": "service", "service": "web"}})
s.send(1, attach_pid(4242, "cache"))
# A client that sends a response frame and an event: ignored, no answer.
s.raw(2, resp(1, OK))
s.raw(2, json.dumps({"frame": "event", "event": "peer_health_changed",
                     "pubkey": PEER_A, "healthy": False}, separators=(",", ":")))
s.send(2, STATUS)
# Bodies without a certain id: the connection is closed.
s.raw(3, '{"frame":"request","id":"1","request":{"op":"status"}}')
s.raw(4, '{"frame":"request","id":5,"id":6,"request":{"op":"status"}}')
s.raw(5, 'not json at all')
s.raw(6, '{"frame":"request","id":1,"request":{"op":"status"}} trailing')
s.send(7, STATUS)
s.save()

# -- peer edges -------------------------------------------------------------------
# Exchanges where our engine once answered unlike the reference. Each states
# the reference's answer (`reference=`), which the entry then expects.
s = Script("peer_edges", "allowed IPs for a peer the device does not have, "
           "and a guest peer's unspecified endpoint in status, as the "
           "reference answers them")
start_node(s)
# dataplane.md 3.6: add_allowed_ip on a peer the device does not have is
# an error naming the CIDR; remove_allowed_ip on one is a no-op (ok).
s.send(1, {"op": "add_allowed_ip", "pubkey": PEER_B, "cidr": "10.200.1.0/24"},
       reference={"result": "err", "message": "overlay engine error: add_allowed_ip "
                  "failed: cannot add allowed_ip 10.200.1.0/24 to unknown peer " + PEER_B})
s.send(1, {"op": "remove_allowed_ip", "pubkey": PEER_B, "cidr": "10.200.1.0/24"},
       reference=OK)
# ipc.md 4.9: the guest is registered with endpoint 0.0.0.0:0; every UAPI
# implementation (boringtun, wireguard-go, the kernel) prints a set
# endpoint back, and status copies it (ipc.md 10.4).
s.send(1, service("web", "auto"))
s.send(1, {"op": "attach_container", "handle": {"platform": "guest_managed", "id": "vm-1"},
           "service": "web", "join_global": True, "ephemeral": False})
s.send(1, STATUS, reference={
    "result": "status", "interface": "zl-prod-0-g", "node_ip": "10.200.0.1",
    "public_key": "A" * 43 + "=", "overlay_cidr": "10.200.0.0/16",
    "slice_cidr": "10.200.0.0/28", "peer_count": 1, "service_count": 1,
    "peers": [{"public_key": "00" * 32, "endpoint": "0.0.0.0:0",
               "allowed_ips": "10.200.1.194/32", "last_handshake_unix_secs": 0}]})
s.save()
