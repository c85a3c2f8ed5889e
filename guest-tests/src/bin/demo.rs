//! The default guest embedded in the `vmm` binary: it says, line by line, what it finds and
//! does. Later issues make it exercise the IOMMU.
#![no_std]
#![no_main]

use gtest_rt::acpi::{self, Acpi, Ascii, MadtSummary};
use gtest_rt::boot::BootInfo;
use gtest_rt::{println, report};

gtest_rt::main!(main);

fn main(boot: &BootInfo) {
    println!("demo: hello from a bare-metal guest program (guest-tests/src/bin/demo.rs)");
    println!(
        "demo: entered via the {} (info at {:#x}); now running at CPL{} with the runtime's page tables",
        boot.protocol,
        boot.info_addr,
        gtest_rt::cpu::cpl()
    );
    println!("demo: command line: \"{}\"", boot.cmdline());
    println!(
        "demo: memory map (e820), {} entries:",
        boot.memory_map.entries().len()
    );
    for e in boot.memory_map.entries() {
        println!(
            "demo:   [{:#012x}-{:#012x}] {}",
            e.addr,
            e.end().saturating_sub(1),
            e.kind
        );
    }
    println!(
        "demo: usable RAM: {} MiB",
        boot.memory_map.usable_bytes() >> 20
    );
    let found_ram = report!(boot.memory_map.usable_bytes() > 0, "usable RAM found");
    match Acpi::new(boot.rsdp_addr) {
        Ok(acpi) => {
            println!(
                "demo: ACPI: RSDP at {:#x} (OEM {}), XSDT at {:#x}:",
                acpi.rsdp_addr,
                Ascii(&acpi.rsdp.oem_id),
                acpi.xsdt.addr
            );
            for addr in acpi.entries() {
                match acpi::Table::at(addr, None) {
                    Ok(t) => println!(
                        "demo:   {} at {:#x}, {} bytes, checksum ok",
                        Ascii(&t.header.signature),
                        addr,
                        t.header.length
                    ),
                    Err(e) => println!("demo:   table at {addr:#x}: {e}"),
                }
            }
            if let Ok(dsdt) = acpi.dsdt() {
                println!(
                    "demo:   DSDT at {:#x}, {} bytes",
                    dsdt.addr, dsdt.header.length
                );
            }
            if let Ok(madt) = acpi.find(acpi::MADT) {
                let s = MadtSummary::parse(madt.bytes);
                println!(
                    "demo:   MADT: {} CPU(s), {} IOAPIC(s) (first at {:#x}), LAPIC at {:#x}",
                    s.cpus(),
                    s.ioapics,
                    s.first_ioapic_addr,
                    s.lapic_addr
                );
            }
            report!(true, "ACPI tables found");
        }
        Err(e) => {
            report!(false, "ACPI tables: {e}");
        }
    }
    let _ = found_ram;
    println!(
        "demo: next: the IOMMU demo (virtio-iommu + DMA test device) lands here in later issues"
    );
    println!("demo: done; exiting through the exit port");
}
