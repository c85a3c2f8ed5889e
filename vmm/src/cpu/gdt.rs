//! The boot GDT and the segment registers loaded from it.
//!
//! Selectors follow the Linux 64-bit boot protocol: "__BOOT_CS(0x10) and __BOOT_DS(0x18); both
//! descriptors must be 4G flat segment; __BOOT_CS must have execute/read permission, and
//! __BOOT_DS must have read/write permission; CS must be __BOOT_CS and DS, ES, SS must be
//! __BOOT_DS". Entry 4 (0x20) is a TSS descriptor so TR holds a valid 64-bit TSS at entry.

use kvm_bindings::kvm_segment;

/// Code segment selector (`__BOOT_CS`).
pub const BOOT_CS: u16 = 0x10;
/// Data segment selector (`__BOOT_DS`).
pub const BOOT_DS: u16 = 0x18;
/// TSS selector.
pub const BOOT_TSS: u16 = 0x20;

/// Access/flags nibbles (bits 8..16 and 20..24 of the high dword, packed as `0xF0AA`-style
/// `flags << 12 | access`): 64-bit code (L=1), present, DPL 0, execute/read, accessed.
const CODE64: u16 = 0xa09b;
/// Flat data: G=1, D/B=1, present, DPL 0, read/write, accessed.
const DATA: u16 = 0xc093;
/// 64-bit TSS, busy.
const TSS64: u16 = 0x008b;

/// Builds a segment descriptor.
pub const fn descriptor(flags: u16, base: u32, limit: u32) -> u64 {
    let base = base as u64;
    let limit = limit as u64;
    let flags = flags as u64;
    ((base & 0xff00_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0xffff)
        | ((limit & 0xf_0000) << 32)
        | ((flags & 0xf0ff) << 40)
}

/// The boot GDT: null, null, code64 (0x10), data (0x18), TSS (0x20).
pub const BOOT_GDT: [u64; 5] = [
    0,
    0,
    descriptor(CODE64, 0, 0xf_ffff),
    descriptor(DATA, 0, 0xf_ffff),
    descriptor(TSS64, 0, 0x67),
];

/// The `kvm_segment` a descriptor loads into a segment register for `selector`.
pub fn segment_from_descriptor(selector: u16, desc: u64) -> kvm_segment {
    let base = ((desc >> 16) & 0x00ff_ffff) | ((desc >> 32) & 0xff00_0000);
    let raw_limit = (desc & 0xffff) | ((desc >> 32) & 0xf_0000);
    let g = ((desc >> 55) & 1) as u8;
    // The descriptor's limit is in 4 KiB units when G is set; kvm_segment wants bytes.
    let limit = if g == 1 {
        (raw_limit << 12) | 0xfff
    } else {
        raw_limit
    };
    kvm_segment {
        base,
        limit: limit as u32,
        selector,
        type_: ((desc >> 40) & 0xf) as u8,
        present: ((desc >> 47) & 1) as u8,
        dpl: ((desc >> 45) & 3) as u8,
        db: ((desc >> 54) & 1) as u8,
        s: ((desc >> 44) & 1) as u8,
        l: ((desc >> 53) & 1) as u8,
        g,
        avl: ((desc >> 52) & 1) as u8,
        unusable: if (desc >> 47) & 1 == 1 { 0 } else { 1 },
        padding: 0,
    }
}

/// The code segment at entry.
pub fn boot_code_segment() -> kvm_segment {
    segment_from_descriptor(BOOT_CS, BOOT_GDT[usize::from(BOOT_CS >> 3)])
}

/// The data segment at entry (DS, ES, FS, GS, SS).
pub fn boot_data_segment() -> kvm_segment {
    segment_from_descriptor(BOOT_DS, BOOT_GDT[usize::from(BOOT_DS >> 3)])
}

/// The task register at entry.
pub fn boot_tss_segment() -> kvm_segment {
    segment_from_descriptor(BOOT_TSS, BOOT_GDT[usize::from(BOOT_TSS >> 3)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_segment_is_flat_64_bit_ring_0() {
        let cs = boot_code_segment();
        assert_eq!((cs.base, cs.limit, cs.selector), (0, 0xffff_ffff, 0x10));
        assert_eq!(
            (cs.l, cs.db, cs.dpl, cs.present, cs.s, cs.g),
            (1, 0, 0, 1, 1, 1)
        );
        assert_eq!(cs.type_, 0xb); // execute/read, accessed
    }

    #[test]
    fn data_segment_is_flat_writable() {
        let ds = boot_data_segment();
        assert_eq!((ds.base, ds.limit, ds.selector), (0, 0xffff_ffff, 0x18));
        assert_eq!((ds.type_, ds.db, ds.present, ds.unusable), (0x3, 1, 1, 0));
    }

    #[test]
    fn tss_is_a_busy_64_bit_tss() {
        let tr = boot_tss_segment();
        assert_eq!((tr.type_, tr.s, tr.present, tr.limit), (0xb, 0, 1, 0x67));
    }

    #[test]
    fn descriptor_matches_a_known_encoding() {
        // The canonical flat 64-bit kernel code descriptor.
        assert_eq!(descriptor(0xa09b, 0, 0xfffff), 0x00af_9b00_0000_ffff);
        assert_eq!(descriptor(0xc093, 0, 0xfffff), 0x00cf_9300_0000_ffff);
    }
}
