//! Panics on purpose after one passing check, so the runner can check the runtime's panic path:
//! a `FAIL: panic at <file:line:col>: <message>` line, a summary counting it
//! (`2 tests, 1 unexpected failures`), and exit status 3.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report;

gtest_rt::main!(main);

fn main(boot: &BootInfo) {
    report!(boot.info_addr != 0, "a check before the panic");
    let reason = "deliberate panic";
    panic!("{reason} from panic_report");
}
