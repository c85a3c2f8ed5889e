//! Translation-core benchmarks: warm and cold translate, MAP+UNMAP, against two baselines run in
//! the same process on the same workloads:
//!
//! - `btreemap`: a `BTreeMap<iova, (len, paddr, perms)>` per domain behind `RwLock`s, the way
//!   Cloud Hypervisor and crosvm keep virtio-iommu mappings (endpoint -> domain lookup under one
//!   read lock, `range(..=iova).next_back()` under another);
//! - `iotlb`: vm-memory's `Iotlb` (a `RangeMap`), filled with the same mappings.
//!
//! Before the benchmarks run, the binary prints the engine's metadata cost per mapped page for a
//! few layouts (`cargo bench -p iommu --bench translate`).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::{Arc, RwLock};

use criterion::{BatchSize, Criterion};
use iommu::{DomainId, EndpointId, EndpointIommu, Engine, EngineConfig, IovaRange, Perms};
use vm_memory::{GuestAddress, Iommu, Iotlb, Permissions};

const PAGE: u64 = 4096;
const N: usize = 100_000;
const EP: EndpointId = EndpointId(1);
const D: DomainId = DomainId(1);
/// Where the dense layouts start (an IOVA allocator handing out consecutive pages).
const DENSE_BASE: u64 = 0x1_0000_0000;

/// splitmix64: a small deterministic generator (no external crate needed).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i as u64 + 1) as usize);
        }
    }
}

/// A single-page mapping: (iova, paddr).
type Layout = Vec<(u64, u64)>;

/// `N` consecutive IOVA pages, each backed by a random physical page.
fn dense_layout(rng: &mut Rng) -> Layout {
    (0..N as u64)
        .map(|i| (DENSE_BASE + i * PAGE, rng.below(1 << 24) * PAGE))
        .collect()
}

/// `N` distinct random pages in a 4 GiB IOVA window, each backed by a random physical page.
fn random_layout(rng: &mut Rng) -> Layout {
    let mut pages: Vec<u64> = (0..(1u64 << 20)).collect();
    rng.shuffle(&mut pages);
    pages.truncate(N);
    pages
        .iter()
        .map(|&p| (DENSE_BASE + p * PAGE, rng.below(1 << 24) * PAGE))
        .collect()
}

fn engine_with(layout: &Layout) -> Engine {
    let e = Engine::new(EngineConfig::default());
    e.add_endpoint(EP).unwrap();
    e.attach(EP, D, false).unwrap();
    for &(iova, paddr) in layout {
        e.map(D, IovaRange::new(iova, iova + PAGE - 1), paddr, Perms::RW)
            .unwrap();
    }
    e
}

/// One domain's mappings: IOVA -> (length, physical address, permissions).
type DomainMappings = BTreeMap<u64, (u64, u64, Perms)>;

/// The Cloud Hypervisor / crosvm way: endpoint -> domain map and per-domain BTreeMaps of
/// mappings keyed by IOVA, each behind a `std::sync::RwLock`.
struct BTreeIommu {
    endpoints: RwLock<BTreeMap<u32, u32>>,
    domains: RwLock<BTreeMap<u32, DomainMappings>>,
}

impl BTreeIommu {
    fn new(layout: &Layout) -> Self {
        let mut mappings = BTreeMap::new();
        for &(iova, paddr) in layout {
            mappings.insert(iova, (PAGE, paddr, Perms::RW));
        }
        BTreeIommu {
            endpoints: RwLock::new(BTreeMap::from([(EP.0, D.0)])),
            domains: RwLock::new(BTreeMap::from([(D.0, mappings)])),
        }
    }

    fn translate(&self, ep: u32, iova: u64, len: u64, access: Perms) -> Option<u64> {
        let domain = *self.endpoints.read().unwrap().get(&ep)?;
        let domains = self.domains.read().unwrap();
        let (&start, &(mlen, paddr, perms)) = domains.get(&domain)?.range(..=iova).next_back()?;
        let offset = iova - start;
        (offset.checked_add(len)? <= mlen && perms.contains(access)).then_some(paddr + offset)
    }

    fn map(&self, domain: u32, iova: u64, len: u64, paddr: u64, perms: Perms) -> bool {
        let mut domains = self.domains.write().unwrap();
        let Some(m) = domains.get_mut(&domain) else {
            return false;
        };
        // Overlap check: predecessor and successor.
        if let Some((&s, &(l, _, _))) = m.range(..=iova).next_back()
            && s + l > iova
        {
            return false;
        }
        if m.range(iova..iova + len).next().is_some() {
            return false;
        }
        m.insert(iova, (len, paddr, perms));
        true
    }

    fn unmap(&self, domain: u32, iova: u64, len: u64) -> usize {
        let mut domains = self.domains.write().unwrap();
        let Some(m) = domains.get_mut(&domain) else {
            return 0;
        };
        let keys: Vec<u64> = m
            .range(iova..iova + len)
            .filter(|(s, (l, _, _))| *s + *l <= iova + len)
            .map(|(s, _)| *s)
            .collect();
        for k in &keys {
            m.remove(k);
        }
        keys.len()
    }
}

fn iotlb_with(layout: &Layout) -> Iotlb {
    let mut t = Iotlb::new();
    for &(iova, paddr) in layout {
        t.set_mapping(
            GuestAddress(iova),
            GuestAddress(paddr),
            PAGE as usize,
            Permissions::ReadWrite,
        )
        .unwrap();
    }
    t
}

fn iotlb_translate(t: &Iotlb, iova: u64) -> u64 {
    match Iotlb::lookup(t, GuestAddress(iova), PAGE as usize, Permissions::Read) {
        Ok(mut it) => it.next().map_or(0, |r| r.base.0),
        Err(_) => 0,
    }
}

fn bench_warm(c: &mut Criterion) {
    let layout: Layout = vec![(DENSE_BASE, 0x5000_0000)];
    let engine = engine_with(&layout);
    let btree = BTreeIommu::new(&layout);
    let iotlb = iotlb_with(&layout);
    let mut g = c.benchmark_group("warm_translate_4k");
    g.bench_function("ours", |b| {
        b.iter(|| {
            engine
                .translate(black_box(EP), black_box(DENSE_BASE), PAGE, Perms::READ)
                .map(|t| t[0].paddr)
        })
    });
    g.bench_function("btreemap", |b| {
        b.iter(|| btree.translate(black_box(EP.0), black_box(DENSE_BASE), PAGE, Perms::READ))
    });
    g.bench_function("iotlb", |b| {
        b.iter(|| iotlb_translate(&iotlb, black_box(DENSE_BASE)))
    });
    // The vm-memory path a device using `IommuMemory` takes (its own Iotlb, generation-checked).
    let engine = Arc::new(engine);
    let endpoint_iommu = EndpointIommu::new(engine.clone(), EP);
    g.bench_function("ours_via_endpoint_iommu", |b| {
        b.iter(|| {
            let access = Permissions::Read;
            Iommu::translate(
                &endpoint_iommu,
                GuestAddress(black_box(DENSE_BASE)),
                4096,
                access,
            )
            .ok()
            .and_then(|mut it| it.next())
            .map(|r| r.base.0)
        })
    });
    g.finish();
    let s = engine.stats();
    eprintln!(
        "warm: engine cache hit rate {:.4}",
        s.cache_hits as f64 / s.translations as f64
    );
}

fn bench_cold(c: &mut Criterion, name: &str, layout: &Layout) {
    let engine = engine_with(layout);
    let btree = BTreeIommu::new(layout);
    let iotlb = iotlb_with(layout);
    // Look the mappings up in a random order, cycling through 2^20 lookups: far more distinct
    // pages than the 64-entry per-thread cache holds, so (almost) every lookup misses it.
    let mut rng = Rng(7);
    let order: Vec<u64> = (0..1 << 20)
        .map(|_| layout[rng.below(N as u64) as usize].0)
        .collect();
    let mask = order.len() - 1;
    let before = engine.stats();
    let mut g = c.benchmark_group(name);
    let mut i = 0usize;
    g.bench_function("ours", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            engine
                .translate(EP, order[i & mask], PAGE, Perms::READ)
                .map(|t| t[0].paddr)
        })
    });
    g.bench_function("btreemap", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            btree.translate(EP.0, order[i & mask], PAGE, Perms::READ)
        })
    });
    g.bench_function("iotlb", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            iotlb_translate(&iotlb, order[i & mask])
        })
    });
    g.finish();
    let after = engine.stats();
    eprintln!(
        "{name}: engine cache hit rate {:.4} over {} translations",
        (after.cache_hits - before.cache_hits) as f64
            / (after.translations - before.translations) as f64,
        after.translations - before.translations
    );
}

fn bench_map_unmap(c: &mut Criterion) {
    let mut rng = Rng(11);
    let layout = dense_layout(&mut rng);
    let empty = engine_with(&Vec::new());
    let full = engine_with(&layout);
    let btree = BTreeIommu::new(&layout);
    // A free page right after the dense block (the next page an allocator would hand out).
    let free = DENSE_BASE + N as u64 * PAGE;
    let range = IovaRange::new(free, free + PAGE - 1);
    let mut g = c.benchmark_group("map_unmap_4k");
    g.bench_function("ours_empty_domain", |b| {
        b.iter(|| {
            empty.map(D, range, 0x7000, Perms::RW).unwrap();
            empty.unmap(D, range).unwrap()
        })
    });
    g.bench_function("ours_100k_domain", |b| {
        b.iter(|| {
            full.map(D, range, 0x7000, Perms::RW).unwrap();
            full.unmap(D, range).unwrap()
        })
    });
    g.bench_function("btreemap_100k_domain", |b| {
        b.iter(|| {
            assert!(btree.map(D.0, free, PAGE, 0x7000, Perms::RW));
            btree.unmap(D.0, free, PAGE)
        })
    });
    g.finish();

    // A Zircon-style pin of 1 GiB of scattered pages and its unpin.
    let paddrs: Vec<u64> = (0..262_144).map(|_| rng.below(1 << 24) * PAGE).collect();
    let mut g = c.benchmark_group("map_pages_unmap_1g");
    g.sample_size(10);
    g.bench_function("ours", |b| {
        b.iter_batched(
            || (),
            |()| {
                empty
                    .map_pages(D, 0x40_0000_0000, &paddrs, Perms::RW)
                    .unwrap();
                empty
                    .unmap(D, IovaRange::new(0x40_0000_0000, 0x40_3fff_ffff))
                    .unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Engine metadata per mapped 4 KiB page for several layouts.
fn report_memory() {
    let mut rng = Rng(3);
    let per_page = |name: &str, e: &Engine, pages: u64| {
        let s = e.stats();
        eprintln!(
            "metadata {name}: {} nodes, {} bytes, {:.1} bytes per mapped 4 KiB page",
            s.table_nodes,
            s.table_bytes,
            s.table_bytes as f64 / pages as f64
        );
    };
    per_page(
        "100,000 single-page MAPs, consecutive IOVAs",
        &engine_with(&dense_layout(&mut rng)),
        N as u64,
    );
    per_page(
        "100,000 single-page MAPs, random pages in 4 GiB",
        &engine_with(&random_layout(&mut rng)),
        N as u64,
    );

    let e = engine_with(&Vec::new());
    let paddrs: Vec<u64> = (0..262_144).map(|_| rng.below(1 << 24) * PAGE).collect();
    e.map_pages(D, 0x40_0000_0000, &paddrs, Perms::RW).unwrap();
    per_page(
        "1 GiB of scattered 4 KiB pages (one map_pages)",
        &e,
        262_144,
    );

    let e = engine_with(&Vec::new());
    e.map(
        D,
        IovaRange::new(0x40_0000_0000, 0x40_3fff_ffff),
        0x1_0000_0000,
        Perms::RW,
    )
    .unwrap();
    per_page("1 GiB physically contiguous (one MAP)", &e, 262_144);

    let sparse: Layout = (0..10_000)
        .map(|_| (rng.below(1 << 36) * PAGE, 0))
        .collect();
    let e = Engine::new(EngineConfig::default());
    e.add_endpoint(EP).unwrap();
    e.attach(EP, D, false).unwrap();
    let mut mapped = 0u64;
    for &(iova, paddr) in &sparse {
        if e.map(D, IovaRange::new(iova, iova + PAGE - 1), paddr, Perms::RW)
            .is_ok()
        {
            mapped += 1;
        }
    }
    per_page(
        "10,000 single pages scattered over a 48-bit space (worst case)",
        &e,
        mapped,
    );
}

fn main() {
    report_memory();
    let mut c = Criterion::default().configure_from_args();
    bench_warm(&mut c);
    let mut rng = Rng(5);
    let dense = dense_layout(&mut rng);
    bench_cold(&mut c, "cold_translate_100k_consecutive", &dense);
    let random = random_layout(&mut rng);
    bench_cold(&mut c, "cold_translate_100k_random_4g", &random);
    bench_map_unmap(&mut c);
    c.final_summary();
}
