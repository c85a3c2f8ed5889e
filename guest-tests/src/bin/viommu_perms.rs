//! virtio-iommu permissions from the guest: "The device MUST NOT allow writes to a range mapped
//! without the VIRTIO_IOMMU_MAP_F_WRITE flag" — the DMA test device's write through a READ-only
//! mapping is refused (its reply says FAULT, with the access and the address), the memory behind
//! it is untouched, and a MAPPING fault with the WRITE flag, the endpoint and the address appears
//! on the event queue. Also: reads through READ-only mappings work, WRITE-only mappings refuse
//! reads, a mapping with neither flag refuses both, and a DMA crossing from a read-write page
//! into a read-only one stops exactly at the boundary.
//!
//! Runner: `--iommu --dma-test`.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_virtio::dma_test::{FAULT_F_READ as DT_READ, FAULT_F_WRITE as DT_WRITE};
use gtest_virtio::harness::{
    Env, check, dma_test_in_domain, expect_fault, expect_no_fault, iova, map_buf,
};
use gtest_virtio::iommu::protocol::{
    FAULT_F_READ, FAULT_F_WRITE, FAULT_R_MAPPING, MAP_F_READ, MAP_F_RW, MAP_F_WRITE,
};
use gtest_virtio::mem::{DeviceBuf, DmaBuf};

gtest_rt::main!(main);

const P: u64 = 4096;
const D: u32 = 1;

fn main(boot: &BootInfo) {
    let _ = run(boot);
}

fn run(boot: &BootInfo) -> Option<()> {
    let mut env = Env::new(boot)?;
    let mut iommu = env.iommu()?;
    let mut t = dma_test_in_domain(&mut env, &mut iommu, D)?;
    let ep = t.endpoint;
    // Four pages with canaries on both sides: [canary | ro | rw | wo | none | canary].
    let mem = env.pages(6)?;
    mem.fill(0x5a);
    let page = |i: usize| mem.sub(i * P as usize, P as usize);
    let (ro, rw, wo, none) = (page(1), page(2), page(3), page(4));
    let at = |i: u64| iova::DATA + i * P;
    let (ro_iova, rw_iova, wo_iova, none_iova) = (at(0), at(1), at(2), at(3));
    for (what, buf, iova, flags) in [
        ("READ", ro, ro_iova, MAP_F_READ),
        ("READ|WRITE", rw, rw_iova, MAP_F_RW),
        ("WRITE", wo, wo_iova, MAP_F_WRITE),
        ("no permission", none, none_iova, 0),
    ] {
        let r = check(
            "MAP",
            map_buf(&mut iommu, D, DeviceBuf::at(buf, iova), flags),
        )?;
        report!(r.ok(), "MAP {iova:#x} -> {:#x} {what}: {r}", buf.addr());
    }
    let canaries_ok = |mem: DmaBuf| {
        mem.sub(0, P as usize).check_all(0x5a).is_ok()
            && mem.sub(5 * P as usize, P as usize).check_all(0x5a).is_ok()
    };

    prefix_push("write to READ-only");
    let d = check("FILL", t.dev.fill(ro_iova, P, 0xee))?;
    report!(d.fault(), "the device's write is refused: {d}");
    report!(
        d.fault_flags == DT_WRITE && d.fault_addr == ro_iova && d.result == 0,
        "its reply names the write at {ro_iova:#x}, nothing written"
    );
    report!(
        ro.check_all(0x5a).is_ok(),
        "the read-only page is untouched"
    );
    expect_fault(
        &mut iommu,
        "event queue",
        ep,
        ro_iova,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    expect_no_fault(&mut iommu, "exactly one report");
    let d = check("COPY", t.dev.copy(rw_iova, ro_iova + 0x100, 16))?;
    report!(
        d.fault() && d.fault_addr == ro_iova + 0x100 && ro.check_all(0x5a).is_ok(),
        "a COPY into it at +0x100 is refused at that address too ({d})"
    );
    expect_fault(
        &mut iommu,
        "event queue",
        ep,
        ro_iova + 0x100,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    prefix_pop();

    prefix_push("reads");
    ro.fill(0x3c);
    let d = check("COPY", t.dev.copy(ro_iova, rw_iova, P))?;
    report!(
        d.ok() && rw.check_all(0x3c).is_ok(),
        "COPY from the READ-only page to the READ|WRITE page works ({d})"
    );
    let d = check("COMPARE", t.dev.compare(ro_iova, rw_iova, P))?;
    report!(d.ok() && d.result == P, "COMPARE reads both: equal ({d})");
    expect_no_fault(&mut iommu, "allowed accesses");
    prefix_pop();

    prefix_push("WRITE-only");
    let d = check("FILL", t.dev.fill(wo_iova, P, 0x77))?;
    report!(
        d.ok() && wo.check_all(0x77).is_ok(),
        "FILL through the WRITE-only mapping works ({d})"
    );
    let d = check("COPY", t.dev.copy(wo_iova, rw_iova, 64))?;
    report!(
        d.fault() && d.fault_flags == DT_READ && d.fault_addr == wo_iova,
        "a read through it is refused: this IOMMU has write-only mappings ({d})"
    );
    report!(rw.check_all(0x3c).is_ok(), "the destination is untouched");
    expect_fault(
        &mut iommu,
        "event queue",
        ep,
        wo_iova,
        FAULT_R_MAPPING,
        FAULT_F_READ,
    );
    prefix_pop();

    prefix_push("no permission");
    let d = check("COPY", t.dev.copy(none_iova, rw_iova, 8))?;
    report!(
        d.fault() && d.fault_flags == DT_READ,
        "a read is refused ({d})"
    );
    expect_fault(
        &mut iommu,
        "event queue",
        ep,
        none_iova,
        FAULT_R_MAPPING,
        FAULT_F_READ,
    );
    let d = check("FILL", t.dev.fill(none_iova + 8, 8, 1))?;
    report!(
        d.fault() && d.fault_flags == DT_WRITE,
        "a write is refused ({d})"
    );
    expect_fault(
        &mut iommu,
        "event queue",
        ep,
        none_iova + 8,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    report!(none.check_all(0x5a).is_ok(), "the page is untouched");
    prefix_pop();

    prefix_push("crossing into READ-only");
    // IOVA pages rw_iova2 (READ|WRITE) then ro_iova2 (READ) back to back.
    let rw2 = iova::DATA + 16 * P;
    let r = check(
        "MAP",
        map_buf(&mut iommu, D, DeviceBuf::at(rw, rw2), MAP_F_RW),
    )?;
    report!(r.ok(), "MAP {rw2:#x} READ|WRITE: {r}");
    let r = check(
        "MAP",
        map_buf(&mut iommu, D, DeviceBuf::at(ro, rw2 + P), MAP_F_READ),
    )?;
    report!(r.ok(), "MAP {:#x} READ right after it: {r}", rw2 + P);
    ro.fill(0x5a);
    let d = check("FILL", t.dev.fill(rw2, 2 * P, 0x99))?;
    report!(
        d.fault() && d.fault_addr == rw2 + P && d.result == P,
        "a two-page FILL stops at the read-only page: {P} bytes written ({d})"
    );
    report!(
        rw.check_all(0x99).is_ok() && ro.check_all(0x5a).is_ok(),
        "the first page is filled, the read-only one untouched"
    );
    expect_fault(
        &mut iommu,
        "event queue",
        ep,
        rw2 + P,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    prefix_pop();
    report!(
        canaries_ok(mem),
        "the pages around the mappings are untouched"
    );
    Some(())
}
