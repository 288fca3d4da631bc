#!/usr/bin/env bash
# Installs every Debian 12 package metastack needs to build, test and benchmark.
# Idempotent: packages already present are left as they are. Run as root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build mold pkg-config git clang-format clang-tidy
  # the fuzz preset: clang 16 (clang 14 cannot compile libstdc++'s std::expected) and libFuzzer
  clang-16 libclang-rt-16-dev
  # libraries
  libboost-dev libboost-system-dev libssl-dev nlohmann-json3-dev libsqlite3-dev libpq-dev
  libisofs-dev libcli11-dev libtomlplusplus-dev libsystemd-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev prometheus
  # the real peers our tests and benchmarks run against
  python3 cloud-init python3-nova python3-neutron
  postgresql iproute2 iptables dnsmasq-base udhcpc curl wrk nginx-light haproxy
  dosfstools mtools xorriso genisoimage util-linux
  # the Debian package and the systemd units (scripts/package.sh, test_package,
  # test_systemd_units): dpkg-shlibdeps and systemd-analyze
  dpkg-dev systemd
  # a real kernel mounting our images: QEMU (TCG), Debian's cloud kernel, a static busybox
  qemu-system-x86 linux-image-cloud-amd64 busybox-static
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
