//! The identity map the VMM provides at entry: 0..4 GiB with 2 MiB pages, one PML4 entry, one
//! PDPT with four entries, four page directories. Pages in the 32-bit MMIO gap are uncached
//! (PCD|PWT). RAM above 4 GiB is not mapped: the contract only promises RAM below 4 GiB and the
//! gap, and a guest that wants more builds its own tables.

use vm_memory::{Bytes, GuestAddress};

use crate::layout::{self, GIB};
use crate::memory::GuestMemory;

const PRESENT: u64 = 1 << 0;
const WRITABLE: u64 = 1 << 1;
const WRITE_THROUGH: u64 = 1 << 3;
const CACHE_DISABLE: u64 = 1 << 4;
/// In a page-directory entry: maps a 2 MiB page.
const PAGE_SIZE_2M: u64 = 1 << 7;
const ENTRIES: u64 = 512;
const PAGE_2M: u64 = 2 << 20;

/// The three levels' contents, as (guest address, 64-bit entries).
pub fn identity_map_tables() -> Vec<(u64, Vec<u64>)> {
    let mut tables = Vec::new();
    let mut pml4 = vec![0u64; ENTRIES as usize];
    pml4[0] = layout::PDPT_START | PRESENT | WRITABLE;
    tables.push((layout::PML4_START, pml4));

    let mut pdpt = vec![0u64; ENTRIES as usize];
    for (i, entry) in pdpt.iter_mut().enumerate().take(layout::PD_COUNT as usize) {
        *entry = (layout::PD_START + i as u64 * 0x1000) | PRESENT | WRITABLE;
    }
    tables.push((layout::PDPT_START, pdpt));

    for pd_index in 0..layout::PD_COUNT {
        let pd: Vec<u64> = (0..ENTRIES)
            .map(|i| {
                let addr = pd_index * GIB + i * PAGE_2M;
                let mut entry = addr | PRESENT | WRITABLE | PAGE_SIZE_2M;
                if (layout::MMIO_GAP_START..layout::MMIO_GAP_END).contains(&addr) {
                    entry |= CACHE_DISABLE | WRITE_THROUGH;
                }
                entry
            })
            .collect();
        tables.push((layout::PD_START + pd_index * 0x1000, pd));
    }
    tables
}

/// Writes the identity map to guest memory; CR3 = [`layout::PML4_START`].
pub fn write_identity_map(mem: &GuestMemory) -> Result<(), vm_memory::GuestMemoryError> {
    for (addr, entries) in identity_map_tables() {
        let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        mem.write_slice(&bytes, GuestAddress(addr))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks the tables like the MMU does for a 2 MiB mapping.
    fn translate(tables: &[(u64, Vec<u64>)], va: u64) -> Option<(u64, u64)> {
        let table = |addr: u64| tables.iter().find(|(a, _)| *a == addr).map(|(_, t)| t);
        let pml4e = table(layout::PML4_START)?[((va >> 39) & 511) as usize];
        if pml4e & PRESENT == 0 {
            return None;
        }
        let pdpte = table(pml4e & !0xfff)?[((va >> 30) & 511) as usize];
        if pdpte & PRESENT == 0 {
            return None;
        }
        let pde = table(pdpte & !0xfff)?[((va >> 21) & 511) as usize];
        if pde & PRESENT == 0 || pde & PAGE_SIZE_2M == 0 {
            return None;
        }
        Some((
            (pde & !0x1f_ffff & !(1 << 63)) | (va & 0x1f_ffff),
            pde & 0xfff,
        ))
    }

    #[test]
    fn every_address_below_4_gib_maps_to_itself() {
        let tables = identity_map_tables();
        for va in [
            0,
            0x7000,
            0x10_0000,
            0x1234_5678,
            0xbfff_ffff,
            0xfee0_0000,
            0xffff_ffff,
        ] {
            assert_eq!(translate(&tables, va).map(|t| t.0), Some(va), "{va:#x}");
        }
    }

    #[test]
    fn the_mmio_gap_is_uncached_and_ram_is_not() {
        let tables = identity_map_tables();
        let ram = translate(&tables, 0x10_0000).unwrap().1;
        let gap = translate(&tables, layout::LAPIC_START).unwrap().1;
        assert_eq!(ram & (CACHE_DISABLE | WRITE_THROUGH), 0);
        assert_eq!(
            gap & (CACHE_DISABLE | WRITE_THROUGH),
            CACHE_DISABLE | WRITE_THROUGH
        );
    }

    #[test]
    fn nothing_at_or_above_4_gib_is_mapped() {
        let tables = identity_map_tables();
        assert_eq!(translate(&tables, 4 * GIB), None);
    }
}
