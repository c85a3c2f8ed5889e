//! DMA through the virtio-iommu by every translated device — the DMA test device, virtio-rng and
//! virtio-blk — each with its rings, descriptor tables and (for virtio-blk) an indirect table at
//! IOVAs that differ from their guest-physical addresses. Data lands where the mapping says and
//! nowhere else: every target page sits between canary pages, and the IOVA used is itself the
//! guest-physical address of a decoy page, which must stay untouched. Each device behind the
//! IOMMU refuses FEATURES_OK without VIRTIO_F_ACCESS_PLATFORM.
//!
//! Runner: `--iommu --dma-test --rng --disk <image> --disk <image>,readonly`, where byte `o` of
//! each image is [`disk_byte`]`(o)`; hint `gtest.disk_sectors=<n>`.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_rt::{report, report_info, report_skip};
use gtest_virtio::Error;
use gtest_virtio::blk::{self, Blk};
use gtest_virtio::harness::{
    Env, check, dma_test_in_domain, expect_fault, expect_no_fault, iova, map_buf,
};
use gtest_virtio::iommu::Iommu;
use gtest_virtio::iommu::protocol::{FAULT_F_WRITE, FAULT_R_MAPPING, MAP_F_READ, MAP_F_RW};
use gtest_virtio::mem::{DeviceBuf, DmaBuf};
use gtest_virtio::mmio::{MmioDevice, device_id, features};
use gtest_virtio::rng::{self, Rng};

gtest_rt::main!(main);

const P: usize = 4096;

/// Byte `offset` of the runner's disk images.
fn disk_byte(offset: u64) -> u8 {
    ((offset >> 9) as u8).wrapping_mul(31) ^ (offset as u8)
}

/// A target page between two canary pages, and a decoy page whose guest-physical address is the
/// IOVA the target is mapped at.
#[derive(Clone, Copy)]
struct Target {
    mem: DmaBuf,
    decoy: DmaBuf,
}

impl Target {
    fn new(env: &mut Env) -> Option<Self> {
        let mem = env.pages(3)?;
        let decoy = env.pages(1)?;
        mem.fill(0x5a);
        decoy.fill(0xd0);
        Some(Target { mem, decoy })
    }

    fn page(&self) -> DmaBuf {
        self.mem.sub(P, P)
    }

    /// The target as the device sees it: at the decoy's guest-physical address.
    fn dev(&self) -> DeviceBuf {
        DeviceBuf::at(self.page(), self.decoy.addr())
    }

    fn map(&self, iommu: &mut Iommu, domain: u32, flags: u32) -> Option<bool> {
        let r = check("MAP", map_buf(iommu, domain, self.dev(), flags))?;
        Some(report!(
            r.ok(),
            "MAP IOVA {:#x} (a decoy page's GPA) -> target GPA {:#x}: {r}",
            self.decoy.addr(),
            self.page().addr()
        ))
    }

    /// Canaries and decoy untouched.
    fn clean(&self) -> bool {
        self.mem.sub(0, P).check_all(0x5a).is_ok()
            && self.mem.sub(2 * P, P).check_all(0x5a).is_ok()
            && self.decoy.check_all(0xd0).is_ok()
    }
}

fn main(boot: &BootInfo) {
    let Some(mut env) = Env::new(boot) else {
        return;
    };
    let Some(mut iommu) = env.iommu() else {
        return;
    };
    prefix_push("dma-test");
    let _ = dma_test(&mut env, &mut iommu);
    prefix_pop();
    prefix_push("virtio-rng");
    let _ = rng_dma(&mut env, &mut iommu);
    prefix_pop();
    prefix_push("virtio-blk");
    let _ = blk_dma(&mut env, &mut iommu);
    prefix_pop();
}

/// Checks that a device behind the IOMMU refuses FEATURES_OK without ACCESS_PLATFORM.
fn needs_access_platform(dev: MmioDevice) {
    let offered = dev.device_features();
    report!(
        offered & features::ACCESS_PLATFORM != 0,
        "offers VIRTIO_F_ACCESS_PLATFORM ({offered:#x})"
    );
    let without = dev.negotiate_exact(features::VERSION_1);
    report!(
        matches!(without, Err(Error::FeaturesRefused(_))),
        "refuses FEATURES_OK without ACCESS_PLATFORM ({without:?})"
    );
    let _ = dev.reset();
}

fn dma_test(env: &mut Env, iommu: &mut Iommu) -> Option<()> {
    let (dev, _) = env.endpoint(device_id::DMA_TEST)?;
    needs_access_platform(dev);
    let mut t = dma_test_in_domain(env, iommu, 1)?;
    report!(
        t.dev.negotiated() & features::ACCESS_PLATFORM != 0,
        "negotiated ACCESS_PLATFORM; rings at IOVA {:#x}, GPA {:#x}",
        t.ctrl.dev_addr,
        t.ctrl.buf.addr()
    );
    let a = Target::new(env)?;
    a.map(iommu, 1, MAP_F_RW)?;
    let x = a.dev().dev_addr;
    let d = check("FILL", t.dev.fill(x, P as u64, 0xa5))?;
    report!(
        d.ok() && d.result == P as u64 && a.page().check_all(0xa5).is_ok(),
        "FILL of the whole page at IOVA {x:#x} lands in the target ({d})"
    );
    report!(a.clean(), "canaries and decoy untouched");
    let d = check("FILL", t.dev.fill(x + 100, 50, 0x3c))?;
    let page = a.page();
    let exact =
        (0..P).all(|i| page.read_u8(i) == if (100..150).contains(&i) { 0x3c } else { 0xa5 });
    report!(
        d.ok() && exact,
        "FILL of 50 bytes at +100 writes exactly those ({d})"
    );
    // COPY between two translated pages.
    let b = Target::new(env)?;
    let b_dev = DeviceBuf::at(b.page(), iova::DATA);
    let r = check("MAP", map_buf(iommu, 1, b_dev, MAP_F_RW))?;
    report!(r.ok(), "MAP IOVA {:#x} -> second target: {r}", iova::DATA);
    let d = check("COPY", t.dev.copy(x, iova::DATA, P as u64))?;
    let mut expected = [0u8; P];
    page.read(0, &mut expected);
    report!(
        d.ok() && b.page().check_eq(&expected).is_ok() && b.clean(),
        "COPY between two IOVAs copies the page ({d})"
    );
    let d = check("COMPARE", t.dev.compare(x, iova::DATA, P as u64))?;
    report!(
        d.ok() && d.result == P as u64,
        "COMPARE finds them equal ({d})"
    );
    // An identity mapping (IOVA = GPA) works as well.
    let c = env.pages(1)?;
    let r = check("MAP", map_buf(iommu, 1, DeviceBuf::identity(c), MAP_F_RW))?;
    report!(r.ok(), "MAP IOVA {:#x} -> the same GPA: {r}", c.addr());
    let d = check("FILL", t.dev.fill(c.addr(), P as u64, 0x42))?;
    report!(
        d.ok() && c.check_all(0x42).is_ok(),
        "DMA through the identity mapping ({d})"
    );
    expect_no_fault(iommu, "all DMA allowed");
    report!(
        a.clean(),
        "the first target's canaries and decoy are still untouched"
    );
    Some(())
}

fn rng_dma(env: &mut Env, iommu: &mut Iommu) -> Option<()> {
    const DOMAIN: u32 = 2;
    let (dev, ep) = env.endpoint(device_id::RNG)?;
    needs_access_platform(dev);
    let r = check("ATTACH", iommu.attach(DOMAIN, ep))?;
    report!(r.ok(), "ATTACH endpoint {ep} to domain {DOMAIN}: {r}");
    let ctrl = DeviceBuf::at(env.pages(rng::CTRL_PAGES)?, iova::RNG_CTRL);
    let r = check("MAP", map_buf(iommu, DOMAIN, ctrl, MAP_F_RW))?;
    report!(r.ok(), "MAP the rings at IOVA {:#x}: {r}", ctrl.dev_addr);
    let mut rng = check("bringing up virtio-rng", Rng::new(dev, ctrl, true))?;
    report!(
        rng.negotiated() & features::ACCESS_PLATFORM != 0,
        "negotiated ACCESS_PLATFORM"
    );
    let a = Target::new(env)?;
    a.map(iommu, DOMAIN, MAP_F_RW)?;
    let z = a.dev().dev_addr;
    let used = check("entropy", rng.fill(z, 256))?;
    // The used length comes from the device: clamp before using it as an index.
    let n = (used as usize).min(256);
    let page = a.page();
    let mut first = [0u8; 256];
    page.read(0, &mut first);
    report!(
        (1..=256).contains(&used) && first[..n].iter().any(|&b| b != 0x5a),
        "256-byte request at IOVA {z:#x}: {used} random bytes land in the target"
    );
    report!(
        page.sub(n, P - n).check_all(0x5a).is_ok() && a.clean(),
        "nothing past them, canaries and decoy untouched"
    );
    let n2 = check("entropy", rng.fill(z, 256))?;
    let mut second = [0u8; 256];
    page.read(0, &mut second);
    report!(
        n2 > 0 && second != first,
        "a second request gives other bytes"
    );
    // A device write through a READ-only mapping.
    let ro = Target::new(env)?;
    ro.map(iommu, DOMAIN, MAP_F_READ)?;
    let n = check("entropy", rng.fill(ro.dev().dev_addr, 64))?;
    report!(
        n == 0 && ro.page().check_all(0x5a).is_ok() && ro.clean(),
        "into a READ-only mapping: used length {n}, nothing written"
    );
    expect_fault(
        iommu,
        "the refused write",
        ep,
        ro.dev().dev_addr,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    Some(())
}

fn blk_dma(env: &mut Env, iommu: &mut Iommu) -> Option<()> {
    const DOMAIN: u32 = 3;
    let (dev, ep) = env.endpoint(device_id::BLOCK)?;
    needs_access_platform(dev);
    let r = check("ATTACH", iommu.attach(DOMAIN, ep))?;
    report!(r.ok(), "ATTACH endpoint {ep} to domain {DOMAIN}: {r}");
    let ctrl = DeviceBuf::at(env.pages(blk::CTRL_PAGES)?, iova::BLK_CTRL);
    let r = check("MAP", map_buf(iommu, DOMAIN, ctrl, MAP_F_RW))?;
    report!(
        r.ok(),
        "MAP the rings and request header at IOVA {:#x}: {r}",
        ctrl.dev_addr
    );
    let mut disk = check("bringing up virtio-blk", Blk::new(dev, ctrl, true))?;
    match env
        .hint("gtest.disk_sectors")
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => {
            report!(
                disk.capacity == n,
                "capacity {} sectors (expected {n})",
                disk.capacity
            );
        }
        None => report_skip!(
            "no gtest.disk_sectors hint: capacity {} not checked",
            disk.capacity
        ),
    }
    report!(!disk.read_only(), "the first disk is writable");
    let sectors = disk.capacity;
    if sectors < 24 {
        report!(false, "the disk has at least 24 sectors");
        return None;
    }

    let a = Target::new(env)?;
    a.map(iommu, DOMAIN, MAP_F_RW)?;
    let w = a.dev().dev_addr;
    let r = check("read", disk.read(0, w, P as u32))?;
    let page = a.page();
    let matches = |page: DmaBuf, first_sector: u64| {
        (0..page.len()).all(|i| page.read_u8(i) == disk_byte(first_sector * 512 + i as u64))
    };
    report!(
        r.status == blk::S_OK && r.used_len == P as u32 + 1,
        "read of sectors 0-7 into IOVA {w:#x}: status {}, used {}",
        r.status,
        r.used_len
    );
    report!(matches(page, 0), "the target holds the image's first 4 KiB");
    report!(a.clean(), "canaries and decoy untouched");

    // The same read through an indirect descriptor table at an IOVA.
    let table = DeviceBuf::at(env.pages(1)?, iova::BLK_CTRL + 0x10_0000);
    let r = check("MAP", map_buf(iommu, DOMAIN, table, MAP_F_READ))?;
    report!(
        r.ok(),
        "MAP an indirect table page at IOVA {:#x} READ-only: {r}",
        table.dev_addr
    );
    let b = Target::new(env)?;
    b.map(iommu, DOMAIN, MAP_F_RW)?;
    let r = check(
        "indirect read",
        disk.read_indirect(8, b.dev().dev_addr, P as u32, table),
    )?;
    report!(
        r.status == blk::S_OK && r.used_len == P as u32 + 1 && matches(b.page(), 8) && b.clean(),
        "read of sectors 8-15 through the indirect table: status {}, data right",
        r.status
    );

    // A write from a READ-only mapping (the device only reads it), read back elsewhere.
    let src = Target::new(env)?;
    src.page().fill(0xab);
    src.map(iommu, DOMAIN, MAP_F_READ)?;
    let r = check("write", disk.write(16, src.dev().dev_addr, 512))?;
    report!(
        r.status == blk::S_OK,
        "write of sector 16 from a READ-only mapping: status {}",
        r.status
    );
    let r = check("read", disk.read(16, w, 1024))?;
    report!(
        r.status == blk::S_OK
            && page.sub(0, 512).check_all(0xab).is_ok()
            && (512..1024).all(|i| page.read_u8(i) == disk_byte(17 * 512 + i as u64 - 512)),
        "reading sectors 16-17 back: the written sector, then the image"
    );
    let r = check("flush", disk.flush())?;
    report!(r.status == blk::S_OK, "flush: status {}", r.status);
    let r = check("get-id", disk.get_id(w))?;
    report_info!(
        "device ID string: {:?}",
        core::str::from_utf8(&{
            let mut id = [0u8; 20];
            page.read(0, &mut id);
            id
        })
        .unwrap_or("<not UTF-8>")
        .trim_end_matches('\0')
    );
    report!(
        r.status == blk::S_OK,
        "get-id into IOVA {w:#x}: status {}",
        r.status
    );

    // A read into a READ-only mapping: the device's write is refused.
    let ro = Target::new(env)?;
    ro.map(iommu, DOMAIN, MAP_F_READ)?;
    let r = check("read", disk.read(0, ro.dev().dev_addr, 512))?;
    report!(
        r.status == blk::S_IOERR && ro.page().check_all(0x5a).is_ok() && ro.clean(),
        "read into a READ-only mapping: IOERR, nothing written (status {})",
        r.status
    );
    expect_fault(
        iommu,
        "the refused write",
        ep,
        ro.dev().dev_addr,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );

    // The read-only image.
    let Some(second) = env.platform.find_nth(device_id::BLOCK, 1) else {
        report_skip!("no second (read-only) disk");
        return Some(());
    };
    let Some(ep2) = env.platform.endpoint_of(second.slot) else {
        report!(false, "the VIOT names the second disk");
        return None;
    };
    let r = check("ATTACH", iommu.attach(DOMAIN, ep2))?;
    report!(
        r.ok(),
        "ATTACH the read-only disk's endpoint {ep2} to domain {DOMAIN} too: {r}"
    );
    let ctrl2 = DeviceBuf::at(env.pages(blk::CTRL_PAGES)?, iova::BLK_CTRL + 0x20_0000);
    check("MAP", map_buf(iommu, DOMAIN, ctrl2, MAP_F_RW))?;
    let mut ro_disk = check(
        "bringing up the read-only virtio-blk",
        Blk::new(MmioDevice::new(second.slot.base), ctrl2, true),
    )?;
    report!(ro_disk.read_only(), "VIRTIO_BLK_F_RO is negotiated");
    let r = check("write", ro_disk.write(0, src.dev().dev_addr, 512))?;
    report!(
        r.status == blk::S_IOERR,
        "a write is refused: IOERR (status {})",
        r.status
    );
    let r = check("read", ro_disk.read(0, w, 512))?;
    report!(
        r.status == blk::S_OK && (0..512).all(|i| page.read_u8(i) == disk_byte(i as u64)),
        "sector 0 still holds the image"
    );
    expect_no_fault(iommu, "the read-only disk");
    Some(())
}
