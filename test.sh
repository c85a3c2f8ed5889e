#!/usr/bin/env bash
# Runs every test of the project on a fresh machine, installing what it needs first.
#
#   ./test.sh            # all tests (KVM tests skip with a message when /dev/kvm is missing)
#   REQUIRE_KVM=1 ./test.sh   # KVM tests fail instead of skipping (what .ci/run does)
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests need (installed only when missing).
need_apt=()
if ((${#need_apt[@]})); then
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null; then
    echo "cargo not found: install a Rust toolchain (rustup) first" >&2
    exit 1
fi

# Real Debian cloud kernels for the bzImage layout test (vmm/tests/linux_layout.rs): fetched with
# apt-get download (about 60 MB, cached under target/debian-kernel).
if sh vmm/tests/fetch-debian-kernel.sh; then
    export REQUIRE_DEBIAN_KERNEL=1
else
    echo "warning: could not fetch Debian kernels; the bzImage layout test will skip" >&2
fi

cargo build --workspace --all-targets
cargo test --workspace -- --test-threads="${TEST_THREADS:-2}"
