# Shared helpers for the WireGuard host tests: throwaway namespaces joined by
# a veth pair, userspace WireGuard daemons configured only with wg(8), and a
# cleanup trap that removes everything even when a check fails.
# Everything created is named with the owd- / owd prefix plus a per-run
# suffix, because /var/run/wireguard/<ifname>.sock is shared by all netns.

set -u
umask 077

# meson treats exit code 77 as "skipped".
if [[ $(id -u) -ne 0 ]]; then
  echo "skip: needs root"
  exit 77
fi

SFX=$(printf '%04x' $(( ($$ ^ RANDOM) % 65536 )))
NS_A=owd-a-$SFX
NS_B=owd-b-$SFX
VETH_A=owdva$SFX
VETH_B=owdvb$SFX
IF_A=owda$SFX
IF_B=owdb$SFX
OUT_A4=192.168.241.1
OUT_B4=192.168.241.2
OUT_A6=fd99:241::1
OUT_B6=fd99:241::2
IN_A4=10.241.0.1
IN_B4=10.241.0.2
IN_A6=fd10:241::1
IN_B6=fd10:241::2
PORT_A=51820
PORT_B=51821
WORK=$(mktemp -d /tmp/owd-wg-XXXXXX)
PIDS=()
FAILS=0
CHECKS=0

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null
  rm -f "/var/run/wireguard/$IF_A.sock" "/var/run/wireguard/$IF_B.sock"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '# %s\n' "$*"; }

check() { # check "description" command...
  local what=$1
  shift
  CHECKS=$((CHECKS + 1))
  if "$@" >"$WORK/check.out" 2>&1; then
    printf 'ok %d - %s\n' "$CHECKS" "$what"
  else
    FAILS=$((FAILS + 1))
    printf 'not ok %d - %s\n' "$CHECKS" "$what"
    sed 's/^/#   /' "$WORK/check.out" | tail -20
  fi
}

check_fails() { # the command must fail
  local what=$1
  shift
  check "$what" bash -c '! "$@"' _ "$@"
}

finish() {
  printf '# %d checks, %d failed\n' "$CHECKS" "$FAILS"
  [[ $FAILS -eq 0 ]]
}

in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

make_netns() {
  ip netns add "$NS_A" && ip netns add "$NS_B" || return 1
  ip link add "$VETH_A" netns "$NS_A" type veth peer "$VETH_B" netns "$NS_B" \
    || return 1
  in_a ip link set lo up
  in_b ip link set lo up
  in_a ip addr add "$OUT_A4/24" dev "$VETH_A"
  in_b ip addr add "$OUT_B4/24" dev "$VETH_B"
  in_a ip addr add "$OUT_A6/64" dev "$VETH_A" nodad
  in_b ip addr add "$OUT_B6/64" dev "$VETH_B" nodad
  in_a ip link set "$VETH_A" up
  in_b ip link set "$VETH_B" up
}

wait_socket() { # wait_socket IFNAME
  local i
  for i in $(seq 100); do
    [[ -S /var/run/wireguard/$1.sock ]] && return 0
    sleep 0.05
  done
  echo "no UAPI socket for $1" >&2
  return 1
}

start_wg() { # start_wg NS IMPL IFNAME  (foreground daemon, tracked pid)
  local ns=$1 impl=$2 ifname=$3
  ip netns exec "$ns" "$impl" -f "$ifname" >"$WORK/$ifname.log" 2>&1 &
  PIDS+=($!)
  wait_socket "$ifname"
}

# Keys live in files so they never show up in process lists.
make_keys() {
  wg genkey >"$WORK/a.key"
  wg genkey >"$WORK/b.key"
  wg pubkey <"$WORK/a.key" >"$WORK/a.pub"
  wg pubkey <"$WORK/b.key" >"$WORK/b.pub"
  wg genpsk >"$WORK/psk"
  PUB_A=$(cat "$WORK/a.pub")
  PUB_B=$(cat "$WORK/b.pub")
}

# Brings the tunnel interfaces up with inner v4 and v6 addresses.
address_tunnels() {
  in_a ip addr add "$IN_A4/24" dev "$IF_A"
  in_b ip addr add "$IN_B4/24" dev "$IF_B"
  in_a ip addr add "$IN_A6/64" dev "$IF_A" nodad
  in_b ip addr add "$IN_B6/64" dev "$IF_B" nodad
  in_a ip link set "$IF_A" up
  in_b ip link set "$IF_B" up
}

ping_ok() { # ping_ok NS ADDR
  ip netns exec "$1" ping -c 2 -i 0.2 -W 2 "$2"
}

ping_retry() { # first packets may be lost while the handshake runs
  local i
  for i in 1 2 3; do
    ip netns exec "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 && break
  done
  ping_ok "$1" "$2"
}

handshake_of() { # handshake_of NS IFNAME PEERPUB -> unix seconds or 0
  ip netns exec "$1" wg show "$2" latest-handshakes | awk -v k="$3" '$1 == k { print $2 }'
}

endpoint_of() {
  ip netns exec "$1" wg show "$2" endpoints | awk -v k="$3" '$1 == k { print $2 }'
}

has_handshake() { # has_handshake NS IFNAME PEERPUB
  local t
  t=$(handshake_of "$@")
  [[ -n $t && $t -gt 0 ]]
}

# Sends a file through the tunnel over TCP and compares SHA-256 on both ends.
tcp_transfer() { # tcp_transfer SERVER_NS SERVER_ADDR CLIENT_NS MBYTES
  local sns=$1 addr=$2 cns=$3 mb=$4
  head -c "$((mb << 20))" /dev/urandom >"$WORK/payload"
  local want got
  want=$(sha256sum <"$WORK/payload" | cut -d' ' -f1)
  rm -f "$WORK/listening"
  ip netns exec "$sns" python3 - "$addr" "$WORK/received.sha" "$WORK/listening" <<'PY' &
import hashlib, socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
srv = socket.socket(family, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 5555))
srv.listen(1)
open(sys.argv[3], "w").close()
srv.settimeout(30)
conn, _ = srv.accept()
conn.settimeout(20)
h = hashlib.sha256()
while True:
    data = conn.recv(1 << 16)
    if not data:
        break
    h.update(data)
open(sys.argv[2], "w").write(h.hexdigest())
PY
  local server=$! i
  for i in $(seq 300); do
    [[ -e $WORK/listening ]] && break
    sleep 0.1
  done
  ip netns exec "$cns" python3 - "$addr" "$WORK/payload" <<'PY' || return 1
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
import time
deadline = time.monotonic() + 10
while True:  # the server may still be starting on a busy machine
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect((sys.argv[1], 5555))
        break
    except ConnectionRefusedError:
        s.close()
        if time.monotonic() > deadline:
            raise
        time.sleep(0.2)
with open(sys.argv[2], "rb") as f:
    while True:
        chunk = f.read(1 << 16)
        if not chunk:
            break
        s.sendall(chunk)
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
PY
  wait "$server" || return 1
  got=$(cat "$WORK/received.sha")
  echo "sent $want received $got"
  [[ $want == "$got" ]]
}

# Talks raw UAPI to a socket and prints the reply.
uapi_raw() { # uapi_raw IFNAME REQUEST
  python3 - "/var/run/wireguard/$1.sock" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
sys.stdout.write(out.decode())
PY
}
