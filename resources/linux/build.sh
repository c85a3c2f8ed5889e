#!/usr/bin/env bash
# Build the guest kernel (vmlinux) from Debian's linux-source-6.12 for PVM hosts.
#
#   resources/linux/build.sh            # progress on stderr; vmlinux path on the last stdout line
#
# Steps: install the build dependencies with apt-get if missing; unpack
# /usr/src/linux-source-6.12.tar.xz; apply patches/*.patch; `make tinyconfig`,
# merge config.fragment, `make olddefconfig`; check that the options the guest
# needs really ended up set; `make vmlinux`; check it is a bootable x86-64 ELF
# with a PVH entry note. The result is cached under
#   $LINUX_GUEST_OUT/cache/<key>/vmlinux        (LINUX_GUEST_OUT defaults to resources/linux/out)
# where <key> hashes the source package version, config.fragment, the patches
# and this recipe's revision. When that file exists the script only prints its
# path. $LINUX_GUEST_OUT/vmlinux is a symlink to the last one built. The
# build tree ($LINUX_GUEST_OUT/build, ~2 GB) is deleted after a successful
# build; after a failed or interrupted one it is kept and the next run resumes.
#
# Environment: LINUX_GUEST_OUT (output/cache directory), LINUX_GUEST_JOBS (make -j, default 2).
# See docs/LINUX.md.
set -euo pipefail

# Bump when a step below changes in a way that changes the produced vmlinux.
readonly RECIPE_REV=1
readonly SRC_PACKAGE=linux-source-6.12
readonly SRC_TARBALL=/usr/src/linux-source-6.12.tar.xz
readonly BUILD_DEPS=("$SRC_PACKAGE" bison flex libelf-dev bc cpio)

# Options the guest cannot work without (some are only selected indirectly,
# so they do not appear in config.fragment). Every option the fragment names
# is checked as well.
readonly REQUIRED_ON=(
    64BIT ACPI ACPI_VIOT VIRTIO VIRTIO_MMIO VIRTIO_MMIO_CMDLINE_DEVICES VIRTIO_BLK
    IOMMU_SUPPORT IOMMU_API IOMMU_DMA VIRTIO_IOMMU SERIAL_8250 SERIAL_8250_CONSOLE
    EARLY_PRINTK PRINTK PRINTK_TIME BLK_DEV_INITRD BINFMT_ELF DEVTMPFS PROC_FS SYSFS
    FUTEX PVH KVM_GUEST X86_LOCAL_APIC X86_IO_APIC ACPI_SYSTEM_POWER_STATES_SUPPORT
    CRYPTO_MANAGER_DISABLE_TESTS
)
readonly REQUIRED_OFF=(SMP MODULES RANDOMIZE_BASE CPU_MITIGATIONS)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${LINUX_GUEST_OUT:-$here/out}"
jobs="${LINUX_GUEST_JOBS:-2}"

log() { printf 'linux-guest: %s\n' "$*" >&2; }
die() { printf 'linux-guest: ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else die "need root (or sudo) to run: $*"
    fi
}

install_missing_deps() {
    local missing=() pkg
    for pkg in "${BUILD_DEPS[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing ${missing[*]}"
    as_root apt-get update >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${missing[@]}" >&2
}

# The cache key: everything that decides what vmlinux comes out.
cache_key() {
    local version
    version="$(dpkg-query -W -f='${Version}' "$SRC_PACKAGE")"
    {
        printf 'recipe %s\nsource %s %s\n' "$RECIPE_REV" "$SRC_PACKAGE" "$version"
        printf 'fragment\n'
        cat "$here/config.fragment"
        local p
        for p in "$here"/patches/*.patch; do
            [ -e "$p" ] || continue
            printf 'patch %s\n' "$(basename "$p")"
            cat "$p"
        done
    } | sha256sum | cut -c1-16
}

# Fails unless .config has every option of config.fragment as written there,
# and the REQUIRED_ON/REQUIRED_OFF options.
verify_config() {
    local config="$1" bad=0 line key want opt
    while IFS= read -r line; do
        case "$line" in CONFIG_*=*) ;; *) continue ;; esac
        key="${line%%=*}"
        want="${line#*=}"
        if [ "$want" = n ]; then
            if grep -q "^$key=" "$config"; then
                log "config: $key must be off, is $(grep "^$key=" "$config")"
                bad=1
            fi
        elif ! grep -qxF "$key=$want" "$config"; then
            log "config: $key=$want requested, got '$(grep "^$key=" "$config" || echo unset)'"
            bad=1
        fi
    done < "$here/config.fragment"
    for opt in "${REQUIRED_ON[@]}"; do
        grep -qx "CONFIG_$opt=y" "$config" || { log "config: CONFIG_$opt is required but not =y"; bad=1; }
    done
    for opt in "${REQUIRED_OFF[@]}"; do
        if grep -q "^CONFIG_$opt=" "$config"; then
            log "config: CONFIG_$opt must be off"
            bad=1
        fi
    done
    [ "$bad" -eq 0 ] || die "kernel configuration does not have what the guest needs (see above)"
}

# Fails unless $1 is an x86-64 ELF executable whose entry is set and that
# carries the PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY = 18).
verify_vmlinux() {
    local image="$1" header
    header="$(readelf -h "$image")" || die "$image is not an ELF file"
    grep -q 'Class:.*ELF64' <<<"$header" || die "$image is not ELF64"
    grep -q 'Type:.*EXEC' <<<"$header" || die "$image is not an executable ELF"
    grep -q 'Machine:.*X86-64' <<<"$header" || die "$image is not x86-64"
    grep -Eq 'Entry point address:[[:space:]]+0x[0-9a-f]*[1-9a-f]' <<<"$header" \
        || die "$image has no entry point"
    readelf -n "$image" | grep -Eq 'Xen[[:space:]]+0x[0-9a-f]+[[:space:]]+(0x00000012|NT_VERSION|Unknown note type: \(0x00000012\))' \
        || die "$image has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)"
}

prepare_tree() {
    local key="$1" build="$2"
    log "unpacking $SRC_TARBALL into $build"
    rm -rf "$build"
    mkdir -p "$build/linux"
    tar -xJf "$SRC_TARBALL" -C "$build/linux" --strip-components=1
    local p
    for p in "$here"/patches/*.patch; do
        [ -e "$p" ] || continue
        log "applying $(basename "$p")"
        patch -d "$build/linux" -p1 --forward --batch --no-backup-if-mismatch < "$p" >&2 \
            || die "patch $(basename "$p") does not apply"
    done
    log "configuring: tinyconfig + config.fragment + olddefconfig (log: $build/config.log)"
    {
        make -C "$build/linux" -s tinyconfig &&
            (cd "$build/linux" && scripts/kconfig/merge_config.sh -m .config "$here/config.fragment") &&
            make -C "$build/linux" -s olddefconfig
    } > "$build/config.log" 2>&1 || { cat "$build/config.log" >&2; die "kernel configuration failed"; }
    verify_config "$build/linux/.config"
    printf '%s\n' "$key" > "$build/.key"
}

main() {
    install_missing_deps
    [ -r "$SRC_TARBALL" ] || die "$SRC_TARBALL missing although $SRC_PACKAGE is installed"

    local key cached build
    key="$(cache_key)"
    cached="$out/cache/$key/vmlinux"
    if [ -f "$cached" ]; then
        log "cached: $cached"
        printf '%s\n' "$cached"
        return 0
    fi

    mkdir -p "$out"
    exec 9>"$out/.lock"
    flock 9
    if [ -f "$cached" ]; then # built by a concurrent run while we waited
        printf '%s\n' "$cached"
        return 0
    fi

    build="$out/build"
    if [ "$(cat "$build/.key" 2>/dev/null)" != "$key" ]; then
        prepare_tree "$key" "$build"
    else
        log "resuming the build in $build"
        verify_config "$build/linux/.config"
    fi

    log "building vmlinux (nice -n 10 make -j$jobs); log: $out/build.log"
    local start end
    start="$(date +%s)"
    KBUILD_BUILD_TIMESTAMP='1970-01-01 00:00:00 UTC' KBUILD_BUILD_USER=pvm-guest \
        KBUILD_BUILD_HOST=resources-linux \
        nice -n 10 make -C "$build/linux" -j"$jobs" vmlinux > "$out/build.log" 2>&1 \
        || { tail -n 40 "$out/build.log" >&2; die "kernel build failed (full log: $out/build.log)"; }
    end="$(date +%s)"
    verify_vmlinux "$build/linux/vmlinux"

    local staging="$out/cache/$key.tmp"
    rm -rf "$staging"
    mkdir -p "$staging"
    cp "$build/linux/vmlinux" "$build/linux/.config" "$build/linux/System.map" "$staging/"
    {
        printf 'key=%s\nsource=%s %s\n' "$key" "$SRC_PACKAGE" \
            "$(dpkg-query -W -f='${Version}' "$SRC_PACKAGE")"
        printf 'make_seconds=%s\njobs=%s\nsize_bytes=%s\n' "$((end - start))" "$jobs" \
            "$(stat -c %s "$build/linux/vmlinux")"
    } > "$staging/build-info.txt"
    mv "$staging" "$out/cache/$key"
    ln -sfn "cache/$key/vmlinux" "$out/vmlinux"
    rm -rf "$build"
    log "built in $((end - start)) s: $cached"
    printf '%s\n' "$cached"
}

main "$@"
