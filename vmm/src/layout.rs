//! The guest-physical memory map: where RAM is, where the VMM puts its boot structures, and
//! what lives in the 32-bit MMIO gap. docs/PLATFORM.md states the same map for guest authors;
//! keep the two in step.
//!
//! ```text
//! 0x0000_0000 ┬ RAM (e820 usable) ───────────────────────────────────────────
//!             │ 0x0000_0500  boot GDT (null, null, code64 = 0x10, data = 0x18, tss = 0x20)
//!             │ 0x0000_7000  zero page (struct boot_params), RSI at entry
//!             │ 0x0000_8000  4 KiB scratch stack (RSP at entry, not part of the contract)
//!             │ 0x0000_9000  PML4
//!             │ 0x0000_a000  PDPT
//!             │ 0x0000_b000  4 page directories (2 MiB pages, identity map of 0..4 GiB)
//!             │ 0x0002_0000  command line (NUL-terminated, at most 64 KiB)
//! 0x000a_0000 ┼ hole (legacy VGA/ROM window, not RAM in e820)
//! 0x000e_0000 ┼ ACPI tables: RSDP at 0xe0000, then DSDT, FADT, MADT, XSDT (e820 reserved)
//! 0x0010_0000 ┼ RAM (e820 usable): kernels and guest programs load here or above
//!             │              initramfs at the top of RAM below the gap
//! 0xc000_0000 ┼ 32-bit MMIO gap (never RAM)
//!             │ 0xd000_0000  virtio-mmio window: 4 KiB slots
//!             │ 0xfec0_0000  IOAPIC
//!             │ 0xfee0_0000  local APICs
//!             │ 0xfffb_c000  KVM identity-map page (VMX real-mode support)
//!             │ 0xfffb_d000  KVM TSS (3 pages)
//! 0x1_0000_0000 RAM above 4 GiB (only when memory > 3 GiB)
//! ```

/// Size helpers.
pub const KIB: u64 = 1 << 10;
/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// One gibibyte.
pub const GIB: u64 = 1 << 30;

/// Boot GDT (5 descriptors).
pub const BOOT_GDT_START: u64 = 0x500;
/// The Linux zero page (`struct boot_params`); its address is in RSI at entry.
pub const ZERO_PAGE_START: u64 = 0x7000;
/// Top of the scratch stack RSP points at on entry (the contract leaves RSP unspecified).
pub const BOOT_STACK_TOP: u64 = 0x8ff0;
/// Identity-map page tables: PML4.
pub const PML4_START: u64 = 0x9000;
/// Identity-map page tables: the one PDPT.
pub const PDPT_START: u64 = 0xa000;
/// Identity-map page tables: four page directories (one per GiB below 4 GiB).
pub const PD_START: u64 = 0xb000;
/// Number of page directories.
pub const PD_COUNT: u64 = 4;
/// Command line.
pub const CMDLINE_START: u64 = 0x2_0000;
/// Room for the command line, including the terminating NUL.
pub const CMDLINE_MAX_SIZE: u64 = 0x1_0000;
/// End of the usable RAM below the legacy hole.
pub const LOW_RAM_END: u64 = 0xa_0000;
/// ACPI tables area (e820 reserved).
pub const ACPI_START: u64 = 0xe_0000;
/// End of the ACPI tables area.
pub const ACPI_END: u64 = 0x10_0000;
/// First address of the RAM guest images load into; everything below is the VMM's.
pub const HIGH_RAM_START: u64 = 0x10_0000;

/// Start of the 32-bit MMIO gap.
pub const MMIO_GAP_START: u64 = 3 * GIB;
/// End (exclusive) of the 32-bit MMIO gap.
pub const MMIO_GAP_END: u64 = 4 * GIB;
/// Window for virtio-mmio devices.
pub const VIRTIO_MMIO_START: u64 = 0xd000_0000;
/// Size of one virtio-mmio slot.
pub const VIRTIO_MMIO_SLOT_SIZE: u64 = 0x1000;
/// Size of the virtio-mmio window (256 slots).
pub const VIRTIO_MMIO_WINDOW_SIZE: u64 = 0x10_0000;
/// IOAPIC MMIO base.
pub const IOAPIC_START: u64 = 0xfec0_0000;
/// Local APIC MMIO base.
pub const LAPIC_START: u64 = 0xfee0_0000;
/// KVM_SET_IDENTITY_MAP_ADDR page.
pub const KVM_IDENTITY_MAP_START: u64 = 0xfffb_c000;
/// KVM_SET_TSS_ADDR (three pages).
pub const KVM_TSS_START: u64 = 0xfffb_d000;

/// Smallest RAM size accepted: the low area plus room for a small image.
pub const MIN_MEMORY: u64 = 4 * MIB;
/// Largest RAM size accepted.
pub const MAX_MEMORY: u64 = 64 * GIB;

// The command line stays in low RAM and the ACPI area below the images, at compile time.
const _: () = assert!(CMDLINE_START + CMDLINE_MAX_SIZE <= LOW_RAM_END);
const _: () = assert!(ACPI_END <= HIGH_RAM_START);

/// The RAM regions for `mem_size` bytes of guest memory, split around the MMIO gap.
pub fn ram_regions(mem_size: u64) -> Vec<(u64, u64)> {
    if mem_size <= MMIO_GAP_START {
        vec![(0, mem_size)]
    } else {
        vec![
            (0, MMIO_GAP_START),
            (MMIO_GAP_END, mem_size - MMIO_GAP_START),
        ]
    }
}

/// End (exclusive) of RAM below the MMIO gap.
pub fn low_ram_end(mem_size: u64) -> u64 {
    mem_size.min(MMIO_GAP_START)
}

/// Linux e820 entry types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum E820Type {
    /// Usable RAM.
    Ram = 1,
    /// Reserved (here: the ACPI tables area).
    Reserved = 2,
}

/// One e820 entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    /// First address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// Kind of range.
    pub kind: E820Type,
}

/// The e820 map of a guest with `mem_size` bytes of RAM (`mem_size >= MIN_MEMORY`).
pub fn e820_map(mem_size: u64) -> Vec<E820Entry> {
    let mut map = vec![
        E820Entry {
            addr: 0,
            size: LOW_RAM_END,
            kind: E820Type::Ram,
        },
        E820Entry {
            addr: ACPI_START,
            size: ACPI_END - ACPI_START,
            kind: E820Type::Reserved,
        },
        E820Entry {
            addr: HIGH_RAM_START,
            size: low_ram_end(mem_size) - HIGH_RAM_START,
            kind: E820Type::Ram,
        },
    ];
    if mem_size > MMIO_GAP_START {
        map.push(E820Entry {
            addr: MMIO_GAP_END,
            size: mem_size - MMIO_GAP_START,
            kind: E820Type::Ram,
        });
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_memory_is_one_region_below_the_gap() {
        assert_eq!(ram_regions(256 * MIB), vec![(0, 256 * MIB)]);
        assert_eq!(ram_regions(3 * GIB), vec![(0, 3 * GIB)]);
    }

    #[test]
    fn memory_larger_than_the_gap_start_continues_at_4_gib() {
        assert_eq!(ram_regions(5 * GIB), vec![(0, 3 * GIB), (4 * GIB, 2 * GIB)]);
    }

    #[test]
    fn e820_covers_all_ram_and_reserves_the_acpi_area() {
        let map = e820_map(5 * GIB);
        let ram: u64 = map
            .iter()
            .filter(|e| e.kind == E820Type::Ram)
            .map(|e| e.size)
            .sum();

        // All RAM except the legacy hole [0xa0000, 0x100000).
        assert_eq!(ram, 5 * GIB - (HIGH_RAM_START - LOW_RAM_END));
        assert!(map.contains(&E820Entry {
            addr: ACPI_START,
            size: ACPI_END - ACPI_START,
            kind: E820Type::Reserved
        }));
        assert_eq!(map.last().map(|e| e.addr), Some(4 * GIB));
    }

    #[test]
    fn e820_entries_are_sorted_and_disjoint() {
        let map = e820_map(256 * MIB);
        for pair in map.windows(2) {
            assert!(pair[0].addr + pair[0].size <= pair[1].addr);
        }
    }

    #[test]
    fn boot_structures_do_not_overlap() {
        let mut areas = [
            (BOOT_GDT_START, 5 * 8),
            (ZERO_PAGE_START, 0x1000),
            (BOOT_STACK_TOP - 0xff0, 0x1000),
            (PML4_START, 0x1000),
            (PDPT_START, 0x1000),
            (PD_START, PD_COUNT * 0x1000),
            (CMDLINE_START, CMDLINE_MAX_SIZE),
            (ACPI_START, ACPI_END - ACPI_START),
        ];
        areas.sort();
        for pair in areas.windows(2) {
            assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:x?}");
        }
    }

    #[test]
    fn gap_devices_lie_inside_the_gap() {
        for addr in [
            VIRTIO_MMIO_START,
            VIRTIO_MMIO_START + VIRTIO_MMIO_WINDOW_SIZE - 1,
            IOAPIC_START,
            LAPIC_START,
            KVM_IDENTITY_MAP_START,
            KVM_TSS_START + 3 * 0x1000 - 1,
        ] {
            assert!((MMIO_GAP_START..MMIO_GAP_END).contains(&addr), "{addr:#x}");
        }
    }
}
