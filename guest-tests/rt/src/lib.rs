//! gtest-rt: the runtime of the bare-metal guest test programs in `guest-tests/src/bin/`.
//!
//! A program is a `#![no_std] #![no_main]` binary that names its entry with [`main!`]:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! use gtest_rt::{boot::BootInfo, report};
//! gtest_rt::main!(main);
//! fn main(boot: &BootInfo) {
//!     report!(boot.cmdline().is_empty(), "empty command line");
//! }
//! ```
//!
//! What happens before and after `main` (docs/TESTING.md has the whole story):
//! - `entry.s` (CPL0, integer instructions only — PVM emulates CPL0 code): records the entry state,
//!   loads the runtime's identity map of the low 4 GiB (user-accessible), GDT, TSS and IDT, and
//!   `iretq`s to CPL3 with IF=0 and IOPL=3. Port I/O that faults at CPL3 (always under PVM) is
//!   carried out by the `#GP` handler; any other exception is reported by [`fault`] and ends the
//!   run with status `EXCEPTION_BASE + vector`.
//! - [`smp`] starts the other processors (INIT-SIPI-SIPI); they only check in and halt.
//! - At CPL3 the runtime sets up the serial port, reads the boot information ([`boot`]), calls
//!   `main`, prints the [`report`] summary and leaves through the exit port ([`exit`]).
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]
// Host-side `cargo test` builds only the parsers; the rest is for the guest.
#![cfg_attr(test, allow(dead_code, unused_imports))]

pub mod acpi;
pub mod boot;
pub mod cmdline;
pub mod cpu;
pub mod exit;
mod fault;
pub mod io;
#[cfg(not(test))]
mod lang;
pub mod phys;
pub mod report;
pub mod serial;
#[cfg(not(test))]
pub mod smp;
mod sync;

#[cfg(not(test))]
core::arch::global_asm!(include_str!("entry.s"));

/// Names the program's entry function: `fn(&gtest_rt::boot::BootInfo)`.
///
/// When it returns, the runtime prints the summary of the `report!` checks and exits with the
/// status it implies (`exit::PASS`, `exit::FAILURE` or `exit::ALL_SKIPPED`).
#[macro_export]
macro_rules! main {
    ($entry:path) => {
        /// Called by the runtime at CPL3 once the serial port and boot information are ready.
        #[unsafe(no_mangle)]
        pub fn __gtest_main(boot: &$crate::boot::BootInfo) {
            let entry: fn(&$crate::boot::BootInfo) = $entry;
            entry(boot)
        }
    };
}

/// Runs at CPL3 after the prologue in `entry.s`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn gtest_rt_user_entry() -> ! {
    unsafe extern "Rust" {
        /// Defined by the program through [`main!`].
        fn __gtest_main(boot: &boot::BootInfo);
    }
    serial::init();
    let boot = boot::BootInfo::from_entry();
    // SAFETY: `__gtest_main` is the safe Rust fn that `main!` defines with exactly this signature.
    unsafe { __gtest_main(&boot) };
    exit::exit(report::summary())
}
