#!/usr/bin/env bash
# Boot-time benchmark of the bare-metal smoke test (guest-tests/src/bin/boot_smoke.rs):
# time from process start to the guest's first serial byte and to the process's exit, under
# this project's vmm and under QEMU (-machine microvm, KVM, PVH entry through the image's note),
# same image, same RAM and vCPU count, same host, interleaved runs.
#
# usage: guest-tests/bench-boot.sh [RUNS]        (default 20; needs python3, qemu-system-x86)
# env:   QUIET (default 1: boot with gtest.quiet), TARGET_DIR (default target/bench-boot), QEMU (default qemu-system-x86_64)
# Results go in docs/PERFORMANCE.md, "## Guest boot (bare-metal smoke test)".
set -euo pipefail

RUNS=${1:-20}
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET_DIR=${TARGET_DIR:-$REPO/target/bench-boot}
QEMU=${QEMU:-qemu-system-x86_64}
MEM_MIB=256

command -v python3 >/dev/null || { echo "bench-boot: python3 is needed for timing" >&2; exit 2; }
command -v "$QEMU" >/dev/null || { echo "bench-boot: $QEMU not found (apt-get install qemu-system-x86)" >&2; exit 2; }

echo "building vmm and the guest programs (release)..." >&2
cargo build -q --release -p vmm --target-dir "$TARGET_DIR" --manifest-path "$REPO/Cargo.toml"
(cd "$REPO/guest-tests" && cargo build -q --release --bins --target-dir "$TARGET_DIR/guest-tests")
VMM=$TARGET_DIR/release/vmm
IMAGE=$TARGET_DIR/guest-tests/release/boot_smoke

if [ -d /sys/module/kvm_pvm ]; then HOST_KIND="PVM (kvm_pvm: nested, CPL0 emulated)";
elif grep -qw vmx /proc/cpuinfo; then HOST_KIND="hardware KVM (VMX)";
elif grep -qw svm /proc/cpuinfo; then HOST_KIND="hardware KVM (SVM)";
else HOST_KIND="unknown"; fi
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')

# gtest.quiet: only the first line, FAIL/SKIP lines, SUMMARY and EXIT are printed. Every serial
# byte is a VM exit (~35 us under PVM) in both VMMs; QUIET=0 measures the full output instead.
CMDLINE="gtest.nonce=0 gtest.cpus=1"
[ "${QUIET:-1}" = 1 ] && CMDLINE="$CMDLINE gtest.quiet"
VMM_CMD=("$VMM" --kernel "$IMAGE" --cmdline "$CMDLINE" --memory "$MEM_MIB" --cpus 1 --serial stdio --timeout 30)
QEMU_CMD=("$QEMU" -machine microvm,acpi=on -accel kvm -cpu host -m "$MEM_MIB" -smp 1
          -nodefaults -no-user-config -display none -serial stdio -no-reboot
          -device isa-debug-exit,iobase=0xf4,iosize=4
          -kernel "$IMAGE" -append "$CMDLINE")

echo "host: $HOST_KIND, $CPU, $(nproc) CPUs; $RUNS runs each, interleaved" >&2
python3 - "$RUNS" "${#VMM_CMD[@]}" "${VMM_CMD[@]}" "${QEMU_CMD[@]}" <<'PY'
import os, statistics, subprocess, sys, time

runs = int(sys.argv[1]); n = int(sys.argv[2])
commands = {"vmm": sys.argv[3:3 + n], "qemu microvm": sys.argv[3 + n:]}

def one(cmd):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    first = None
    out = bytearray()
    while True:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        if first is None:
            first = time.perf_counter() - start
        out += chunk
    status = p.wait()
    total = time.perf_counter() - start
    summary = [l for l in out.decode(errors="replace").splitlines() if l.startswith("SUMMARY:")]
    return first, total, status, summary[-1] if summary else "(no SUMMARY line)"

results = {name: [] for name in commands}
last = {}
for _ in range(runs):
    for name, cmd in commands.items():
        first, total, status, summary = one(cmd)
        results[name].append((first if first is not None else float("nan"), total))
        last[name] = (status, summary)

print(f"{'':14} {'first byte ms (median/min)':>28} {'exit ms (median/min)':>24}   last run")
for name, rs in results.items():
    firsts = [r[0] * 1e3 for r in rs]; totals = [r[1] * 1e3 for r in rs]
    status, summary = last[name]
    print(f"{name:14} {statistics.median(firsts):16.1f} / {min(firsts):6.1f} {statistics.median(totals):16.1f} / {min(totals):6.1f}   status {status}, {summary}")
v = results["vmm"]; q = results["qemu microvm"]
ratio_first = statistics.median([r[0] for r in v]) / statistics.median([r[0] for r in q])
ratio_total = statistics.median([r[1] for r in v]) / statistics.median([r[1] for r in q])
print(f"ratio vmm/qemu (medians): first byte {ratio_first:.2f}x, exit {ratio_total:.2f}x (goal <= 0.5x)")
PY
