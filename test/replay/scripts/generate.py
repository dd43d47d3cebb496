#!/usr/bin/env python3
# Writes the request scripts of the replay corpus into the directory given
# as the only argument. Turn each into a corpus entry with
#   overlay-replay --to-corpus scripts/NAME.jsonl NAME.jsonl
# (see test/replay/regenerate.sh).
# Generates the request scripts of the replay corpus (test/replay/scripts).
import json, sys, os
OUT = sys.argv[1]

def frame(i, req):
    return json.dumps({"frame": "request", "id": i, "request": req}, separators=(",", ":"))

def resp(i, r):
    return json.dumps({"frame": "response", "id": i, "response": r}, separators=(",", ":"))

class Script:
    def __init__(self, name, description):
        self.name, self.description = name, description
        self.lines = []
        self.ids = {}
        self.rules = []
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
        with open(os.path.join(OUT, self.name + ".jsonl"), "w") as f:
            f.write(json.dumps(h, separators=(",", ":")) + "\n")
            for x in self.lines:
                f.write(json.dumps(x, separators=(",", ":")) + "\n")

P5 = "issue 5"
OK = {"result": "ok"}
GLOBAL = {"op": "setup_global_overlay", "deployment": "prod", "instance_id": "0",
          "cluster_cidr": "10.200.0.0/16", "slice_cidr": "10.200.0.0/28",
          "wg_port": 51820, "host_adapter_mandatory": False}
PEER_A = "hM9ptkVXVzU/4fnN0aM1qYjMZVsfW5DMrUL45IlgMW8="
PEER_B = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
NODE_KEY = "cGxhY2Vob2xkZXJub2Rla2V5Zm9yb3ZlcmxheWQxMjM="

# -- start-up: what ZLayer's agent sends when it reaches overlayd ---------------
s = Script("startup", "agent start-up: node id, key, global overlay, status, "
           "peers with candidates, NAT tick and status (spec ipc.md 8.1)")
s.send(1, {"op": "status"})
s.send(1, {"op": "set_local_node_id", "node_id": 7})
s.send(1, {"op": "set_local_wg_pubkey", "pubkey": NODE_KEY})
s.send(1, GLOBAL, reference={"result": "bridge_name", "name": "zl-prod-0-g"})
s.send(1, {"op": "status"}, pending=P5)
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32,10.200.16.0/28", "persistent_keepalive_secs": 25,
           "candidates": [{"candidate_type": "host", "address": "192.168.1.5:51820", "priority": 100},
                          {"candidate_type": "server-reflexive", "address": "203.0.113.5:40000", "priority": 50}],
           "scope": {"scope": "global"}})
s.send(1, {"op": "add_peer", "public_key": PEER_B, "endpoint": "[2001:db8::7]:51820",
           "allowed_ips": "10.200.32.1/32", "persistent_keepalive_secs": 0})
s.send(1, {"op": "add_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.16.64/26",
           "scope": {"scope": "global"}})
s.send(1, {"op": "nat_tick"})
s.send(1, {"op": "nat_status"})
s.send(1, {"op": "status"}, pending=P5)
s.save()

# -- service lifecycle ----------------------------------------------------------
s = Script("service_lifecycle", "services: auto, shared and dedicated overlays, "
           "service-scoped peers, DNS, scoped resolvers, pruning, teardown")
s.send(1, {"op": "set_local_node_id", "node_id": 7})
s.send(1, {"op": "set_local_wg_pubkey", "pubkey": NODE_KEY})
s.send(1, GLOBAL, reference={"result": "bridge_name", "name": "zl-prod-0-g"})
s.send(1, {"op": "setup_service_overlay", "service": "web", "mode": "auto"},
       reference={"result": "service_overlay", "name": "zl-prod-0-web-b", "mode": "auto"})
s.send(1, {"op": "setup_service_overlay", "service": "web", "mode": "auto"},
       reference={"result": "service_overlay", "name": "zl-prod-0-web-b", "mode": "auto"})
s.send(1, {"op": "setup_service_overlay", "service": "cache", "mode": "shared"},
       reference={"result": "service_overlay", "name": "zl-2cd15931d-sh", "mode": "shared"})
s.send(1, {"op": "setup_service_overlay", "service": "db", "mode": "dedicated"})
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51421",
           "allowed_ips": "10.200.134.66/32", "persistent_keepalive_secs": 25,
           "scope": {"scope": "service", "service": "db"}}, pending=P5,
       reference=OK)
s.send(1, {"op": "add_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.134.0/26",
           "scope": {"scope": "service", "service": "db"}}, pending=P5, reference=OK)
s.send(1, {"op": "register_dns", "name": "web.prod.overlay", "ip": "10.200.1.194"})
s.send(1, {"op": "register_dns", "name": "db.prod.overlay", "ip": "fd00:200::5"})
s.send(1, {"op": "write_scoped_resolver", "zone": "overlay", "node_ip": "10.200.0.1", "port": 53})
s.send(1, {"op": "status"}, pending=P5)
s.send(1, {"op": "remove_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.134.0/26",
           "scope": {"scope": "service", "service": "db"}}, pending=P5, reference=OK)
s.send(1, {"op": "remove_peer", "pubkey": PEER_A,
           "scope": {"scope": "service", "service": "db"}}, pending=P5, reference=OK)
s.send(1, {"op": "teardown_service_overlay", "service": "db"}, reference=OK)
s.send(1, {"op": "teardown_service_overlay", "service": "web"}, reference=OK)
s.send(1, {"op": "prune_orphan_bridges", "live_bridge_names": ["zl-prod-0-api-b"]},
       reference={"result": "pruned_bridges", "reclaimed": []})
s.send(1, {"op": "unregister_dns", "name": "web.prod.overlay"})
s.send(1, {"op": "remove_scoped_resolver", "zone": "overlay"})
s.save()

# -- container churn ------------------------------------------------------------
s = Script("container_churn", "containers: addresses from the node slice, attach "
           "and detach for every handle kind, ephemeral attach, re-use of "
           "released addresses")
s.send(1, {"op": "set_local_node_id", "node_id": 7})
s.send(1, {"op": "allocate_ip", "service": "web", "join_global": False})
s.send(1, {"op": "allocate_ip", "service": "web", "join_global": True})
s.send(1, {"op": "allocate_ip", "service": "api", "join_global": False})
s.send(1, {"op": "release_ip", "ip": "10.200.0.3"})
s.send(1, {"op": "allocate_ip", "service": "api", "join_global": False})
s.send(1, {"op": "release_ip", "ip": "10.200.0.1"})
s.send(1, {"op": "allocate_ip", "service": "web", "join_global": False})
s.send(1, GLOBAL, reference={"result": "bridge_name", "name": "zl-prod-0-g"})
s.send(1, {"op": "setup_service_overlay", "service": "web", "mode": "auto"},
       reference={"result": "service_overlay", "name": "zl-prod-0-web-b", "mode": "auto"})
for pid in (4242, 4243, 4244):
    s.send(1, {"op": "attach_container", "handle": {"platform": "linux_pid", "pid": pid},
               "service": "web", "join_global": True, "ephemeral": pid == 4244})
s.send(1, {"op": "attach_container", "handle": {"platform": "guest_managed", "id": "vm-1"},
           "service": "web", "join_global": True, "dns_server": "10.200.0.1",
           "dns_domain": "overlay", "ephemeral": False})
s.send(1, {"op": "attach_container", "handle": {"platform": "host_shared", "id": "ctr-1"},
           "service": "web", "join_global": False, "ephemeral": False})
s.send(1, {"op": "attach_container", "handle": {"platform": "windows_container",
           "container_id": "ctr-abc", "ip": "10.200.0.5"}, "service": "web",
           "join_global": False, "ephemeral": True, "isolation_network": "net-a"})
for h in ({"platform": "linux_pid", "pid": 4243}, {"platform": "linux_pid", "pid": 4244},
          {"platform": "linux_pid", "pid": 9999}, {"platform": "guest_managed", "id": "vm-1"},
          {"platform": "host_shared", "id": "ctr-1"},
          {"platform": "windows_container", "container_id": "aabbccdd-eeff-0011-2233-445566778899"}):
    s.send(1, {"op": "detach_container", "handle": h}, reference=OK)
s.send(1, {"op": "status"}, pending=P5)
s.save()

# -- teardown -------------------------------------------------------------------
s = Script("teardown", "teardown: peers and routes removed, DNS dropped, "
           "global overlay torn down twice, in-band shutdown")
s.send(1, {"op": "set_local_node_id", "node_id": 7})
s.send(1, GLOBAL, reference={"result": "bridge_name", "name": "zl-prod-0-g"})
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32", "persistent_keepalive_secs": 25})
s.send(1, {"op": "remove_allowed_ip", "pubkey": PEER_A, "cidr": "10.200.16.1/32"})
s.send(1, {"op": "remove_peer", "pubkey": PEER_A})
s.send(1, {"op": "remove_peer", "pubkey": PEER_B, "scope": {"scope": "global"}})
s.send(1, {"op": "unregister_dns", "name": "never-registered.overlay"})
s.send(1, {"op": "teardown_global_overlay"}, reference=OK)
s.send(1, {"op": "teardown_global_overlay"}, reference=OK)
s.send(1, {"op": "status"}, pending=P5)
s.send(1, {"op": "shutdown"})
s.save()

# -- error paths ----------------------------------------------------------------
s = Script("errors", "error paths: bad input answered by err under the request's "
           "id, frames that close the connection, frames that are ignored, and "
           "probe connections (spec ipc.md 1.6, 1.8)")
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
s.send(1, {"op": "setup_global_overlay", "deployment": "prod", "instance_id": "0",
           "cluster_cidr": "10.200.0.0/33", "wg_port": 51820})
s.send(1, {"op": "setup_service_overlay", "service": "web", "mode": "Shared"})
s.send(1, {"op": "set_local_node_id", "node_id": -1})
s.send(1, {"op": "release_ip", "ip": "10.200.0.300"})
s.send(1, {"op": "status", "junk": 1})
s.send(1, {"op": "frobnicate"})
s.send(1, {"op": "add_peer", "public_key": PEER_A, "endpoint": "192.0.2.10:51820",
           "allowed_ips": "10.200.16.1/32", "persistent_keepalive_secs": 25, "scope": "global"})
s.send(1, {"op": "status"})
# A client that sends a response frame and an event: ignored, no answer.
s.raw(2, resp(1, OK))
s.raw(2, json.dumps({"frame": "event", "event": "peer_health_changed",
                     "pubkey": PEER_A, "healthy": False}, separators=(",", ":")))
s.send(2, {"op": "status"})
# Bodies without a certain id: the connection is closed.
s.raw(3, '{"frame":"request","id":"1","request":{"op":"status"}}')
s.raw(4, '{"frame":"request","id":5,"id":6,"request":{"op":"status"}}')
s.raw(5, 'not json at all')
s.raw(6, '{"frame":"request","id":1,"request":{"op":"status"}} trailing')
s.send(7, {"op": "status"})
s.save()
