//! The domain/mapping engine: endpoints, domains with their mapping tables, bypass, and DMA
//! translation.
//!
//! Concurrency: all mutable state sits behind one `parking_lot::RwLock`. Writers (attach, detach,
//! map, unmap, reset, bypass changes) take it exclusively; the translate slow path takes it
//! shared. The warm translate path takes no lock at all: it is served by the per-thread
//! translation cache (see [`crate::cache`]), validated against the engine's generation counter,
//! which every writer that removes or narrows a translation bumps before it releases the lock.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::cache;
use crate::error::{Error, Fault, FaultReason};
use crate::stats::{Counters, EngineStats};
use crate::table::{MIN_GRANULE_SHIFT, NODE_BYTES, NodePool, Table};
use crate::types::{
    DomainId, EndpointId, EngineConfig, IovaRange, Mapping, Perms, Segment, Translation,
};

/// Engine instance ids; 0 is never used (it marks empty cache entries).
static NEXT_ENGINE_ID: AtomicU64 = AtomicU64::new(1);

/// Zeroed nodes kept for reuse per engine: enough for MAP/UNMAP churn of single pages (a fresh
/// single-page mapping needs one node per level below the root).
const NODE_POOL_CAP: usize = 16;

/// Smallest budget of (non-root) table nodes; see [`Engine::node_budget`].
const MIN_NODE_BUDGET: usize = 1024;

/// Cache fills per slow-path translation (the first blocks of a long DMA).
const CACHE_FILLS_PER_WALK: usize = 4;

/// The domain/mapping engine. `Send + Sync`; every method takes `&self` and may be called from
/// many threads at once.
pub struct Engine {
    /// Unique per process; keys this engine's entries in the per-thread translation caches.
    id: u64,
    config: EngineConfig,
    page_shift: u32,
    node_budget: usize,
    /// Bumped (under the write lock) by every operation that removes or narrows a translation.
    generation: AtomicU64,
    state: RwLock<State>,
    counters: Counters,
}

struct State {
    /// Registered endpoints and the domain each is attached to.
    endpoints: HashMap<EndpointId, Option<Attached>, IdHash>,
    domains: Domains,
    bypass: bool,
    mappings: usize,
    mapped_bytes: u128,
    /// Live table nodes of all domains, roots included.
    table_nodes: usize,
    /// Live root nodes (one per non-bypass domain).
    roots: usize,
    pool: NodePool,
}

/// The domain an endpoint is attached to, with its slot in [`Domains`] so that translate
/// resolves an endpoint with a single hash lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Attached {
    domain: DomainId,
    slot: usize,
}

/// Live domains: a slab (stable slots for the lifetime of a domain) plus an ID index.
struct Domains {
    slots: Vec<Option<Domain>>,
    free: Vec<usize>,
    by_id: HashMap<DomainId, usize, IdHash>,
}

impl Domains {
    fn new() -> Self {
        Domains {
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::with_hasher(IdHash::new()),
        }
    }

    fn len(&self) -> usize {
        self.by_id.len()
    }

    fn slot_of(&self, id: DomainId) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    fn get(&self, id: DomainId) -> Option<&Domain> {
        self.slots.get(self.slot_of(id)?)?.as_ref()
    }

    fn get_mut(&mut self, id: DomainId) -> Option<&mut Domain> {
        let slot = self.slot_of(id)?;
        self.slots.get_mut(slot)?.as_mut()
    }

    fn at(&self, slot: usize) -> Option<&Domain> {
        self.slots.get(slot)?.as_ref()
    }

    /// Adds a domain (the ID must be free) and returns its slot.
    fn insert(&mut self, id: DomainId, domain: Domain) -> usize {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(domain);
                slot
            }
            None => {
                self.slots.push(Some(domain));
                self.slots.len() - 1
            }
        };
        self.by_id.insert(id, slot);
        slot
    }

    fn remove(&mut self, id: DomainId) -> Option<Domain> {
        let slot = self.by_id.remove(&id)?;
        let domain = self.slots.get_mut(slot)?.take();
        self.free.push(slot);
        domain
    }

    fn values(&self) -> impl Iterator<Item = &Domain> {
        self.slots.iter().flatten()
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.by_id.clear();
    }
}

struct Domain {
    bypass: bool,
    endpoints: usize,
    /// `None` for a bypass domain.
    table: Option<Table>,
    mappings: usize,
    mapped_bytes: u128,
}

/// What an endpoint's DMA goes through.
enum Route<'a> {
    NotAttached,
    Identity,
    Table(&'a Table),
}

/// One mapped block touched by a DMA, as reported by [`Engine::walk`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockVisit {
    /// The part of the DMA inside this block.
    pub part: Segment,
    /// The whole block: first and last IOVA, physical base, permissions.
    pub block_start: u64,
    pub block_last: u64,
    pub block_paddr: u64,
    pub perms: Perms,
}

impl Engine {
    /// A new engine with no endpoints and no domains.
    ///
    /// # Panics
    ///
    /// If the configuration is invalid (see [`Engine::try_new`]).
    pub fn new(config: EngineConfig) -> Engine {
        match Self::try_new(config) {
            Ok(engine) => engine,
            Err(e) => panic!("invalid EngineConfig: {e}"),
        }
    }

    /// A new engine, or `Error::InvalidArgument` if `granule` is not a power of two of at least
    /// 4096, `input_range.start > input_range.last`, or `domain_range.0 > domain_range.1`.
    pub fn try_new(config: EngineConfig) -> Result<Engine, Error> {
        if !config.granule.is_power_of_two()
            || config.granule.trailing_zeros() < MIN_GRANULE_SHIFT
            || config.input_range.is_empty()
            || config.domain_range.0 > config.domain_range.1
        {
            return Err(Error::InvalidArgument);
        }
        let page_shift = config.granule.trailing_zeros();
        let node_budget = (config.max_mappings / 8).max(MIN_NODE_BUDGET);
        let bypass = config.bypass;
        Ok(Engine {
            id: NEXT_ENGINE_ID.fetch_add(1, Ordering::Relaxed),
            config,
            page_shift,
            node_budget,
            generation: AtomicU64::new(1),
            state: RwLock::new(State {
                endpoints: HashMap::with_hasher(IdHash::new()),
                domains: Domains::new(),
                bypass,
                mappings: 0,
                mapped_bytes: 0,
                table_nodes: 0,
                roots: 0,
                pool: NodePool::new(NODE_POOL_CAP),
            }),
            counters: Counters::new(),
        })
    }

    /// The configuration the engine was created with (`bypass` is the initial setting; see
    /// [`Engine::bypass`] for the current one).
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The most (non-root) mapping-table nodes all domains together may use:
    /// `max(max_mappings / 8, 1024)`. Bounds the host memory a guest scattering mappings over a
    /// sparse IOVA space can make the engine allocate (each node is 4 KiB); MAP beyond it fails
    /// with `Error::NoMemory`.
    pub fn node_budget(&self) -> usize {
        self.node_budget
    }

    /// Registers an endpoint (a device that can DMA). Attaching unknown endpoints fails
    /// `NoSuchEndpoint`. Registering an endpoint twice is not an error.
    pub fn add_endpoint(&self, ep: EndpointId) -> Result<(), Error> {
        self.state.write().endpoints.entry(ep).or_insert(None);
        Ok(())
    }

    /// Whether `ep` was registered.
    pub fn has_endpoint(&self, ep: EndpointId) -> bool {
        self.state.read().endpoints.contains_key(&ep)
    }

    /// Attach `ep` to `domain`, creating the domain on first attach (as a bypass domain if
    /// `bypass`, i.e. `VIRTIO_IOMMU_ATTACH_F_BYPASS`: identity translation, MAP/UNMAP rejected).
    ///
    /// > "If the endpoint is already attached to another domain, then the device SHOULD first
    /// > detach it from that domain and attach it to the one identified by domain." (virtio 1.2,
    /// > 5.13.6.3)
    ///
    /// so an endpoint attached elsewhere is moved, and a domain left with no endpoint is destroyed
    /// with its mappings. Checks, in this order: unregistered endpoint -> `NoSuchEndpoint`; domain
    /// outside `domain_range` -> `DomainOutOfRange`; existing domain of the other bypass kind ->
    /// `InvalidArgument`; a new domain beyond `max_domains` (counting the one a move destroys as
    /// gone) -> `NoMemory`. Attaching to the domain it is already in succeeds and changes nothing.
    pub fn attach(&self, ep: EndpointId, domain: DomainId, bypass: bool) -> Result<(), Error> {
        let mut guard = self.state.write();
        let st = &mut *guard;
        let Some(&current) = st.endpoints.get(&ep) else {
            return Err(Error::NoSuchEndpoint);
        };
        if domain.0 < self.config.domain_range.0 || domain.0 > self.config.domain_range.1 {
            return Err(Error::DomainOutOfRange);
        }
        match st.domains.get(domain) {
            Some(d) => {
                if d.bypass != bypass {
                    return Err(Error::InvalidArgument);
                }
                if current.is_some_and(|a| a.domain == domain) {
                    return Ok(());
                }
            }
            None => {
                let move_destroys_one = current
                    .and_then(|c| st.domains.at(c.slot))
                    .is_some_and(|d| d.endpoints == 1);
                let live_after_move = st.domains.len() - usize::from(move_destroys_one);
                if live_after_move >= self.config.max_domains {
                    return Err(Error::NoMemory);
                }
            }
        }
        if let Some(old) = current {
            st.leave_domain(old.domain);
        }
        let page_shift = self.page_shift;
        let slot = match st.domains.slot_of(domain) {
            Some(slot) => slot,
            None => {
                let table = if bypass {
                    None
                } else {
                    st.table_nodes += 1;
                    st.roots += 1;
                    Some(Table::new(page_shift, &mut st.pool))
                };
                st.domains.insert(
                    domain,
                    Domain {
                        bypass,
                        endpoints: 0,
                        table,
                        mappings: 0,
                        mapped_bytes: 0,
                    },
                )
            }
        };
        if let Some(d) = st.domains.get_mut(domain) {
            d.endpoints += 1;
        }
        st.endpoints.insert(ep, Some(Attached { domain, slot }));
        self.bump_generation();
        Ok(())
    }

    /// Detach `ep` from `domain`.
    ///
    /// > "After all endpoints have been successfully detached from a domain, it ceases to exist
    /// > and its ID can be reused by the driver for another domain." (virtio 1.2, 5.13.6.4)
    ///
    /// Checks, in this order: unregistered endpoint -> `NoSuchEndpoint`; unknown domain ->
    /// `NoSuchDomain`; endpoint not attached to this domain -> `InvalidArgument`.
    pub fn detach(&self, ep: EndpointId, domain: DomainId) -> Result<(), Error> {
        let mut guard = self.state.write();
        let st = &mut *guard;
        let Some(&current) = st.endpoints.get(&ep) else {
            return Err(Error::NoSuchEndpoint);
        };
        if st.domains.slot_of(domain).is_none() {
            return Err(Error::NoSuchDomain);
        }
        if current.map(|a| a.domain) != Some(domain) {
            return Err(Error::InvalidArgument);
        }
        st.leave_domain(domain);
        st.endpoints.insert(ep, None);
        self.bump_generation();
        Ok(())
    }

    /// Map `[range.start, range.last]` to `paddr..` with `perms`.
    ///
    /// > "virt_start, phys_start or virt_end+1 not aligned to the page granularity: the device
    /// > SHOULD set status RANGE"; "a mapping already exists in the requested range: INVAL";
    /// > "domain does not exist: NOENT"; bypass domain: INVAL (virtio 1.2, 5.13.6.5)
    ///
    /// Checks, in this order: `start > last` -> `InvalidArgument`; unknown domain ->
    /// `NoSuchDomain`; bypass domain -> `InvalidArgument`; `start`, `last + 1` or `paddr` not
    /// granule aligned -> `Unaligned`; range not inside `input_range` -> `OutOfInputRange`;
    /// `paddr + len` past 2^64 -> `InvalidArgument`; any page of the range already mapped ->
    /// `Overlap`; `max_mappings` or the node budget reached -> `NoMemory`. On error nothing
    /// changed.
    pub fn map(
        &self,
        domain: DomainId,
        range: IovaRange,
        paddr: u64,
        perms: Perms,
    ) -> Result<(), Error> {
        if range.is_empty() {
            return Err(Error::InvalidArgument);
        }
        let mut guard = self.state.write();
        let st = &mut *guard;
        let Some(d) = st.domains.get_mut(domain) else {
            return Err(Error::NoSuchDomain);
        };
        let Some(table) = d.table.as_mut() else {
            return Err(Error::InvalidArgument);
        };
        let g = self.config.granule - 1;
        if range.start & g != 0 || range.last.wrapping_add(1) & g != 0 || paddr & g != 0 {
            return Err(Error::Unaligned);
        }
        if range.start < self.config.input_range.start || range.last > self.config.input_range.last
        {
            return Err(Error::OutOfInputRange);
        }
        if paddr.checked_add(range.last - range.start).is_none() {
            return Err(Error::InvalidArgument);
        }
        let (first, last) = (
            range.start >> self.page_shift,
            range.last >> self.page_shift,
        );
        if !table.is_range_empty(first, last) {
            return Err(Error::Overlap);
        }
        if st.mappings >= self.config.max_mappings
            || st.table_nodes - st.roots + table.max_new_nodes_per_insert() > self.node_budget
        {
            return Err(Error::NoMemory);
        }
        let nodes_before = table.live_nodes();
        let (start, shift) = (range.start, self.page_shift);
        table.insert(
            first,
            last,
            perms,
            u32::MAX,
            &mut st.pool,
            &mut |block_page| {
                let offset = (block_page << shift) - start;
                (paddr + offset, block_page == first)
            },
        );
        let len = range.len();
        st.table_nodes = st.table_nodes + table.live_nodes() - nodes_before;
        d.mappings += 1;
        d.mapped_bytes += len;
        st.mappings += 1;
        st.mapped_bytes += len;
        Ok(())
    }

    /// Maps `paddrs.len()` granule-sized pages starting at `iova` to the scattered physical pages
    /// `paddrs` (a pin): page `i` at `iova + i * granule` translates to `paddrs[i]`. Each run of
    /// physically contiguous pages becomes one mapping (so UNMAP of the whole range removes them
    /// all; UNMAP of part of a run would split it). All or nothing.
    ///
    /// Checks, in this order: no pages -> `InvalidArgument`; unknown domain -> `NoSuchDomain`;
    /// bypass domain -> `InvalidArgument`; `iova` or a physical address not granule aligned ->
    /// `Unaligned`; range past 2^64 or outside `input_range` -> `OutOfInputRange`; overlap ->
    /// `Overlap`; limits -> `NoMemory`.
    pub fn map_pages(
        &self,
        domain: DomainId,
        iova: u64,
        paddrs: &[u64],
        perms: Perms,
    ) -> Result<(), Error> {
        if paddrs.is_empty() {
            return Err(Error::InvalidArgument);
        }
        let mut guard = self.state.write();
        let st = &mut *guard;
        let Some(d) = st.domains.get_mut(domain) else {
            return Err(Error::NoSuchDomain);
        };
        let Some(table) = d.table.as_mut() else {
            return Err(Error::InvalidArgument);
        };
        let granule = self.config.granule;
        if iova & (granule - 1) != 0 || paddrs.iter().any(|p| p & (granule - 1) != 0) {
            return Err(Error::Unaligned);
        }
        let last = (paddrs.len() as u64)
            .checked_mul(granule)
            .and_then(|len| iova.checked_add(len - 1))
            .ok_or(Error::OutOfInputRange)?;
        if iova < self.config.input_range.start || last > self.config.input_range.last {
            return Err(Error::OutOfInputRange);
        }
        let (first_page, last_page) = (iova >> self.page_shift, last >> self.page_shift);
        if !table.is_range_empty(first_page, last_page) {
            return Err(Error::Overlap);
        }
        let is_head = |i: usize| i == 0 || paddrs[i - 1].checked_add(granule) != Some(paddrs[i]);
        let runs = (0..paddrs.len()).filter(|&i| is_head(i)).count();
        let new_nodes =
            Self::nodes_for_pages(first_page, last_page, Table::levels_for(self.page_shift));
        if st.mappings + runs > self.config.max_mappings
            || st.table_nodes - st.roots + new_nodes > self.node_budget
        {
            return Err(Error::NoMemory);
        }
        let nodes_before = table.live_nodes();
        table.insert(first_page, last_page, perms, 0, &mut st.pool, &mut |page| {
            let i = (page - first_page) as usize;
            (paddrs.get(i).copied().unwrap_or(0), is_head(i))
        });
        let len = u128::from(last - iova) + 1;
        st.table_nodes = st.table_nodes + table.live_nodes() - nodes_before;
        d.mappings += runs;
        d.mapped_bytes += len;
        st.mappings += runs;
        st.mapped_bytes += len;
        Ok(())
    }

    /// Upper bound of the non-root nodes a level-0-only insertion of pages `[lo, hi]` allocates.
    fn nodes_for_pages(lo: u64, hi: u64, levels: u32) -> usize {
        (1..levels)
            .map(|l| {
                let shift = 9 * l;
                ((hi >> shift) - (lo >> shift) + 1) as usize
            })
            .sum()
    }

    /// virtio-iommu UNMAP: remove every mapping fully inside `range`.
    ///
    /// > "If a mapping affected by the range is not covered in its entirety by the range (the
    /// > UNMAP request would split the mapping), then the device SHOULD set the request status to
    /// > VIRTIO_IOMMU_S_RANGE, and SHOULD NOT remove any mapping." "If part of the range or the
    /// > full range is not covered by an existing mapping, then the device SHOULD remove all
    /// > mappings affected by the range and set the request status to VIRTIO_IOMMU_S_OK."
    /// > (virtio 1.2, 5.13.6.6)
    ///
    /// Checks, in this order: `start > last` -> `InvalidArgument`; unknown domain ->
    /// `NoSuchDomain`; bypass domain -> `InvalidArgument`; a mapping crossing `start` or
    /// `last + 1` -> `WouldSplit` (nothing removed). The range need not be aligned nor inside
    /// `input_range`. Returns the number of mappings removed (0 is success). Once it returns, no
    /// translate (by any thread) can return a removed translation.
    pub fn unmap(&self, domain: DomainId, range: IovaRange) -> Result<u64, Error> {
        if range.is_empty() {
            return Err(Error::InvalidArgument);
        }
        let mut guard = self.state.write();
        let st = &mut *guard;
        let Some(d) = st.domains.get_mut(domain) else {
            return Err(Error::NoSuchDomain);
        };
        let Some(table) = d.table.as_mut() else {
            return Err(Error::InvalidArgument);
        };
        if table.splits_at(range.start)
            || (range.last != u64::MAX && table.splits_at(range.last + 1))
        {
            return Err(Error::WouldSplit);
        }
        let nodes_before = table.live_nodes();
        let removed = table.clear(
            range.start >> self.page_shift,
            range.last >> self.page_shift,
            &mut st.pool,
        );
        st.table_nodes = st.table_nodes + table.live_nodes() - nodes_before;
        let count = removed.mappings as usize;
        d.mappings -= count;
        d.mapped_bytes -= removed.bytes;
        st.mappings -= count;
        st.mapped_bytes -= removed.bytes;
        if removed.bytes != 0 {
            self.bump_generation();
        }
        Ok(removed.mappings)
    }

    /// Translate a DMA of `len` bytes at `iova` by `ep` for `access` into physical segments
    /// (physically contiguous runs, in IOVA order).
    ///
    /// Attached to a bypass domain, or registered, unattached and the global bypass on ->
    /// identity. Otherwise every byte must lie in a mapping whose permissions contain `access`,
    /// else a [`Fault`] names the first byte that fails: `NotAttached` (not attached, global
    /// bypass off, or an unregistered endpoint), `Unmapped`, or `Permission`. A DMA running past
    /// 2^64-1 faults `Unmapped` at the wrapped address 0 once everything below is translatable.
    /// `len == 0` -> `Ok(empty)`.
    #[inline]
    pub fn translate(
        &self,
        ep: EndpointId,
        iova: u64,
        len: u64,
        access: Perms,
    ) -> Result<Translation, Fault> {
        if len == 0 {
            return Ok(Translation::new());
        }
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(segment) = cache::lookup(self.id, generation, ep.0, iova, len, access) {
            self.counters.hit();
            return Ok(Translation::single(segment));
        }
        self.translate_slow(ep, iova, len, access)
    }

    #[inline(never)]
    fn translate_slow(
        &self,
        ep: EndpointId,
        iova: u64,
        len: u64,
        access: Perms,
    ) -> Result<Translation, Fault> {
        let mut translation = Translation::new();
        let mut fills = 0;
        let id = self.id;
        self.walk(ep, iova, len, access, &mut |generation, v| {
            translation.push_merge(v.part);
            if fills < CACHE_FILLS_PER_WALK {
                fills += 1;
                cache::insert(
                    id,
                    generation,
                    ep.0,
                    v.part.iova,
                    v.block_start,
                    v.block_last,
                    v.block_paddr,
                    v.perms,
                );
            }
        })?;
        Ok(translation)
    }

    /// The slow path: resolves `[iova, iova + len)` (`len >= 1`) block by block under the read
    /// lock, calling `visit(generation, block)` for each block in IOVA order, where `generation`
    /// is the generation the walk saw (stable: writers are excluded). Returns that generation,
    /// or the fault at the first byte that cannot be accessed.
    pub(crate) fn walk(
        &self,
        ep: EndpointId,
        iova: u64,
        len: u64,
        access: Perms,
        visit: &mut impl FnMut(u64, BlockVisit),
    ) -> Result<u64, Fault> {
        self.counters.miss();
        let state = self.state.read();
        let generation = self.generation.load(Ordering::Acquire);
        let fault = |iova: u64, reason: FaultReason| {
            self.counters.fault();
            Fault {
                endpoint: ep,
                iova,
                access,
                reason,
            }
        };
        let table = match state.route(ep) {
            Route::NotAttached => return Err(fault(iova, FaultReason::NotAttached)),
            Route::Identity => {
                if len - 1 > u64::MAX - iova {
                    return Err(fault(0, FaultReason::Unmapped));
                }
                visit(
                    generation,
                    BlockVisit {
                        part: Segment {
                            iova,
                            paddr: iova,
                            len,
                        },
                        block_start: 0,
                        block_last: u64::MAX,
                        block_paddr: 0,
                        perms: Perms::ALL,
                    },
                );
                return Ok(generation);
            }
            Route::Table(table) => table,
        };
        let mut cur = iova;
        let mut left = len;
        loop {
            let Some(block) = table.lookup(cur >> self.page_shift) else {
                return Err(fault(cur, FaultReason::Unmapped));
            };
            let perms = block.perms();
            if !perms.contains(access) {
                return Err(fault(cur, FaultReason::Permission));
            }
            let (block_start, block_last) = table.block_bytes(block.first_page, block.level);
            let block_paddr = block.paddr();
            let in_block = block_last - cur; // bytes after `cur` in the block
            let part_len = if left - 1 <= in_block {
                left
            } else {
                in_block + 1
            };
            visit(
                generation,
                BlockVisit {
                    part: Segment {
                        iova: cur,
                        paddr: block_paddr + (cur - block_start),
                        len: part_len,
                    },
                    block_start,
                    block_last,
                    block_paddr,
                    perms,
                },
            );
            left -= part_len;
            if left == 0 {
                return Ok(generation);
            }
            if block_last == u64::MAX {
                return Err(fault(0, FaultReason::Unmapped));
            }
            cur = block_last + 1;
        }
    }

    /// Turn the global bypass (for registered endpoints attached to no domain) on or off.
    pub fn set_bypass(&self, on: bool) {
        let mut st = self.state.write();
        st.bypass = on;
        self.bump_generation();
    }

    /// The current global bypass setting.
    pub fn bypass(&self) -> bool {
        self.state.read().bypass
    }

    /// Detach every endpoint and destroy every domain; keep the bypass setting and the registered
    /// endpoints (virtio-iommu reset: "When the device is reset, endpoints are not attached to
    /// any domain").
    pub fn reset(&self) {
        let mut guard = self.state.write();
        let st = &mut *guard;
        for d in st.endpoints.values_mut() {
            *d = None;
        }
        st.domains.clear();
        st.mappings = 0;
        st.mapped_bytes = 0;
        st.table_nodes = 0;
        st.roots = 0;
        self.bump_generation();
    }

    /// Which domain `ep` is attached to (`None` if unattached or unregistered).
    pub fn endpoint_domain(&self, ep: EndpointId) -> Option<DomainId> {
        self.state
            .read()
            .endpoints
            .get(&ep)
            .copied()
            .flatten()
            .map(|a| a.domain)
    }

    /// Whether `domain` exists, and if so whether it is a bypass domain.
    pub fn domain_is_bypass(&self, domain: DomainId) -> Option<bool> {
        self.state.read().domains.get(domain).map(|d| d.bypass)
    }

    /// A snapshot of the engine's state and counters.
    pub fn stats(&self) -> EngineStats {
        let st = self.state.read();
        let (translations, cache_hits, faults) = self.counters.totals();
        EngineStats {
            endpoints: st.endpoints.len(),
            attached_endpoints: st.endpoints.values().filter(|d| d.is_some()).count(),
            domains: st.domains.len(),
            bypass_domains: st.domains.values().filter(|d| d.bypass).count(),
            mappings: st.mappings,
            mapped_bytes: st.mapped_bytes,
            translations,
            cache_hits,
            faults,
            table_nodes: st.table_nodes,
            table_bytes: (st.table_nodes + st.pool.len()) * NODE_BYTES,
            generation: self.generation.load(Ordering::Acquire),
        }
    }

    /// A domain's mappings in IOVA order (for tests and model checks). A bypass domain has none.
    pub fn mappings(&self, domain: DomainId) -> Result<Vec<Mapping>, Error> {
        let st = self.state.read();
        let d = st.domains.get(domain).ok_or(Error::NoSuchDomain)?;
        let mut out: Vec<Mapping> = Vec::with_capacity(d.mappings);
        if let Some(table) = &d.table {
            table.for_each_block(&mut |b| {
                if let Some(m) = out.last_mut()
                    && !b.head
                    && m.range.last.wrapping_add(1) == b.start
                {
                    m.range.last = b.last;
                } else {
                    out.push(Mapping {
                        range: IovaRange::new(b.start, b.last),
                        paddr: b.paddr,
                        perms: b.perms,
                    });
                }
            });
        }
        Ok(out)
    }

    /// The current invalidation generation.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called with the write lock held, before it is released.
    fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }
}

impl State {
    fn route(&self, ep: EndpointId) -> Route<'_> {
        match self.endpoints.get(&ep) {
            None => Route::NotAttached,
            Some(None) if self.bypass => Route::Identity,
            Some(None) => Route::NotAttached,
            Some(Some(attached)) => match self.domains.at(attached.slot) {
                Some(Domain { table: Some(t), .. }) => Route::Table(t),
                Some(Domain { table: None, .. }) => Route::Identity,
                None => Route::NotAttached,
            },
        }
    }

    /// One endpoint leaves `domain`; the domain dies with its last endpoint.
    fn leave_domain(&mut self, domain: DomainId) {
        let Some(d) = self.domains.get_mut(domain) else {
            return;
        };
        d.endpoints = d.endpoints.saturating_sub(1);
        if d.endpoints > 0 {
            return;
        }
        if let Some(d) = self.domains.remove(domain) {
            self.mappings -= d.mappings;
            self.mapped_bytes -= d.mapped_bytes;
            if let Some(t) = &d.table {
                self.table_nodes -= t.live_nodes();
                self.roots -= 1;
            }
        }
    }
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("id", &self.id)
            .field("config", &self.config)
            .field("generation", &self.generation.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A keyed hasher for the 32-bit IDs the engine indexes by: much cheaper than SipHash on the
/// translate slow path, and seeded per map from `RandomState` so a guest cannot choose IDs that
/// collide.
#[derive(Clone, Debug)]
struct IdHash {
    seed: u64,
}

impl IdHash {
    fn new() -> Self {
        IdHash {
            seed: RandomState::new().hash_one(0x5eed_u64),
        }
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.seed)
    }
}

struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 ^= u64::from(n);
    }

    fn finish(&self) -> u64 {
        // splitmix64's finaliser.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let e = Engine::new(EngineConfig::default());
        e.add_endpoint(EndpointId(1)).unwrap();
        e.attach(EndpointId(1), DomainId(1), false).unwrap();
        e
    }

    #[test]
    fn config_validation() {
        let bad = |f: fn(&mut EngineConfig)| {
            let mut c = EngineConfig::default();
            f(&mut c);
            Engine::try_new(c).unwrap_err()
        };
        assert_eq!(bad(|c| c.granule = 512), Error::InvalidArgument);
        assert_eq!(bad(|c| c.granule = 4096 * 3), Error::InvalidArgument);
        assert_eq!(
            bad(|c| c.input_range = IovaRange::new(5, 4)),
            Error::InvalidArgument
        );
        assert_eq!(bad(|c| c.domain_range = (5, 4)), Error::InvalidArgument);
        assert!(
            Engine::try_new(EngineConfig {
                granule: 1 << 16,
                ..Default::default()
            })
            .is_ok()
        );
    }

    #[test]
    fn map_pages_runs_become_mappings() {
        let e = engine();
        let paddrs = [0x10000, 0x11000, 0x12000, 0x5000, 0x6000, 0x1000];
        e.map_pages(DomainId(1), 0x40000, &paddrs, Perms::READ)
            .unwrap();
        let m = e.mappings(DomainId(1)).unwrap();
        assert_eq!(
            m,
            vec![
                Mapping {
                    range: IovaRange::new(0x40000, 0x42fff),
                    paddr: 0x10000,
                    perms: Perms::READ
                },
                Mapping {
                    range: IovaRange::new(0x43000, 0x44fff),
                    paddr: 0x5000,
                    perms: Perms::READ
                },
                Mapping {
                    range: IovaRange::new(0x45000, 0x45fff),
                    paddr: 0x1000,
                    perms: Perms::READ
                },
            ]
        );
        assert_eq!(e.stats().mappings, 3);
        let t = e
            .translate(EndpointId(1), 0x42800, 0x1000, Perms::READ)
            .unwrap();
        assert_eq!(
            &*t,
            &[
                Segment {
                    iova: 0x42800,
                    paddr: 0x12800,
                    len: 0x800
                },
                Segment {
                    iova: 0x43000,
                    paddr: 0x5000,
                    len: 0x800
                }
            ]
        );
        assert_eq!(
            e.unmap(DomainId(1), IovaRange::new(0x41000, 0x45fff)),
            Err(Error::WouldSplit)
        );
        assert_eq!(
            e.unmap(DomainId(1), IovaRange::new(0x40000, 0x45fff)),
            Ok(3)
        );
        assert_eq!(e.stats().table_nodes, 1);
        assert_eq!(
            e.map_pages(DomainId(1), 0x1000, &[], Perms::READ),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            e.map_pages(DomainId(1), 0x1000, &[0x10], Perms::READ),
            Err(Error::Unaligned)
        );
        assert_eq!(
            e.map_pages(DomainId(1), u64::MAX - 0xfff, &[0, 0x1000], Perms::READ),
            Err(Error::OutOfInputRange)
        );
        e.map_pages(DomainId(1), u64::MAX - 0xfff, &[0x1000], Perms::READ)
            .unwrap();
        assert_eq!(
            e.map_pages(DomainId(1), u64::MAX - 0xfff, &[0x1000], Perms::READ),
            Err(Error::Overlap)
        );
    }

    #[test]
    fn nodes_for_pages_bounds_a_real_insert() {
        let e = engine();
        for (lo, n) in [
            (0u64, 1usize),
            (511, 2),
            (1000, 5000),
            ((1 << 40) - 3, 262_144),
        ] {
            let before = e.stats().table_nodes;
            let paddrs: Vec<u64> = (0..n as u64).map(|i| i << 12).collect();
            e.map_pages(DomainId(1), lo << 12, &paddrs, Perms::RW)
                .unwrap();
            let used = e.stats().table_nodes - before;
            let bound = Engine::nodes_for_pages(lo, lo + n as u64 - 1, 6);
            assert!(used <= bound, "{used} > {bound}");
            e.unmap(DomainId(1), IovaRange::new(0, u64::MAX)).unwrap();
        }
    }

    #[test]
    fn id_hash_spreads_ids() {
        let h = IdHash::new();
        let mut buckets = [0u32; 64];
        for i in 0..4096u32 {
            buckets[(h.hash_one(DomainId(i << 16)) % 64) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| b > 20 && b < 120), "{buckets:?}");
    }
}
