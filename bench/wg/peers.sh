#!/usr/bin/env bash
# Control-plane scale benchmark (not a test): configures N peers (default
# 10,000, then 20,000) through UAPI on overlay-wg and on wireguard-go in a
# throwaway namespace, and prints the set time, the `get=1` dump time and
# the resident memory per peer.
# Usage: bench/wg/peers.sh [PATH-TO-overlay-wg] [N]
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../test/wg/io/host/lib.sh"

OGW=${1:-$here/../../build/src/wg/io/overlay-wg}
N=${2:-10000}
ip netns add "$NS_A" || exit 1

run() { # run IMPL LABEL
  local impl=$1 label=$2
  start_wg "$NS_A" "$impl" "$IF_A" || return 1
  local pid=${PIDS[-1]}
  python3 - "/var/run/wireguard/$IF_A.sock" "$pid" "$N" "$label" <<'PY'
import hashlib, os, socket, sys, time
path, pid, n, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def uapi(req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(req.encode())
    s.shutdown(socket.SHUT_WR)
    out = bytearray()
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        out += d
    return out.decode()

def rss_kib():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def peers(first, count):
    lines = []
    for i in range(first, first + count):
        # Real public keys are uniformly random; so are these.
        lines.append("public_key=" + hashlib.sha256(b"%d" % i).hexdigest())
        lines.append("endpoint=192.0.2.%d:%d" % (i % 250 + 1, 10000 + i % 50000))
        lines.append("allowed_ip=10.%d.%d.%d/32" % (i >> 16 & 255, i >> 8 & 255, i & 255))
        lines.append("persistent_keepalive_interval=0")
    return "\n".join(lines) + "\n"

assert "errno=0" in uapi("set=1\nprivate_key=%064x\nlisten_port=0\n\n" % 7)
time.sleep(0.2)
base = rss_kib()
t0 = time.monotonic()
reply = uapi("set=1\n" + peers(0, n) + "\n")
t_set = time.monotonic() - t0
assert "errno=0" in reply, reply
time.sleep(0.5)
per_peer = (rss_kib() - base) * 1024 / n
t0 = time.monotonic()
dump = uapi("get=1\n\n")
t_get = time.monotonic() - t0
assert dump.count("public_key=") == n
reply = uapi("set=1\n" + peers(n, n) + "\n")
assert "errno=0" in reply, reply
t0 = time.monotonic()
dump = uapi("get=1\n\n")
t_get2 = time.monotonic() - t0
assert dump.count("public_key=") == 2 * n
print(f"| {label} | {t_set*1000:.0f} | {t_get*1000:.0f} | {t_get2*1000:.0f} | {per_peer:.0f} |")
PY
  kill "$pid"
  wait "$pid" 2>/dev/null
  PIDS=()
  sleep 0.3
}

echo "| implementation | set $N peers ms | get $N peers ms | get $((2 * N)) peers ms | RSS bytes/peer |"
echo "|---|---|---|---|---|"
run wireguard-go wireguard-go
run "$OGW" overlay-wg
