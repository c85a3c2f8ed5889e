//! Bad input (issue 2 §4): every `Kernel` method returns a Zircon status for any argument values
//! and never panics; sizes and offsets near u64::MAX do not overflow.
//!
//! Each case builds a small kernel holding one object of every kind, then makes a random sequence
//! of calls whose handles are either real handles (of any type, with reduced rights too) or random
//! numbers, and whose sizes, offsets, options and buffers are biased towards the edges.

mod common;

use common::*;
use iommu::zx::*;
use proptest::prelude::*;

const KNOWN: &[Status] = &[
    ZX_ERR_INTERNAL,
    ZX_ERR_NOT_SUPPORTED,
    ZX_ERR_NO_RESOURCES,
    ZX_ERR_NO_MEMORY,
    ZX_ERR_INVALID_ARGS,
    ZX_ERR_BAD_HANDLE,
    ZX_ERR_WRONG_TYPE,
    ZX_ERR_OUT_OF_RANGE,
    ZX_ERR_BUFFER_TOO_SMALL,
    ZX_ERR_BAD_STATE,
    ZX_ERR_TIMED_OUT,
    ZX_ERR_NOT_FOUND,
    ZX_ERR_ALREADY_EXISTS,
    ZX_ERR_UNAVAILABLE,
    ZX_ERR_ACCESS_DENIED,
];

#[derive(Debug, Clone, Copy)]
enum H {
    Pool(u8),
    Raw(u32),
}

#[derive(Debug, Clone)]
enum Call {
    RootResource,
    ResourceCreate(H, u32, u64, u64),
    IommuCreate(H, u32, usize),
    BtiCreate(H, u32, u64),
    BtiPin(H, u32, H, u64, u64, usize),
    PmtUnpin(H),
    ReleaseQuarantine(H),
    VmoCreate(u64, u32),
    VmoCreateContiguous(H, u64, u32),
    VmoCreatePhysical(H, u64, u64),
    VmoCreateChild(H, u32, u64, u64),
    VmoRead(H, usize, u64),
    VmoWrite(H, usize, u64),
    VmoGetSize(H),
    VmoSetSize(H, u64),
    VmoOpRange(H, u32, u64, u64),
    VmoSetCachePolicy(H, u32),
    GetInfo(H, u32, usize),
    GetProperty(H, u32, usize),
    SetProperty(H, u32, usize),
    Signal(H, u32, u32),
    WaitOne(H, u32, i64),
    Duplicate(H, u32),
    Replace(H, u32),
    Close(H),
}

fn h() -> impl Strategy<Value = H> {
    prop_oneof![
        4 => any::<u8>().prop_map(H::Pool),
        1 => any::<u32>().prop_map(H::Raw),
        1 => prop_oneof![Just(0u32), Just(u32::MAX), Just(1), Just(0x8000_0000)].prop_map(H::Raw),
    ]
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(PAGE - 1),
        Just(PAGE),
        Just(PAGE + 1),
        (0u64..40).prop_map(|p| p * PAGE),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        Just(u64::MAX - PAGE + 1),
        Just(u64::MAX - PAGE * 64 + 1),
        Just(1u64 << 63),
        Just(u64::MAX / 2),
        Just(1u64 << 40),
        Just(MMIO_BASE),
        Just(RAM_BASE),
        any::<u64>(),
    ]
}

fn opts() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..64,
        any::<u32>(),
        Just(u32::MAX),
        Just(0x8000_0000),
        Just(0x100)
    ]
}

fn topic() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(ZX_INFO_HANDLE_BASIC),
        Just(ZX_INFO_BTI),
        Just(ZX_INFO_VMO),
        0u32..32,
        any::<u32>()
    ]
}

fn buf_len() -> impl Strategy<Value = usize> {
    prop_oneof![
        0usize..40,
        Just(176),
        Just(200),
        Just(4096),
        Just(4097),
        Just(3 * 4096 + 7)
    ]
}

fn deadline() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(ZX_TIME_INFINITE_PAST),
        Just(0i64),
        Just(-1),
        Just(1),
        Just(i64::MIN + 1),
        -1000i64..1000
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        Just(Call::RootResource),
        (h(), opts(), size(), size()).prop_map(|(a, b, c, d)| Call::ResourceCreate(a, b, c, d)),
        (h(), opts(), prop_oneof![0usize..3, Just(4096), Just(4097)])
            .prop_map(|(a, b, c)| Call::IommuCreate(a, b, c)),
        (h(), prop_oneof![Just(0u32), opts()], size())
            .prop_map(|(a, b, c)| Call::BtiCreate(a, b, c)),
        (
            h(),
            opts(),
            h(),
            size(),
            size(),
            prop_oneof![0usize..40, Just(32768), Just(32769)]
        )
            .prop_map(|(a, b, c, d, e, f)| Call::BtiPin(a, b, c, d, e, f)),
        h().prop_map(Call::PmtUnpin),
        h().prop_map(Call::ReleaseQuarantine),
        (size(), opts()).prop_map(|(a, b)| Call::VmoCreate(a, b)),
        (h(), size(), prop_oneof![0u32..70, any::<u32>()])
            .prop_map(|(a, b, c)| Call::VmoCreateContiguous(a, b, c)),
        (h(), size(), size()).prop_map(|(a, b, c)| Call::VmoCreatePhysical(a, b, c)),
        (h(), opts(), size(), size()).prop_map(|(a, b, c, d)| Call::VmoCreateChild(a, b, c, d)),
        (h(), buf_len(), size()).prop_map(|(a, b, c)| Call::VmoRead(a, b, c)),
        (h(), buf_len(), size()).prop_map(|(a, b, c)| Call::VmoWrite(a, b, c)),
        h().prop_map(Call::VmoGetSize),
        (h(), size()).prop_map(|(a, b)| Call::VmoSetSize(a, b)),
        (h(), prop_oneof![0u32..16, any::<u32>()], size(), size())
            .prop_map(|(a, b, c, d)| Call::VmoOpRange(a, b, c, d)),
        (h(), prop_oneof![0u32..8, any::<u32>()]).prop_map(|(a, b)| Call::VmoSetCachePolicy(a, b)),
        (h(), topic(), buf_len()).prop_map(|(a, b, c)| Call::GetInfo(a, b, c)),
        (h(), prop_oneof![0u32..20, any::<u32>()], buf_len())
            .prop_map(|(a, b, c)| Call::GetProperty(a, b, c)),
        (h(), prop_oneof![0u32..20, any::<u32>()], buf_len())
            .prop_map(|(a, b, c)| Call::SetProperty(a, b, c)),
        (h(), opts(), opts()).prop_map(|(a, b, c)| Call::Signal(a, b, c)),
        (h(), opts(), deadline()).prop_map(|(a, b, c)| Call::WaitOne(a, b, c)),
        (h(), opts()).prop_map(|(a, b)| Call::Duplicate(a, b)),
        (h(), opts()).prop_map(|(a, b)| Call::Replace(a, b)),
        h().prop_map(Call::Close),
    ]
}

struct World {
    k: Kernel,
    pool: Vec<Handle>,
}

impl World {
    fn new() -> World {
        // A 64-page pool: any attempt to commit a lot fails fast with NO_MEMORY.
        let k = small_kernel(64);
        let root = k.root_resource();
        let iommu = dummy_iommu(&k);
        let bti = k.bti_create(iommu, 0, 7).unwrap();
        let v = vmo(&k, 4 * PAGE);
        let r = k.vmo_create(4 * PAGE, ZX_VMO_RESIZABLE).unwrap();
        let c = k.vmo_create_contiguous(bti, 2 * PAGE, 0).unwrap();
        let mmio = mmio_resource(&k, MMIO_BASE, 16 * PAGE);
        let p = k.vmo_create_physical(mmio, MMIO_BASE, 4 * PAGE).unwrap();
        let s = k
            .vmo_create_child(v, ZX_VMO_CHILD_SLICE, PAGE, 2 * PAGE)
            .unwrap();
        let snap = k
            .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PAGE)
            .unwrap();
        let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
        let bare_vmo = dup(&k, v, 0);
        let bare_bti = dup(&k, bti, 0);
        let pool = vec![
            root, iommu, bti, v, r, c, mmio, p, s, snap, pmt, bare_vmo, bare_bti,
        ];
        World { k, pool }
    }

    fn h(&self, h: H) -> Handle {
        match h {
            H::Pool(i) => self.pool[i as usize % self.pool.len()],
            H::Raw(r) => r,
        }
    }

    fn keep(&mut self, r: Result<Handle, Status>) -> Result<(), Status> {
        r.map(|h| {
            if self.pool.len() < 64 {
                self.pool.push(h);
            }
        })
    }

    fn call(&mut self, c: &Call) -> Result<(), Status> {
        let k = &self.k;
        match *c {
            Call::RootResource => {
                let r = k.root_resource();
                self.keep(Ok(r))
            }
            Call::ResourceCreate(p, o, b, s) => {
                let r = k.resource_create(self.h(p), o, b, s, "fuzz");
                self.keep(r)
            }
            Call::IommuCreate(r, t, n) => {
                let desc = vec![0u8; n];
                let r = k.iommu_create(self.h(r), t, &desc);
                self.keep(r)
            }
            Call::BtiCreate(i, o, id) => {
                let r = k.bti_create(self.h(i), o, id);
                self.keep(r)
            }
            Call::BtiPin(b, o, v, off, sz, n) => {
                let mut addrs = vec![0u64; n];
                let r = k.bti_pin(self.h(b), o, self.h(v), off, sz, &mut addrs);
                self.keep(r)
            }
            Call::PmtUnpin(p) => k.pmt_unpin(self.h(p)),
            Call::ReleaseQuarantine(b) => k.bti_release_quarantine(self.h(b)),
            Call::VmoCreate(s, o) => {
                let r = k.vmo_create(s, o);
                self.keep(r)
            }
            Call::VmoCreateContiguous(b, s, a) => {
                let r = k.vmo_create_contiguous(self.h(b), s, a);
                self.keep(r)
            }
            Call::VmoCreatePhysical(r, pa, s) => {
                let r = k.vmo_create_physical(self.h(r), pa, s);
                self.keep(r)
            }
            Call::VmoCreateChild(v, o, off, s) => {
                let r = k.vmo_create_child(self.h(v), o, off, s);
                self.keep(r)
            }
            Call::VmoRead(v, n, off) => {
                let mut b = vec![0u8; n];
                k.vmo_read(self.h(v), &mut b, off)
            }
            Call::VmoWrite(v, n, off) => {
                let b = vec![0x5Au8; n];
                k.vmo_write(self.h(v), &b, off)
            }
            Call::VmoGetSize(v) => k.vmo_get_size(self.h(v)).map(|_| ()),
            Call::VmoSetSize(v, s) => k.vmo_set_size(self.h(v), s),
            Call::VmoOpRange(v, op, off, s) => k.vmo_op_range(self.h(v), op, off, s),
            Call::VmoSetCachePolicy(v, p) => k.vmo_set_cache_policy(self.h(v), p),
            Call::GetInfo(x, t, n) => {
                let mut b = vec![0u8; n];
                k.object_get_info(self.h(x), t, &mut b).map(|_| ())
            }
            Call::GetProperty(x, p, n) => {
                let mut b = vec![0u8; n];
                k.object_get_property(self.h(x), p, &mut b)
            }
            Call::SetProperty(x, p, n) => {
                let b = vec![b'a'; n];
                k.object_set_property(self.h(x), p, &b)
            }
            Call::Signal(x, c, s) => k.object_signal(self.h(x), c, s),
            Call::WaitOne(x, s, d) => k.object_wait_one(self.h(x), s, d).map(|_| ()),
            Call::Duplicate(x, r) => {
                let r = k.handle_duplicate(self.h(x), r);
                self.keep(r)
            }
            Call::Replace(x, r) => {
                let r = k.handle_replace(self.h(x), r);
                self.keep(r)
            }
            Call::Close(x) => k.handle_close(self.h(x)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn every_method_returns_a_status_for_any_arguments(calls in proptest::collection::vec(call(), 1..48)) {
        let mut w = World::new();
        for c in &calls {
            if let Err(s) = w.call(c) {
                prop_assert!(KNOWN.contains(&s), "{:?} returned unknown status {}", c, s);
            }
        }
    }
}

/// The same checks without randomness, on the values most likely to overflow: every
/// size/offset pair from the edge set, for the range-taking methods, on every pooled handle.
#[test]
fn edge_values_on_every_handle() {
    let edges = [
        0u64,
        1,
        PAGE - 1,
        PAGE,
        u64::MAX,
        u64::MAX - 1,
        u64::MAX - PAGE + 1,
        u64::MAX - PAGE * 64 + 1,
        1 << 63,
        (1 << 63) + PAGE,
    ];
    let mut w = World::new();
    let pool = w.pool.clone();
    for &h in &pool {
        for &a in &edges {
            for &b in &edges {
                let calls = [
                    Call::BtiPin(H::Pool(2), ZX_BTI_PERM_READ, H::Raw(h), a, b, 1),
                    Call::BtiPin(
                        H::Raw(h),
                        ZX_BTI_PERM_READ | ZX_BTI_COMPRESS,
                        H::Pool(3),
                        a,
                        b,
                        2,
                    ),
                    Call::VmoCreateChild(H::Raw(h), ZX_VMO_CHILD_SLICE, a, b),
                    Call::VmoCreateChild(H::Raw(h), ZX_VMO_CHILD_SNAPSHOT, a, b),
                    Call::VmoCreateChild(
                        H::Raw(h),
                        ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE,
                        a,
                        b,
                    ),
                    Call::VmoRead(H::Raw(h), 3, a),
                    Call::VmoWrite(H::Raw(h), 3, b),
                    Call::VmoOpRange(H::Raw(h), ZX_VMO_OP_COMMIT, a, b),
                    Call::VmoOpRange(H::Raw(h), ZX_VMO_OP_DECOMMIT, a, b),
                    Call::VmoOpRange(H::Raw(h), ZX_VMO_OP_ZERO, a, b),
                    Call::VmoOpRange(H::Raw(h), ZX_VMO_OP_CACHE_CLEAN, a, b),
                    Call::VmoCreatePhysical(H::Raw(h), a, b),
                    Call::ResourceCreate(H::Raw(h), ZX_RSRC_KIND_MMIO, a, b),
                ];
                for c in &calls {
                    if let Err(s) = w.call(c) {
                        assert!(KNOWN.contains(&s), "{c:?} returned unknown status {s}");
                    }
                }
            }
            for c in [
                Call::VmoSetSize(H::Raw(h), a),
                Call::VmoCreate(a, 0),
                Call::VmoCreate(a, ZX_VMO_RESIZABLE),
                Call::VmoCreateContiguous(H::Raw(h), a, 0),
            ] {
                if let Err(s) = w.call(&c) {
                    assert!(KNOWN.contains(&s), "{c:?} returned unknown status {s}");
                }
            }
        }
    }
}
