//! Starting application processors with INIT-SIPI-SIPI through the local APIC (Intel SDM Vol. 3A
//! §9.4, "MP initialization protocol"), as an OS does.
//!
//! What an AP does is deliberately little: the real-mode trampoline of `entry.s` (copied below
//! 1 MiB) switches it to 64-bit mode on the runtime's page tables, where it counts itself, records
//! its local APIC ID and halts at CPL0 for good. So this tests the VMM's vCPU start-up, not
//! multi-processor program code.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::boot::{BootInfo, E820Kind};

/// Local APIC MMIO base (identity-mapped, user-accessible).
pub const LAPIC_BASE: u64 = 0xfee0_0000;
const LAPIC_ID: u64 = 0x20;
const LAPIC_ICR_LOW: u64 = 0x300;
const LAPIC_ICR_HIGH: u64 = 0x310;
/// ICR: delivery mode INIT, level triggered, assert.
const ICR_INIT_ASSERT: u32 = 0x0000_c500;
/// ICR: delivery mode INIT, level triggered, de-assert.
const ICR_INIT_DEASSERT: u32 = 0x0000_8500;
/// ICR: delivery mode Start-Up; the low byte is the vector (page number of the start address).
const ICR_STARTUP: u32 = 0x0000_0600;
/// ICR: delivery status (send pending).
const ICR_SEND_PENDING: u32 = 1 << 12;
/// How many AP APIC IDs `entry.s` records.
pub const MAX_APS: usize = 64;

unsafe extern "C" {
    static gtest_ap_trampoline: u8;
    static gtest_ap_trampoline_end: u8;
    static gtest_ap_count: AtomicU32;
    static gtest_ap_ids: [AtomicU32; MAX_APS];
}

fn lapic_read(reg: u64) -> u32 {
    // SAFETY: the LAPIC registers are identity-mapped MMIO; reading ID/ICR has no side effects.
    unsafe { core::ptr::read_volatile((LAPIC_BASE + reg) as *const u32) }
}

fn lapic_write(reg: u64, value: u32) {
    // SAFETY: identity-mapped LAPIC MMIO; callers write only the ICR to send start-up IPIs.
    unsafe { core::ptr::write_volatile((LAPIC_BASE + reg) as *mut u32, value) }
}

/// This CPU's local APIC ID.
pub fn bsp_apic_id() -> u32 {
    lapic_read(LAPIC_ID) >> 24
}

/// APs that have reached 64-bit mode so far.
pub fn started() -> u32 {
    // SAFETY: a static of entry.s's .bss, only ever accessed atomically.
    unsafe { gtest_ap_count.load(Ordering::Acquire) }
}

/// The local APIC ID the `index`-th arriving AP recorded.
pub fn started_id(index: usize) -> Option<u32> {
    // SAFETY: as for `started`.
    let ids = unsafe { &gtest_ap_ids };
    ids.get(index).map(|id| id.load(Ordering::Acquire))
}

/// Why APs could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmpError {
    /// No usable RAM page below 1 MiB is free of the boot structures.
    NoTrampolinePage,
    /// The ICR never reported the IPI as sent.
    IpiStuck,
    /// The trampoline's layout is not the one this code patches (a build problem).
    BadTrampoline,
}

/// Picks a page below 1 MiB for the trampoline: usable RAM per e820, clear of the boot structure
/// and the command line (which the program still uses).
pub fn trampoline_page(boot: &BootInfo) -> Option<u64> {
    let avoid = |page: u64| {
        let clash = |addr: u64, len: u64| addr < page + 0x1000 && page < addr.saturating_add(len);
        clash(boot.info_addr, 0x1000) || clash(boot.cmdline_addr, boot.cmdline().len() as u64 + 1)
    };
    (1..0x9f_u64)
        .rev()
        .map(|n| n << 12)
        .find(|&page| boot.memory_map.covers(page, 0x1000, E820Kind::Ram) && !avoid(page))
}

fn send_ipi(apic_id: u32, icr: u32) -> Result<(), SmpError> {
    lapic_write(LAPIC_ICR_HIGH, apic_id << 24);
    lapic_write(LAPIC_ICR_LOW, icr);
    for _ in 0..100_000 {
        if lapic_read(LAPIC_ICR_LOW) & ICR_SEND_PENDING == 0 {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(SmpError::IpiStuck)
}

/// Copies the trampoline to `page` and sends INIT, INIT de-assert, SIPI, SIPI to each APIC ID in
/// `ap_ids`. Returns at once: poll [`started`] for the APs to arrive.
///
/// # Safety
/// `page` (4 KiB, below 1 MiB) must be RAM the program does not use.
pub unsafe fn start_aps(page: u64, ap_ids: &[u32]) -> Result<(), SmpError> {
    let start = &raw const gtest_ap_trampoline;
    let len = (&raw const gtest_ap_trampoline_end as usize) - (start as usize);
    // SAFETY: the trampoline is `len` bytes of .rodata.
    let code = unsafe { core::slice::from_raw_parts(start, len) };
    // entry.s: a short jump to offset 40, the GDTR (limit 23) at offset 32.
    if len <= 40 || code[..2] != [0xeb, 38] || code[32..34] != [23, 0] {
        return Err(SmpError::BadTrampoline);
    }
    let dest = page as *mut u8;
    // SAFETY: `page` is unused RAM below 1 MiB (caller), identity-mapped and writable; the
    // trampoline is a few dozen bytes of .rodata that do not overlap it.
    unsafe {
        core::ptr::copy_nonoverlapping(start, dest, len);
        // The GDTR's base (offset 34): the copy's GDT at offset 8.
        core::ptr::write_unaligned(dest.add(34).cast::<u32>(), (page + 8) as u32);
    }
    let vector = (page >> 12) as u32;
    for &id in ap_ids {
        send_ipi(id, ICR_INIT_ASSERT)?;
        send_ipi(id, ICR_INIT_DEASSERT)?;
        send_ipi(id, ICR_STARTUP | vector)?;
        send_ipi(id, ICR_STARTUP | vector)?;
    }
    Ok(())
}

/// Spins until `expected` APs have arrived or `spins` polls have passed; returns the count.
pub fn wait_for(expected: u32, spins: u64) -> u32 {
    for _ in 0..spins {
        if started() >= expected {
            break;
        }
        core::hint::spin_loop();
    }
    started()
}
