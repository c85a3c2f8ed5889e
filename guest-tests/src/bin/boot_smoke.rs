//! Boot smoke test: the platform contract of docs/PLATFORM.md as seen from inside the guest —
//! entry state, e820 map, command line, ACPI tables — plus the runtime's own CPL3 setup.
//!
//! Runner keys on the command line: `gtest.cpus=N` (the MADT must describe N processors),
//! `gtest.nonce=<hex>` (echoed on the EXIT line).
#![no_std]
#![no_main]

use gtest_rt::acpi::{self, Acpi, Ascii, MadtSummary};
use gtest_rt::boot::{BootInfo, BootProtocol, E820Kind};
use gtest_rt::cpu::*;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_rt::{cmdline, io, println, report, report_info, report_skip, serial};

gtest_rt::main!(main);

fn main(boot: &BootInfo) {
    // Printed even with gtest.quiet: boot-time measurements time the first serial byte.
    println!(
        "boot_smoke: {} at {:#x}, running at CPL{}",
        boot.protocol,
        boot.info_addr,
        cpl()
    );
    check_entry_state(boot);
    check_runtime();
    check_memory_map(boot);
    check_cmdline(boot);
    check_acpi(boot);
}

fn check_entry_state(boot: &BootInfo) {
    prefix_push("entry");
    let e = boot.entry;
    let cr0_set = CR0_PE | CR0_PG | CR0_MP | CR0_NE;
    report!(
        e.cr0 & cr0_set == cr0_set && e.cr0 & CR0_EM == 0,
        "CR0 has PE|PG|MP|NE, not EM ({:#x})",
        e.cr0
    );
    let cr4_set = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    report!(
        e.cr4 & cr4_set == cr4_set,
        "CR4 has PAE|OSFXSR|OSXMMEXCPT ({:#x})",
        e.cr4
    );
    report!(
        e.efer & (EFER_LME | EFER_LMA) == EFER_LME | EFER_LMA,
        "EFER has LME|LMA ({:#x})",
        e.efer
    );
    report!(
        e.rflags & RFLAGS_IF == 0,
        "RFLAGS.IF clear ({:#x})",
        e.rflags
    );
    report!(
        boot.protocol != BootProtocol::Linux64 || boot.info_addr != 0,
        "RSI (boot_params) non-null"
    );
    report!(!boot.problems.info_unreadable, "boot structure readable");
    prefix_pop();
}

fn check_runtime() {
    prefix_push("runtime");
    report!(cpl() == 3, "program code runs at CPL3");
    // A byte register with no side effects: exercises in/out through the #GP handler (PVM) or
    // directly (IOPL=3 on hardware KVM), dx form.
    const SCRATCH: u16 = serial::COM1 + 7;
    // SAFETY: the 16550 scratch register only stores the byte.
    let back = unsafe {
        io::outb(SCRATCH, 0xa5);
        io::inb(SCRATCH)
    };
    report!(
        back == 0xa5,
        "port I/O round trip (COM1 scratch: wrote 0xa5, read {back:#x})"
    );
    check_in_forms();
    prefix_pop();
}

/// The other `in` encodings the #GP handler decodes (imm8 port; 16- and 32-bit), on the exit
/// port, which reads as 0 (vmm's ExitPort; QEMU's isa-debug-exit). What must survive is the
/// architectural result: `in al`/`in ax` keep the rest of RAX, `in eax` zero-extends.
fn check_in_forms() {
    const BEFORE: u64 = 0xdead_beef_cafe_babe;
    let (mut r8, mut r16, mut r32) = (BEFORE, BEFORE, BEFORE);
    // SAFETY: reading the exit port has no effect (only OUT ends the VM).
    unsafe {
        core::arch::asm!("in al, 0xf4", inout("rax") r8, options(nomem, nostack));
        core::arch::asm!("in ax, dx", in("dx") 0xf4u16, inout("rax") r16, options(nomem, nostack));
        core::arch::asm!("in eax, 0xf4", inout("rax") r32, options(nomem, nostack));
    }
    report!(
        (r8, r16, r32) == (0xdead_beef_cafe_ba00, 0xdead_beef_cafe_0000, 0),
        "in al,imm8 / in ax,dx / in eax,imm8 on the exit port: {r8:#x} {r16:#x} {r32:#x}"
    );
}

fn check_memory_map(boot: &BootInfo) {
    prefix_push("e820");
    let map = &boot.memory_map;
    let n = map.entries().len();
    report!(
        n > 0 && map.claimed <= gtest_rt::boot::E820_MAX,
        "{n} entries (claimed {})",
        map.claimed
    );
    let image_start = 0x20_0000;
    let image_end = image_end();
    report!(
        map.covers(image_start, image_end - image_start, E820Kind::Ram),
        "usable RAM holds the image [{image_start:#x}, {image_end:#x})"
    );
    let usable_mib = map.usable_bytes() >> 20;
    report!(usable_mib >= 16, "usable RAM: {usable_mib} MiB");
    report!(map.is_disjoint(), "entries do not overlap");
    let lapic = 0xfee0_0000;
    let ioapic = 0xfec0_0000;
    let apic_clear = !map.entries().iter().any(|e| {
        e.kind == E820Kind::Ram
            && ((e.addr..e.end()).contains(&lapic) || (e.addr..e.end()).contains(&ioapic))
    });
    report!(apic_clear, "no usable RAM over the LAPIC/IOAPIC MMIO");
    prefix_pop();
}

fn image_end() -> u64 {
    unsafe extern "C" {
        static __image_end: u8;
    }
    (&raw const __image_end) as u64
}

fn check_cmdline(boot: &BootInfo) {
    prefix_push("cmdline");
    let line = boot.cmdline();
    let p = boot.problems;
    report!(
        !p.cmdline_unreadable && !p.cmdline_not_utf8 && !p.cmdline_unterminated,
        "readable, NUL-terminated UTF-8 at {:#x}",
        boot.cmdline_addr
    );
    report_info!("\"{line}\"");
    if cmdline::tokens(line).any(|t| t.starts_with("gtest.")) {
        let nonce = cmdline::get(line, "gtest.nonce");
        report!(
            nonce.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_hexdigit())),
            "runner's gtest.nonce is present and hex"
        );
    } else {
        report_skip!("no gtest.* keys: not started by the runner");
    }
    prefix_pop();
}

fn check_acpi(boot: &BootInfo) {
    prefix_push("acpi");
    report!(
        boot.rsdp_addr != 0,
        "boot structure gives the RSDP address ({:#x})",
        boot.rsdp_addr
    );
    let acpi = match Acpi::new(boot.rsdp_addr) {
        Ok(acpi) => acpi,
        Err(e) => {
            report!(false, "RSDP and XSDT valid: {e}");
            prefix_pop();
            return;
        }
    };
    report!(
        true,
        "RSDP rev {} at {:#x} and XSDT at {:#x}: signatures, checksums",
        acpi.rsdp.revision,
        acpi.rsdp_addr,
        acpi.xsdt.addr
    );
    let mut bad = 0;
    let mut count = 0;
    for addr in acpi.entries() {
        count += 1;
        if let Err(e) = acpi::Table::at(addr, None) {
            bad += 1;
            report_info!("table at {addr:#x}: {e}");
        }
    }
    report!(
        count > 0 && bad == 0,
        "{count} XSDT entries, all with valid checksums"
    );
    let fadt = acpi.find(acpi::FADT);
    report!(fadt.is_ok(), "FADT present");
    if let Ok(fadt) = fadt {
        report!(
            acpi::fadt_is_hw_reduced(&fadt),
            "FADT declares HW_REDUCED_ACPI"
        );
    }
    match acpi.dsdt() {
        Ok(dsdt) => {
            report!(
                true,
                "DSDT at {:#x} ({} bytes) via FADT",
                dsdt.addr,
                dsdt.header.length
            );
        }
        Err(e) => {
            report!(false, "DSDT via FADT: {e}");
        }
    }
    match acpi.find(acpi::MADT) {
        Ok(madt) => {
            let s = MadtSummary::parse(madt.bytes);
            report!(
                !s.malformed && s.ioapics >= 1,
                "MADT well-formed with an IOAPIC ({} at {:#x})",
                s.ioapics,
                s.first_ioapic_addr
            );
            match cmdline::get_u64(boot.cmdline(), "gtest.cpus") {
                Some(cpus) => {
                    report!(
                        u64::from(s.cpus()) == cpus,
                        "MADT lists {} enabled CPUs, expected {cpus}",
                        s.cpus()
                    );
                }
                None => report_skip!("MADT lists {} CPUs; no gtest.cpus to compare", s.cpus()),
            }
        }
        Err(e) => {
            report!(false, "MADT: {e}");
        }
    }
    report_info!("OEM {}", Ascii(&acpi.rsdp.oem_id));
    prefix_pop();
}
