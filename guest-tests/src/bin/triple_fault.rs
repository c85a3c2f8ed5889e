//! Deliberately triple-faults: clears the IDT, then executes `ud2`. The #UD cannot be delivered,
//! nor can the #DF that follows, so the CPU shuts down. The runner expects the VMM to report a
//! triple fault (not an exit-port status).
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report_info;

gtest_rt::main!(main);

fn main(_boot: &BootInfo) {
    report_info!("clearing the IDT and executing ud2: the VMM should report a triple fault");
    gtest_rt::serial::flush();
    // SAFETY: ending the VM is the point; nothing is printed after this.
    unsafe {
        gtest_rt::cpu::destroy_idt();
        core::arch::asm!("ud2", options(nomem, nostack, noreturn));
    }
}
