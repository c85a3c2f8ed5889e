//! What every conformance program does first, with gtest-rt reporting: find the virtio devices
//! and the VIOT, carve the DMA arena, bring up the virtio-iommu, and put the DMA test device
//! behind it with its rings at IOVAs that differ from their guest-physical addresses.
//!
//! A missing device or a failed bring-up is a `FAIL:` line (the runner configures the VM each
//! program needs), and the helper returns `None` so the program can stop there.

use gtest_rt::acpi::Acpi;
use gtest_rt::boot::{BootInfo, E820Kind};
use gtest_rt::{report, report_info};

use crate::Error;
use crate::dma_test::{self, DmaTest};
use crate::iommu::protocol::{F_ALL, FAULT_F_ADDRESS, FAULT_LEN, Fault, MAP_F_RW};
use crate::iommu::{Iommu, Reply};
use crate::mem::{DeviceBuf, DmaArena, DmaBuf};
use crate::mmio::{MmioDevice, device_id};
use crate::platform::{Platform, Source};
use crate::time::Deadline;
use crate::viot::Viot;

/// IOVAs the programs use. They are far above guest RAM (256 MiB by default), so a device that
/// used a guest-physical address where an IOVA was due would miss.
pub mod iova {
    /// Control memory (rings, request and reply buffers) of the DMA test device.
    pub const DMA_CTRL: u64 = 0x10_0000_0000;
    /// Control memory of virtio-blk.
    pub const BLK_CTRL: u64 = 0x11_0000_0000;
    /// Control memory of virtio-rng.
    pub const RNG_CTRL: u64 = 0x12_0000_0000;
    /// Data buffers.
    pub const DATA: u64 = 0x20_0000_0000;
}

/// The ACPI VIOT signature.
pub const VIOT: [u8; 4] = *b"VIOT";

/// What a program finds at startup.
#[derive(Debug)]
pub struct Env {
    /// The virtio devices and the VIOT.
    pub platform: Platform,
    /// DMA memory.
    pub arena: DmaArena,
    /// The command line.
    pub cmdline: &'static str,
    /// The VIOT's parse error, if it has one.
    pub viot_error: Option<crate::viot::ViotError>,
    /// Whether the ACPI tables list a VIOT.
    pub viot_listed: bool,
}

/// `Some(value)`, or a `FAIL: <what>: <error>` line and `None`.
pub fn check<T>(what: &str, result: Result<T, Error>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(e) => {
            report!(false, "{what}: {e}");
            None
        }
    }
}

impl Env {
    /// Reads the VIOT, finds the devices (printing one `INFO:` line each) and sets up the DMA
    /// arena. `None` (after a `FAIL:` line) only if there is no RAM for DMA.
    pub fn new(boot: &BootInfo) -> Option<Self> {
        let mut viot_error = None;
        let mut viot_listed = false;
        let viot = match Acpi::new(boot.rsdp_addr).and_then(|a| a.find(VIOT)) {
            Ok(table) => {
                viot_listed = true;
                match Viot::parse(table.bytes) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        viot_error = Some(e);
                        None
                    }
                }
            }
            Err(_) => None,
        };
        let platform = Platform::discover(boot.cmdline(), viot);
        let how = match platform.source {
            Source::Cmdline => "virtio_mmio.device= arguments",
            Source::WindowScan => "scan of the virtio-mmio window",
        };
        report_info!("virtio devices (from the {how}):");
        for d in platform.devices() {
            let ep = platform.endpoint_of(d.slot);
            match ep {
                Some(ep) => report_info!(
                    "  {:#x} irq {}: {} (ID {:#x}), VIOT endpoint {ep}",
                    d.slot.base,
                    d.slot.irq,
                    device_id::name(d.device_id),
                    d.device_id
                ),
                None => report_info!(
                    "  {:#x} irq {}: {} (ID {:#x}), not behind the IOMMU",
                    d.slot.base,
                    d.slot.irq,
                    device_id::name(d.device_id),
                    d.device_id
                ),
            }
        }
        let ram = boot
            .memory_map
            .entries()
            .iter()
            .filter(|e| e.kind == E820Kind::Ram)
            .map(|e| (e.addr, e.end()));
        let Some(arena) = DmaArena::after_image(ram) else {
            report!(
                false,
                "no usable RAM after the program image for DMA buffers"
            );
            return None;
        };
        Some(Env {
            platform,
            arena,
            cmdline: boot.cmdline(),
            viot_error,
            viot_listed,
        })
    }

    /// The virtio-iommu, brought up with every feature the driver knows.
    pub fn iommu(&mut self) -> Option<Iommu> {
        self.iommu_with(F_ALL)
    }

    /// The virtio-iommu, brought up with the offered features among `wanted`.
    pub fn iommu_with(&mut self, wanted: u64) -> Option<Iommu> {
        let Some(dev) = self.platform.device(device_id::IOMMU) else {
            report!(false, "a virtio-iommu is present");
            return None;
        };
        check(
            "bringing up the virtio-iommu",
            Iommu::new(dev, &mut self.arena, wanted),
        )
    }

    /// The first device with `id` and its VIOT endpoint ID.
    pub fn endpoint(&self, id: u32) -> Option<(MmioDevice, u32)> {
        let Some(found) = self.platform.find(id) else {
            report!(false, "a {} device is present", device_id::name(id));
            return None;
        };
        let Some(ep) = self.platform.endpoint_of(found.slot) else {
            report!(
                false,
                "the VIOT names an endpoint for the {} at {:#x}",
                device_id::name(id),
                found.slot.base
            );
            return None;
        };
        Some((MmioDevice::new(found.slot.base), ep))
    }

    /// `pages` zeroed pages of DMA memory.
    pub fn pages(&mut self, pages: usize) -> Option<DmaBuf> {
        check("allocating DMA memory", self.arena.pages(pages))
    }

    /// The value of `key=value` on the command line (the runner's hints, e.g. `gtest.bypass=1`).
    pub fn hint(&self, key: &str) -> Option<&'static str> {
        gtest_rt::cmdline::get(self.cmdline, key)
    }
}

/// MAPs all of `buf` at its device address in `domain` with `flags`.
pub fn map_buf(iommu: &mut Iommu, domain: u32, buf: DeviceBuf, flags: u32) -> Result<Reply, Error> {
    iommu.map_len(
        domain,
        buf.dev_addr,
        buf.buf.len() as u64,
        buf.buf.addr(),
        flags,
    )
}

/// The DMA test device behind the IOMMU, its endpoint ID, and its control memory.
#[derive(Debug)]
pub struct TranslatedDmaTest {
    /// The driver.
    pub dev: DmaTest,
    /// Its VIOT endpoint ID.
    pub endpoint: u32,
    /// Its rings, request and reply (at [`iova::DMA_CTRL`] for the device).
    pub ctrl: DeviceBuf,
}

/// ATTACHes the DMA test device's endpoint to `domain`, MAPs its control memory (two pages at
/// [`iova::DMA_CTRL`], read-write) and brings it up with `VIRTIO_F_ACCESS_PLATFORM`.
pub fn dma_test_in_domain(
    env: &mut Env,
    iommu: &mut Iommu,
    domain: u32,
) -> Option<TranslatedDmaTest> {
    let (dev, endpoint) = env.endpoint(device_id::DMA_TEST)?;
    let ctrl = DeviceBuf::at(env.pages(dma_test::CTRL_PAGES)?, iova::DMA_CTRL);
    let attached = check(
        "ATTACH of the DMA test device",
        iommu.attach(domain, endpoint),
    )?;
    if !report!(
        attached.ok(),
        "ATTACH endpoint {endpoint} to domain {domain}: {attached}"
    ) {
        return None;
    }
    let mapped = check(
        "MAP of the DMA test rings",
        map_buf(iommu, domain, ctrl, MAP_F_RW),
    )?;
    if !report!(
        mapped.ok(),
        "MAP the DMA test device's rings at IOVA {:#x} -> GPA {:#x}: {mapped}",
        ctrl.dev_addr,
        ctrl.buf.addr()
    ) {
        return None;
    }
    let dev = check(
        "bringing up the DMA test device",
        DmaTest::new(dev, ctrl, true),
    )?;
    Some(TranslatedDmaTest {
        dev,
        endpoint,
        ctrl,
    })
}

/// How long to wait for an expected fault report: the request timeout (the wait ends as soon as
/// the report is there; the device writes it before the faulting request completes).
pub const FAULT_WAIT_CYCLES: u64 = crate::time::REQUEST_TIMEOUT_CYCLES;

/// Checks that the next fault report is `reason` for `access` (`FAULT_F_READ`/`WRITE`) by
/// `endpoint` at an address in `[first, last]`, with F_ADDRESS, zero reserved fields and the
/// whole 24-byte record used. Returns the report.
pub fn expect_fault_in(
    iommu: &mut Iommu,
    what: &str,
    endpoint: u32,
    (first, last): (u64, u64),
    reason: u8,
    access: u32,
) -> Option<Fault> {
    match iommu.next_fault(Deadline::after_cycles(FAULT_WAIT_CYCLES)) {
        Ok(Some(f)) => {
            report!(
                f.reason == reason
                    && f.flags == access | FAULT_F_ADDRESS
                    && f.endpoint == endpoint
                    && (first..=last).contains(&f.address)
                    && f.reserved == [0; 3]
                    && f.reserved1 == 0
                    && f.used_len == FAULT_LEN as u32,
                "{what}: {f} (used {})",
                f.used_len
            );
            Some(f)
        }
        Ok(None) => {
            report!(false, "{what}: a fault report arrives on the event queue");
            None
        }
        Err(e) => {
            report!(false, "{what}: event queue: {e}");
            None
        }
    }
}

/// [`expect_fault_in`] at exactly `address`.
pub fn expect_fault(
    iommu: &mut Iommu,
    what: &str,
    endpoint: u32,
    address: u64,
    reason: u8,
    access: u32,
) -> Option<Fault> {
    expect_fault_in(iommu, what, endpoint, (address, address), reason, access)
}

/// Checks that no fault report is pending.
pub fn expect_no_fault(iommu: &mut Iommu, what: &str) -> bool {
    match iommu.pending_fault() {
        Ok(None) => report!(true, "{what}: no fault report"),
        Ok(Some(f)) => report!(false, "{what}: unexpected {f}"),
        Err(e) => report!(false, "{what}: event queue: {e}"),
    }
}
