#!/usr/bin/env bash
# Runs a C++ host test with two fresh namespaces joined by a veth pair
# (192.168.242.1/24 and .2/24); their names reach the test as OWD_NS_A and
# OWD_NS_B. Everything is removed afterwards, even on failure.
# Usage: in_netns.sh TEST-BINARY [ARGS...]
if [[ $(id -u) -ne 0 ]]; then
  echo "skip: needs root"
  exit 77
fi
sfx=$(printf '%04x' $(( ($$ ^ RANDOM) % 65536 )))
export OWD_NS_A=owd-ta-$sfx OWD_NS_B=owd-tb-$sfx OWD_SFX=$sfx
cleanup() {
  ip netns del "$OWD_NS_A" 2>/dev/null
  ip netns del "$OWD_NS_B" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$OWD_NS_A" && ip netns add "$OWD_NS_B" || exit 1
ip link add "owdta$sfx" netns "$OWD_NS_A" type veth peer "owdtb$sfx" \
  netns "$OWD_NS_B" || exit 1
ip -n "$OWD_NS_A" addr add 192.168.242.1/24 dev "owdta$sfx"
ip -n "$OWD_NS_B" addr add 192.168.242.2/24 dev "owdtb$sfx"
for ns in "$OWD_NS_A" "$OWD_NS_B"; do
  ip -n "$ns" link set lo up
done
ip -n "$OWD_NS_A" link set "owdta$sfx" up
ip -n "$OWD_NS_B" link set "owdtb$sfx" up
"$@"
