//! Guest-side DMA benchmark: MAP → DMA → UNMAP cycles per second with the DMA test device
//! behind the virtio-iommu, the same DMA through a mapping made once, and — in a VM without
//! `--iommu` — the same DMA to guest-physical addresses. Each DMA is a 4 KiB FILL. Times come
//! from the TSC, calibrated against the PIT. Prints one line per variant:
//!
//! `BENCH: name=<variant> cycles_per_sec=<n> iterations=<n> tsc_hz=<n>`
//!
//! The checks only say that every request succeeded (speed goals live in docs/PERFORMANCE.md,
//! not in a pass/fail threshold). Hint `gtest.bench_iters=<n>` (default 2000).
//!
//! Runner: once with `--iommu --dma-test`, once with `--dma-test` alone.
#![no_std]
#![no_main]

use gtest_rt::boot::BootInfo;
use gtest_rt::{println, report, report_info};
use gtest_virtio::dma_test::{self, DmaTest};
use gtest_virtio::harness::{Env, check, dma_test_in_domain, iova};
use gtest_virtio::iommu::protocol::MAP_F_RW;
use gtest_virtio::mem::DeviceBuf;
use gtest_virtio::mmio::device_id;
use gtest_virtio::time::{self, rdtsc};

gtest_rt::main!(main);

const P: u64 = 4096;
const D: u32 = 1;

fn main(boot: &BootInfo) {
    let _ = run(boot);
}

fn bench_line(name: &str, iterations: u64, cycles: u64, hz: u64) {
    println!(
        "BENCH: name={name} cycles_per_sec={} iterations={iterations} tsc_hz={hz}",
        time::per_second(iterations, cycles, hz)
    );
}

fn run(boot: &BootInfo) -> Option<()> {
    let mut env = Env::new(boot)?;
    let iters: u64 = env
        .hint("gtest.bench_iters")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let hz = time::measure_tsc_hz();
    report!(
        hz.is_some(),
        "TSC frequency measured against the PIT: {hz:?} Hz"
    );
    report_info!(
        "TSC frequency reported by CPUID: {:?} Hz",
        time::cpuid_tsc_hz()
    );
    let hz = hz?;
    let buf = env.pages(1)?;
    if env.platform.find(device_id::IOMMU).is_some() {
        let mut iommu = env.iommu()?;
        let mut t = dma_test_in_domain(&mut env, &mut iommu, D)?;
        let data = DeviceBuf::at(buf, iova::DATA);

        let mut ok = 0u64;
        let start = rdtsc();
        for i in 0..iters {
            let m = check(
                "MAP",
                iommu.map_len(D, data.dev_addr, P, buf.addr(), MAP_F_RW),
            )?;
            let d = check("FILL", t.dev.fill(data.dev_addr, P, i as u8))?;
            let u = check(
                "UNMAP",
                iommu.unmap(D, data.dev_addr, data.dev_addr + P - 1),
            )?;
            ok += u64::from(m.ok() && d.ok() && u.ok());
        }
        let cycles = rdtsc() - start;
        report!(
            ok == iters,
            "{ok} of {iters} MAP -> DMA -> UNMAP cycles succeeded"
        );
        report!(
            buf.check_all((iters - 1) as u8).is_ok(),
            "the last DMA's data is in memory"
        );
        bench_line("map_dma_unmap_iommu", iters, cycles, hz);

        let m = check(
            "MAP",
            iommu.map_len(D, data.dev_addr, P, buf.addr(), MAP_F_RW),
        )?;
        report!(m.ok(), "MAP once for the static-mapping loop: {m}");
        let mut ok = 0u64;
        let start = rdtsc();
        for i in 0..iters {
            ok += u64::from(check("FILL", t.dev.fill(data.dev_addr, P, i as u8))?.ok());
        }
        let cycles = rdtsc() - start;
        report!(
            ok == iters,
            "{ok} of {iters} DMAs through a standing mapping succeeded"
        );
        bench_line("dma_static_mapping_iommu", iters, cycles, hz);

        let mut ok = 0u64;
        let start = rdtsc();
        for _ in 0..iters {
            let m = check(
                "MAP",
                iommu.map_len(D, iova::DATA + P, P, buf.addr(), MAP_F_RW),
            )?;
            let u = check(
                "UNMAP",
                iommu.unmap(D, iova::DATA + P, iova::DATA + 2 * P - 1),
            )?;
            ok += u64::from(m.ok() && u.ok());
        }
        let cycles = rdtsc() - start;
        report!(ok == iters, "{ok} of {iters} MAP + UNMAP pairs succeeded");
        bench_line("map_unmap_iommu", iters, cycles, hz);
    } else {
        report_info!("no virtio-iommu: DMA to guest-physical addresses");
        let dev = env.platform.device(device_id::DMA_TEST);
        let Some(dev) = dev else {
            report!(false, "a DMA test device is present");
            return None;
        };
        let ctrl = DeviceBuf::identity(env.pages(dma_test::CTRL_PAGES)?);
        let mut t = check(
            "bringing up the DMA test device",
            DmaTest::new(dev, ctrl, true),
        )?;
        report!(
            t.config_endpoint == u32::MAX,
            "the device says it is not behind an IOMMU (endpoint {:#x})",
            t.config_endpoint
        );
        let mut ok = 0u64;
        let start = rdtsc();
        for i in 0..iters {
            ok += u64::from(check("FILL", t.fill(buf.addr(), P, i as u8))?.ok());
        }
        let cycles = rdtsc() - start;
        report!(ok == iters, "{ok} of {iters} DMAs succeeded");
        report!(
            buf.check_all((iters - 1) as u8).is_ok(),
            "the last DMA's data is in memory"
        );
        bench_line("dma_no_iommu", iters, cycles, hz);
    }
    Some(())
}
