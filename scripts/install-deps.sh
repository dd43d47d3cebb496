#!/usr/bin/env bash
# Installs every Debian 12 package overlayd needs to build, test and run its
# demo. --no-install-recommends matters: wireguard-tools recommends a kernel
# module package, which would drag in a whole kernel image.
set -euo pipefail

packages=(
  meson ninja-build pkg-config g++ clang-format
  libcaf-dev libmnl-dev libsodium-dev libtomlplusplus-dev doctest-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev
  wireguard-tools wireguard-go iproute2 iptables iperf3 coturn stun-client
  iputils-ping python3 procps
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
