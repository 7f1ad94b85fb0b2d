#!/usr/bin/env bash
# Runs the kernel tests (the KernelTests XCTest classes, plus `vigil probe`) inside full
# Debian kernels under qemu: the newest linux-image-6.1.0-*-amd64 and
# linux-image-6.12.*+deb12-amd64 that apt knows. The host filesystem is shared over 9p,
# so the binaries built on the host run unchanged in the guest.
#
# usage: scripts/vm-test.sh [--kernels "6.1 6.12"] [--build-dir DIR]
#        scripts/vm-test.sh --classes "ConnectDenyTests,NetworkSensorTests"   (only these KernelTests classes)
#        scripts/vm-test.sh --bench "open-overhead-guest 5 20000" --build-dir .build/release
#          (runs vigil-bench in each guest instead of the tests and prints its figures;
#           benchmarks are not tests: never part of scripts/test)
#
# The guests read and write the host's files through qemu (9p): while they run, load no
# enforcing policy on the host (a kill on reads of /etc/shadow kills qemu itself).
#
# Prints one line per kernel, `vm-<series>: N passed, N failed, N skipped`, and exits
# non-zero when a guest test fails, a guest never reports, or a boot fails (the guest's
# console tail is printed then). Kernels and initramfs are cached in .cache/vm (git-ignored).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
kernels="6.1 6.12"
bin=""
bench=""
classes=""
while [ $# -gt 0 ]; do
  case "$1" in
    --kernels) kernels="$2"; shift 2 ;;
    --build-dir) bin="$2"; shift 2 ;;
    --bench) bench="$2"; shift 2 ;;
    --classes) classes="$2"; shift 2 ;;
    *) echo "vm-test: unknown argument '$1' (see the header of $0)" >&2; exit 2 ;;
  esac
done
[ -n "$bin" ] || bin="$(cd "$root" && swift build --show-bin-path)"
xctest="$bin/vigilPackageTests.xctest"
if [ -n "$bench" ]; then
  [ -x "$bin/vigil-bench" ] && [ -x "$bin/vigil" ] || { echo "vm-test: build first (swift build -c release): $bin/vigil-bench or $bin/vigil missing" >&2; exit 1; }
else
  [ -x "$xctest" ] && [ -x "$bin/vigil" ] || { echo "vm-test: build first (swift build --build-tests): $xctest or $bin/vigil missing" >&2; exit 1; }
fi
[ "$(id -u)" = 0 ] || { echo "vm-test: needs root (apt-get download, qemu with the host tree over 9p)" >&2; exit 1; }

cache="$root/.cache/vm"
mkdir -p "$cache"
# Guests must reach every tier their kernel offers: a skip there is a failure.
common_features="btf,ring_buffer,tracepoint,raw_tp,tp_btf,kprobe,fentry,fexit,fmod_ret,lsm,cgroup_sock_addr,cgroup_skb,tc,send_signal,d_path,get_current_task_btf,uprobe"
# Debian builds without CONFIG_BPF_KPROBE_OVERRIDE.
expect_missing="override_return"
# The KernelTests classes, as XCTest filters (it takes Module.Class, not a module alone).
filters=""
if [ -z "$bench" ]; then
  filters="$("$xctest" -l 2>/dev/null | sed -n 's#^\(KernelTests\.[A-Za-z0-9_]*\)/.*#\1#p' | sort -u | paste -sd, -)"
  [ -n "$filters" ] || { echo "vm-test: no KernelTests found in $xctest" >&2; exit 1; }
  # Classes marked `// kernel-test-host-only: WHY` stay on the host: the fleet tests talk to
  # an etcd on loopback, and a guest's only way out would be qemu's user-mode network.
  for file in "$root"/Tests/KernelTests/*.swift; do
    grep -q '^// kernel-test-host-only:' "$file" || continue
    class="$(grep -m1 -oE '^final class [A-Za-z0-9_]+' "$file" | awk '{print $3}' || true)"
    [ -n "$class" ] || { echo "vm-test: $file is marked kernel-test-host-only but declares no final class (mark the class's own file)" >&2; exit 2; }
    filters="$(echo "$filters" | tr ',' '\n' | grep -vx "KernelTests.$class" | paste -sd, -)"
  done
  [ -z "$classes" ] || filters="$(echo "$classes" | tr ',' '\n' | sed 's#^#KernelTests.#' | paste -sd, -)"
fi

# Classes marked `// kernel-test-guests: SERIES...: WHY` run only in those guests (the guests
# share two host cores under emulation; a class whose tiers the host and one guest already
# show runs once). VIGIL_VM_SPLIT=0 runs every class and suite in every guest (with
# VIGIL_VM_TIMEOUT=5000: the whole set, over an hour per guest). Prints one guest's filters.
guest_filters() {
  local series="$1" out="$filters" file class only
  for file in "$root"/Tests/KernelTests/*.swift; do
    only="$(sed -n 's#^// kernel-test-guests: \([0-9. ]*\):.*#\1#p' "$file" | head -n 1)"
    [ -n "$only" ] || continue
    class="$(grep -m1 -oE '^final class [A-Za-z0-9_]+' "$file" | awk '{print $3}' || true)"
    [ -n "$class" ] || { echo "vm-test: $file is marked kernel-test-guests but declares no final class" >&2; return 2; }
    case " $only " in *" $series "*) continue ;; esac
    out="$(echo "$out" | tr ',' '\n' | grep -vx "KernelTests.$class" | paste -sd, -)"
  done
  echo "$out"
}

newest_package() {
  local pattern
  case "$1" in
    6.1) pattern='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
    6.12) pattern='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
    *) echo "vm-test: unknown kernel series '$1' (6.1 or 6.12)" >&2; return 1 ;;
  esac
  apt-cache search --names-only "$pattern" | awk '{print $1}' | grep -E "$pattern" | sort -V | tail -n 1
}

# Unpacks the kernel package and builds a busybox initramfs with the virtio/9p modules.
prepare_kernel() {
  local pkg="$1" dir="$cache/$1"
  # The modules the init inserts; a change rebuilds the cached initramfs.
  local modules="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p sch_ingress cls_bpf veth"
  if [ ! -s "$dir/vmlinuz" ] || [ ! -s "$dir/initrd.gz" ] || [ "$(cat "$dir/initrd.modules" 2>/dev/null)" != "$modules" ]; then
    rm -rf "$dir" && mkdir -p "$dir/deb" "$dir/initrd/bin" "$dir/initrd/lib/modules" "$dir/initrd/proc" "$dir/initrd/sys" "$dir/initrd/dev" "$dir/initrd/mnt"
    (cd "$dir/deb" && apt-get download -q "$pkg" >/dev/null 2>&1) || { echo "vm-test: apt-get download $pkg failed" >&2; return 1; }
    dpkg -x "$dir"/deb/*.deb "$dir/root"
    cp "$dir"/root/boot/vmlinuz-* "$dir/vmlinuz"
    [ -x /bin/busybox ] || { echo "vm-test: /bin/busybox missing: apt-get install busybox-static" >&2; return 1; }
    cp /bin/busybox "$dir/initrd/bin/busybox"
    local order=""
    # 6.1 needs all of these as modules; on 6.12 virtio is built in and fscache is part of netfs.
    # sch_ingress (clsact), cls_bpf and veth are modules in Debian: a full system autoloads them, this init cannot.
    for m in $modules; do
      local f
      f="$(find "$dir/root/lib/modules" -name "$m.ko" -o -name "$m.ko.xz" | head -n 1)"
      [ -n "$f" ] || continue
      case "$f" in
        *.xz) xz -dc "$f" > "$dir/initrd/lib/modules/$m.ko" ;;
        *) cp "$f" "$dir/initrd/lib/modules/$m.ko" ;;
      esac
      order="$order $m"
    done
    echo "$order" > "$dir/initrd/modules.order"
    cat > "$dir/initrd/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m.ko || echo "vm-init: insmod $m failed"; done
mkdir -p /mnt
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 host /mnt; then
  mount -t proc proc /mnt/proc
  mount -t sysfs sys /mnt/sys
  mount -t devtmpfs dev /mnt/dev
  run="$(sed -n 's/.*RUN=\([^ ]*\).*/\1/p' /proc/cmdline)"
  chroot /mnt /bin/bash "$run"
  echo "VIGIL-GUEST-EXIT $?"
else
  echo "vm-init: 9p mount failed"
fi
poweroff -f
INIT
    chmod +x "$dir/initrd/init"
    (cd "$dir/initrd" && find . | cpio -o -H newc --quiet | gzip -1) > "$dir/initrd.gz"
    echo "$modules" > "$dir/initrd.modules"
    rm -rf "$dir/deb"
  fi
}

# One guest: boots it, runs the tests (or the bench) and writes its report to
# $cache/report-<series> (printed by the caller) and its summary line to $cache/summary-<series>.
run_guest() {
  local series="$1" pkg="$2" features missing out start qemu_rc secs line executed skipped failures rc passed
  features="$common_features"
  # 6.12 adds tcx (6.6+) and kprobe.multi (Debian 6.1 answers EOPNOTSUPP to its attach).
  missing="$expect_missing"
  case "$series" in
    6.12) features="$features,tcx,kprobe_multi" ;;
    6.1) missing="$missing,tcx,kprobe_multi" ;;
  esac
  out="$cache/results-$series"
  rm -rf "$out" && mkdir -p "$out"
  local filters="$filters"
  if [ -z "$bench" ] && [ -z "$classes" ] && [ "${VIGIL_VM_SPLIT:-1}" != 0 ]; then filters="$(guest_filters "$series")" || return; fi
  cat > "$out/guest.sh" <<GUEST
#!/bin/bash
# Runs inside the guest (chrooted into the host tree).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
export VIGIL_IN_VM=1 VIGIL_EXPECT_FEATURES=$features VIGIL_EXPECT_MISSING=$missing VIGIL_RESULTS_DIR=$out CI=${CI:-} VIGIL_VM_SPLIT=${VIGIL_VM_SPLIT:-1}
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
# Guest-local scratch space: inode numbers on 9p are not the guest kernel's own. It lives
# under the guest's own devtmpfs, never over a host path (the checkout may be under /tmp).
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm
# /run too: named network namespaces (/run/netns), endpoint records (/run/vigil) and locks are
# per machine, and the two guests run side by side over the same host tree.
mount -t tmpfs tmpfs /run && mkdir -p /run/lock
# /etc/ssh too: the file integrity attacks (tests/attacks/fim-writes.yaml) make and delete
# files there, and the other guest does the same at the same time. A copy of the host's on a
# guest tmpfs (a mount boundary the attacks then cross as well).
mkdir -p /dev/shm/etc-ssh && cp -a /etc/ssh/. /dev/shm/etc-ssh/ 2>/dev/null; mount -t tmpfs tmpfs /etc/ssh && cp -a /dev/shm/etc-ssh/. /etc/ssh/ && rm -rf /dev/shm/etc-ssh
export TMPDIR=/dev/shm
ip link set lo up 2>/dev/null
cd "$root"
uname -r > "$out/uname"
cat /sys/devices/system/clocksource/clocksource0/current_clocksource > "$out/clocksource" 2>/dev/null
if [ -n "$bench" ]; then
  "$bin/vigil-bench" $bench > "$out/bench.txt" 2>&1
  echo \$? > "$out/rc"
else
  "$bin/vigil" probe > "$out/probe.txt" 2>&1
  "$bin/vigil" probe --json > "$out/probe.json" 2>"$out/probe.err"
  "$xctest" "$filters" > "$out/tests.log" 2>&1
  echo \$? > "$out/rc"
fi
sync
GUEST
  chmod +x "$out/guest.sh"
  start=$(date +%s)
  # thread=single: one host thread runs both vCPUs in turn. With thread=multi, qemu 7.2 (Debian
  # 12) lets a vCPU run a stale translation of kernel text another vCPU just patched: the int3
  # that text_poke_bp puts in for a moment is executed after it is gone, and the guest dies
  # ("Oops: int3" on 6.12) or loops on it with interrupts off while the patching CPU waits for
  # it forever (soft lockup on 6.1). Every tracepoint attach or detach patches text, so the
  # kernel tests hit it now and then; toggling a tracefs event in a loop (no Vigil code) hits it
  # within a minute on both kernels with thread=multi and never in 4 minutes with thread=single.
  # The two guests run side by side instead, one host thread each.
  # 40 minutes: every class in every guest had grown past it (each guest ~60 minutes in
  # December 2026, two thirds of it the attack and detection suites); with the classes split
  # (guest_filters, and the attack and detection suites shared out) each takes ~26-28 minutes (measured 2026-12-07: 1,460 s and 1,563 s of tests).
  timeout "${VIGIL_VM_TIMEOUT:-2400}" qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 2G -smp 2 -nographic -no-reboot \
    -kernel "$cache/$pkg/vmlinuz" -initrd "$cache/$pkg/initrd.gz" \
    -virtfs local,path=/,mount_tag=host,security_model=none,multidevs=remap \
    -append "console=ttyS0 quiet loglevel=5 panic=-1 softlockup_panic=1 softlockup_all_cpu_backtrace=1 lsm=lockdown,capability,landlock,yama,bpf RUN=$out/guest.sh" \
    > "$out/console.log" 2>&1 < /dev/null
  qemu_rc=$?
  secs=$(( $(date +%s) - start ))
  if [ ! -s "$out/rc" ]; then
    echo "vm-$series ($pkg): the guest never reported (qemu exit $qemu_rc after ${secs}s). Console tail:"
    # The test that was running, then the kernel's own account: each report's header lines
    # (which CPU, which task, what state) first, since a full backtrace set is long.
    echo "  last test lines:"; tail -n 5 "$out/tests.log" 2>/dev/null | sed 's/^/  | /'
    echo "  kernel reports:"; grep -E "BUG:|WARNING:|Oops|soft lockup|rcu:|Comm:|RIP: 0010|NMI backtrace|Kernel panic" "$out/console.log" | head -n 60 | sed 's/^/  | /'
    echo "  console tail:"; tail -n 150 "$out/console.log" | sed 's/^/  | /'
    echo "vm-$series: 0 passed, 1 failed" > "$cache/summary-$series"
    return
  fi
  echo "=== vm-$series: $pkg (guest uname $(cat "$out/uname"), ${secs}s) ==="
  if [ -n "$bench" ]; then
    sed 's/^/  | /' "$out/bench.txt"
    echo "vm-$series: bench exit $(cat "$out/rc") (figures above; indicative: emulated CPU)" > "$cache/summary-$series"
    return
  fi
  sed 's/^/  | /' "$out/probe.txt"
  grep -E "error|failed|skipped|Executed" "$out/tests.log" | grep -v "' passed" | sed 's/^/  | /' || true
  line="$(grep -E 'Executed [0-9]+ tests?' "$out/tests.log" | tail -n 1)"
  executed="$(echo "$line" | sed -n 's/.*Executed \([0-9]*\) tests\{0,1\}.*/\1/p')"
  skipped="$(echo "$line" | sed -n 's/.* \([0-9]*\) tests\{0,1\} skipped.*/\1/p')"
  failures="$(echo "$line" | sed -n 's/.* \([0-9]*\) failures\{0,1\}.*/\1/p')"
  executed=${executed:-0} skipped=${skipped:-0} failures=${failures:-0}
  rc="$(cat "$out/rc")"
  if [ "$executed" = 0 ] || { [ "$rc" != 0 ] && [ "$failures" = 0 ]; }; then
    echo "vm-$series: the test binary exited $rc without a usable summary; log tail:"
    tail -n 30 "$out/tests.log" | sed 's/^/  | /'
    failures=$((failures + 1))
  fi
  if ! python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out/probe.json" 2>/dev/null; then
    echo "vm-$series: vigil probe --json did not print valid JSON"
    failures=$((failures + 1))
  fi
  passed=$((executed - skipped - (failures > executed ? executed : failures)))
  [ "$passed" -ge 0 ] || passed=0
  echo "vm-$series: $passed passed, $failures failed, $skipped skipped" > "$cache/summary-$series"
}

# Kernels and initramfs first (apt, one at a time), then the guests side by side.
pids=()
for series in $kernels; do
  pkg="$(newest_package "$series")" || exit 2
  [ -n "$pkg" ] || { echo "vm-test: no linux-image package for $series in apt's lists (run apt-get update)" >&2; exit 1; }
  prepare_kernel "$pkg"
  rm -f "$cache/report-$series" "$cache/summary-$series"
  (set +e; run_guest "$series" "$pkg") > "$cache/report-$series" 2>&1 &
  pids+=($!)
  # Benchmarks one guest at a time: a neighbour would be part of the figures.
  [ -z "$bench" ] || wait "$!" || true
done
for pid in "${pids[@]}"; do wait "$pid" || true; done

total_failed=0
for series in $kernels; do
  cat "$cache/report-$series" 2>/dev/null
  [ -s "$cache/summary-$series" ] || echo "vm-$series: 0 passed, 1 failed" > "$cache/summary-$series"
done
for series in $kernels; do
  line="$(cat "$cache/summary-$series")"
  echo "$line"
  case "$line" in
    *" bench exit 0 "*) ;;
    *" bench exit "*) total_failed=$((total_failed + 1)) ;;
    *) f="$(echo "$line" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')"; total_failed=$((total_failed + ${f:-1})) ;;
  esac
done
[ "$total_failed" = 0 ]
