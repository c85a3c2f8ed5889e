#!/usr/bin/env bash
# Build the guest's initramfs: one static /init (resources/linux/init) in an
# uncompressed newc cpio archive.
#
#   resources/linux/build-initramfs.sh   # progress on stderr; archive path on the last stdout line
#
# Archive contents: /dev (with the /dev/console node, char 5:1, which the
# kernel opens as /init's stdin/stdout/stderr before devtmpfs is mounted),
# /proc, /sys, /init. The archive is written directly in the newc format (see
# write_entry): no root privileges are needed for the device node, and the
# result is byte-for-byte reproducible (fixed inode numbers, mtime 0, owner
# 0:0). Debian's cpio then lists it back as an independent check.
#
# Environment: LINUX_GUEST_OUT (output directory, default resources/linux/out),
# CARGO_TARGET_DIR (default $LINUX_GUEST_OUT/init-target), LINUX_GUEST_JOBS
# (cargo -j, default 2). See docs/LINUX.md.
set -euo pipefail

readonly TARGET=x86_64-unknown-linux-gnu

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${LINUX_GUEST_OUT:-$here/out}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$out/init-target}"

log() { printf 'linux-initramfs: %s\n' "$*" >&2; }
die() { printf 'linux-initramfs: ERROR: %s\n' "$*" >&2; exit 1; }

# write_entry NAME MODE INO [FILE] [RDEV_MAJOR RDEV_MINOR]: one newc entry on stdout.
# newc: "070701", then 13 fields of 8 hex digits (ino mode uid gid nlink mtime
# filesize devmajor devminor rdevmajor rdevminor namesize check), the
# NUL-terminated name padded to a multiple of 4 bytes (with the 110-byte
# header), then the file data padded to a multiple of 4 bytes.
write_entry() {
    local name="$1" mode="$2" ino="$3" file="${4:-}" rmaj="${5:-0}" rmin="${6:-0}"
    local size=0 namesize=$((${#1} + 1))
    [ -n "$file" ] && size="$(stat -c %s "$file")"
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$ino" "$mode" 0 0 1 0 "$size" 0 0 "$rmaj" "$rmin" "$namesize" 0
    printf '%s\0' "$name"
    head -c $(((4 - (110 + namesize) % 4) % 4)) /dev/zero
    if [ -n "$file" ]; then
        cat "$file"
        head -c $(((4 - size % 4) % 4)) /dev/zero
    fi
}

main() {
    log "building /init (cargo, target $TARGET, CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
    (cd "$here/init" && cargo build --release --locked --target "$TARGET" \
        -j "${LINUX_GUEST_JOBS:-2}") >&2
    local init="$CARGO_TARGET_DIR/$TARGET/release/init"
    [ -x "$init" ] || die "cargo did not produce $init"
    if readelf -lW "$init" | grep -q 'INTERP' || readelf -dW "$init" | grep -q 'NEEDED'; then
        die "$init is not a static executable"
    fi

    mkdir -p "$out"
    local archive="$out/init.cpio"
    {
        write_entry dev $((0040755)) 1
        write_entry dev/console $((0020600)) 2 "" 5 1
        write_entry proc $((0040755)) 3
        write_entry sys $((0040755)) 4
        write_entry init $((0100755)) 5 "$init"
        write_entry TRAILER!!! 0 0
    } > "$archive.tmp"
    local listing
    listing="$(cpio --quiet -it < "$archive.tmp" | tr '\n' ' ')" || die "cpio cannot read $archive.tmp"
    [ "$listing" = "dev dev/console proc sys init " ] || die "unexpected archive contents: $listing"
    mv "$archive.tmp" "$archive"
    log "$(stat -c %s "$archive") bytes: $listing"
    printf '%s\n' "$archive"
}

main "$@"
