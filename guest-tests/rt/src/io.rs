//! x86 port I/O.
//!
//! At CPL3 under PVM these instructions fault with `#GP` and the runtime's handler performs them
//! at CPL0 (see `entry.s`); on hardware KVM IOPL=3 lets them run directly.

use core::arch::asm;

/// Reads a byte from `port`.
///
/// # Safety
/// Port I/O can change any device's state; the caller must know what is at `port`.
pub unsafe fn inb(port: u16) -> u8 {
    let value: u8;
    // SAFETY: the caller vouches for the port (function contract).
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes a byte to `port`.
///
/// # Safety
/// Port I/O can change any device's state; the caller must know what is at `port`.
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: the caller vouches for the port (function contract).
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    };
}

/// Reads 16 bits from `port`.
///
/// # Safety
/// Port I/O can change any device's state; the caller must know what is at `port`.
pub unsafe fn inw(port: u16) -> u16 {
    let value: u16;
    // SAFETY: the caller vouches for the port (function contract).
    unsafe {
        asm!("in ax, dx", in("dx") port, out("ax") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes 16 bits to `port`.
///
/// # Safety
/// Port I/O can change any device's state; the caller must know what is at `port`.
pub unsafe fn outw(port: u16, value: u16) {
    // SAFETY: the caller vouches for the port (function contract).
    unsafe {
        asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
    };
}

/// Reads 32 bits from `port`.
///
/// # Safety
/// Port I/O can change any device's state; the caller must know what is at `port`.
pub unsafe fn inl(port: u16) -> u32 {
    let value: u32;
    // SAFETY: the caller vouches for the port (function contract).
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") value, options(nomem, nostack, preserves_flags))
    };
    value
}

/// Writes 32 bits to `port`.
///
/// # Safety
/// Port I/O can change any device's state; the caller must know what is at `port`.
pub unsafe fn outl(port: u16, value: u32) {
    // SAFETY: the caller vouches for the port (function contract).
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    };
}

/// Writes `bytes` to `port` with one `rep outsb` (one `#GP` round trip under PVM instead of one
/// per byte).
///
/// # Safety
/// Port I/O can change any device's state; the caller must know what is at `port`.
pub unsafe fn outsb(port: u16, bytes: &[u8]) {
    // SAFETY: the caller vouches for the port; rsi/rcx describe `bytes`, which outsb only reads.
    unsafe {
        asm!(
            "rep outsb",
            in("dx") port,
            inout("rsi") bytes.as_ptr() => _,
            inout("rcx") bytes.len() => _,
            options(readonly, nostack, preserves_flags)
        )
    };
}
