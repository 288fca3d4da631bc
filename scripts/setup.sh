#!/usr/bin/env bash
# Installs the Debian 12 packages metastack needs, by role:
#
#   run    build the metastack binary and run it (scripts/run.sh)
#   test   run + what the tests build and run against (scripts/test.sh)
#   bench  test + the peers the benchmarks compare with (bench/*.sh)
#   all    every package: bench (the default)
#
# Usage: scripts/setup.sh [run|test|bench|all]. Each role includes the ones above it; each
# package is listed once. Idempotent: packages already present are left as they are. Run as root.
set -euo pipefail

role=${1:-all}

run=(
  # toolchain
  build-essential cmake ninja-build mold pkg-config
  # libraries
  libboost-dev libboost-system-dev libssl-dev nlohmann-json3-dev libsqlite3-dev libpq-dev
  libisofs-dev libcli11-dev libtomlplusplus-dev libsystemd-dev
  # crypt(3) for the guest's /etc/shadow, with the libcrypt.a its static binary links
  libcrypt-dev
  # what running needs: namespaces, router rules, DHCP options, and scripts/run.sh's guest
  python3 iproute2 iptables dnsmasq-base curl util-linux
)
test=(
  # developer tools (CTest's format check, the tidy preset)
  git clang-format clang-tidy
  # the fuzz preset: clang 16 (clang 14 cannot compile libstdc++'s std::expected) and libFuzzer
  clang-16 libclang-rt-16-dev
  # unit tests, and the benchmarks, which the asan preset builds so they are known to build
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # the real peers the tests run against: Nova's and Neutron's code, cloud-init, PostgreSQL,
  # promtool (prometheus), a DHCP client, libvirt's schemas (virt-xml-validate runs xmllint)
  cloud-init python3-nova python3-neutron postgresql prometheus udhcpc
  # IMDSv2 clients (test_imds_tokens): ec2-metadata, ec2metadata, botocore's fetchers
  amazon-ec2-utils cloud-guest-utils python3-botocore
  libvirt-clients libxml2-utils
  # the images' readers; qemu-img reads the disk containers (test_disk_formats)
  dosfstools mtools xorriso genisoimage qemu-utils
  # the certificates of the TLS tests (tls_certs.py, http_test)
  openssl
  # the Debian package and the systemd units (scripts/package.sh, test_package,
  # test_systemd_units): dpkg-shlibdeps and systemd-analyze
  dpkg-dev systemd man-db
  # a real kernel mounting our images: QEMU (TCG), Debian's cloud kernel, a static busybox
  qemu-system-x86 linux-image-cloud-amd64 busybox-static
)
bench=(
  # what the benchmarks compare with and load with
  wrk nginx-light haproxy
  # cloud-localds, which seed_bench.sh compares with
  cloud-image-utils
)

case "$role" in
  run) packages=("${run[@]}") ;;
  test) packages=("${run[@]}" "${test[@]}") ;;
  bench | all) packages=("${run[@]}" "${test[@]}" "${bench[@]}") ;;
  *)
    echo "setup: unknown role '$role' (expected run, test, bench or all)" >&2
    exit 2
    ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages of role '$role' present"
  exit 0
fi
echo "setup ($role): installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
