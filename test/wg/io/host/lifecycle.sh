#!/usr/bin/env bash
# overlay-wg behaves like `wireguard-go IFNAME`: it daemonizes unless -f,
# serves UAPI at once, exits when its interface is deleted or on
# SIGTERM/SIGINT, frees the TUN and removes its socket; wg-quick(8) can use
# it as WG_QUICK_USERSPACE_IMPLEMENTATION.
# Usage: lifecycle.sh PATH-TO-overlay-wg
. "$(dirname "$0")/lib.sh"

OGW=$1
SOCK=/var/run/wireguard/$IF_A.sock
ip netns add "$NS_A" || { echo "cannot create namespace"; exit 1; }

daemon_pid() { # the daemon serving IF_A, found by its exact command line
  pgrep -xf "$OGW $IF_A" | head -1
}

gone() { # gone PID: the process exited, the socket and the link are gone
  local i
  for i in $(seq 50); do
    if ! kill -0 "$1" 2>/dev/null && [[ ! -e $SOCK ]] \
      && ! in_a ip link show "$IF_A" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  ps -p "$1"; ls -l "$SOCK"; in_a ip link show "$IF_A"
  return 1
}

# 1. Daemon mode: the command returns, the device and socket stay.
check "overlay-wg daemonizes and returns 0" timeout 5 \
  ip netns exec "$NS_A" "$OGW" "$IF_A"
check "the UAPI socket is ready when it returns" test -S "$SOCK"
check "the TUN exists with MTU 1420" bash -c \
  "ip netns exec $NS_A ip link show $IF_A | grep -q 'mtu 1420'"
PID=$(daemon_pid)
[[ -n $PID ]] && PIDS+=("$PID")
check "the daemon runs detached" test -n "$PID"
check "wg show reads an ephemeral listen port" bash -c \
  "p=\$(ip netns exec $NS_A wg show $IF_A listen-port); (( p > 0 ))"
check "listen-port 0 picks a new ephemeral port" bash -c \
  "ip netns exec $NS_A wg set $IF_A listen-port 0 && p=\$(ip netns exec $NS_A wg show $IF_A listen-port); (( p > 0 ))"
check "wg set listen-port takes effect" bash -c \
  "ip netns exec $NS_A wg set $IF_A listen-port 45678 && [[ \$(ip netns exec $NS_A wg show $IF_A listen-port) == 45678 ]] && ip netns exec $NS_A ss -uln | grep -q ':45678 '"

check "wg set fwmark is applied and reported" bash -c \
  "ip netns exec $NS_A wg set $IF_A fwmark 0x1234 && [[ \$(ip netns exec $NS_A wg show $IF_A fwmark) == 0x1234 ]]"
check "fwmark 0 clears it" bash -c \
  "ip netns exec $NS_A wg set $IF_A fwmark 0 && [[ \$(ip netns exec $NS_A wg show $IF_A fwmark) == off ]]"

# 2. Deleting the interface ends the daemon.
in_a ip link del "$IF_A"
check "deleting the interface stops the daemon and removes the socket" \
  gone "$PID"

# 3. SIGTERM in daemon mode.
ip netns exec "$NS_A" "$OGW" "$IF_A"
PID=$(daemon_pid)
[[ -n $PID ]] && PIDS+=("$PID")
kill -TERM "$PID"
check "SIGTERM stops the daemon, frees the TUN, removes the socket" \
  gone "$PID"

# 4. SIGINT in the foreground.
ip netns exec "$NS_A" "$OGW" -f "$IF_A" >"$WORK/fg.log" 2>&1 &
PID=$!
PIDS+=("$PID")
wait_socket "$IF_A"
check "foreground mode keeps running" kill -0 "$PID"
kill -INT "$PID"
check "SIGINT stops the foreground daemon" gone "$PID"

# 5. A name that is too long is refused with a message.
check_fails "a 16-byte interface name is refused" \
  ip netns exec "$NS_A" "$OGW" -f owd0123456789abc

# 6. wg-quick with overlay-wg as the userspace implementation.
wg genkey >"$WORK/q.key"
cat >"$WORK/$IF_A.conf" <<CONF
[Interface]
PrivateKey = $(cat "$WORK/q.key")
Address = 10.242.0.1/24, fd10:242::1/64
ListenPort = 51999

[Peer]
PublicKey = $(wg genkey | wg pubkey)
AllowedIPs = 10.242.0.2/32, 10.243.0.0/16
Endpoint = 192.0.2.1:51820
PersistentKeepalive = 25
CONF
check "wg-quick up works with overlay-wg" ip netns exec "$NS_A" \
  env WG_QUICK_USERSPACE_IMPLEMENTATION="$OGW" wg-quick up "$WORK/$IF_A.conf"
PID=$(daemon_pid)
[[ -n $PID ]] && PIDS+=("$PID")
check "the configuration was applied" bash -c \
  "ip netns exec $NS_A wg show $IF_A allowed-ips | grep -q '10.243.0.0/16' && [[ \$(ip netns exec $NS_A wg show $IF_A listen-port) == 51999 ]] && ip netns exec $NS_A wg show $IF_A persistent-keepalive | grep -q 25"
check "wg-quick installed the address and the route" bash -c \
  "ip netns exec $NS_A ip addr show $IF_A | grep -q 10.242.0.1/24 && ip netns exec $NS_A ip route | grep -q '10.243.0.0/16 dev $IF_A'"
check "wg syncconf applies a changed config" bash -c \
  "ip netns exec $NS_A wg showconf $IF_A | sed 's/10.243.0.0\\/16/10.244.0.0\\/16/' > $WORK/sync.conf && ip netns exec $NS_A wg syncconf $IF_A $WORK/sync.conf && ip netns exec $NS_A wg show $IF_A allowed-ips | grep -q 10.244.0.0/16 && ! ip netns exec $NS_A wg show $IF_A allowed-ips | grep -q 10.243.0.0/16"
check "wg-quick down stops it" ip netns exec "$NS_A" \
  env WG_QUICK_USERSPACE_IMPLEMENTATION="$OGW" wg-quick down "$WORK/$IF_A.conf"
check "the daemon left nothing behind" gone "$PID"

finish
