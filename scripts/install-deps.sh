#!/usr/bin/env bash
# Installs the Debian packages Vigil builds and tests with. Idempotent: refreshes apt's
# lists, then installs only what is missing. Needs root.
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also what the test suite needs (qemu, busybox, ...)
set -euo pipefail
packages=(libbpf-dev libelf-dev zlib1g-dev libyaml-dev libjson-c-dev bpftool pkg-config iproute2)
if [ "${1:-}" = "--test" ]; then
  packages+=(qemu-system-x86 busybox-static cpio xz-utils gzip python3 python3-yaml clang-format python3-grpcio python3-protobuf protobuf-compiler libprotobuf-dev prometheus rsyslog etcd-server etcd-client logrotate gdb strace libcap2-bin attr cron at sudo kmod netcat-openbsd socat telnet openssl xxd curl openssh-client procps graphviz)
fi
[ "$(id -u)" = 0 ] || { echo "install-deps: needs root to run apt-get (try: sudo $0 $*)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
# apt's lists are also what the VM tests use to find the newest Debian kernels.
apt-get update -qq
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "install-deps: swift not on PATH: Vigil needs Swift 6 (this machine kind ships it at /opt/swift)" >&2; exit 1; }
