//! Multi-processor start-up: the BSP sends INIT-SIPI-SIPI to every other processor the MADT lists
//! and checks that each arrives in 64-bit mode (gtest_rt::smp): the VMM's `--cpus N` vCPUs, its
//! MADT and its in-kernel local APICs, seen from the guest.
//!
//! Runner keys: `gtest.cpus=N` (the MADT must list N processors).
#![no_std]
#![no_main]

use gtest_rt::acpi::{self, Acpi, MadtSummary};
use gtest_rt::boot::BootInfo;
use gtest_rt::{cmdline, report, report_info, report_skip, smp};

gtest_rt::main!(main);

/// Polls of the arrival counter before giving up (native CPL3 loop: well over a second).
const WAIT_SPINS: u64 = 1 << 31;

fn main(boot: &BootInfo) {
    let madt = match Acpi::new(boot.rsdp_addr).and_then(|a| a.find(acpi::MADT)) {
        Ok(t) => MadtSummary::parse(t.bytes),
        Err(e) => {
            report!(false, "MADT: {e}");
            return;
        }
    };
    if let Some(cpus) = cmdline::get_u64(boot.cmdline(), "gtest.cpus") {
        report!(
            u64::from(madt.cpus()) == cpus,
            "MADT lists {} CPUs, expected {cpus}",
            madt.cpus()
        );
    }
    let bsp = smp::bsp_apic_id();
    report!(
        madt.ids().contains(&bsp),
        "BSP APIC ID {bsp} is in the MADT {:?}",
        madt.ids()
    );
    let mut aps = [0u32; acpi::MADT_MAX_IDS];
    let mut n = 0;
    for &id in madt.ids().iter().filter(|&&id| id != bsp) {
        aps[n] = id;
        n += 1;
    }
    let aps = &aps[..n];
    if aps.is_empty() {
        report_skip!("only one CPU: nothing to start");
        return;
    }
    let Some(page) = smp::trampoline_page(boot) else {
        report!(false, "a free RAM page below 1 MiB for the AP trampoline");
        return;
    };
    report_info!("starting APs {aps:?} at trampoline page {page:#x}");
    // SAFETY: trampoline_page picked usable RAM clear of the boot structures still in use.
    if let Err(e) = unsafe { smp::start_aps(page, aps) } {
        report!(false, "INIT/SIPI delivery: {e:?}");
        return;
    }
    let arrived = smp::wait_for(aps.len() as u32, WAIT_SPINS);
    report!(
        arrived as usize == aps.len(),
        "{arrived} of {} APs reached 64-bit mode",
        aps.len()
    );
    let mut ids = [0u32; acpi::MADT_MAX_IDS];
    for (i, slot) in ids.iter_mut().enumerate().take(arrived as usize) {
        *slot = smp::started_id(i).unwrap_or(u32::MAX);
    }
    let ids = &mut ids[..(arrived as usize).min(aps.len())];
    ids.sort_unstable();
    report!(
        ids == aps,
        "the APs that arrived have the MADT's APIC IDs: {ids:?}"
    );
}
