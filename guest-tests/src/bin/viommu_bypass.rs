//! virtio-iommu bypass from the guest (virtio 1.2 §5.13.4, §5.13.6.3): the `bypass`
//! configuration field — its start value as the VMM was told (`--iommu=bypass=on|off`), writes
//! that turn it on and off, values other than 0/1 never presented — and what it does: with
//! bypass on, an endpoint that is not attached DMAs to guest-physical addresses untranslated;
//! with it off, the same DMA is blocked (a DOMAIN fault) until bypass comes back; an attached
//! endpoint is translated whatever `bypass` says. ATTACH_F_BYPASS creates a bypass domain (no
//! MAP/UNMAP in it, no mixing with translated domains). Without BYPASS_CONFIG negotiated the
//! field cannot be written and ATTACH_F_BYPASS is an unknown flag, but an initialised `bypass`
//! still applies.
//!
//! Runner: `--iommu --dma-test --rng` with hint `gtest.bypass=0`, and again with
//! `--iommu=bypass=on` and `gtest.bypass=1`.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_rt::{report, report_skip};
use gtest_virtio::Error;
use gtest_virtio::dma_test::{self, DmaTest, Request};
use gtest_virtio::harness::{Env, check, expect_fault, expect_fault_in, expect_no_fault, map_buf};
use gtest_virtio::iommu::Iommu;
use gtest_virtio::iommu::protocol::{
    ATTACH_F_BYPASS, F_ALL, F_BYPASS_CONFIG, FAULT_F_READ, FAULT_F_WRITE, FAULT_R_DOMAIN,
    FAULT_R_MAPPING, MAP_F_RW, S_INVAL,
};
use gtest_virtio::mem::{DeviceBuf, DmaBuf};
use gtest_virtio::mmio::device_id;
use gtest_virtio::time::Deadline;

gtest_rt::main!(main);

const P: u64 = 4096;

fn main(boot: &BootInfo) {
    let _ = run(boot);
}

struct S {
    iommu: Iommu,
    dev: DmaTest,
    ep: u32,
    ctrl: DeviceBuf,
    target: DmaBuf,
}

impl S {
    /// FILL of the target at its guest-physical address.
    fn fill(&mut self, pattern: u8) -> Option<dma_test::Reply> {
        check("FILL", self.dev.fill(self.target.addr(), P, pattern))
    }

    /// Checks that the FILL is blocked on the ring with a DOMAIN fault, then lets `unblock` run
    /// and checks that the request completes.
    fn blocked_until(
        &mut self,
        pattern: u8,
        what: &str,
        unblock: impl FnOnce(&mut Self),
    ) -> Option<()> {
        let before = self.target.read_u8(0);
        let head = check(
            "submit",
            self.dev
                .submit(&Request::fill(self.target.addr(), P, pattern)),
        )?;
        let ctrl = (self.ctrl.dev_addr, self.ctrl.dev(self.ctrl.buf.len() - 1));
        expect_fault_in(
            &mut self.iommu,
            what,
            self.ep,
            ctrl,
            FAULT_R_DOMAIN,
            FAULT_F_READ,
        );
        report!(
            self.dev.wait(head, Deadline::after_cycles(0)) == Err(Error::Timeout)
                && self.target.check_all(before).is_ok(),
            "{what}: the request is not executed"
        );
        unblock(self);
        self.dev.notify();
        let d = check("pending FILL", self.dev.wait(head, Deadline::request()))?;
        report!(
            d.ok() && self.target.check_all(pattern).is_ok(),
            "{what}: then it runs ({d})"
        );
        expect_no_fault(&mut self.iommu, "no report for the bypassed DMA");
        Some(())
    }
}

fn run(boot: &BootInfo) -> Option<()> {
    let mut env = Env::new(boot)?;
    let iommu = env.iommu()?;
    let start = iommu.bypass();
    match env.hint("gtest.bypass").and_then(|v| v.parse::<u8>().ok()) {
        Some(v) => {
            report!(
                start == v,
                "bypass starts as {start} (the VMM was told {v})"
            );
        }
        None => report_skip!("no gtest.bypass hint: bypass starts as {start}"),
    }
    report!(iommu.has(F_BYPASS_CONFIG), "BYPASS_CONFIG is negotiated");
    let (dev, ep) = env.endpoint(device_id::DMA_TEST)?;
    // Rings at their guest-physical addresses: what a bypassed device uses.
    let ctrl = DeviceBuf::identity(env.pages(dma_test::CTRL_PAGES)?);
    let dev = check(
        "bringing up the DMA test device",
        DmaTest::new(dev, ctrl, true),
    )?;
    let target = env.pages(1)?;
    let mut s = S {
        iommu,
        dev,
        ep,
        ctrl,
        target,
    };

    prefix_push("unattached");
    if start == 1 {
        let d = s.fill(0x11)?;
        report!(
            d.ok() && s.target.check_all(0x11).is_ok(),
            "with bypass on from the start, an unattached endpoint DMAs to GPAs ({d})"
        );
        expect_no_fault(&mut s.iommu, "bypassed DMA");
        s.iommu.set_bypass(0);
        report!(s.iommu.bypass() == 0, "writing 0 turns bypass off");
    }
    s.blocked_until(0x22, "bypass off", |s| {
        s.iommu.set_bypass(1);
        report!(s.iommu.bypass() == 1, "writing 1 turns bypass on");
    })?;
    let d = s.fill(0x33)?;
    report!(
        d.ok() && s.target.check_all(0x33).is_ok(),
        "bypass on: DMA to the GPA ({d})"
    );
    // "The device MUST NOT present a value different than 0 or 1 in bypass."
    for v in [0xfe, 0xff, 2, 1] {
        s.iommu.set_bypass(v);
        let got = s.iommu.bypass();
        report!(got <= 1, "after writing {v:#x}, bypass reads {got}");
    }
    report!(s.iommu.bypass() == 1, "bypass is on again");
    prefix_pop();

    prefix_push("attached");
    let r = check("ATTACH", s.iommu.attach(1, ep))?;
    report!(
        r.ok(),
        "ATTACH endpoint {ep} to domain 1 with bypass on: {r}"
    );
    let r = check("MAP", map_buf(&mut s.iommu, 1, s.ctrl, MAP_F_RW))?;
    report!(r.ok(), "MAP its rings (IOVA = GPA): {r}");
    let d = s.fill(0x44)?;
    report!(
        d.fault() && d.fault_addr == s.target.addr() && s.target.check_all(0x33).is_ok(),
        "an attached endpoint is translated despite bypass: unmapped target refused ({d})"
    );
    expect_fault(
        &mut s.iommu,
        "event",
        ep,
        s.target.addr(),
        FAULT_R_MAPPING,
        FAULT_F_WRITE,
    );
    let r = check("DETACH", s.iommu.detach(1, ep))?;
    report!(r.ok(), "DETACH: {r}");
    let d = s.fill(0x55)?;
    report!(
        d.ok() && s.target.check_all(0x55).is_ok(),
        "detached, it bypasses again ({d})"
    );
    prefix_pop();

    prefix_push("bypass domain");
    s.iommu.set_bypass(0);
    let r = check("ATTACH", s.iommu.attach_flags(5, ep, ATTACH_F_BYPASS))?;
    report!(r.ok(), "ATTACH_F_BYPASS endpoint {ep} to new domain 5: {r}");
    let d = s.fill(0x66)?;
    report!(
        d.ok() && s.target.check_all(0x66).is_ok(),
        "in a bypass domain the endpoint DMAs to GPAs with bypass off ({d})"
    );
    expect_no_fault(&mut s.iommu, "bypass-domain DMA");
    let r = check(
        "MAP",
        s.iommu.map(5, 0x10_0000, 0x10_0fff, 0x10_0000, MAP_F_RW),
    )?;
    report!(r.is(S_INVAL), "MAP in a bypass domain: INVAL ({r})");
    let r = check("UNMAP", s.iommu.unmap(5, 0, u64::MAX))?;
    report!(r.is(S_INVAL), "UNMAP in a bypass domain: INVAL ({r})");
    match env
        .platform
        .viot
        .and_then(|v| v.endpoints().map(|e| e.endpoint).find(|&e| e != ep))
    {
        Some(ep2) => {
            let r = check("ATTACH", s.iommu.attach(5, ep2))?;
            report!(
                r.is(S_INVAL),
                "ATTACH without F_BYPASS into the bypass domain: INVAL ({r})"
            );
            let r = check("ATTACH", s.iommu.attach_flags(5, ep2, ATTACH_F_BYPASS))?;
            report!(r.ok(), "ATTACH_F_BYPASS of a second endpoint into it: {r}");
            let r = check("ATTACH", s.iommu.attach(6, ep2))?;
            report!(
                r.ok(),
                "move the second endpoint to translated domain 6: {r}"
            );
            let r = check("ATTACH", s.iommu.attach_flags(6, ep, ATTACH_F_BYPASS))?;
            report!(
                r.is(S_INVAL),
                "ATTACH_F_BYPASS into translated domain 6: INVAL ({r})"
            );
            check("DETACH", s.iommu.detach(6, ep2))?;
        }
        None => report_skip!("no second endpoint: mixing bypass and translated domains not tried"),
    }
    let r = check("DETACH", s.iommu.detach(5, ep))?;
    report!(r.ok(), "DETACH from the bypass domain: {r}");
    s.blocked_until(0x77, "detached with bypass off", |s| s.iommu.set_bypass(1))?;
    prefix_pop();

    prefix_push("without BYPASS_CONFIG");
    // A device reset keeps bypass (1 now); the driver does not accept BYPASS_CONFIG this time.
    let dev = s.iommu.device();
    s.iommu = check(
        "bringing up the virtio-iommu without BYPASS_CONFIG",
        Iommu::new(dev, &mut env.arena, F_ALL & !F_BYPASS_CONFIG),
    )?;
    report!(
        !s.iommu.has(F_BYPASS_CONFIG),
        "BYPASS_CONFIG not negotiated"
    );
    report!(s.iommu.bypass() == 1, "bypass is still 1 after the reset");
    s.iommu.set_bypass(0);
    report!(
        s.iommu.bypass() == 1,
        "writing bypass is ignored without BYPASS_CONFIG"
    );
    let d = s.fill(0x88)?;
    report!(
        d.ok() && s.target.check_all(0x88).is_ok(),
        "the initialised bypass still applies: unattached DMA to the GPA ({d})"
    );
    let r = check("ATTACH", s.iommu.attach_flags(5, ep, ATTACH_F_BYPASS))?;
    report!(
        r.is(S_INVAL),
        "ATTACH_F_BYPASS is an unknown flag now: INVAL ({r})"
    );
    prefix_pop();
    Some(())
}
