//! DMA to unmapped IOVAs from the guest: the DMA test device's reply says FAULT with the access
//! and the IOVA, and the virtio-iommu reports a fault on its event queue with reason MAPPING, the
//! READ or WRITE flag, F_ADDRESS, the device's endpoint and the same address — one report per
//! blocked access, for writes, reads, a DMA that runs off the end of a mapping, and a mapping
//! that was just unmapped. A detached endpoint's DMA is reported with reason DOMAIN. When the
//! driver has given no event buffers, reports are dropped (not queued up, not split), and
//! reporting resumes once buffers come back.
//!
//! Runner: `--iommu --dma-test`.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_virtio::Error;
use gtest_virtio::dma_test::{FAULT_F_READ as DT_READ, FAULT_F_WRITE as DT_WRITE, Request};
use gtest_virtio::harness::{
    Env, check, dma_test_in_domain, expect_fault, expect_fault_in, expect_no_fault, iova, map_buf,
};
use gtest_virtio::iommu::QUEUE_SIZE as EVENT_BUFFERS;
use gtest_virtio::iommu::protocol::{
    self as p, FAULT_F_READ, FAULT_F_WRITE, FAULT_R_DOMAIN, FAULT_R_MAPPING, MAP_F_RW,
};
use gtest_virtio::mem::DeviceBuf;
use gtest_virtio::time::Deadline;

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
    let mapped = iova::DATA;
    let unmapped = iova::DATA + 0x10_0000;
    let buf = env.pages(1)?;
    buf.fill(0x5a);
    let r = check(
        "MAP",
        map_buf(&mut iommu, D, DeviceBuf::at(buf, mapped), MAP_F_RW),
    )?;
    report!(r.ok(), "MAP one page at {mapped:#x}: {r}");

    prefix_push("unmapped write");
    let d = check("FILL", t.dev.fill(unmapped + 0x123, 16, 1))?;
    report!(
        d.fault() && d.fault_flags == DT_WRITE && d.fault_addr == unmapped + 0x123 && d.result == 0,
        "the device reports the refused write at {:#x}: {d}",
        unmapped + 0x123
    );
    expect_fault(
        &mut iommu,
        "event",
        ep,
        unmapped + 0x123,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    expect_no_fault(&mut iommu, "one access, one report");
    prefix_pop();

    prefix_push("unmapped read");
    let d = check("COPY", t.dev.copy(unmapped, mapped, 64))?;
    report!(
        d.fault()
            && d.fault_flags == DT_READ
            && d.fault_addr == unmapped
            && buf.check_all(0x5a).is_ok(),
        "the device reports the refused read; the destination is untouched: {d}"
    );
    expect_fault(
        &mut iommu,
        "event",
        ep,
        unmapped,
        FAULT_R_MAPPING,
        FAULT_F_READ,
    );
    prefix_pop();

    prefix_push("off the end");
    let d = check("FILL", t.dev.fill(mapped + P - 8, 16, 0x77))?;
    report!(
        d.fault() && d.fault_addr == mapped + P,
        "a FILL running past the mapping faults at its end: {d}"
    );
    expect_fault(
        &mut iommu,
        "event",
        ep,
        mapped + P,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    let d = check("FILL", t.dev.fill(mapped, 2 * P, 0x66))?;
    report!(
        d.fault() && d.fault_addr == mapped + P && d.result == P && buf.check_all(0x66).is_ok(),
        "a two-page FILL writes the mapped page and stops at the next: {d}"
    );
    expect_fault(
        &mut iommu,
        "event",
        ep,
        mapped + P,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    prefix_pop();

    prefix_push("after UNMAP");
    let r = check("UNMAP", iommu.unmap(D, mapped, mapped + P - 1))?;
    report!(r.ok(), "UNMAP the page: {r}");
    let d = check("FILL", t.dev.fill(mapped, P, 0x11))?;
    report!(
        d.fault() && d.fault_addr == mapped && buf.check_all(0x66).is_ok(),
        "DMA to it is refused and the memory keeps its old contents: {d}"
    );
    expect_fault(
        &mut iommu,
        "event",
        ep,
        mapped,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    prefix_pop();

    prefix_push("no event buffers");
    // Fill the event queue: EVENT_BUFFERS reports are written, the rest dropped.
    let extra = 4u16;
    let mut faults = 0;
    for i in 0..EVENT_BUFFERS + extra {
        let d = check("FILL", t.dev.fill(unmapped + u64::from(i) * P, 8, 2))?;
        faults += u16::from(d.fault());
    }
    report!(faults == EVENT_BUFFERS + extra, "{faults} refused DMAs");
    let mut reported = 0;
    let mut in_order = true;
    while let Some(f) = iommu.pending_fault().ok()? {
        in_order &= f.address == unmapped + u64::from(reported) * P && f.endpoint == ep;
        reported += 1;
    }
    report!(
        reported == EVENT_BUFFERS,
        "{reported} reports for {EVENT_BUFFERS} event buffers: the rest were dropped"
    );
    report!(
        in_order,
        "the reports are the first {EVENT_BUFFERS} faults, in order"
    );
    let d = check("FILL", t.dev.fill(unmapped, 8, 3))?;
    report!(d.fault(), "another refused DMA after the buffers came back");
    expect_fault(
        &mut iommu,
        "reporting resumes",
        ep,
        unmapped,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    prefix_pop();

    prefix_push("small event buffer");
    // "If a buffer is too small to contain the fault report, the device SHOULD NOT use multiple
    // buffers to describe it": use up every buffer, then offer a 16-byte one and a full one.
    for i in 0..EVENT_BUFFERS {
        check("FILL", t.dev.fill(unmapped + u64::from(i) * P, 8, 5))?;
    }
    let mut slots = [0usize; EVENT_BUFFERS as usize];
    let mut taken = 0;
    while let Some((slot, _, _)) = iommu.take_event().ok()? {
        if let Some(s) = slots.get_mut(taken) {
            *s = slot;
        }
        taken += 1;
    }
    report!(
        taken == usize::from(EVENT_BUFFERS),
        "{taken} event buffers used up"
    );
    check("event buffer", iommu.give_event_buffer(slots[0], 16))?;
    check("event buffer", iommu.give_event_buffer(slots[1], 64))?;
    iommu.notify_eventq();
    let d = check("FILL", t.dev.fill(unmapped + 0x40, 8, 6))?;
    report!(d.fault(), "another refused DMA");
    let small = iommu.take_event().ok()?;
    report!(
        matches!(small, Some((s, 0, rec)) if s == slots[0] && rec == [0xee; 24]),
        "the 16-byte buffer comes back unwritten with used length 0 ({:?})",
        small.map(|(s, len, _)| (s, len))
    );
    let full = iommu.take_event().ok()?;
    match full.map(|(_, len, rec)| p::Fault::decode(&rec, len)) {
        Some(f) => report!(
            f.used_len == 24 && f.address == unmapped + 0x40 && f.endpoint == ep,
            "the whole report is in the next buffer: {f} (used {})",
            f.used_len
        ),
        None => report!(false, "the whole report is in the next buffer"),
    };
    for &slot in &slots {
        check("event buffer", iommu.give_event_buffer(slot, 64))?;
    }
    iommu.notify_eventq();
    prefix_pop();

    prefix_push("detached endpoint");
    let r = check("DETACH", iommu.detach(D, ep))?;
    report!(r.ok(), "DETACH endpoint {ep}: {r}");
    let head = check("submit", t.dev.submit(&Request::fill(mapped, 8, 4)))?;
    let ctrl = (t.ctrl.dev_addr, t.ctrl.dev(t.ctrl.buf.len() - 1));
    expect_fault_in(
        &mut iommu,
        "its ring access",
        ep,
        ctrl,
        FAULT_R_DOMAIN,
        FAULT_F_READ,
    );
    report!(
        t.dev.wait(head, Deadline::after_cycles(0)) == Err(Error::Timeout),
        "the request stays on the ring"
    );
    let r = check("ATTACH", iommu.attach(D, ep))?;
    report!(r.ok(), "ATTACH it again: {r}");
    check("MAP", map_buf(&mut iommu, D, t.ctrl, MAP_F_RW))?;
    iommu.drain_faults().ok()?;
    t.dev.notify();
    let d = check("the pending FILL", t.dev.wait(head, Deadline::request()))?;
    report!(
        d.fault() && d.fault_addr == mapped,
        "once the rings are mapped again the request runs, and faults on its unmapped target: {d}"
    );
    expect_fault(
        &mut iommu,
        "event",
        ep,
        mapped,
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    prefix_pop();
    Some(())
}
