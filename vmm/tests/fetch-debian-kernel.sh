#!/bin/sh
# Downloads Debian cloud kernels (the newest linux-image-*-cloud-amd64-unsigned of each kernel
# series apt offers, e.g. 6.1 and 6.12) and extracts their bzImages, for
# vmm/tests/linux_layout.rs. Usage:
#   vmm/tests/fetch-debian-kernel.sh [DEST]      (default DEST: <repo>/target/debian-kernel)
# Leaves DEST/<package>/vmlinuz, one per package.
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:-"$repo/target/debian-kernel"}
mkdir -p "$dest"
cd "$dest"

list_pkgs() {
    apt-cache search --names-only '^linux-image-[0-9].*-cloud-amd64-unsigned$' 2>/dev/null |
        cut -d' ' -f1 | sort -V
}
pkgs=$(list_pkgs)
if [ -z "$pkgs" ]; then
    # apt-cache knows nothing until the package lists have been fetched once.
    apt-get update >/dev/null
    pkgs=$(list_pkgs)
fi
if [ -z "$pkgs" ]; then
    echo "no linux-image-*-cloud-amd64-unsigned package found" >&2
    exit 1
fi
# The newest package of each series: linux-image-<major>.<minor>.…
newest=$(echo "$pkgs" | awk -F'[-.]' '{ series = $3 "." $4; last[series] = $0 } END { for (s in last) print last[s] }')
for pkg in $newest; do
    if [ -e "$pkg/vmlinuz" ]; then
        echo "$dest/$pkg/vmlinuz (already there)"
        continue
    fi
    rm -rf "$pkg.tmp"
    mkdir "$pkg.tmp"
    (cd "$pkg.tmp" && apt-get download "$pkg" 2>/dev/null && dpkg-deb -x ./*.deb extracted)
    kernel=$(ls "$pkg.tmp"/extracted/boot/vmlinuz-* | head -n 1)
    cp "$kernel" "$pkg.tmp/vmlinuz"
    rm -rf "$pkg.tmp/extracted" "$pkg.tmp"/*.deb
    rm -rf "$pkg"
    mv "$pkg.tmp" "$pkg"
    echo "$dest/$pkg/vmlinuz"
done
