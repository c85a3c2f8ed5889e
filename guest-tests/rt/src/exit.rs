//! Ending the run through the exit port (I/O port 0xf4, docs/PLATFORM.md): the value written
//! becomes the VMM's exit status.
//!
//! | status | meaning |
//! | --- | --- |
//! | 0 ([`PASS`]) | every check passed |
//! | 3 ([`FAILURE`]) | at least one check failed, or the program panicked |
//! | 77 ([`ALL_SKIPPED`]) | every check was skipped (or there were none) |
//! | 64 + vector ([`EXCEPTION_BASE`]) | an unexpected CPU exception (`ABORT:` line on serial) |
//! | 63 ([`NESTED_FAULT`]) | an exception while reporting an exception |
//!
//! Before the port write the runtime prints `EXIT: STATUS=<n>`, followed by ` NONCE=<nonce>`
//! when the command line carries `gtest.nonce=<nonce>`, so a runner can tie the serial log to
//! this run and cross-check it against the port value.

use crate::println;

/// I/O port of the exit device.
pub const EXIT_PORT: u16 = 0xf4;
/// All checks passed.
pub const PASS: u32 = 0;
/// At least one check failed (or a panic).
pub const FAILURE: u32 = 3;
/// All checks were skipped.
pub const ALL_SKIPPED: u32 = 77;
/// An unexpected exception: the status is `EXCEPTION_BASE + vector` (64..=95).
pub const EXCEPTION_BASE: u32 = 64;
/// An exception while the runtime was reporting one (printed and written by `entry.s`).
pub const NESTED_FAULT: u32 = 63;

/// Prints the `EXIT:` line and writes `status` to the exit port. Never returns: if no exit device
/// stops the VM, the CPU spins.
pub fn exit(status: u32) -> ! {
    match crate::cmdline::get(crate::boot::cmdline_str(), "gtest.nonce") {
        Some(nonce) => println!("EXIT: STATUS={status} NONCE={nonce}"),
        None => println!("EXIT: STATUS={status}"),
    }
    crate::serial::flush();
    write_exit_port(status);
    loop {
        core::hint::spin_loop();
    }
}

/// Writes `status` to the exit port with the imm8 form of `out` (32-bit).
fn write_exit_port(status: u32) {
    // SAFETY: the exit port only ends the VM and touches no memory.
    unsafe {
        core::arch::asm!(
            "out {port}, eax",
            port = const EXIT_PORT,
            in("eax") status,
            options(nomem, nostack, preserves_flags)
        )
    };
}
