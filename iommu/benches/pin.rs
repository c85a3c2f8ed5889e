//! bti_pin + pmt_unpin of a committed 1 GiB VMO (262,144 pages) through the dummy and the
//! translating IOMMU.
//!
//! zx_bti_pin accepts at most 32,768 addresses per call (kMaxAddrs), so pinning 1 GiB page by
//! page takes 8 pins of 128 MiB (8 x 32,768 = 262,144 addresses); one iteration is those 8 pins
//! followed by their 8 unpins. A third case pins the whole GiB in one call with COMPRESS on a
//! translating IOMMU whose minimum contiguity is 2 MiB (512 addresses).
//!
//! Run: `cargo bench -p iommu --bench pin`

#![allow(clippy::single_range_in_vec_init)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use iommu::zx::*;

const PAGE: u64 = 4096;
const GIB: u64 = 1 << 30;
const CHUNK: u64 = BTI_PIN_MAX_ADDRS as u64 * PAGE;

struct Setup {
    kernel: Kernel,
    bti: Handle,
    vmo: Handle,
}

fn setup(iommu_type: u32, desc: &[u8]) -> Setup {
    let kernel = Kernel::new(KernelConfig::default());
    let root = kernel.root_resource();
    let rsrc = kernel
        .resource_create(
            root,
            ZX_RSRC_KIND_SYSTEM,
            ZX_RSRC_SYSTEM_IOMMU_BASE,
            1,
            "iommu",
        )
        .expect("iommu resource");
    let iommu = kernel.iommu_create(rsrc, iommu_type, desc).expect("iommu");
    let bti = kernel.bti_create(iommu, 0, 1).expect("bti");
    let vmo = kernel.vmo_create(GIB, 0).expect("vmo");
    kernel
        .vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, GIB)
        .expect("commit 1 GiB");
    Setup { kernel, bti, vmo }
}

fn pin_unpin_gib(s: &Setup, addrs: &mut [Paddr]) {
    let mut pmts = [0; (GIB / CHUNK) as usize];
    for (i, pmt) in pmts.iter_mut().enumerate() {
        *pmt = s
            .kernel
            .bti_pin(
                s.bti,
                ZX_BTI_PERM_READ | ZX_BTI_PERM_WRITE,
                s.vmo,
                i as u64 * CHUNK,
                CHUNK,
                addrs,
            )
            .expect("pin");
    }
    black_box(&addrs);
    for pmt in pmts {
        s.kernel.pmt_unpin(pmt).expect("unpin");
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("bti_pin+pmt_unpin 1GiB (262144 addrs)");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    let mut addrs = vec![0; BTI_PIN_MAX_ADDRS];

    let dummy = setup(ZX_IOMMU_TYPE_DUMMY, &[0]);
    group.bench_function("dummy", |b| b.iter(|| pin_unpin_gib(&dummy, &mut addrs)));
    drop(dummy);

    let page_desc = TranslatingIommuDesc {
        minimum_contiguity: PAGE,
        aspace_size: u64::MAX,
    };
    let translating = setup(IOMMU_TYPE_TRANSLATING, &page_desc.to_bytes());
    group.bench_function("translating", |b| {
        b.iter(|| pin_unpin_gib(&translating, &mut addrs))
    });
    drop(translating);

    let compress_desc = TranslatingIommuDesc {
        minimum_contiguity: 2 << 20,
        aspace_size: u64::MAX,
    };
    let t2 = setup(IOMMU_TYPE_TRANSLATING, &compress_desc.to_bytes());
    let mut few = vec![0; (GIB / (2 << 20)) as usize];
    group.bench_function("translating, one COMPRESS pin (2 MiB contiguity)", |b| {
        b.iter(|| {
            let pmt = t2
                .kernel
                .bti_pin(
                    t2.bti,
                    ZX_BTI_PERM_READ | ZX_BTI_COMPRESS,
                    t2.vmo,
                    0,
                    GIB,
                    &mut few,
                )
                .expect("pin");
            t2.kernel.pmt_unpin(pmt).expect("unpin");
        })
    });
    drop(t2);

    // Fragmented: every page of the VMO is its own physical run.
    let frag = setup_fragmented();
    group.bench_function("translating, fragmented (262144 runs)", |b| {
        b.iter(|| pin_unpin_gib(&frag, &mut addrs))
    });
    group.finish();
}

/// A translating IOMMU and a committed 1 GiB VMO whose frames are interleaved with another
/// VMO's, so that no two of its pages are physically adjacent.
fn setup_fragmented() -> Setup {
    let kernel = Kernel::new(KernelConfig {
        ram: vec![0x1_0000_0000..0x1_8000_0000],
        ..KernelConfig::default()
    });
    let root = kernel.root_resource();
    let rsrc = kernel
        .resource_create(
            root,
            ZX_RSRC_KIND_SYSTEM,
            ZX_RSRC_SYSTEM_IOMMU_BASE,
            1,
            "iommu",
        )
        .expect("iommu resource");
    let desc = TranslatingIommuDesc {
        minimum_contiguity: PAGE,
        aspace_size: u64::MAX,
    };
    let iommu = kernel
        .iommu_create(rsrc, IOMMU_TYPE_TRANSLATING, &desc.to_bytes())
        .expect("iommu");
    let bti = kernel.bti_create(iommu, 0, 1).expect("bti");
    let vmo = kernel.vmo_create(GIB, 0).expect("vmo");
    let other = kernel.vmo_create(GIB, 0).expect("vmo");
    for i in 0..GIB / PAGE {
        for v in [vmo, other] {
            kernel
                .vmo_op_range(v, ZX_VMO_OP_COMMIT, i * PAGE, PAGE)
                .expect("commit");
        }
    }
    Setup { kernel, bti, vmo }
}

criterion_group!(benches, bench);
criterion_main!(benches);
