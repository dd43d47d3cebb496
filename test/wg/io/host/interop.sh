#!/usr/bin/env bash
# Interop between two userspace WireGuard implementations, configured only
# with wg(8): side A initiates, side B only answers (it has no endpoint).
# Usage: interop.sh IMPL_A IMPL_B   (e.g. overlay-wg wireguard-go)
. "$(dirname "$0")/lib.sh"

IMPL_A=$1
IMPL_B=$2
for impl in "$IMPL_A" "$IMPL_B"; do
  command -v "$impl" >/dev/null || { echo "skip: $impl not installed"; exit 77; }
done
log "A = $IMPL_A, B = $IMPL_B (suffix $SFX)"

make_netns || { echo "cannot create namespaces"; exit 1; }
make_keys
check "A starts and serves UAPI" start_wg "$NS_A" "$IMPL_A" "$IF_A"
check "B starts and serves UAPI" start_wg "$NS_B" "$IMPL_B" "$IF_B"

in_a wg set "$IF_A" private-key "$WORK/a.key" listen-port $PORT_A \
  peer "$PUB_B" preshared-key "$WORK/psk" endpoint "$OUT_B4:$PORT_B" \
  allowed-ips "$IN_B4/32,$IN_B6/128"
in_b wg set "$IF_B" private-key "$WORK/b.key" listen-port $PORT_B \
  peer "$PUB_A" preshared-key "$WORK/psk" allowed-ips "$IN_A4/32,$IN_A6/128"
address_tunnels

check "wg show reads A's listen port" \
  bash -c "[[ \$(ip netns exec $NS_A wg show $IF_A listen-port) == $PORT_A ]]"
check_fails "B has no handshake before traffic" \
  has_handshake "$NS_B" "$IF_B" "$PUB_A"
check "A initiates: ping A->B (IPv4 inner)" ping_retry "$NS_A" "$IN_B4"
check "B records the handshake" has_handshake "$NS_B" "$IF_B" "$PUB_A"
check "A records the handshake" has_handshake "$NS_A" "$IF_A" "$PUB_B"
check "last handshake is absolute Unix time" bash -c \
  "t=\$(ip netns exec $NS_A wg show $IF_A latest-handshakes | awk '{print \$2}'); now=\$(date +%s); (( t <= now && t > now - 60 ))"
check "B learned A's endpoint" \
  bash -c "[[ \$(ip netns exec $NS_B wg show $IF_B endpoints | awk '{print \$2}') == $OUT_A4:$PORT_A ]]"
check "ping B->A (IPv4 inner)" ping_ok "$NS_B" "$IN_A4"
check "ping A->B (IPv6 inner)" ping_ok "$NS_A" "$IN_B6"
check "ping B->A (IPv6 inner)" ping_ok "$NS_B" "$IN_A6"
check "TCP A->B, 16 MiB, bytes verified" tcp_transfer "$NS_B" "$IN_B4" "$NS_A" 16
check "TCP B->A over IPv6 inner, 4 MiB, bytes verified" \
  tcp_transfer "$NS_A" "$IN_A6" "$NS_B" 4
check "transfer counters are reported" bash -c \
  "ip netns exec $NS_A wg show $IF_A transfer | awk '{ exit !(\$2 > 1000000 && \$3 > 16000000) }'"

# Reconfiguration under load: B changes its listen port and A churns
# allowed IPs while a transfer runs; A follows B's new port by roaming.
# A can only learn the new port from a packet B sends from it. Our device
# announces a port change with a keepalive; wireguard-go sends nothing, and
# if B has nothing left to acknowledge when it rebinds, A's data keeps going
# to the old port and the stream stalls. So a wireguard-go B speaks once
# after each change, as a peer with traffic of its own would; our device
# as B must manage on its own announcement.
churn() {
  local i
  sleep 0.5
  for i in 1 2 3 4; do
    in_b wg set "$IF_B" listen-port $((PORT_B + 100 + i))
    if [[ $(basename "$IMPL_B") == wireguard-go ]]; then
      in_b ping -c 1 -W 1 "$IN_A4" >/dev/null 2>&1 || true
    fi
    in_a wg set "$IF_A" peer "$PUB_B" allowed-ips "$IN_B4/32,$IN_B6/128,10.250.$i.0/24"
    sleep 0.4
  done
}
churn &
churn_pid=$!
check "TCP A->B survives listen-port and allowed-ip changes, 32 MiB" \
  tcp_transfer "$NS_B" "$IN_B4" "$NS_A" 32
wait "$churn_pid"
# A learns B's port only from B's packets. The transfer may finish before
# the last port change (a fast machine), so B speaks once more first.
check "B->A from B's last port" ping_retry "$NS_B" "$IN_A4"
check "A followed B to its new port" bash -c \
  "[[ \$(ip netns exec $NS_A wg show $IF_A endpoints | awk '{print \$2}') == $OUT_B4:$((PORT_B + 104)) ]]"
in_b wg set "$IF_B" listen-port $PORT_B
# A only learns B's port from B's packets, so B speaks first.
check "ping B->A from B's original port" ping_retry "$NS_B" "$IN_A4"
check "ping A->B after B returns to its port" ping_ok "$NS_A" "$IN_B4"

# IPv6 outer: A points at B's IPv6 address; B roams to A's IPv6 source.
in_a wg set "$IF_A" peer "$PUB_B" endpoint "[$OUT_B6]:$PORT_B"
check "ping A->B over IPv6 outer" ping_retry "$NS_A" "$IN_B4"
check "B sees A's IPv6 endpoint" bash -c \
  "[[ \$(ip netns exec $NS_B wg show $IF_B endpoints | awk '{print \$2}') == '[$OUT_A6]:$PORT_A' ]]"
check "ping B->A over IPv6 outer (IPv6 inner)" ping_ok "$NS_B" "$IN_A6"
check "TCP A->B over IPv6 outer, 4 MiB" tcp_transfer "$NS_B" "$IN_B4" "$NS_A" 4

# Roaming: A moves back to IPv4 and sends from a new source address.
in_a ip addr add 192.168.241.3/24 dev "$VETH_A"
in_a ip route replace 192.168.241.0/24 dev "$VETH_A" src 192.168.241.3
in_a wg set "$IF_A" peer "$PUB_B" endpoint "$OUT_B4:$PORT_B"
check "ping A->B from A's new address" ping_retry "$NS_A" "$IN_B4"
check "B roamed to A's new endpoint" bash -c \
  "[[ \$(ip netns exec $NS_B wg show $IF_B endpoints | awk '{print \$2}') == 192.168.241.3:$PORT_A ]]"
check "ping B->A follows the roamed endpoint" ping_ok "$NS_B" "$IN_A4"

# Garbage on B's port must not hurt it.
in_a python3 - "$OUT_B4" "$PORT_B" <<'PY'
import os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dst = (sys.argv[1], int(sys.argv[2]))
msgs = [b"", b"\x01", b"\x01\x00\x00\x00" + os.urandom(100),      # short init
        b"\x01\x00\x00\x00" + os.urandom(144),                    # bad mac1
        b"\x02\x00\x00\x00" + os.urandom(88),                     # bad response
        b"\x03\x00\x00\x00" + os.urandom(60),                     # stray cookie
        b"\x04\x00\x00\x00" + os.urandom(8),                      # short data
        b"\x04\x00\x00\x00" + os.urandom(60),                     # unknown index
        b"\x05\x00\x00\x00" + os.urandom(40),                     # bad type
        b"\x01\x00\x00\x00" + os.urandom(1400),                   # oversized init
        os.urandom(65000)]
for _ in range(20):
    for m in msgs:
        try:
            s.sendto(m, dst)
        except OSError:
            pass
PY
check "B survives malformed and truncated packets" kill -0 "${PIDS[1]}"
check "tunnel still works after garbage" ping_ok "$NS_A" "$IN_B4"

# Bad UAPI input: an errno reply and no change at all.
in_b wg showconf "$IF_B" >"$WORK/before.conf"
check "bad allowed_ip gets errno=-22" bash -c \
  "uapi_raw() { $(declare -f uapi_raw | tail -n +2); }; uapi_raw $IF_B \$'set=1\\nlisten_port=40000\\npublic_key=$(printf %064d 7)\\nallowed_ip=10.9.9.9/40\\n\\n' | grep -qx 'errno=-22'"
check "malformed UAPI line gets errno=-71" bash -c \
  "uapi_raw() { $(declare -f uapi_raw | tail -n +2); }; uapi_raw $IF_B \$'set=1\\nlisten_port\\n\\n' | grep -qx 'errno=-71'"
check "unknown UAPI key gets errno=-22" bash -c \
  "uapi_raw() { $(declare -f uapi_raw | tail -n +2); }; uapi_raw $IF_B \$'set=1\\nfrobnicate=1\\n\\n' | grep -qx 'errno=-22'"
in_b wg showconf "$IF_B" >"$WORK/after.conf"
if [[ $(basename "$IMPL_B") == overlay-wg* ]]; then
  check "nothing was half-applied" diff "$WORK/before.conf" "$WORK/after.conf"
else
  # wireguard-go applies each line as it reads it.
  log "skip: atomic set is not checked for $IMPL_B"
fi
check "B still serves get after bad input" bash -c \
  "ip netns exec $NS_B wg show $IF_B peers | grep -q ."

# Removing the peer stops traffic both ways.
in_a wg set "$IF_A" peer "$PUB_B" remove
check "A no longer lists B" bash -c "! ip netns exec $NS_A wg show $IF_A peers | grep -q ."
check_fails "no traffic A->B after removal" ip netns exec "$NS_A" ping -c 2 -W 1 "$IN_B4"
check_fails "no traffic B->A after removal" ip netns exec "$NS_B" ping -c 2 -W 1 "$IN_A4"

finish
