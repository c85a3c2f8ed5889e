//! virtio-iommu device reset from the guest (virtio 1.2 §5.13.5, §5.13.4): "When the device is
//! reset, endpoints are not attached to any domain" — every domain and mapping is gone (MAP in
//! the old domain is NOENT, DETACH finds the endpoint detached, DMA through the old mapping is
//! blocked with a DOMAIN fault reported on the new event queue) — and "bypass SHOULD NOT change
//! on device reset".
//!
//! Runner: `--iommu --dma-test`.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_virtio::Error;
use gtest_virtio::dma_test::Request;
use gtest_virtio::harness::{
    Env, check, dma_test_in_domain, expect_fault_in, expect_no_fault, iova, map_buf,
};
use gtest_virtio::iommu::protocol::{FAULT_F_READ, FAULT_R_DOMAIN, MAP_F_RW, S_INVAL, S_NOENT};
use gtest_virtio::mem::DeviceBuf;
use gtest_virtio::time::Deadline;

gtest_rt::main!(main);

const P: u64 = 4096;

fn main(boot: &BootInfo) {
    let _ = run(boot);
}

fn run(boot: &BootInfo) -> Option<()> {
    let mut env = Env::new(boot)?;
    let mut iommu = env.iommu()?;
    let mut t = dma_test_in_domain(&mut env, &mut iommu, 1)?;
    let ep = t.endpoint;
    let buf = env.pages(1)?;
    let a = DeviceBuf::at(buf, iova::DATA);
    let r = check("MAP", map_buf(&mut iommu, 1, a, MAP_F_RW))?;
    report!(r.ok(), "MAP a data page: {r}");
    let r = check("ATTACH", iommu.attach(2, ep))?;
    report!(
        r.ok(),
        "move to domain 2 and back (domains 1 and 2 both used): {r}"
    );
    let r = check("ATTACH", iommu.attach(1, ep))?;
    report!(r.ok(), "ATTACH to domain 1: {r}");
    check("MAP", map_buf(&mut iommu, 1, t.ctrl, MAP_F_RW))?;
    check("MAP", map_buf(&mut iommu, 1, a, MAP_F_RW))?;
    let d = check("FILL", t.dev.fill(a.dev_addr, P, 0x11))?;
    report!(
        d.ok() && buf.check_all(0x11).is_ok(),
        "DMA works before the reset ({d})"
    );
    report!(iommu.bypass() == 0, "bypass is 0 before the reset");

    prefix_push("reset, bypass 0");
    let reset = iommu.reset();
    report!(reset.is_ok(), "device reset and bring-up again ({reset:?})");
    report!(iommu.bypass() == 0, "bypass is still 0");
    let r = check("MAP", map_buf(&mut iommu, 1, a, MAP_F_RW))?;
    report!(r.is(S_NOENT), "domain 1 is gone: MAP there is NOENT ({r})");
    let r = check("DETACH", iommu.detach(1, ep))?;
    report!(
        r.is(S_INVAL),
        "the endpoint is detached: DETACH is INVAL ({r})"
    );
    let head = check("submit", t.dev.submit(&Request::fill(a.dev_addr, P, 0x22)))?;
    let ctrl = (t.ctrl.dev_addr, t.ctrl.dev(t.ctrl.buf.len() - 1));
    expect_fault_in(
        &mut iommu,
        "the DMA test device's ring access",
        ep,
        ctrl,
        FAULT_R_DOMAIN,
        FAULT_F_READ,
    );
    report!(
        t.dev.wait(head, Deadline::after_cycles(0)) == Err(Error::Timeout)
            && buf.check_all(0x11).is_ok(),
        "its DMA is blocked: the request waits, memory untouched"
    );
    let r = check("ATTACH", iommu.attach(1, ep))?;
    report!(r.ok(), "ATTACH to a new domain 1: {r}");
    let r = check("MAP", map_buf(&mut iommu, 1, a, MAP_F_RW))?;
    report!(
        r.ok(),
        "MAP of the old range does not overlap anything: {r}"
    );
    check("MAP", map_buf(&mut iommu, 1, t.ctrl, MAP_F_RW))?;
    iommu.drain_faults().ok()?;
    t.dev.notify();
    let d = check("the pending FILL", t.dev.wait(head, Deadline::request()))?;
    report!(
        d.ok() && buf.check_all(0x22).is_ok(),
        "mapped again, the waiting request runs ({d})"
    );
    expect_no_fault(&mut iommu, "after recovery");
    prefix_pop();

    prefix_push("reset, bypass 1");
    iommu.set_bypass(1);
    report!(iommu.bypass() == 1, "bypass set to 1");
    let reset = iommu.reset();
    report!(reset.is_ok(), "device reset and bring-up again ({reset:?})");
    report!(iommu.bypass() == 1, "bypass is still 1 after the reset");
    let r = check("MAP", map_buf(&mut iommu, 1, a, MAP_F_RW))?;
    report!(r.is(S_NOENT), "domain 1 is gone again: NOENT ({r})");
    iommu.set_bypass(0);
    let reset = iommu.reset();
    report!(
        reset.is_ok() && iommu.bypass() == 0,
        "bypass 0 also survives a reset"
    );
    prefix_pop();
    Some(())
}
