//! virtio-iommu ATTACH and DETACH from the guest (virtio 1.2 §5.13.6.3–4): NOENT for unknown
//! endpoints, INVAL for reserved fields and unknown flags, moving an endpoint between domains
//! (implicit detach), a domain and its mappings destroyed when its last endpoint leaves — seen
//! through MAP (NOENT for the dead domain, no overlap on re-attach) and through the DMA test
//! device's DMA — and a detached endpoint's DMA blocked with a DOMAIN fault.
//!
//! Runner: `--iommu --dma-test --rng` (the rng is a second endpoint).
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_rt::{report, report_info};
use gtest_virtio::Error;
use gtest_virtio::dma_test::{self, Request};
use gtest_virtio::harness::{
    Env, check, dma_test_in_domain, expect_fault, expect_fault_in, expect_no_fault, iova, map_buf,
};
use gtest_virtio::iommu::Iommu;
use gtest_virtio::iommu::protocol::{
    self as p, ATTACH_F_BYPASS, FAULT_F_READ, FAULT_F_WRITE, FAULT_R_DOMAIN, FAULT_R_MAPPING,
    MAP_F_RW, S_INVAL, S_NOENT, S_RANGE,
};
use gtest_virtio::mem::DeviceBuf;
use gtest_virtio::mmio::device_id;
use gtest_virtio::time::Deadline;

gtest_rt::main!(main);

/// A page-sized IOVA range `[a, a + 4095]` for requests that only need some range.
const SOME_IOVA: u64 = 0x30_0000_0000;

fn main(boot: &BootInfo) {
    let Some(mut env) = Env::new(boot) else {
        return;
    };
    let Some(mut iommu) = env.iommu() else {
        return;
    };
    let Some((_, ep)) = env.endpoint(device_id::DMA_TEST) else {
        return;
    };
    let second = env
        .platform
        .viot
        .and_then(|v| v.endpoints().map(|e| e.endpoint).find(|&e| e != ep));
    prefix_push("errors");
    let _ = errors(&env, &mut iommu, ep, second);
    prefix_pop();
    prefix_push("moves");
    let _ = moves(&mut env, &mut iommu, second);
    prefix_pop();
}

/// Whether `domain` exists, seen from MAP: NOENT when it does not.
fn domain_exists(iommu: &mut Iommu, domain: u32) -> Option<bool> {
    let r = check(
        "MAP probe",
        iommu.map(
            domain,
            SOME_IOVA,
            SOME_IOVA + 0xfff,
            0x100_0000,
            p::MAP_F_READ,
        ),
    )?;
    if r.ok() {
        check("UNMAP", iommu.unmap(domain, SOME_IOVA, SOME_IOVA + 0xfff))?;
    }
    Some(!r.is(S_NOENT))
}

fn errors(env: &Env, iommu: &mut Iommu, ep: u32, second: Option<u32>) -> Option<()> {
    let unknown = env
        .platform
        .viot
        .and_then(|v| v.endpoints().map(|e| e.endpoint).max())
        .unwrap_or(0)
        .wrapping_add(1000);
    // "If the endpoint identified by endpoint doesn't exist, the device MUST reject the request
    // and set status to VIRTIO_IOMMU_S_NOENT."
    let r = check("ATTACH", iommu.attach(1, unknown))?;
    report!(
        r.is(S_NOENT),
        "ATTACH of unknown endpoint {unknown}: NOENT ({r})"
    );
    let r = check("DETACH", iommu.detach(1, unknown))?;
    report!(
        r.is(S_NOENT),
        "DETACH of unknown endpoint {unknown}: NOENT ({r})"
    );
    let r = check("PROBE", iommu.probe(unknown))?;
    report!(
        r.is(S_NOENT),
        "PROBE of unknown endpoint {unknown}: NOENT ({r})"
    );
    // "If the reserved field of an ATTACH request is not zero, the device MUST reject the
    // request and set status to VIRTIO_IOMMU_S_INVAL."
    for byte in 16..20 {
        let mut req = p::attach(2, ep, 0);
        req[byte] = 1;
        let r = check("ATTACH", iommu.request(&req))?;
        report!(
            r.is(S_INVAL),
            "ATTACH with reserved byte {} set: INVAL ({r})",
            byte - 16
        );
    }
    // "If the device does not recognize a flags bit, it MUST reject the request and set status
    // to VIRTIO_IOMMU_S_INVAL."
    for flag in [1u32 << 1, 1 << 7, 1 << 31] {
        let r = check("ATTACH", iommu.attach_flags(2, ep, flag))?;
        report!(
            r.is(S_INVAL),
            "ATTACH with unknown flag {flag:#x}: INVAL ({r})"
        );
    }
    report!(
        !domain_exists(iommu, 2)?,
        "the rejected ATTACHes created no domain 2 (MAP there is NOENT)"
    );
    // DETACH: "If the domain identified by domain doesn't exist, or if the endpoint identified
    // by endpoint isn't attached to this domain, then the device MAY set the request status to
    // VIRTIO_IOMMU_S_INVAL."
    let r = check("DETACH", iommu.detach(2, ep))?;
    report!(
        r.is(S_INVAL),
        "DETACH of an unattached endpoint: INVAL ({r})"
    );
    let r = check("ATTACH", iommu.attach(2, ep))?;
    report!(r.ok(), "ATTACH endpoint {ep} to domain 2: {r}");
    let r = check("ATTACH", iommu.attach(2, ep))?;
    report!(r.ok(), "ATTACH to the domain it is in again: {r}");
    let r = check("DETACH", iommu.detach(3, ep))?;
    report!(
        r.is(S_INVAL),
        "DETACH from a domain that does not exist: INVAL ({r})"
    );
    if let Some(ep2) = second {
        let r = check("ATTACH", iommu.attach(3, ep2))?;
        report!(r.ok(), "ATTACH endpoint {ep2} to domain 3: {r}");
        let r = check("DETACH", iommu.detach(3, ep))?;
        report!(
            r.is(S_INVAL),
            "DETACH endpoint {ep} from domain 3, which it is not in: INVAL ({r})"
        );
        let r = check("DETACH", iommu.detach(3, ep2))?;
        report!(r.ok(), "DETACH endpoint {ep2} from domain 3: {r}");
    }
    // A bypass ATTACH into an existing translated domain is inconsistent: "SHOULD reject".
    let r = check("ATTACH", iommu.attach_flags(2, ep, ATTACH_F_BYPASS))?;
    report!(
        r.is(S_INVAL),
        "ATTACH_F_BYPASS into translated domain 2: INVAL ({r})"
    );
    // "The device MUST ignore reserved" (DETACH).
    let mut req = p::detach(2, ep);
    req[12..20].copy_from_slice(&[0xff; 8]);
    let r = check("DETACH", iommu.request(&req))?;
    report!(
        r.ok(),
        "DETACH with its reserved bytes set is OK (they are ignored): {r}"
    );
    let r = check("DETACH", iommu.detach(2, ep))?;
    report!(
        r.is(S_INVAL),
        "and a second DETACH finds it detached: INVAL ({r})"
    );
    report!(
        !domain_exists(iommu, 2)?,
        "domain 2 ceased to exist when its only endpoint left"
    );
    let c = iommu.config;
    if c.domain_end < u32::MAX {
        let r = check("ATTACH", iommu.attach(c.domain_end + 1, ep))?;
        report!(
            r.is(S_RANGE),
            "ATTACH to domain {} past domain_range: RANGE ({r})",
            c.domain_end + 1
        );
    } else {
        report_info!("domain_range covers every ID: no out-of-range domain to try");
    }
    Some(())
}

fn moves(env: &mut Env, iommu: &mut Iommu, second: Option<u32>) -> Option<()> {
    let mut t = dma_test_in_domain(env, iommu, 1)?;
    let ep = t.endpoint;
    let a = iova::DATA;
    let buf_a = env.pages(1)?;
    let buf_b = env.pages(1)?;
    buf_a.fill(0x11);
    buf_b.fill(0x11);
    let a_in = |buf| DeviceBuf::at(buf, a);

    let r = check("MAP", map_buf(iommu, 1, a_in(buf_a), MAP_F_RW))?;
    report!(r.ok(), "MAP IOVA {a:#x} -> buffer A in domain 1: {r}");
    let d = check("FILL", t.dev.fill(a, 4096, 0xa1))?;
    report!(
        d.ok() && buf_a.check_all(0xa1).is_ok(),
        "DMA through domain 1 lands in A ({d})"
    );

    // "If the endpoint identified by endpoint is already attached to another domain, then the
    // device SHOULD first detach it from that domain and attach it to the one identified by
    // domain."
    let r = check("ATTACH", iommu.attach(2, ep))?;
    report!(
        r.ok(),
        "ATTACH endpoint {ep} to domain 2 while in domain 1 (a move): {r}"
    );
    // "After all endpoints have been successfully detached from a domain, it ceases to exist".
    report!(
        !domain_exists(iommu, 1)?,
        "domain 1 ceased to exist when its last endpoint moved away (MAP there is NOENT)"
    );
    let r = check("MAP", map_buf(iommu, 2, t.ctrl, MAP_F_RW))?;
    report!(r.ok(), "MAP the rings in domain 2: {r}");
    let d = check("FILL", t.dev.fill(a, 4096, 0xbb))?;
    report!(
        d.fault() && d.fault_addr == a && d.fault_flags == dma_test::FAULT_F_WRITE,
        "domain 2 has no mapping at {a:#x}: the DMA is refused ({d})"
    );
    expect_fault(
        iommu,
        "the refused write",
        ep,
        a,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    report!(buf_a.check_all(0xa1).is_ok(), "A was not written");
    let r = check("MAP", map_buf(iommu, 2, a_in(buf_b), MAP_F_RW))?;
    report!(r.ok(), "MAP IOVA {a:#x} -> buffer B in domain 2: {r}");
    let d = check("FILL", t.dev.fill(a, 4096, 0xb2))?;
    report!(
        d.ok() && buf_b.check_all(0xb2).is_ok() && buf_a.check_all(0xa1).is_ok(),
        "the same IOVA now lands in B, not A ({d})"
    );
    expect_no_fault(iommu, "DMA through domain 2");

    match second {
        Some(ep2) => {
            let r = check("ATTACH", iommu.attach(2, ep2))?;
            report!(r.ok(), "ATTACH a second endpoint {ep2} to domain 2: {r}");
            let r = check("ATTACH", iommu.attach(3, ep))?;
            report!(r.ok(), "move endpoint {ep} on to domain 3: {r}");
            let r = check("MAP", map_buf(iommu, 2, a_in(buf_b), MAP_F_RW))?;
            report!(
                r.is(S_INVAL),
                "domain 2 keeps its mappings while endpoint {ep2} is in it (MAP overlaps: {r})"
            );
            let r = check("DETACH", iommu.detach(2, ep2))?;
            report!(r.ok(), "DETACH endpoint {ep2} from domain 2: {r}");
            report!(
                !domain_exists(iommu, 2)?,
                "domain 2 ceased to exist when its last endpoint was detached"
            );
            let r = check("DETACH", iommu.detach(3, ep))?;
            report!(r.ok(), "DETACH endpoint {ep} from domain 3: {r}");
        }
        None => {
            report_info!("no second endpoint: domains with two endpoints not tried");
            let r = check("DETACH", iommu.detach(2, ep))?;
            report!(r.ok(), "DETACH endpoint {ep} from domain 2: {r}");
            report!(
                !domain_exists(iommu, 2)?,
                "domain 2 ceased to exist when its last endpoint was detached"
            );
        }
    }

    // Re-attaching to domain 1 creates a new, empty domain: the old mapping of A is gone.
    let r = check("ATTACH", iommu.attach(1, ep))?;
    report!(r.ok(), "ATTACH endpoint {ep} to domain 1 again: {r}");
    let r = check("MAP", map_buf(iommu, 1, t.ctrl, MAP_F_RW))?;
    report!(r.ok(), "MAP the rings in the new domain 1: {r}");
    let d = check("FILL", t.dev.fill(a, 4096, 0xcc))?;
    report!(
        d.fault() && d.fault_addr == a,
        "the old mapping of {a:#x} died with the old domain 1: DMA refused ({d})"
    );
    expect_fault(
        iommu,
        "the refused write",
        ep,
        a,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    let r = check("MAP", map_buf(iommu, 1, a_in(buf_a), MAP_F_RW))?;
    report!(
        r.ok(),
        "MAP of the same range in the new domain 1 does not overlap: {r}"
    );
    let d = check("FILL", t.dev.fill(a, 4096, 0xc3))?;
    report!(
        d.ok() && buf_a.check_all(0xc3).is_ok(),
        "DMA lands in A again ({d})"
    );

    // "The device MUST ensure that after being detached from a domain, the endpoint cannot
    // access any mapping from that domain." Detached and not in bypass, the device cannot even
    // read its rings: the request stays on the ring and a DOMAIN fault is reported.
    let bypass = iommu.bypass();
    report!(bypass == 0, "bypass is off ({bypass})");
    let r = check("DETACH", iommu.detach(1, ep))?;
    report!(r.ok(), "DETACH endpoint {ep} from domain 1: {r}");
    let head = check("submit", t.dev.submit(&Request::fill(a, 4096, 0xd4)))?;
    let ctrl = (t.ctrl.dev_addr, t.ctrl.dev(t.ctrl.buf.len() - 1));
    expect_fault_in(
        iommu,
        "a detached endpoint's ring access",
        ep,
        ctrl,
        FAULT_R_DOMAIN,
        FAULT_F_READ,
    );
    let pending = t.dev.wait(head, Deadline::after_cycles(0));
    report!(
        pending == Err(Error::Timeout) && buf_a.check_all(0xc3).is_ok(),
        "the request is not executed and A is untouched"
    );
    let r = check("ATTACH", iommu.attach(1, ep))?;
    report!(r.ok(), "ATTACH endpoint {ep} to domain 1 once more: {r}");
    check("MAP", map_buf(iommu, 1, t.ctrl, MAP_F_RW))?;
    check("MAP", map_buf(iommu, 1, a_in(buf_a), MAP_F_RW))?;
    iommu.drain_faults().ok()?;
    t.dev.notify();
    let d = check("the pending FILL", t.dev.wait(head, Deadline::request()))?;
    report!(
        d.ok() && buf_a.check_all(0xd4).is_ok(),
        "once attached and mapped, the pending request runs ({d})"
    );
    expect_no_fault(iommu, "the pending request");
    Some(())
}
