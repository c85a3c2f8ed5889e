//! The default guest embedded in the `vmm` binary: it says, line by line, what it finds and
//! does — and, when the VM has a virtio-iommu with the DMA test device behind it, what it makes
//! them do: ATTACH, MAP, a DMA through the mapping, a DMA the IOMMU blocks and the fault it
//! reports, UNMAP.
#![no_std]
#![no_main]

use gtest_rt::acpi::{self, Acpi, Ascii, MadtSummary};
use gtest_rt::boot::BootInfo;
use gtest_rt::{println, report};
use gtest_virtio::dma_test::{self, DmaTest};
use gtest_virtio::iommu::Iommu;
use gtest_virtio::iommu::protocol::{self as p, F_ALL, MAP_F_READ, MAP_F_RW};
use gtest_virtio::mem::{DeviceBuf, DmaArena};
use gtest_virtio::mmio::device_id;
use gtest_virtio::platform::Platform;
use gtest_virtio::time::Deadline;
use gtest_virtio::viot::Viot;

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
    iommu_demo(boot);
    println!("demo: done; exiting through the exit port");
}

/// IOVAs of the demo: far above guest RAM, so only a translated DMA can reach memory.
const CTRL_IOVA: u64 = 0x10_0000_0000;
const DATA_IOVA: u64 = 0x20_0000_0000;
const DOMAIN: u32 = 1;

fn iommu_demo(boot: &BootInfo) {
    let viot = Acpi::new(boot.rsdp_addr)
        .and_then(|a| a.find(*b"VIOT"))
        .ok()
        .and_then(|t| Viot::parse(t.bytes).ok());
    let platform = Platform::discover(boot.cmdline(), viot);
    for d in platform.devices() {
        println!(
            "demo: virtio-mmio device at {:#x}: {}{}",
            d.slot.base,
            device_id::name(d.device_id),
            EndpointNote(platform.endpoint_of(d.slot))
        );
    }
    let (Some(iommu_dev), Some(dma)) = (
        platform.device(device_id::IOMMU),
        platform.find(device_id::DMA_TEST),
    ) else {
        println!(
            "demo: no virtio-iommu with a DMA test device here (vmm --iommu --dma-test adds them)"
        );
        return;
    };
    let Some(ep) = platform.endpoint_of(dma.slot) else {
        println!("demo: the DMA test device is not behind the IOMMU (no VIOT endpoint)");
        return;
    };
    let ram = boot
        .memory_map
        .entries()
        .iter()
        .filter(|e| e.kind == gtest_rt::boot::E820Kind::Ram)
        .map(|e| (e.addr, e.end()));
    let Some(mut arena) = DmaArena::after_image(ram) else {
        report!(false, "RAM for DMA buffers");
        return;
    };
    let ok = run_demo(
        &mut arena,
        iommu_dev,
        gtest_virtio::mmio::MmioDevice::new(dma.slot.base),
        ep,
    );
    report!(ok.is_ok(), "IOMMU demo ran ({ok:?})");
}

/// " (endpoint N)" without allocating.
struct EndpointNote(Option<u32>);

impl core::fmt::Display for EndpointNote {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(ep) => write!(f, " behind the IOMMU as endpoint {ep}"),
            None => Ok(()),
        }
    }
}

fn run_demo(
    arena: &mut DmaArena,
    iommu_dev: gtest_virtio::mmio::MmioDevice,
    dma_dev: gtest_virtio::mmio::MmioDevice,
    ep: u32,
) -> Result<(), gtest_virtio::Error> {
    let mut iommu = Iommu::new(iommu_dev, arena, F_ALL)?;
    let c = iommu.config;
    println!(
        "demo: IOMMU: virtio-iommu at {:#x}: page sizes {:#x}, IOVAs [{:#x}, {:#x}], bypass {}",
        iommu_dev.base(),
        c.page_size_mask,
        c.input_start,
        c.input_end,
        c.bypass
    );
    let r = iommu.attach(DOMAIN, ep)?;
    println!("demo: IOMMU: ATTACH endpoint {ep} (the DMA test device) to domain {DOMAIN}: {r}");
    let ctrl = DeviceBuf::at(arena.pages(dma_test::CTRL_PAGES)?, CTRL_IOVA);
    let r = iommu.map_len(
        DOMAIN,
        CTRL_IOVA,
        ctrl.buf.len() as u64,
        ctrl.buf.addr(),
        MAP_F_RW,
    )?;
    println!(
        "demo: IOMMU: MAP IOVA {CTRL_IOVA:#x} -> GPA {:#x} (8 KiB, read-write) for the device's rings: {r}",
        ctrl.buf.addr()
    );
    let mut dma = DmaTest::new(dma_dev, ctrl, true)?;
    let data = arena.pages(2)?;
    data.fill(0);
    let (rw, ro) = (data.sub(0, 4096), data.sub(4096, 4096));
    let r = iommu.map_len(DOMAIN, DATA_IOVA, 4096, rw.addr(), MAP_F_RW)?;
    println!(
        "demo: IOMMU: MAP IOVA {DATA_IOVA:#x} -> GPA {:#x} (4 KiB, read-write): {r}",
        rw.addr()
    );
    let ro_iova = DATA_IOVA + 4096;
    let r = iommu.map_len(DOMAIN, ro_iova, 4096, ro.addr(), MAP_F_READ)?;
    println!(
        "demo: IOMMU: MAP IOVA {ro_iova:#x} -> GPA {:#x} (4 KiB, read-only): {r}",
        ro.addr()
    );
    let d = dma.fill(DATA_IOVA, 4096, 0xa5)?;
    println!("demo: DMA: the device fills IOVA {DATA_IOVA:#x} with 0xa5: {d}");
    let landed = rw.check_all(0xa5).is_ok();
    println!(
        "demo: DMA: the page at GPA {:#x} {}",
        rw.addr(),
        if landed {
            "now holds 0xa5 (translated by the IOMMU)"
        } else {
            "does NOT hold 0xa5"
        }
    );
    report!(d.ok() && landed, "DMA through the mapping lands at its GPA");
    let d = dma.fill(ro_iova, 4096, 0x5a)?;
    println!("demo: DMA: the device tries to write the read-only IOVA {ro_iova:#x}: {d}");
    let untouched = ro.check_all(0).is_ok();
    println!(
        "demo: DMA: the read-only page {}",
        if untouched {
            "is untouched"
        } else {
            "was WRITTEN"
        }
    );
    match iommu.next_fault(Deadline::request())? {
        Some(f) => {
            println!(
                "demo: IOMMU: fault event: reason {}, flags {:#x} ({}{}), endpoint {}, address {:#x}",
                f.reason_name(),
                f.flags,
                if f.flags & p::FAULT_F_WRITE != 0 {
                    "WRITE"
                } else {
                    "READ"
                },
                if f.flags & p::FAULT_F_ADDRESS != 0 {
                    "|ADDRESS"
                } else {
                    ""
                },
                f.endpoint,
                f.address
            );
            report!(
                d.fault() && untouched && f.endpoint == ep && f.address == ro_iova,
                "the blocked DMA is reported with its endpoint and address"
            );
        }
        None => {
            report!(false, "a fault event for the blocked DMA");
        }
    }
    let r = iommu.unmap(DOMAIN, DATA_IOVA, DATA_IOVA + 8191)?;
    println!(
        "demo: IOMMU: UNMAP IOVAs [{DATA_IOVA:#x}, {:#x}]: {r}",
        DATA_IOVA + 8191
    );
    let d = dma.fill(DATA_IOVA, 16, 0x11)?;
    println!("demo: DMA: the device writes IOVA {DATA_IOVA:#x} again: {d}");
    let _ = iommu.drain_faults();
    report!(
        d.fault() && rw.check_all(0xa5).is_ok(),
        "DMA after UNMAP is blocked"
    );
    Ok(())
}
