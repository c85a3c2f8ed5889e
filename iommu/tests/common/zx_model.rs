//! Differential model of the `iommu::zx` Kernel and the translation `Engine` (issue 2 §4).
//!
//! One copy, used by three drivers: the proptest in `iommu/tests/model_zx.rs`, the corpus replay
//! in `iommu/tests/fuzz_corpus_replay.rs` and the cargo-fuzz target `fuzz/fuzz_targets/zx_ops.rs`
//! (through `fuzz/src/lib.rs`, which includes this file by path).
//!
//! Bytes decode into a sequence of [`Op`]s (fixed 6-byte records, see [`decode`]); [`run`] applies
//! them to a real `Kernel` + `Engine` and to a naive model, and reports the first divergence.
//! Checked invariants:
//! * every status predicted from the reference's check order (shared/reference/zircon-bti.md §2)
//!   matches — pin (OUT_OF_RANGE / UNAVAILABLE / BAD_STATE / INVALID_ARGS), unpin, quarantine,
//!   release, decommit and resize (BAD_STATE across pinned pages), slices;
//! * a page's pin count equals the live plus quarantined PMTs covering it, observed through the
//!   public surface: decommit of a pinned page is BAD_STATE, of an unpinned one OK; 31 pins then
//!   UNAVAILABLE; ZX_INFO_BTI pmo_count / quarantine_count;
//! * pinned pages have stable, pairwise distinct physical addresses (dummy IOMMU: identity);
//! * no translation ever succeeds outside a live mapping with the right permission, and every
//!   translation inside live mappings returns exactly the mapped physical addresses;
//! * after closing everything and releasing the quarantines: no pins, no mappings, no domains.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use iommu::zx::*;
use std::sync::Arc;

use iommu::{DomainId, EndpointId, Engine, Error, FaultReason, IovaRange, Perms};

pub const PAGE: u64 = 4096;
/// Bytes per encoded op.
pub const RECORD: usize = 6;
/// Longest op sequence decoded from one input.
pub const MAX_OPS: usize = 256;
/// BTIs the model drives: 0..DUMMY_BTIS on the dummy IOMMU (identity addresses), then one on a
/// translating IOMMU with minimum contiguity 1 page and one on a translating IOMMU with minimum
/// contiguity 4 pages (IOMMU_TYPE_TRANSLATING, documented in iommu/src/zx/iommu_obj.rs).
pub const BTIS: usize = 5;
pub const DUMMY_BTIS: usize = 3;
/// Minimum contiguity (pages) of BTI `b`'s IOMMU.
pub const fn min_contig_pages(b: usize) -> u64 {
    if b == 4 { 4 } else { 1 }
}
/// Bus transaction id of BTI `b`.
pub const fn bti_id(b: usize) -> u64 {
    0x100 + b as u64
}
/// Engine endpoints / domains the model drives (explicit MAP/UNMAP side).
pub const ENDPOINTS: u32 = 4;
pub const DOMAINS: u32 = 4;
/// Endpoint and domain numbers used for the explicit-map side, far from BTI ids.
pub const EP_BASE: u32 = 0x4000_0000;
pub const DOM_BASE: u32 = 0x4000_0000;
/// IOVA window the explicit-map ops use (pages).
pub const IOVA_PAGES: u64 = 48;

/// One operation. Indices are reduced modulo the number of live objects when run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    CreateVmo {
        pages: u8,
        resizable: bool,
    },
    CreateSlice {
        vmo: u8,
        offset: u8,
        pages: u8,
    },
    CloseVmo {
        vmo: u8,
    },
    Pin {
        bti: u8,
        vmo: u8,
        offset: u8,
        pages: u8,
        options: u8,
        addrs: u8,
    },
    Unpin {
        pmt: u8,
    },
    ClosePmt {
        pmt: u8,
    },
    ReleaseQuarantine {
        bti: u8,
    },
    Decommit {
        vmo: u8,
        offset: u8,
        pages: u8,
    },
    Resize {
        vmo: u8,
        pages: u8,
    },
    CheckBti {
        bti: u8,
    },
    CheckPins {
        vmo: u8,
    },
    Attach {
        ep: u8,
        dom: u8,
    },
    Detach {
        ep: u8,
        dom: u8,
    },
    Map {
        dom: u8,
        iova: u8,
        pages: u8,
        paddr: u8,
        perms: u8,
    },
    Unmap {
        dom: u8,
        iova: u8,
        pages: u8,
    },
    Translate {
        ep: u8,
        iova: u8,
        offset: u8,
        len: u8,
        access: u8,
    },
    /// A device DMA through a translating BTI at an IOVA some pin returned (live or not).
    TranslatePin {
        bti: u8,
        iova: u8,
        offset: u8,
        access: u8,
    },
}

const OPCODES: u8 = 17;

/// Decode bytes into ops: 6-byte records `[opcode, a, b, c, d, e]`; a short tail is ignored.
pub fn decode(data: &[u8]) -> Vec<Op> {
    data.chunks_exact(RECORD)
        .take(MAX_OPS)
        .map(|r| {
            let (a, b, c, d, e) = (r[1], r[2], r[3], r[4], r[5]);
            match r[0] % OPCODES {
                0 => Op::CreateVmo {
                    pages: a,
                    resizable: b & 1 == 1,
                },
                1 => Op::CreateSlice {
                    vmo: a,
                    offset: b,
                    pages: c,
                },
                2 => Op::CloseVmo { vmo: a },
                3 | 4 => Op::Pin {
                    bti: a,
                    vmo: b,
                    offset: c,
                    pages: d,
                    options: e,
                    addrs: r[0] / OPCODES,
                },
                5 => Op::Unpin { pmt: a },
                6 => Op::ClosePmt { pmt: a },
                7 => Op::ReleaseQuarantine { bti: a },
                8 => Op::Decommit {
                    vmo: a,
                    offset: b,
                    pages: c,
                },
                9 => Op::Resize { vmo: a, pages: b },
                10 => Op::CheckBti { bti: a },
                11 => Op::CheckPins { vmo: a },
                12 => match b % 4 {
                    0 => Op::Detach { ep: a, dom: c },
                    _ => Op::Attach { ep: a, dom: c },
                },
                13 => Op::Map {
                    dom: a,
                    iova: b,
                    pages: c,
                    paddr: d,
                    perms: e,
                },
                14 => Op::Unmap {
                    dom: a,
                    iova: b,
                    pages: c,
                },
                16 => Op::TranslatePin {
                    bti: a,
                    iova: b,
                    offset: c,
                    access: d,
                },
                _ => Op::Translate {
                    ep: a,
                    iova: b,
                    offset: c,
                    len: d,
                    access: e,
                },
            }
        })
        .collect()
}

/// Encode ops so that `decode(&encode(ops)) == ops` (for seeding the fuzz corpus).
pub fn encode(ops: &[Op]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ops.len() * RECORD);
    for op in ops {
        let rec: [u8; RECORD] = match *op {
            Op::CreateVmo { pages, resizable } => [0, pages, resizable as u8, 0, 0, 0],
            Op::CreateSlice { vmo, offset, pages } => [1, vmo, offset, pages, 0, 0],
            Op::CloseVmo { vmo } => [2, vmo, 0, 0, 0, 0],
            Op::Pin {
                bti,
                vmo,
                offset,
                pages,
                options,
                addrs,
            } => [3 + (addrs % 15) * OPCODES, bti, vmo, offset, pages, options],
            Op::Unpin { pmt } => [5, pmt, 0, 0, 0, 0],
            Op::ClosePmt { pmt } => [6, pmt, 0, 0, 0, 0],
            Op::ReleaseQuarantine { bti } => [7, bti, 0, 0, 0, 0],
            Op::Decommit { vmo, offset, pages } => [8, vmo, offset, pages, 0, 0],
            Op::Resize { vmo, pages } => [9, vmo, pages, 0, 0, 0],
            Op::CheckBti { bti } => [10, bti, 0, 0, 0, 0],
            Op::CheckPins { vmo } => [11, vmo, 0, 0, 0, 0],
            Op::Detach { ep, dom } => [12, ep, 0, dom, 0, 0],
            Op::Attach { ep, dom } => [12, ep, 1, dom, 0, 0],
            Op::Map {
                dom,
                iova,
                pages,
                paddr,
                perms,
            } => [13, dom, iova, pages, paddr, perms],
            Op::Unmap { dom, iova, pages } => [14, dom, iova, pages, 0, 0],
            Op::Translate {
                ep,
                iova,
                offset,
                len,
                access,
            } => [15, ep, iova, offset, len, access],
            Op::TranslatePin {
                bti,
                iova,
                offset,
                access,
            } => [16, bti, iova, offset, access, 0],
        };
        out.extend_from_slice(&rec);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Model state
// ---------------------------------------------------------------------------------------------

/// A paged VMO object (the non-slice ancestor): its size and per-page pin counts.
#[derive(Debug, Clone)]
struct Root {
    pages: u64,
    resizable: bool,
    pins: Vec<u32>,
    /// Physical address of a page while it is pinned (must stay stable and unique).
    paddr: Vec<Option<u64>>,
}

/// A VMO handle: a window [offset, offset+len) of a root (len None = the root's current size).
#[derive(Debug, Clone)]
struct VmoHandle {
    handle: Handle,
    root: usize,
    offset: u64,
    len: Option<u64>,
}

#[derive(Debug, Clone)]
struct Pmt {
    handle: Handle,
    bti: usize,
    root: usize,
    first: u64,
    pages: u64,
    /// Device address of each page (identity on the dummy IOMMU, IOVAs on a translating one).
    addrs: Vec<u64>,
    perms: u8,
}

/// The explicit-map side of the engine model.
#[derive(Debug, Default)]
struct EngineModel {
    attached: HashMap<u32, u32>,
    /// domain -> (start page -> (pages, paddr, perms))
    domains: BTreeMap<u32, BTreeMap<u64, (u64, u64, u8)>>,
}

impl EngineModel {
    fn endpoints_in(&self, dom: u32) -> usize {
        self.attached.values().filter(|&&d| d == dom).count()
    }
}

pub struct Harness {
    k: Kernel,
    /// The engine of translating IOMMU A (BTI 3); the explicit-map side uses it too, with its
    /// own endpoints and domains, so pins and explicit maps share one engine.
    engine: Arc<Engine>,
    /// The engine of translating IOMMU B (BTI 4).
    engine_b: Arc<Engine>,
    iommus: Vec<Handle>,
    btis: Vec<Handle>,
    /// Every IOVA page a translating pin returned, per BTI (probed by TranslatePin).
    seen_iovas: Vec<Vec<u64>>,
    roots: Vec<Root>,
    vmos: Vec<VmoHandle>,
    live: Vec<Pmt>,
    quarantined: Vec<Vec<Pmt>>,
    em: EngineModel,
    log: String,
}

fn status_name(s: Status) -> String {
    format!("{s}")
}

type Step = Result<(), String>;

macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(format!($($arg)*));
        }
    };
}

impl Harness {
    pub fn new() -> Harness {
        let k = Kernel::new(KernelConfig::default());
        let root = k.root_resource();
        let dummy = k
            .iommu_create(root, ZX_IOMMU_TYPE_DUMMY, &[0])
            .expect("dummy iommu");
        let desc = |min: u64| {
            let mut d = [0u8; 16];
            d[..8].copy_from_slice(&(min * PAGE).to_le_bytes());
            d[8..].copy_from_slice(&u64::MAX.to_le_bytes());
            d
        };
        let ta = k
            .iommu_create(root, IOMMU_TYPE_TRANSLATING, &desc(min_contig_pages(3)))
            .expect("translating iommu A");
        let tb = k
            .iommu_create(root, IOMMU_TYPE_TRANSLATING, &desc(min_contig_pages(4)))
            .expect("translating iommu B");
        k.handle_close(root).expect("close root");
        let btis = (0..BTIS)
            .map(|b| {
                let iommu = match b {
                    3 => ta,
                    4 => tb,
                    _ => dummy,
                };
                k.bti_create(iommu, 0, bti_id(b)).expect("bti")
            })
            .collect();
        let engine = k.engine(ta).expect("engine A");
        let engine_b = k.engine(tb).expect("engine B");
        for e in 0..ENDPOINTS {
            engine
                .add_endpoint(EndpointId(EP_BASE + e))
                .expect("add_endpoint");
        }
        Harness {
            k,
            engine,
            engine_b,
            iommus: vec![dummy, ta, tb],
            btis,
            seen_iovas: vec![Vec::new(); BTIS],
            roots: Vec::new(),
            vmos: Vec::new(),
            live: Vec::new(),
            quarantined: vec![Vec::new(); BTIS],
            em: EngineModel::default(),
            log: String::new(),
        }
    }

    fn handle_len(&self, v: &VmoHandle) -> u64 {
        v.len.unwrap_or(self.roots[v.root].pages)
    }

    fn pmo_count(&self, bti: usize) -> u64 {
        (self.live.iter().filter(|p| p.bti == bti).count() + self.quarantined[bti].len()) as u64
    }

    fn add_pins(&mut self, root: usize, first: u64, pages: u64, delta: i32) {
        let r = &mut self.roots[root];
        for p in first..first + pages {
            let c = &mut r.pins[p as usize];
            *c = (*c as i32 + delta) as u32;
            if *c == 0 {
                r.paddr[p as usize] = None;
            }
        }
    }

    pub fn step(&mut self, op: Op) -> Step {
        let _ = writeln!(self.log, "{op:?}");
        match op {
            Op::CreateVmo { pages, resizable } => {
                let pages = (pages % 9) as u64;
                let opts = if resizable { ZX_VMO_RESIZABLE } else { 0 };
                let h = self
                    .k
                    .vmo_create(pages * PAGE, opts)
                    .map_err(|s| format!("vmo_create: {}", status_name(s)))?;
                self.roots.push(Root {
                    pages,
                    resizable,
                    pins: vec![0; pages as usize],
                    paddr: vec![None; pages as usize],
                });
                self.vmos.push(VmoHandle {
                    handle: h,
                    root: self.roots.len() - 1,
                    offset: 0,
                    len: None,
                });
            }
            Op::CreateSlice { vmo, offset, pages } => {
                let Some(v) = self.pick_vmo(vmo) else {
                    return Ok(());
                };
                let (offset, pages) = ((offset % 6) as u64, (pages % 6) as u64);
                let len = self.handle_len(&v);
                let got = self.k.vmo_create_child(
                    v.handle,
                    ZX_VMO_CHILD_SLICE,
                    offset * PAGE,
                    pages * PAGE,
                );
                // VmObjectPaged::CreateChildSlice: "Slice must be wholly contained" (INVALID_ARGS)
                // is checked before "Forbid creating children of resizable VMOs"
                // (NOT_SUPPORTED; VmoSliceTestCase.NonSlice / NonResizable).
                let expected = if offset + pages > len {
                    Err(ZX_ERR_INVALID_ARGS)
                } else if self.roots[v.root].resizable {
                    Err(ZX_ERR_NOT_SUPPORTED)
                } else {
                    Ok(())
                };
                check!(
                    got.map(|_| ()) == expected,
                    "slice {offset}+{pages} of len {len}: got {got:?}, expected {expected:?}"
                );
                if let Ok(h) = got {
                    self.vmos.push(VmoHandle {
                        handle: h,
                        root: v.root,
                        offset: v.offset + offset,
                        len: Some(pages),
                    });
                }
            }
            Op::CloseVmo { vmo } => {
                if self.vmos.is_empty() {
                    return Ok(());
                }
                let v = self.vmos.remove(vmo as usize % self.vmos.len());
                let got = self.k.handle_close(v.handle);
                check!(got == Ok(()), "close vmo: {got:?}");
            }
            Op::Pin {
                bti,
                vmo,
                offset,
                pages,
                options,
                addrs,
            } => self.pin(bti, vmo, offset, pages, options, addrs)?,
            Op::Unpin { pmt } => {
                if self.live.is_empty() {
                    return Ok(());
                }
                let p = self.live.remove(pmt as usize % self.live.len());
                let got = self.k.pmt_unpin(p.handle);
                check!(got == Ok(()), "pmt_unpin: {got:?}");
                self.add_pins(p.root, p.first, p.pages, -1);
            }
            Op::ClosePmt { pmt } => {
                if self.live.is_empty() {
                    return Ok(());
                }
                let p = self.live.remove(pmt as usize % self.live.len());
                let got = self.k.handle_close(p.handle);
                check!(got == Ok(()), "close pmt: {got:?}");
                self.quarantined[p.bti].push(p);
            }
            Op::ReleaseQuarantine { bti } => {
                let b = bti as usize % BTIS;
                let got = self.k.bti_release_quarantine(self.btis[b]);
                check!(got == Ok(()), "release_quarantine: {got:?}");
                for p in std::mem::take(&mut self.quarantined[b]) {
                    self.add_pins(p.root, p.first, p.pages, -1);
                }
            }
            Op::Decommit { vmo, offset, pages } => {
                let Some(v) = self.pick_vmo(vmo) else {
                    return Ok(());
                };
                let (offset, pages) = ((offset % 10) as u64, (pages % 6) as u64);
                let len = self.handle_len(&v);
                let got =
                    self.k
                        .vmo_op_range(v.handle, ZX_VMO_OP_DECOMMIT, offset * PAGE, pages * PAGE);
                let expected = if offset + pages > len {
                    Err(ZX_ERR_OUT_OF_RANGE)
                } else if self.any_pinned(v.root, v.offset + offset, pages) {
                    Err(ZX_ERR_BAD_STATE)
                } else {
                    Ok(())
                };
                check!(
                    got == expected,
                    "decommit {offset}+{pages} of len {len}: got {got:?}, expected {expected:?}"
                );
            }
            Op::Resize { vmo, pages } => {
                let Some(v) = self.pick_vmo(vmo) else {
                    return Ok(());
                };
                let new = (pages % 10) as u64;
                let got = self.k.vmo_set_size(v.handle, new * PAGE);
                let r = &self.roots[v.root];
                let expected = if v.len.is_some() || !r.resizable {
                    Err(ZX_ERR_UNAVAILABLE)
                } else if new < r.pages && self.any_pinned(v.root, new, r.pages - new) {
                    Err(ZX_ERR_BAD_STATE)
                } else {
                    Ok(())
                };
                check!(
                    got == expected,
                    "set_size({new} pages) of {} pages: got {got:?}, expected {expected:?}",
                    r.pages
                );
                if got.is_ok() {
                    let r = &mut self.roots[v.root];
                    r.pages = new;
                    r.pins.resize(new as usize, 0);
                    r.paddr.resize(new as usize, None);
                }
            }
            Op::CheckBti { bti } => {
                let b = bti as usize % BTIS;
                self.check_bti(b)?;
            }
            Op::CheckPins { vmo } => {
                let Some(v) = self.pick_vmo(vmo) else {
                    return Ok(());
                };
                self.check_pins_via_decommit(&v)?;
            }
            Op::Attach { ep, dom } => {
                let (ep, dom) = (ep as u32 % ENDPOINTS, dom as u32 % DOMAINS);
                let got =
                    self.engine
                        .attach(EndpointId(EP_BASE + ep), DomainId(DOM_BASE + dom), false);
                check!(got.is_ok(), "attach ep {ep} dom {dom}: {got:?}");
                if let Some(old) = self.em.attached.insert(ep, dom)
                    && old != dom
                    && self.em.endpoints_in(old) == 0
                {
                    self.em.domains.remove(&old);
                }
                self.em.domains.entry(dom).or_default();
            }
            Op::Detach { ep, dom } => {
                let (ep, dom) = (ep as u32 % ENDPOINTS, dom as u32 % DOMAINS);
                let got = self
                    .engine
                    .detach(EndpointId(EP_BASE + ep), DomainId(DOM_BASE + dom));
                let expected = if !self.em.domains.contains_key(&dom) {
                    Err(Error::NoSuchDomain)
                } else if self.em.attached.get(&ep) != Some(&dom) {
                    Err(Error::InvalidArgument)
                } else {
                    Ok(())
                };
                check!(
                    got == expected,
                    "detach ep {ep} dom {dom}: got {got:?}, expected {expected:?}"
                );
                if got.is_ok() {
                    self.em.attached.remove(&ep);
                    if self.em.endpoints_in(dom) == 0 {
                        self.em.domains.remove(&dom);
                    }
                }
            }
            Op::Map {
                dom,
                iova,
                pages,
                paddr,
                perms,
            } => {
                let dom = dom as u32 % DOMAINS;
                let (start, n) = (iova as u64 % IOVA_PAGES, 1 + pages as u64 % 4);
                let pa = 0x1_0000_0000 + (paddr as u64) * PAGE;
                let perms = 1 + perms % 7;
                let range = IovaRange {
                    start: start * PAGE,
                    last: (start + n) * PAGE - 1,
                };
                let got = self.engine.map(
                    DomainId(DOM_BASE + dom),
                    range,
                    pa,
                    Perms::from_bits(perms).unwrap(),
                );
                let expected = match self.em.domains.get(&dom) {
                    None => Err(Error::NoSuchDomain),
                    Some(m)
                        if m.iter()
                            .any(|(&s, &(len, _, _))| s < start + n && start < s + len) =>
                    {
                        Err(Error::Overlap)
                    }
                    Some(_) => Ok(()),
                };
                check!(
                    got == expected,
                    "map dom {dom} pages {start}+{n}: got {got:?}, expected {expected:?}"
                );
                if got.is_ok() {
                    self.em
                        .domains
                        .get_mut(&dom)
                        .unwrap()
                        .insert(start, (n, pa, perms));
                }
            }
            Op::Unmap { dom, iova, pages } => {
                let dom = dom as u32 % DOMAINS;
                let (start, n) = (iova as u64 % IOVA_PAGES, 1 + pages as u64 % 8);
                let range = IovaRange {
                    start: start * PAGE,
                    last: (start + n) * PAGE - 1,
                };
                let got = self.engine.unmap(DomainId(DOM_BASE + dom), range);
                let expected = match self.em.domains.get(&dom) {
                    None => Err(Error::NoSuchDomain),
                    Some(m) => {
                        let splits = m.iter().any(|(&s, &(len, _, _))| {
                            let overlaps = s < start + n && start < s + len;
                            let inside = s >= start && s + len <= start + n;
                            overlaps && !inside
                        });
                        if splits {
                            Err(Error::WouldSplit)
                        } else {
                            Ok(m.keys()
                                .filter(|&&s| s >= start && s + m[&s].0 <= start + n)
                                .count() as u64)
                        }
                    }
                };
                check!(
                    got == expected,
                    "unmap dom {dom} pages {start}+{n}: got {got:?}, expected {expected:?}"
                );
                if got.is_ok() {
                    self.em
                        .domains
                        .get_mut(&dom)
                        .unwrap()
                        .retain(|&s, &mut (len, _, _)| !(s >= start && s + len <= start + n));
                }
            }
            Op::Translate {
                ep,
                iova,
                offset,
                len,
                access,
            } => {
                let ep = ep as u32 % ENDPOINTS;
                let addr = (iova as u64 % IOVA_PAGES) * PAGE + (offset as u64) * 16;
                let len = 1 + (len as u64) * 48;
                let access = 1 + access % 7;
                self.check_translate(ep, addr, len, access)?;
            }
            Op::TranslatePin {
                bti,
                iova,
                offset,
                access,
            } => self.translate_pin(bti, iova, offset, access)?,
        }
        Ok(())
    }

    fn engine_of(&self, b: usize) -> &Engine {
        if b == 4 { &self.engine_b } else { &self.engine }
    }

    /// A DMA by translating BTI `b` at an IOVA a pin once returned: it succeeds exactly when a live
    /// (not unpinned, not quarantined) PMT of that BTI maps the page with the access's permission,
    /// and then reaches that PMT's page.
    fn translate_pin(&mut self, bti: u8, iova: u8, offset: u8, access: u8) -> Step {
        let b = DUMMY_BTIS + bti as usize % (BTIS - DUMMY_BTIS);
        if self.seen_iovas[b].is_empty() {
            return Ok(());
        }
        let page_iova = self.seen_iovas[b][iova as usize % self.seen_iovas[b].len()];
        let addr = page_iova + (offset as u64 * 16) % PAGE;
        let access = 1 + access % 7;
        let got = self.engine_of(b).translate(
            EndpointId(bti_id(b) as u32),
            addr,
            1,
            Perms::from_bits(access).unwrap(),
        );
        let hit = self.live.iter().filter(|p| p.bti == b).find_map(|p| {
            p.addrs
                .iter()
                .position(|&a| a == page_iova)
                .map(|i| (p.root, p.first + i as u64, p.perms))
        });
        match (hit, got) {
            (None, Ok(t)) => Err(format!(
                "bti {b}: DMA at {addr:#x} translated ({:x?}) outside any live pin",
                &*t
            )),
            (None, Err(f)) => {
                check!(
                    f.reason == FaultReason::Unmapped && f.iova == addr,
                    "bti {b}: {f:?}"
                );
                Ok(())
            }
            (Some((_, _, perms)), Err(f)) if perms & access != access => {
                check!(f.reason == FaultReason::Permission, "bti {b}: {f:?}");
                Ok(())
            }
            (Some((root, page, perms)), got) => {
                check!(
                    perms & access == access,
                    "bti {b}: access {access} with pin perms {perms} succeeded: {got:?}"
                );
                let pa = self.roots[root].paddr[page as usize];
                let got = got.map_err(|f| format!("bti {b}: live pin faults: {f:?}"))?;
                check!(
                    Some(got[0].paddr - addr % PAGE) == pa,
                    "bti {b}: {addr:#x} -> {:#x}, pinned page is at {pa:x?}",
                    got[0].paddr
                );
                Ok(())
            }
        }
    }

    fn pick_vmo(&self, idx: u8) -> Option<VmoHandle> {
        if self.vmos.is_empty() {
            None
        } else {
            Some(self.vmos[idx as usize % self.vmos.len()].clone())
        }
    }

    fn any_pinned(&self, root: usize, first: u64, pages: u64) -> bool {
        (first..first + pages)
            .any(|p| self.roots[root].pins.get(p as usize).copied().unwrap_or(0) > 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn pin(&mut self, bti: u8, vmo: u8, offset: u8, pages: u8, options: u8, addrs: u8) -> Step {
        let Some(v) = self.pick_vmo(vmo) else {
            return Ok(());
        };
        let b = bti as usize % BTIS;
        let (offset, pages) = ((offset % 10) as u64, (pages % 6) as u64);
        // options: low 3 bits = perms; 0x8 COMPRESS; 0x10 CONTIGUOUS; 0x20 an undefined bit.
        let mut opts = (options & 0x7) as u32;
        if options & 0x08 != 0 {
            opts |= ZX_BTI_COMPRESS;
        }
        if options & 0x30 == 0x10 {
            opts |= ZX_BTI_CONTIGUOUS;
        }
        if options & 0x30 == 0x30 {
            opts |= 0x20;
        }
        // addrs: mostly the expected count: one per page, or with COMPRESS one per minimum
        // contiguity block (= one per page on the dummy IOMMU).
        let min = min_contig_pages(b);
        let compress = opts & ZX_BTI_COMPRESS != 0;
        let expected_n = if compress { pages.div_ceil(min) } else { pages } as usize;
        let n = match addrs % 15 {
            13 => expected_n + 1,
            14 => expected_n.saturating_sub(1),
            _ => expected_n,
        };
        let mut out = vec![0u64; n];
        let got = self.k.bti_pin(
            self.btis[b],
            opts,
            v.handle,
            offset * PAGE,
            pages * PAGE,
            &mut out,
        );
        let len = self.handle_len(&v);
        let first = v.offset + offset;
        // §2.3 steps 5-6 (undefined bits, CONTIGUOUS on a paged VMO), then 8a (size 0).
        let expected = if opts & (ZX_BTI_CONTIGUOUS | 0x20) != 0 || pages == 0 {
            Err(ZX_ERR_INVALID_ARGS)
        } else if offset + pages > len {
            Err(ZX_ERR_OUT_OF_RANGE) // 8b
        } else if (first..first + pages).any(|p| self.roots[v.root].pins[p as usize] >= 31) {
            Err(ZX_ERR_UNAVAILABLE) // 8b
        } else if !self.quarantined[b].is_empty() {
            Err(ZX_ERR_BAD_STATE) // 8c
        } else if opts & 0x7 == 0 || n != expected_n {
            Err(ZX_ERR_INVALID_ARGS) // 8d (perms == 0), then 10 (addrs_count mismatch)
        } else {
            Ok(())
        };
        check!(
            got.map(|_| ()) == expected,
            "pin bti {b} opts {opts:#x} {offset}+{pages} of len {len} addrs {n}: got {got:?}, expected {expected:?}"
        );
        let Ok(h) = got else { return Ok(()) };
        let perms = (opts & 0x7) as u8;
        // Per-page device addresses.
        let mut addrs_per_page = Vec::new();
        for i in 0..pages {
            let a = if compress {
                let block = out[(i / min) as usize];
                check!(
                    block.is_multiple_of(min * PAGE),
                    "COMPRESS address {block:#x} not aligned to {min} pages"
                );
                block + (i % min) * PAGE
            } else {
                out[i as usize]
            };
            addrs_per_page.push(a);
        }
        // Physical addresses: identity on the dummy IOMMU; through the engine on a translating
        // one, where every page must translate with the pin's permissions and fault without them.
        let mut phys = Vec::new();
        for &a in &addrs_per_page {
            if b < DUMMY_BTIS {
                phys.push(a);
                continue;
            }
            check!(a != 0, "IOVA 0 handed out");
            for p in &self.live {
                check!(
                    !(p.bti == b && p.addrs.contains(&a)),
                    "IOVA {a:#x} handed out twice"
                );
            }
            let ep = EndpointId(bti_id(b) as u32);
            let t = self
                .engine_of(b)
                .translate(ep, a, PAGE, Perms::from_bits(perms).unwrap());
            let t = t.map_err(|f| format!("fresh pin at {a:#x} does not translate: {f:?}"))?;
            check!(
                t.len() == 1 && t[0].len == PAGE,
                "page at {a:#x} -> {:x?}",
                &*t
            );
            for bit in [1u8, 2, 4] {
                if perms & bit == 0 {
                    let f = self
                        .engine_of(b)
                        .translate(ep, a, 1, Perms::from_bits(bit).unwrap());
                    check!(
                        matches!(&f, Err(f) if f.reason == FaultReason::Permission),
                        "access {bit} to a pin with perms {perms}: {f:?}"
                    );
                }
            }
            phys.push(t[0].paddr);
            if self.seen_iovas[b].len() < 64 && !self.seen_iovas[b].contains(&a) {
                self.seen_iovas[b].push(a);
            }
        }
        // Stable, unique physical addresses for pinned pages.
        for (i, &pa) in phys.iter().enumerate() {
            let page = first + i as u64;
            check!(pa.is_multiple_of(PAGE), "unaligned address {pa:#x}");
            if let Some(known) = self.roots[v.root].paddr[page as usize] {
                check!(known == pa, "pinned page moved: {known:#x} -> {pa:#x}");
            }
            for (ri, r) in self.roots.iter().enumerate() {
                for (pi, other) in r.paddr.iter().enumerate() {
                    if *other == Some(pa) && !(ri == v.root && pi as u64 == page) {
                        return Err(format!(
                            "address {pa:#x} of pinned page shared with root {ri} page {pi}"
                        ));
                    }
                }
            }
            self.roots[v.root].paddr[page as usize] = Some(pa);
        }
        self.add_pins(v.root, first, pages, 1);
        self.live.push(Pmt {
            handle: h,
            bti: b,
            root: v.root,
            first,
            pages,
            addrs: addrs_per_page,
            perms,
        });
        Ok(())
    }

    fn check_bti(&self, b: usize) -> Step {
        let mut buf = [0u8; 32];
        let got = self.k.object_get_info(self.btis[b], ZX_INFO_BTI, &mut buf);
        check!(got == Ok((1, 1)), "ZX_INFO_BTI: {got:?}");
        let pmo = u64::from_le_bytes(buf[16..24].try_into().unwrap());
        let q = u64::from_le_bytes(buf[24..32].try_into().unwrap());
        let (epmo, eq) = (self.pmo_count(b), self.quarantined[b].len() as u64);
        check!(
            (pmo, q) == (epmo, eq),
            "bti {b}: (pmo, quarantine) = {:?}, expected {:?}",
            (pmo, q),
            (epmo, eq)
        );
        Ok(())
    }

    /// Observe pin counts through the public surface without changing them: a decommit of a pinned
    /// page must fail with BAD_STATE; an unpinned page decommits (which is harmless: the model does
    /// not track contents). Then, for one pinned page, the count is probed exactly: 31 - count
    /// further pins succeed and the next is UNAVAILABLE (all probes are unpinned again).
    fn check_pins_via_decommit(&mut self, v: &VmoHandle) -> Step {
        let len = self.handle_len(v);
        for p in 0..len {
            let pinned = self.any_pinned(v.root, v.offset + p, 1);
            let got = self
                .k
                .vmo_op_range(v.handle, ZX_VMO_OP_DECOMMIT, p * PAGE, PAGE);
            let expected = if pinned {
                Err(ZX_ERR_BAD_STATE)
            } else {
                Ok(())
            };
            check!(
                got == expected,
                "decommit probe page {p}: got {got:?}, expected {expected:?} (pins {})",
                self.roots[v.root].pins[(v.offset + p) as usize]
            );
        }
        // Exact count probe on the first page, through a BTI without quarantined PMTs.
        let Some(b) = (0..DUMMY_BTIS).find(|&b| self.quarantined[b].is_empty()) else {
            return Ok(());
        };
        if len == 0 {
            return Ok(());
        }
        let count = self.roots[v.root].pins[v.offset as usize];
        let mut probes = Vec::new();
        for i in count..31 {
            let mut a = [0u64; 1];
            match self
                .k
                .bti_pin(self.btis[b], ZX_BTI_PERM_READ, v.handle, 0, PAGE, &mut a)
            {
                Ok(h) => probes.push(h),
                Err(s) => {
                    return Err(format!(
                        "probe pin #{} of a page with {count} pins: {}",
                        i + 1,
                        status_name(s)
                    ));
                }
            }
        }
        let mut a = [0u64; 1];
        let extra = self
            .k
            .bti_pin(self.btis[b], ZX_BTI_PERM_READ, v.handle, 0, PAGE, &mut a);
        for h in probes {
            check!(self.k.pmt_unpin(h) == Ok(()), "unpin probe");
        }
        check!(
            extra.map(|_| ()) == Err(ZX_ERR_UNAVAILABLE),
            "pin beyond 31 on a page with {count} model pins: {extra:?}"
        );
        Ok(())
    }

    fn check_translate(&self, ep: u32, addr: u64, len: u64, access: u8) -> Step {
        let got = self.engine.translate(
            EndpointId(EP_BASE + ep),
            addr,
            len,
            Perms::from_bits(access).unwrap(),
        );
        // Model: byte-exact walk over the endpoint's domain.
        let Some(&dom) = self.em.attached.get(&ep) else {
            check!(
                matches!(&got, Err(f) if f.reason == FaultReason::NotAttached && f.iova == addr),
                "translate ep {ep} (unattached) {addr:#x}+{len}: got {got:?}"
            );
            return Ok(());
        };
        let maps = &self.em.domains[&dom];
        let mut expected: Vec<(u64, u64, u64)> = Vec::new(); // (iova, paddr, len), merged
        let mut cur = addr;
        let end = addr + len;
        let mut fault = None;
        while cur < end {
            let page = cur / PAGE;
            let hit = maps
                .range(..=page)
                .next_back()
                .filter(|(s, (n, _, _))| page < **s + *n);
            match hit {
                None => {
                    fault = Some((cur, FaultReason::Unmapped));
                    break;
                }
                Some((&s, &(n, pa, perms))) => {
                    if perms & access != access {
                        fault = Some((cur, FaultReason::Permission));
                        break;
                    }
                    let map_end = (s + n) * PAGE;
                    let chunk_end = map_end.min(end);
                    let p = pa + (cur - s * PAGE);
                    let l = chunk_end - cur;
                    match expected.last_mut() {
                        Some(last) if last.1 + last.2 == p => last.2 += l,
                        _ => expected.push((cur, p, l)),
                    }
                    cur = chunk_end;
                }
            }
        }
        match (fault, got) {
            (Some((iova, reason)), Err(f)) => {
                check!(
                    f.iova == iova && f.reason == reason && f.endpoint == EndpointId(EP_BASE + ep),
                    "translate {addr:#x}+{len} access {access}: fault {f:?}, expected {reason:?} at {iova:#x}"
                );
            }
            (Some((iova, reason)), Ok(t)) => {
                return Err(format!(
                    "translate {addr:#x}+{len} access {access} succeeded ({:?}) but must fault {reason:?} at {iova:#x}",
                    &*t
                ));
            }
            (None, Err(f)) => {
                return Err(format!(
                    "translate {addr:#x}+{len} access {access}: unexpected {f:?}"
                ));
            }
            (None, Ok(t)) => {
                let mut merged: Vec<(u64, u64, u64)> = Vec::new();
                for s in t.iter() {
                    match merged.last_mut() {
                        Some(last) if last.1 + last.2 == s.paddr && last.0 + last.2 == s.iova => {
                            last.2 += s.len
                        }
                        _ => merged.push((s.iova, s.paddr, s.len)),
                    }
                }
                check!(
                    merged == expected,
                    "translate {addr:#x}+{len}: segments {merged:x?}, expected {expected:x?}"
                );
            }
        }
        Ok(())
    }

    /// Close everything, release quarantines, and check nothing is left behind.
    pub fn finish(&mut self) -> Step {
        let _ = writeln!(self.log, "finish");
        for b in 0..BTIS {
            self.check_bti(b)?;
        }
        for v in self.vmos.clone() {
            self.check_pins_via_decommit(&v)?;
        }
        for p in std::mem::take(&mut self.live) {
            check!(self.k.pmt_unpin(p.handle) == Ok(()), "final unpin");
            self.add_pins(p.root, p.first, p.pages, -1);
        }
        for b in 0..BTIS {
            check!(
                self.k.bti_release_quarantine(self.btis[b]) == Ok(()),
                "final release"
            );
            for p in std::mem::take(&mut self.quarantined[b]) {
                self.add_pins(p.root, p.first, p.pages, -1);
            }
            self.check_bti(b)?;
            // No IOVA left allocated, no mapping left in the BTI's space.
            let iova = self.k.bti_iova_allocated(self.btis[b]);
            check!(
                iova == Ok(0),
                "bti {b}: IOVA bytes still allocated: {iova:?}"
            );
            if b >= DUMMY_BTIS {
                for &a in &self.seen_iovas[b] {
                    let f = self.engine_of(b).translate(
                        EndpointId(bti_id(b) as u32),
                        a,
                        1,
                        Perms::READ,
                    );
                    check!(
                        f.is_err(),
                        "bti {b}: {a:#x} still translates after everything was unpinned"
                    );
                }
            }
        }
        // No pins: every page of every VMO decommits.
        for v in &self.vmos {
            let len = self.handle_len(v);
            let got = self
                .k
                .vmo_op_range(v.handle, ZX_VMO_OP_DECOMMIT, 0, len * PAGE);
            check!(got == Ok(()), "final decommit of {len} pages: {got:?}");
        }
        for v in std::mem::take(&mut self.vmos) {
            check!(self.k.handle_close(v.handle) == Ok(()), "final close vmo");
        }
        // No mappings, no domains once every endpoint is detached.
        for (ep, dom) in std::mem::take(&mut self.em.attached) {
            let got = self
                .engine
                .detach(EndpointId(EP_BASE + ep), DomainId(DOM_BASE + dom));
            check!(got == Ok(()), "final detach: {got:?}");
        }
        let st = self.engine.stats();
        check!(
            st.mappings == 0 && st.mapped_bytes == 0,
            "engine A still maps: {st:?}"
        );
        // Closing the BTIs and IOMMUs releases the BTIs' IOVA spaces (endpoint + domain).
        for h in std::mem::take(&mut self.btis)
            .into_iter()
            .chain(std::mem::take(&mut self.iommus))
        {
            check!(self.k.handle_close(h) == Ok(()), "final close bti/iommu");
        }
        for (name, e) in [("A", &self.engine), ("B", &self.engine_b)] {
            let st = e.stats();
            check!(
                st.domains == 0 && st.mappings == 0 && st.mapped_bytes == 0,
                "engine {name} not empty at the end: {st:?}"
            );
        }
        Ok(())
    }

    pub fn log(&self) -> &str {
        &self.log
    }
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

/// Run `ops` against a fresh kernel/engine and the model; Err describes the first divergence
/// (with the op trace).
pub fn run(ops: &[Op]) -> Result<(), String> {
    let mut h = Harness::new();
    for (i, op) in ops.iter().enumerate() {
        if let Err(e) = h.step(*op) {
            return Err(format!("op #{i} {op:?}: {e}\ntrace:\n{}", h.log()));
        }
    }
    h.finish()
        .map_err(|e| format!("finish: {e}\ntrace:\n{}", h.log()))
}

/// Decode and run (the fuzz target and the corpus replay entry point).
pub fn run_bytes(data: &[u8]) -> Result<(), String> {
    run(&decode(data))
}
