//! virtio-iommu MAP and UNMAP from the guest (virtio 1.2 §5.13.6.5–6): the specification's seven
//! UNMAP examples, UNMAP atomicity (a split fails with RANGE and removes nothing), alignment →
//! RANGE, overlap → INVAL, unknown flags → INVAL, missing domain → NOENT, input range → RANGE,
//! ranges ending at 2^64-1, and DMA through what is (and is no longer) mapped.
//!
//! Whether a range is mapped is observed with MAP itself: re-MAPping a range that is still
//! mapped overlaps (INVAL), a range that was removed maps again (OK).
//!
//! Runner: `--iommu --dma-test`.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::report::{prefix_pop, prefix_push};
use gtest_rt::{report, report_info};
use gtest_virtio::dma_test::Request;
use gtest_virtio::harness::{
    Env, TranslatedDmaTest, check, dma_test_in_domain, expect_fault, iova, map_buf,
};
use gtest_virtio::iommu::Iommu;
use gtest_virtio::iommu::protocol::{
    self as p, F_MMIO, FAULT_F_WRITE, FAULT_R_MAPPING, MAP_F_MMIO, MAP_F_READ, MAP_F_RW, S_INVAL,
    S_NOENT, S_RANGE,
};
use gtest_virtio::mem::DmaBuf;
use gtest_virtio::time::Deadline;

gtest_rt::main!(main);

const P: u64 = 4096;
const D: u32 = 1;
/// IOVA of unit 0 of the UNMAP examples (the spec's addresses, in pages).
const B: u64 = iova::DATA;

fn main(boot: &BootInfo) {
    let Some(mut env) = Env::new(boot) else {
        return;
    };
    let Some(mut iommu) = env.iommu() else {
        return;
    };
    let Some(mut t) = dma_test_in_domain(&mut env, &mut iommu, D) else {
        return;
    };
    let Some(data) = env.pages(16) else {
        return;
    };
    let mut s = State {
        iommu: &mut iommu,
        t: &mut t,
        data,
    };
    prefix_push("unmap examples");
    let _ = s.examples();
    prefix_pop();
    prefix_push("map");
    let _ = s.map_rules();
    prefix_pop();
    prefix_push("top of the IOVA space");
    let _ = s.top();
    prefix_pop();
    prefix_push("many");
    let _ = s.many();
    prefix_pop();
    prefix_push("strict completion");
    if let Some(big) = env.pages(256) {
        let _ = s.strict(big);
    }
    prefix_pop();
}

struct State<'a> {
    iommu: &'a mut Iommu,
    t: &'a mut TranslatedDmaTest,
    data: DmaBuf,
}

fn unit(n: u64) -> u64 {
    B + n * P
}

impl State<'_> {
    /// MAP spec units `[s, e]` (pages from `B`) to the same pages of `data`.
    fn map(&mut self, s: u64, e: u64) -> Option<bool> {
        let r = check(
            "MAP",
            self.iommu.map(
                D,
                unit(s),
                unit(e + 1) - 1,
                self.data.addr() + s * P,
                MAP_F_RW,
            ),
        )?;
        Some(report!(r.ok(), "map({s},{e}): {r}"))
    }

    /// Whether units `[s, e]` are still mapped (MAP of the same range overlaps); restores the
    /// state if they were not.
    fn mapped(&mut self, s: u64, e: u64) -> Option<bool> {
        let (start, end) = (unit(s), unit(e + 1) - 1);
        let r = check(
            "MAP",
            self.iommu
                .map(D, start, end, self.data.addr() + s * P, MAP_F_RW),
        )?;
        if r.ok() {
            check("UNMAP", self.iommu.unmap(D, start, end))?;
        }
        Some(r.is(S_INVAL))
    }

    /// An empty address space, except for the DMA test device's rings.
    fn fresh(&mut self) -> Option<()> {
        let r = check("UNMAP", self.iommu.unmap(D, 0, u64::MAX))?;
        if !r.ok() {
            report!(false, "UNMAP [0, 2^64-1] empties the domain: {r}");
        }
        let r = check("MAP", map_buf(self.iommu, D, self.t.ctrl, MAP_F_RW))?;
        r.ok().then_some(())
    }

    fn unmap(&mut self, s: u64, e: u64, status: u8, what: &str) -> Option<()> {
        let r = check("UNMAP", self.iommu.unmap(D, unit(s), unit(e + 1) - 1))?;
        report!(
            r.is(status),
            "{what}: unmap({s},{e}) -> {} ({r})",
            p::status_name(status)
        );
        Some(())
    }

    fn examples(&mut self) -> Option<()> {
        // (1) unmap(0, 4) -> succeeds, doesn't unmap anything
        self.fresh()?;
        self.unmap(0, 4, p::S_OK, "(1) nothing mapped")?;
        // (2) a = map(0, 9); unmap(0, 9) -> succeeds, unmaps a
        self.fresh()?;
        self.map(0, 9)?;
        self.unmap(0, 9, p::S_OK, "(2) a=map(0,9)")?;
        report!(!self.mapped(0, 9)?, "(2) a is gone");
        // (3) a = map(0, 4); b = map(5, 9); unmap(0, 9) -> succeeds, unmaps a and b
        self.fresh()?;
        self.map(0, 4)?;
        self.map(5, 9)?;
        self.unmap(0, 9, p::S_OK, "(3) a=map(0,4) b=map(5,9)")?;
        report!(
            !self.mapped(0, 4)? && !self.mapped(5, 9)?,
            "(3) a and b are gone"
        );
        // (4) a = map(0, 9); unmap(0, 4) -> fails with RANGE, doesn't unmap anything
        self.fresh()?;
        self.map(0, 9)?;
        self.unmap(0, 4, S_RANGE, "(4) a=map(0,9), would split a")?;
        let d = check("FILL", self.t.dev.fill(unit(2), P, 0x44))?;
        report!(
            d.ok()
                && self
                    .data
                    .sub(2 * P as usize, P as usize)
                    .check_all(0x44)
                    .is_ok(),
            "(4) a still translates: DMA at unit 2 lands in page 2 ({d})"
        );
        report!(self.mapped(0, 9)?, "(4) a is still mapped");
        // (5) a = map(0, 4); b = map(5, 9); unmap(0, 4) -> succeeds, unmaps a
        self.fresh()?;
        self.map(0, 4)?;
        self.map(5, 9)?;
        self.unmap(0, 4, p::S_OK, "(5) a=map(0,4) b=map(5,9)")?;
        report!(
            !self.mapped(0, 4)? && self.mapped(5, 9)?,
            "(5) a is gone, b stays"
        );
        // (6) a = map(0, 4); unmap(0, 9) -> succeeds, unmaps a
        self.fresh()?;
        self.map(0, 4)?;
        self.unmap(0, 9, p::S_OK, "(6) a=map(0,4), range spills over")?;
        report!(!self.mapped(0, 4)?, "(6) a is gone");
        // (7) a = map(0, 4); b = map(10, 14); unmap(0, 14) -> succeeds, unmaps a and b
        self.fresh()?;
        self.map(0, 4)?;
        self.map(10, 14)?;
        self.unmap(
            0,
            14,
            p::S_OK,
            "(7) a=map(0,4) b=map(10,14), a hole between",
        )?;
        report!(
            !self.mapped(0, 4)? && !self.mapped(10, 14)?,
            "(7) a and b are gone"
        );

        // Atomicity: "SHOULD NOT remove any mapping" when one would be split, even if others
        // are fully covered (checked first, then removed).
        self.fresh()?;
        self.map(0, 4)?;
        self.map(5, 9)?;
        self.map(10, 14)?;
        self.unmap(0, 12, S_RANGE, "a, b covered, c=map(10,14) would split")?;
        report!(
            self.mapped(0, 4)? && self.mapped(5, 9)? && self.mapped(10, 14)?,
            "the failed UNMAP removed nothing (a, b and c stay)"
        );
        self.unmap(2, 9, S_RANGE, "starts inside a")?;
        report!(self.mapped(5, 9)?, "b stays");
        self.unmap(5, 9, p::S_OK, "exactly b")?;
        report!(
            self.mapped(0, 4)? && !self.mapped(5, 9)? && self.mapped(10, 14)?,
            "only b is gone"
        );
        let d = check("FILL", self.t.dev.fill(unit(6), P, 0x66))?;
        report!(
            d.fault() && d.fault_addr == unit(6),
            "DMA into b's old range is refused ({d})"
        );
        expect_fault(
            self.iommu,
            "DMA into the unmapped b",
            self.t.endpoint,
            unit(6),
            FAULT_R_MAPPING,
            FAULT_F_WRITE,
        );
        // UNMAP reserved: the device "MAY set the request status to VIRTIO_IOMMU_S_INVAL".
        let mut req = p::unmap(D, unit(0), unit(5) - 1);
        req[24] = 1;
        let r = check("UNMAP", self.iommu.request(&req))?;
        report!(r.is(S_INVAL), "UNMAP with reserved bytes set: INVAL ({r})");
        report_info!(
            "after the rejected UNMAP, a is {}mapped",
            if self.mapped(0, 4)? {
                "still "
            } else {
                "no longer "
            }
        );
        let r = check("UNMAP", self.iommu.unmap(77, unit(0), unit(1) - 1))?;
        report!(
            r.is(S_NOENT),
            "UNMAP in a domain that does not exist: NOENT ({r})"
        );
        Some(())
    }

    fn map_rules(&mut self) -> Option<()> {
        self.fresh()?;
        let phys = self.data.addr();
        let cases: [(&str, u64, u64, u64, u32, u8); 9] = [
            (
                "virt_start not aligned",
                B + 1,
                B + P,
                phys,
                MAP_F_RW,
                S_RANGE,
            ),
            (
                "virt_end + 1 not aligned",
                B,
                B + P - 2,
                phys,
                MAP_F_RW,
                S_RANGE,
            ),
            (
                "phys_start not aligned",
                B,
                B + P - 1,
                phys + 0x10,
                MAP_F_RW,
                S_RANGE,
            ),
            (
                "one byte (virt_end == virt_start)",
                B,
                B,
                phys,
                MAP_F_RW,
                S_RANGE,
            ),
            (
                "unknown flag 1 << 3",
                B,
                B + P - 1,
                phys,
                MAP_F_RW | 1 << 3,
                S_INVAL,
            ),
            (
                "unknown flag 1 << 31",
                B,
                B + P - 1,
                phys,
                MAP_F_READ | 1 << 31,
                S_INVAL,
            ),
            (
                "the first of two pages",
                B,
                B + 2 * P - 1,
                phys,
                MAP_F_RW,
                p::S_OK,
            ),
            (
                "overlapping its second page",
                B + P,
                B + 3 * P - 1,
                phys,
                MAP_F_RW,
                S_INVAL,
            ),
            (
                "containing it",
                B - P,
                B + 3 * P - 1,
                phys,
                MAP_F_RW,
                S_INVAL,
            ),
        ];
        for (what, start, end, phys, flags, status) in cases {
            let r = check("MAP", self.iommu.map(D, start, end, phys, flags))?;
            report!(
                r.is(status),
                "MAP [{start:#x}, {end:#x}] {what}: {} ({r})",
                p::status_name(status)
            );
        }
        let r = check(
            "MAP",
            self.iommu.map(D, B + 2 * P, B + 3 * P - 1, phys, MAP_F_RW),
        )?;
        report!(r.ok(), "MAP right after the existing mapping: {r}");
        let r = check(
            "MAP",
            self.iommu.map(D, B + 5 * P, B + 4 * P - 1, phys, MAP_F_RW),
        )?;
        report!(
            r.is(S_INVAL) || r.is(S_RANGE),
            "MAP with virt_end < virt_start is refused ({r})"
        );
        let r = check("MAP", self.iommu.map(99, B, B + P - 1, phys, MAP_F_RW))?;
        report!(
            r.is(S_NOENT),
            "MAP in a domain that does not exist: NOENT ({r})"
        );
        let r = check("MAP", self.iommu.map(D, B + 8 * P, B + 9 * P - 1, phys, 0))?;
        report!(
            r.ok(),
            "MAP without READ or WRITE (a mapping that allows nothing): {r}"
        );
        if self.iommu.has(F_MMIO) {
            let r = check(
                "MAP",
                self.iommu.map(
                    D,
                    B + 10 * P,
                    B + 11 * P - 1,
                    0xd000_0000,
                    MAP_F_MMIO | MAP_F_RW,
                ),
            )?;
            report!(
                r.ok(),
                "MAP with MAP_F_MMIO (negotiated) of a device window: {r}"
            );
        }
        let big = 2u64 << 20;
        let r = check(
            "MAP",
            self.iommu.map(
                D,
                iova::DATA + (64 << 20),
                iova::DATA + (64 << 20) + big - 1,
                self.data.addr() & !(big - 1),
                MAP_F_READ,
            ),
        )?;
        report!(r.ok(), "MAP of a 2 MiB block: {r}");
        let c = self.iommu.config;
        if c.input_start > 0 {
            let s = (c.input_start - P) & !(P - 1);
            let r = check("MAP", self.iommu.map(D, s, s + P - 1, phys, MAP_F_RW))?;
            report!(r.is(S_RANGE), "MAP below input_range: RANGE ({r})");
        }
        if c.input_end < u64::MAX {
            let s = (c.input_end & !(P - 1)).wrapping_add(P);
            let r = check("MAP", self.iommu.map(D, s, s + P - 1, phys, MAP_F_RW))?;
            report!(r.is(S_RANGE), "MAP above input_range: RANGE ({r})");
            let s = c.input_end & !(P - 1);
            let r = check("MAP", self.iommu.map(D, s, s + 2 * P - 1, phys, MAP_F_RW))?;
            report!(
                r.is(S_RANGE),
                "MAP straddling the end of input_range: RANGE ({r})"
            );
        }
        if c.input_start == 0 && c.input_end == u64::MAX {
            report_info!("input_range is the whole 64-bit space: nothing is out of range");
        }
        Some(())
    }

    fn top(&mut self) -> Option<()> {
        if self.iommu.config.input_end != u64::MAX {
            report_info!("input_range ends below 2^64-1: ranges ending there cannot be mapped");
            return Some(());
        }
        self.fresh()?;
        let last = u64::MAX - P + 1;
        let phys = self.data.addr();
        let r = check("MAP", self.iommu.map(D, last, u64::MAX, phys, MAP_F_RW))?;
        report!(r.ok(), "MAP [2^64-4096, 2^64-1]: {r}");
        let r = check("MAP", self.iommu.map(D, last - P, u64::MAX, phys, MAP_F_RW))?;
        report!(
            r.is(S_INVAL),
            "MAP [2^64-8192, 2^64-1] overlaps it: INVAL ({r})"
        );
        self.data.sub(0, P as usize).fill(0);
        let d = check("FILL", self.t.dev.fill(last, P - 1, 0x7f))?;
        report!(
            d.ok()
                && self.data.sub(0, P as usize - 1).check_all(0x7f).is_ok()
                && self.data.read_u8(P as usize - 1) == 0,
            "DMA of 4095 bytes through the last page lands in its physical page ({d})"
        );
        let r = check("UNMAP", self.iommu.unmap(D, last, u64::MAX))?;
        report!(r.ok(), "UNMAP [2^64-4096, 2^64-1]: {r}");
        let r = check("MAP", self.iommu.map(D, last - P, u64::MAX, phys, MAP_F_RW))?;
        report!(r.ok(), "MAP [2^64-8192, 2^64-1] now: {r}");
        let r = check("UNMAP", self.iommu.unmap(D, last, u64::MAX))?;
        report!(
            r.is(S_RANGE),
            "UNMAP of its last page would split it: RANGE ({r})"
        );
        let r = check("UNMAP", self.iommu.unmap(D, 0, u64::MAX))?;
        report!(r.ok(), "UNMAP [0, 2^64-1] removes everything: {r}");
        let r = check("MAP", self.iommu.map(D, last - P, u64::MAX, phys, MAP_F_RW))?;
        report!(r.ok(), "so [2^64-8192, 2^64-1] maps again: {r}");
        check("UNMAP", self.iommu.unmap(D, 0, u64::MAX))?;
        Some(())
    }

    fn many(&mut self) -> Option<()> {
        self.fresh()?;
        let n = 256u64;
        let base = iova::DATA + (1 << 30);
        let mut ok = true;
        for i in 0..n {
            let r = check(
                "MAP",
                self.iommu.map(
                    D,
                    base + i * P,
                    base + (i + 1) * P - 1,
                    self.data.addr(),
                    MAP_F_READ,
                ),
            )?;
            ok &= r.ok();
        }
        report!(ok, "{n} single-page MAPs side by side");
        let r = check("UNMAP", self.iommu.unmap(D, base, base + n * P - 1))?;
        report!(r.ok(), "one UNMAP covering all {n}: {r}");
        let r = check(
            "MAP",
            self.iommu
                .map(D, base, base + n * P - 1, self.data.addr(), MAP_F_READ),
        )?;
        report!(
            r.ok(),
            "they are all gone: the whole range maps as one: {r}"
        );
        Some(())
    }

    /// An UNMAP issued while a 1 MiB DMA through the mapping may be running: once the UNMAP has
    /// completed, the device writes nothing more through it ("strict completion").
    fn strict(&mut self, big: DmaBuf) -> Option<()> {
        self.fresh()?;
        let len = big.len() as u64;
        let at = iova::DATA + (256 << 20);
        let r = check(
            "MAP",
            self.iommu.map(D, at, at + len - 1, big.addr(), MAP_F_RW),
        )?;
        report!(r.ok(), "MAP 1 MiB at {at:#x}: {r}");
        let head = check("submit", self.t.dev.submit(&Request::fill(at, len, 0x77)))?;
        // Give the device thread time to start the DMA, so the UNMAP usually meets it running.
        let until = Deadline::after_cycles(200_000);
        while !until.expired() {
            core::hint::spin_loop();
        }
        let r = check("UNMAP", self.iommu.unmap(D, at, at + len - 1))?;
        report!(r.ok(), "UNMAP it while the DMA may be running: {r}");
        let written_at_unmap = (0..big.len()).filter(|&i| big.read_u8(i) == 0x77).count();
        let d = check("FILL", self.t.dev.wait(head, Deadline::request()))?;
        let written = (0..big.len()).filter(|&i| big.read_u8(i) == 0x77).count();
        report!(
            written == written_at_unmap,
            "no byte was written after the UNMAP completed ({written_at_unmap} before, {written} after)"
        );
        report!(
            (d.ok() && written as u64 == len) || (d.fault() && d.result == written as u64),
            "the DMA either finished before the UNMAP completed or was refused after it ({d})"
        );
        report_info!("{written} of {len} bytes were written before the UNMAP");
        let _ = self.iommu.drain_faults();
        Some(())
    }
}
