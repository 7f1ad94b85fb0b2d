#!/usr/bin/env bash
# Reproduces the qemu 7.2 multi-threaded TCG failure that scripts/vm-test.sh works around
# (thread=single): a guest toggling syscall tracepoints (kernel text patching through int3)
# while two processes make syscalls. With thread=multi both Debian kernels die within about a
# minute (6.1: soft lockup, a CPU looping on a stale int3 with interrupts off; 6.12:
# "Oops: int3"); with thread=single they run the whole time. No Vigil code runs in the guest.
#
# usage: scripts/diag/text-poke-stress.sh multi|single [6.1|6.12] [SECONDS]
# (run scripts/vm-test.sh once first: it downloads the kernels into .cache/vm)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
mode="${1:?multi or single}" series="${2:-6.1}" secs="${3:-240}"
kdir="$(ls -d "$root"/.cache/vm/linux-image-"$series"[.-]*amd64 2>/dev/null | sort -V | tail -n 1)"
[ -n "$kdir" ] && [ -s "$kdir/vmlinuz" ] || { echo "no cached $series kernel in .cache/vm: run scripts/vm-test.sh first" >&2; exit 1; }
out="$(mktemp -d)"
cp "$root/scripts/diag/text-poke-stress-guest.sh" "$out/guest.sh"
set +e
timeout $((secs + 300)) qemu-system-x86_64 -accel tcg,thread="$mode" -cpu max -m 2G -smp 2 -nographic -no-reboot \
  -kernel "$kdir/vmlinuz" -initrd "$kdir/initrd.gz" \
  -virtfs local,path=/,mount_tag=host,security_model=none,multidevs=remap \
  -append "console=ttyS0 quiet loglevel=5 panic=-1 softlockup_panic=1 softlockup_all_cpu_backtrace=1 RUN=$out/guest.sh DUR=$secs OUT=$out" \
  > "$out/console.log" 2>&1 < /dev/null
set -e
if [ -s "$out/result" ]; then echo "$series thread=$mode: survived: $(cat "$out/result")"
else echo "$series thread=$mode: guest died:"; grep -E "soft lockup|Oops|Kernel panic" "$out/console.log" | head -n 5; fi
echo "console: $out/console.log"
