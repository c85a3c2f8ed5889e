//! Takes a page fault at CPL3 on purpose (a read above the identity map), so the runner can check
//! the runtime's exception report: an `ABORT: unhandled exception #PF (vector 14)` line with
//! error code 0x4 (user-mode read of a non-present page), the RIP, `cr2=0x4000000000`, and exit
//! status 64 + 14 = 78.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report_info;

gtest_rt::main!(main);

/// 256 GiB: far above the runtime's identity map of the low 4 GiB, so not present.
const UNMAPPED: u64 = 0x40_0000_0000;

fn main(_boot: &BootInfo) {
    report_info!("reading {UNMAPPED:#x} at CPL3: expect a #PF report and exit status 78");
    // SAFETY: not sound as Rust memory access, and not meant to complete: the read faults and
    // the runtime's handler ends the run.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    report_info!("the read returned {value:#x}: no fault was taken");
}
