#!/bin/bash
# Guest: toggles syscall tracepoints (kernel text patching through int3) while two processes
# make syscalls, to see whether a vCPU gets stuck re-executing a stale int3.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
out="${OUT:?}"
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
for i in 1 2; do ( while :; do cat /proc/self/stat > /dev/null; done ) & done
t=/sys/kernel/tracing/events
start=$(date +%s)
n=0
while [ $(( $(date +%s) - start )) -lt ${DUR:-240} ]; do
  echo 1 > $t/raw_syscalls/sys_enter/enable
  echo 1 > $t/raw_syscalls/sys_exit/enable
  echo 0 > $t/raw_syscalls/sys_enter/enable
  echo 0 > $t/raw_syscalls/sys_exit/enable
  n=$((n+1))
done
echo "toggles $n in ${DUR:-240}s" > $out/result
sync
