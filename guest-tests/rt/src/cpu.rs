//! CPU state: what the program was entered with, and the current privilege level.

/// Control registers and flags as found at the program's entry, recorded by `entry.s` before it
/// changed anything (for PVH boots: after the runtime's own 32→64-bit trampoline).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryState {
    /// CR0.
    pub cr0: u64,
    /// CR4.
    pub cr4: u64,
    /// The EFER MSR.
    pub efer: u64,
    /// RFLAGS.
    pub rflags: u64,
}

/// CR0.PE: protection enabled.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.MP: monitor coprocessor.
pub const CR0_MP: u64 = 1 << 1;
/// CR0.EM: x87 emulation (must be clear for SSE).
pub const CR0_EM: u64 = 1 << 2;
/// CR0.NE: native x87 error reporting.
pub const CR0_NE: u64 = 1 << 5;
/// CR0.PG: paging.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.OSFXSR: fxsave/fxrstor and SSE enabled.
pub const CR4_OSFXSR: u64 = 1 << 9;
/// CR4.OSXMMEXCPT: unmasked SSE exceptions raise #XM.
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
/// EFER.LME: long mode enable.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA: long mode active.
pub const EFER_LMA: u64 = 1 << 10;
/// RFLAGS.IF: interrupts enabled.
pub const RFLAGS_IF: u64 = 1 << 9;

/// The raw entry record written by `entry.s` (`gtest_entry_state`, 6 quadwords).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawEntry {
    pub(crate) protocol: u64,
    pub(crate) info: u64,
    pub(crate) cr0: u64,
    pub(crate) cr4: u64,
    pub(crate) efer: u64,
    pub(crate) rflags: u64,
}

#[cfg(not(test))]
pub(crate) fn raw_entry() -> RawEntry {
    unsafe extern "C" {
        static gtest_entry_state: RawEntry;
    }
    // SAFETY: entry.s fills this .bss record before it drops to CPL3 and never writes it again.
    unsafe { core::ptr::read_volatile(&raw const gtest_entry_state) }
}

#[cfg(test)]
pub(crate) fn raw_entry() -> RawEntry {
    RawEntry {
        protocol: 0,
        info: 0,
        cr0: 0,
        cr4: 0,
        efer: 0,
        rflags: 0,
    }
}

/// The current privilege level (CS.RPL): 3 for program code.
pub fn cpl() -> u8 {
    let cs: u16;
    // SAFETY: reading CS has no side effects.
    unsafe {
        core::arch::asm!("mov {0:x}, cs", out(reg) cs, options(nomem, nostack, preserves_flags))
    };
    (cs & 3) as u8
}

/// Zeroes every gate of the runtime's IDT, so that the next exception cannot be delivered and the
/// CPU shuts down (triple fault). For programs that test how the VMM reports a triple fault.
///
/// # Safety
/// After this, any exception — including the `#GP` of port I/O under PVM, so any serial output —
/// ends the VM.
#[cfg(not(test))]
pub unsafe fn destroy_idt() {
    unsafe extern "C" {
        static mut gtest_idt: [u64; 64];
    }
    // SAFETY: the IDT lives in the runtime's .bss, identity-mapped user-writable; nothing else
    // holds a reference to it (the CPU reads it only when delivering an exception).
    unsafe { core::ptr::write_volatile(&raw mut gtest_idt, [0; 64]) };
}
