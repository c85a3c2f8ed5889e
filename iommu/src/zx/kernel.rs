//! The [`Kernel`] facade: one method per syscall, with the kernel's check order.
//!
//! Locking (every lock is a leaf or taken in this order; no lock is held while another object's
//! `Drop` can run):
//! 1. the handle table lock is only held inside [`HandleTable`] methods;
//! 2. a VMO's content-size lock, then its cache-policy lock, then the VMO tree lock or its page
//!    store lock, then the share table, then the physical memory's own locks;
//! 3. a PMT's state lock, then the page store lock or the engine; the BTI state lock is taken
//!    with no other lock held (PMTs are quarantined after their state lock is released);
//! 4. the signal lock of an object is innermost (taken by the tree lock holder or alone).
//!
//! Objects are dropped (which unpins, frees frames, re-homes VMO children) only after every
//! guard of the dropping function is released: lists of PMTs are taken out under a lock and
//! dropped after it.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::bti::Bti;
use super::constants::*;
use super::handle::{HandleEntry, HandleTable, Object};
use super::info;
use super::iommu_obj::{Iommu, IommuKind, PinMapping};
use super::object::{MonotonicClock, Name, ObjectHeader};
use super::pages::{MemCtx, PageStore, Run, ShareTable};
use super::physmem::{LazyMemory, PhysicalMemory, normalize_ranges, valid_page_size};
use super::pmt::Pmt;
use super::resource::{Resource, ResourceRegistry};
use super::vmo::{ChildKind, Vmo, VmoBody, VmoParams, VmoTree, round_size};
use super::{Handle, Koid, Paddr, Status};
use crate::{EndpointId, Engine, Perms};

/// The physical layout a [`Kernel`] manages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelConfig {
    /// Page size in bytes: a power of two from 4096 to 1 GiB.
    pub page_size: u64,
    /// Physical ranges VMO pages are allocated from.
    pub ram: Vec<Range<u64>>,
    /// Physical ranges MMIO resources (and so physical VMOs) may cover.
    pub mmio: Vec<Range<u64>>,
}

impl Default for KernelConfig {
    /// 4 KiB pages; 1 GiB of RAM at 4 GiB (`[0x1_0000_0000, 0x1_4000_0000)`), backed lazily;
    /// MMIO `[0xC000_0000, 0x1_0000_0000)`.
    fn default() -> Self {
        KernelConfig {
            page_size: 4096,
            ram: vec![0x1_0000_0000..0x1_4000_0000],
            mmio: vec![0xC000_0000..0x1_0000_0000],
        }
    }
}

/// A host-side Zircon kernel: handles, resources, IOMMUs, BTIs, PMTs and VMOs with the real
/// kernel's semantics. `Send + Sync`: every method may be called from many threads at once.
pub struct Kernel {
    config: KernelConfig,
    page_size: u64,
    page_shift: u32,
    ctx: MemCtx,
    handles: HandleTable,
    next_koid: AtomicU64,
    tree: Arc<VmoTree>,
    resources: Arc<ResourceRegistry>,
    root: Arc<Resource>,
    clock: MonotonicClock,
    /// Every BTI ever created (pruned), to break quarantine cycles on teardown.
    btis: Mutex<Vec<Weak<Bti>>>,
}

impl std::fmt::Debug for Kernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernel")
            .field("config", &self.config)
            .field("memory", &self.ctx.mem)
            .field("handles", &self.handles.len())
            .finish()
    }
}

fn rights_ok(have: u32, need: u32) -> Result<(), Status> {
    if have & need == need {
        Ok(())
    } else {
        Err(ZX_ERR_ACCESS_DENIED)
    }
}

impl Kernel {
    /// A kernel over `config` with lazily backed RAM ([`LazyMemory`]). A page size outside
    /// 4 KiB..=1 GiB or not a power of two is replaced by 4096 (with a warning); use
    /// [`Kernel::with_memory`] to get an error instead.
    pub fn new(config: KernelConfig) -> Kernel {
        let mut config = config;
        if !valid_page_size(config.page_size) {
            log::warn!(
                "zx: unsupported page size {:#x}, using 4096",
                config.page_size
            );
            config.page_size = 4096;
        }
        let mem = Arc::new(LazyMemory::build(config.page_size, &config.ram));
        Self::build(config, mem)
    }

    /// A kernel whose VMO pages come from `mem` (for example guest RAM). `config.ram` should
    /// describe the same RAM (it is what MMIO resources may never cover).
    /// `ZX_ERR_INVALID_ARGS` if the page size is unsupported or differs from `mem`'s.
    pub fn with_memory(
        config: KernelConfig,
        mem: Arc<dyn PhysicalMemory>,
    ) -> Result<Kernel, Status> {
        if !valid_page_size(config.page_size) || mem.page_size() != config.page_size {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        Ok(Self::build(config, mem))
    }

    fn build(config: KernelConfig, mem: Arc<dyn PhysicalMemory>) -> Kernel {
        let page_size = config.page_size;
        let ram = normalize_ranges(&config.ram, page_size);
        let resources = Arc::new(ResourceRegistry::new(config.mmio.clone(), ram, page_size));
        let next_koid = AtomicU64::new(ZX_KOID_FIRST);
        let root_header = ObjectHeader::new(next_koid.fetch_add(1, Ordering::Relaxed), 0);
        *root_header.name.lock() = Name::new(b"root");
        let root = Arc::new(Resource::root(root_header, &resources));
        Kernel {
            page_size,
            page_shift: page_size.trailing_zeros(),
            ctx: MemCtx {
                mem,
                shares: Arc::new(ShareTable::default()),
                page_size,
                page_shift: page_size.trailing_zeros(),
            },
            config,
            handles: HandleTable::default(),
            next_koid,
            tree: Arc::new(VmoTree::default()),
            resources,
            root,
            clock: MonotonicClock::new(),
            btis: Mutex::new(Vec::new()),
        }
    }

    /// The page size.
    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    /// The configuration (page size as used).
    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// The physical memory VMO pages live in (a device reads and writes DMA targets here).
    pub fn physical_memory(&self) -> Arc<dyn PhysicalMemory> {
        self.ctx.mem.clone()
    }

    /// The kernel's monotonic clock (`ZX_CLOCK_MONOTONIC`): nanoseconds since the kernel was
    /// created. `object_wait_one` deadlines are in this clock.
    pub fn clock_get_monotonic(&self) -> i64 {
        self.clock.now()
    }

    /// `zx_deadline_after`: now + `nanoseconds`, saturating at `ZX_TIME_INFINITE`.
    pub fn deadline_after(&self, nanoseconds: i64) -> i64 {
        self.clock.now().saturating_add(nanoseconds)
    }

    /// Number of open handles (for leak checks).
    pub fn handle_count(&self) -> usize {
        self.handles.len()
    }

    fn header(&self, initial_signals: u32) -> ObjectHeader {
        ObjectHeader::new(
            self.next_koid.fetch_add(1, Ordering::Relaxed),
            initial_signals,
        )
    }

    /// Runs the zero-handles action of an object whose last handle just closed.
    fn on_zero_handles(&self, object: Object) {
        match object {
            Object::Pmt(pmt) => pmt.on_zero_handles(),
            Object::Bti(bti) => bti.on_zero_handles(),
            Object::Vmo(_) | Object::Iommu(_) | Object::Resource(_) => {}
        }
    }

    fn finish_close(&self, entry: &HandleEntry) {
        if let Some(object) = HandleTable::release(entry) {
            self.on_zero_handles(object);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Resources and IOMMUs
    // -----------------------------------------------------------------------------------------

    /// A new handle to the ROOT resource (`ZX_HANDLE_INVALID` if the handle table is full).
    pub fn root_resource(&self) -> Handle {
        self.handles
            .add(
                Object::Resource(self.root.clone()),
                ZX_DEFAULT_RESOURCE_RIGHTS,
            )
            .unwrap_or(ZX_HANDLE_INVALID)
    }

    /// `zx_resource_create`.
    pub fn resource_create(
        &self,
        parent: Handle,
        options: u32,
        base: u64,
        size: u64,
        name: &str,
    ) -> Result<Handle, Status> {
        // "WRITE access is required to create a child resource".
        let (parent, _) = self.handles.lookup::<Resource>(parent, ZX_RIGHT_WRITE)?;
        let kind = options & 0xFFFF;
        let flags = options & 0xFFFF_0000;
        if kind >= ZX_RSRC_KIND_COUNT || flags & !ZX_RSRC_FLAGS_MASK != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // "Validate the parent resource the same way we would validate any resource usage in
        // another syscall." Any failure is ACCESS_DENIED.
        if parent.validate_ranged(kind, base, size).is_err() {
            return Err(ZX_ERR_ACCESS_DENIED);
        }
        // "If the resource is a slice of a larger resource then neither the new resource nor its
        // parent are permitted to be exclusive resources."
        if parent.kind != ZX_RSRC_KIND_ROOT
            && (parent.flags & ZX_RSRC_FLAG_EXCLUSIVE != 0 || flags & ZX_RSRC_FLAG_EXCLUSIVE != 0)
        {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        let header = self.header(0);
        *header.name.lock() = Name::new(name.as_bytes());
        let resource = Resource::create(header, kind, base, size, flags, &self.resources)?;
        self.handles.add(
            Object::Resource(Arc::new(resource)),
            ZX_DEFAULT_RESOURCE_RIGHTS,
        )
    }

    /// `zx_iommu_create`. Types: `ZX_IOMMU_TYPE_DUMMY`, and [`IOMMU_TYPE_TRANSLATING`]
    /// (see [`TranslatingIommuDesc`]); every other type is `ZX_ERR_NOT_SUPPORTED`.
    ///
    /// [`IOMMU_TYPE_TRANSLATING`]: super::IOMMU_TYPE_TRANSLATING
    /// [`TranslatingIommuDesc`]: super::TranslatingIommuDesc
    pub fn iommu_create(
        &self,
        resource: Handle,
        iommu_type: u32,
        desc: &[u8],
    ) -> Result<Handle, Status> {
        // "validate_resource_kind_base(resource, ZX_RSRC_KIND_SYSTEM, ZX_RSRC_SYSTEM_IOMMU_BASE).
        // No handle rights are checked."
        let (resource, _) = self.handles.lookup::<Resource>(resource, ZX_RIGHT_NONE)?;
        resource.validate_kind_base(ZX_RSRC_KIND_SYSTEM, ZX_RSRC_SYSTEM_IOMMU_BASE)?;
        // "desc_size > 4096: INVALID_ARGS."
        if desc.len() > ZX_IOMMU_MAX_DESC_LEN {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        let iommu = Iommu::create(self.header(0), iommu_type, desc, self.page_size)?;
        self.handles
            .add(Object::Iommu(Arc::new(iommu)), ZX_DEFAULT_IOMMU_RIGHTS)
    }

    /// The translation engine of a translating IOMMU, through which devices DMA by a BTI
    /// (endpoint = BTI id). `ZX_ERR_NOT_SUPPORTED` for the dummy IOMMU.
    pub fn engine(&self, iommu: Handle) -> Result<Arc<Engine>, Status> {
        let (iommu, _) = self.handles.lookup::<Iommu>(iommu, ZX_RIGHT_NONE)?;
        iommu.engine().ok_or(ZX_ERR_NOT_SUPPORTED)
    }

    /// The engine and endpoint a device holding this BTI DMAs through (translating IOMMU only;
    /// `ZX_ERR_NOT_SUPPORTED` on the dummy IOMMU).
    pub fn bti_endpoint(&self, bti: Handle) -> Result<(Arc<Engine>, EndpointId), Status> {
        let (bti, _) = self.handles.lookup::<Bti>(bti, ZX_RIGHT_NONE)?;
        match (&bti.space, bti.iommu.engine()) {
            (Some(space), Some(engine)) => Ok((engine, space.endpoint)),
            _ => Err(ZX_ERR_NOT_SUPPORTED),
        }
    }

    /// IOVA bytes currently allocated in a BTI's IOVA space (0 on the dummy IOMMU).
    pub fn bti_iova_allocated(&self, bti: Handle) -> Result<u64, Status> {
        let (bti, _) = self.handles.lookup::<Bti>(bti, ZX_RIGHT_NONE)?;
        Ok(bti.space.as_ref().map_or(0, |s| s.allocated()))
    }

    // -----------------------------------------------------------------------------------------
    // BTIs and PMTs
    // -----------------------------------------------------------------------------------------

    /// `zx_bti_create`.
    pub fn bti_create(&self, iommu: Handle, options: u32, bti_id: u64) -> Result<Handle, Status> {
        // "options != 0: INVALID_ARGS. This is checked before the handle lookup."
        if options != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // "iommu handle with ZX_RIGHT_NONE required: BAD_HANDLE or WRONG_TYPE."
        let (iommu, _) = self.handles.lookup::<Iommu>(iommu, ZX_RIGHT_NONE)?;
        // "!iommu.IsValidBusTxnId(bti_id): INVALID_ARGS. The dummy IOMMU never rejects."
        let space = match &iommu.kind {
            IommuKind::Dummy => None,
            IommuKind::Translating(t) => Some(t.space(bti_id)?),
        };
        let bti = Arc::new(Bti {
            header: self.header(0),
            iommu,
            bti_id,
            space,
            state: Mutex::new(Default::default()),
        });
        {
            let mut btis = self.btis.lock();
            if btis.len() >= 64 && btis.len().is_power_of_two() {
                btis.retain(|w| w.strong_count() > 0);
            }
            btis.push(Arc::downgrade(&bti));
        }
        self.handles.add(Object::Bti(bti), ZX_DEFAULT_BTI_RIGHTS)
    }

    /// `zx_bti_pin`: `addrs.len()` is `addrs_count`.
    pub fn bti_pin(
        &self,
        bti: Handle,
        options: u32,
        vmo: Handle,
        offset: u64,
        size: u64,
        addrs: &mut [Paddr],
    ) -> Result<Handle, Status> {
        // 1. "BTI handle, requires ZX_RIGHT_MAP".
        let (bti, _) = self.handles.lookup::<Bti>(bti, ZX_RIGHT_MAP)?;
        // 2. "offset not page-aligned, size not page-aligned, or addrs_count > kMaxAddrs (32768):
        // INVALID_ARGS. size==0 passes this step."
        // kMaxAddrs = (PAGE_SIZE * 64) / sizeof(dev_vaddr_t): 32768 with 4 KiB pages.
        let max_addrs = self.page_size.saturating_mul(64) / 8;
        if !offset.is_multiple_of(self.page_size)
            || !size.is_multiple_of(self.page_size)
            || addrs.len() as u64 > max_addrs
        {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // 3. "VMO handle: BAD_HANDLE or WRONG_TYPE. VMO handle without ZX_RIGHT_MAP:
        // ACCESS_DENIED."
        let (vmo, vmo_rights) = self.handles.lookup::<Vmo>(vmo, ZX_RIGHT_MAP)?;
        // 4. "Options against the VMO handle's rights ... Each bit is cleared as it is handled."
        let mut opts = options;
        let mut perms = Perms::NONE;
        if opts & ZX_BTI_PERM_READ != 0 {
            rights_ok(vmo_rights, ZX_RIGHT_READ)?;
            perms = perms | Perms::READ;
            opts &= !ZX_BTI_PERM_READ;
        }
        if opts & ZX_BTI_PERM_WRITE != 0 {
            rights_ok(vmo_rights, ZX_RIGHT_WRITE)?;
            perms = perms | Perms::WRITE;
            opts &= !ZX_BTI_PERM_WRITE;
        }
        // "PERM_EXECUTE requires ZX_RIGHT_READ (not EXECUTE)".
        if opts & ZX_BTI_PERM_EXECUTE != 0 {
            rights_ok(vmo_rights, ZX_RIGHT_READ)?;
            perms = perms | Perms::EXEC;
            opts &= !ZX_BTI_PERM_EXECUTE;
        }
        // 5. "If both are set, neither is cleared ... Otherwise COMPRESS is cleared and sets
        // compress=true. CONTIGUOUS is cleared only if vmo->is_contiguous()."
        let mut compress = false;
        let mut contiguous = false;
        let both = ZX_BTI_COMPRESS | ZX_BTI_CONTIGUOUS;
        if opts & both != both {
            if opts & ZX_BTI_COMPRESS != 0 {
                opts &= !ZX_BTI_COMPRESS;
                compress = true;
            }
            if opts & ZX_BTI_CONTIGUOUS != 0 && vmo.is_contiguous() {
                opts &= !ZX_BTI_CONTIGUOUS;
                contiguous = true;
            }
        }
        // 6. "Any remaining option bit ...: INVALID_ARGS."
        if opts != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // 8a. "size == 0: INVALID_ARGS."
        if size == 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // 8b. Commit and pin (OUT_OF_RANGE, UNAVAILABLE, NO_MEMORY; rolled back on error).
        let mut runs: Vec<Run> = Vec::new();
        let target = vmo.pin(offset, size, &mut runs)?;
        // 8c. "If the BTI has reached zero handles, or its quarantine list is non-empty:
        // ZX_ERR_BAD_STATE. The pins taken in (b) are released."
        if !bti.begin_pin() {
            target.unpin();
            return Err(ZX_ERR_BAD_STATE);
        }
        // From here on the PMT exists: "any failure after this point calls pmt->Unpin(). Such a
        // PMT is never quarantined".
        let pmt = Arc::new(Pmt::new(
            self.header(0),
            bti.clone(),
            vmo.clone(),
            target,
            size,
        ));
        // 8d. "The dummy Map returns INVALID_ARGS if perms == 0" (so does ours).
        if perms.is_empty() {
            pmt.unpin();
            return Err(ZX_ERR_INVALID_ARGS);
        }
        let mapping = match &bti.space {
            None => PinMapping::Identity,
            Some(space) => match space.map(&runs, size, perms, self.page_size) {
                Ok(block) => PinMapping::Iova(block),
                Err(s) => {
                    pmt.unpin();
                    return Err(s);
                }
            },
        };
        let iova_start = match &mapping {
            PinMapping::Iova(block) => Some(block.start),
            PinMapping::Identity => None,
        };
        pmt.set_mapping(mapping);
        // 10. Expected address count: "COMPRESS: ceil(size / minimum_contiguity) ... CONTIGUOUS
        // ...: 1 ... Neither: size / PAGE_SIZE". "addrs_count != expected: INVALID_ARGS."
        let min_contig = bti.iommu.minimum_contiguity();
        let expected = if compress {
            size.div_ceil(min_contig)
        } else if contiguous {
            1
        } else {
            size >> self.page_shift
        };
        if addrs.len() as u64 != expected {
            pmt.unpin();
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // 11. Write the device addresses.
        let step = if compress { min_contig } else { self.page_size };
        match iova_start {
            Some(start) => {
                if contiguous {
                    addrs[0] = start;
                } else {
                    let mut a = start;
                    for slot in addrs.iter_mut() {
                        *slot = a;
                        a = a.wrapping_add(step);
                    }
                }
            }
            None => write_identity_addrs(&runs, addrs, self.page_size, step, contiguous),
        }
        // 12. "The PMT handle is created with rights 0x8000. If that fails ... the PMT is
        // unpinned."
        match self
            .handles
            .add(Object::Pmt(pmt.clone()), ZX_DEFAULT_PMT_RIGHTS)
        {
            Ok(h) => Ok(h),
            Err(s) => {
                pmt.unpin();
                Err(s)
            }
        }
    }

    /// `zx_pmt_unpin`: "The handle is consumed before its type is checked." "Not a PMT:
    /// WRONG_TYPE, and the non-PMT handle has still been closed."
    pub fn pmt_unpin(&self, pmt: Handle) -> Result<(), Status> {
        let entry = self.handles.remove(pmt)?;
        let result = match &entry.object {
            Object::Pmt(p) => {
                p.unpin();
                Ok(())
            }
            _ => Err(ZX_ERR_WRONG_TYPE),
        };
        self.finish_close(&entry);
        result
    }

    /// `zx_bti_release_quarantine`: "BTI handle requires ZX_RIGHT_WRITE" ... "Always returns
    /// ZX_OK".
    pub fn bti_release_quarantine(&self, bti: Handle) -> Result<(), Status> {
        let (bti, _) = self.handles.lookup::<Bti>(bti, ZX_RIGHT_WRITE)?;
        let released = bti.take_quarantine();
        // Dropped here, after the BTI lock: each PMT unpins its pages and leaves pmo_count.
        drop(released);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // VMO creation
    // -----------------------------------------------------------------------------------------

    fn add_vmo(&self, vmo: Vmo, rights: u32) -> Result<Handle, Status> {
        self.handles.add(Object::Vmo(Arc::new(vmo)), rights)
    }

    fn vmo_params(&self, content_size: u64, cache_policy: u32) -> VmoParams {
        VmoParams {
            header: self.header(ZX_VMO_ZERO_CHILDREN),
            resizable: false,
            child_kind: ChildKind::Root,
            immutable: false,
            cache_policy,
            content_size,
            parent: None,
        }
    }

    /// `zx_vmo_create`.
    pub fn vmo_create(&self, size: u64, options: u32) -> Result<Handle, Status> {
        // parse_create_syscall_flags.
        let mut flags = options;
        let mut resizable = false;
        if flags & ZX_VMO_RESIZABLE != 0 {
            if flags & ZX_VMO_UNBOUNDED != 0 {
                return Err(ZX_ERR_INVALID_ARGS);
            }
            resizable = true;
            flags &= !ZX_VMO_RESIZABLE;
        }
        let discardable = flags & ZX_VMO_DISCARDABLE != 0;
        flags &= !ZX_VMO_DISCARDABLE;
        let vmo_size = if flags & ZX_VMO_UNBOUNDED != 0 {
            flags &= !ZX_VMO_UNBOUNDED;
            super::vmo::max_vmo_size(self.page_size)
        } else {
            round_size(size, self.page_size)?
        };
        if flags != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // Discardable VMOs (ZX_VMO_OP_LOCK/UNLOCK and reclamation) are not modelled.
        if discardable {
            return Err(ZX_ERR_NOT_SUPPORTED);
        }
        let store = Arc::new(PageStore::new_paged(&self.ctx, vmo_size));
        let mut params = self.vmo_params(size, ZX_CACHE_POLICY_CACHED);
        params.resizable = resizable;
        let body = VmoBody::Paged {
            store,
            offset: 0,
            slice_size: None,
        };
        let vmo = Vmo::new(params, body, self.page_size, &self.tree);
        let rights = ZX_DEFAULT_VMO_RIGHTS | if resizable { ZX_RIGHT_RESIZE } else { 0 };
        self.add_vmo(vmo, rights)
    }

    /// `zx_vmo_create_contiguous`.
    pub fn vmo_create_contiguous(
        &self,
        bti: Handle,
        size: u64,
        alignment_log2: u32,
    ) -> Result<Handle, Status> {
        // 1. "size == 0: INVALID_ARGS."
        if size == 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // 2. "alignment_log2 == 0 is treated as PAGE_SIZE_SHIFT. Below it, or 64 and above:
        // INVALID_ARGS."
        let align = if alignment_log2 == 0 {
            self.page_shift
        } else {
            alignment_log2
        };
        if align < self.page_shift || align >= 64 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // 4. "BTI handle requires ZX_RIGHT_MAP".
        self.handles.lookup::<Bti>(bti, ZX_RIGHT_MAP)?;
        // 5. "RoundSize(size): overflow or too large gives OUT_OF_RANGE."
        let rounded = round_size(size, self.page_size)?;
        // 6. "NO_MEMORY if no contiguous run is available."
        let store =
            PageStore::new_contiguous(&self.ctx, rounded, align).map_err(|_| ZX_ERR_NO_MEMORY)?;
        // 7. "Content size = the unrounded size. Rights 0xD0EF. The result is not resizable."
        let params = self.vmo_params(size, ZX_CACHE_POLICY_CACHED);
        let body = VmoBody::Paged {
            store: Arc::new(store),
            offset: 0,
            slice_size: None,
        };
        let vmo = Vmo::new(params, body, self.page_size, &self.tree);
        self.add_vmo(vmo, ZX_DEFAULT_VMO_RIGHTS)
    }

    /// `zx_vmo_create_physical`.
    pub fn vmo_create_physical(
        &self,
        resource: Handle,
        paddr: Paddr,
        size: u64,
    ) -> Result<Handle, Status> {
        // 2. "validate_ranged_resource(resource, MMIO, paddr, size) (no handle rights needed)".
        let (resource, _) = self.handles.lookup::<Resource>(resource, ZX_RIGHT_NONE)?;
        resource.validate_ranged(ZX_RSRC_KIND_MMIO, paddr, size)?;
        // 3. "RoundSize(size): OUT_OF_RANGE if too large. An unaligned size is rounded up".
        let rounded = round_size(size, self.page_size)?;
        // 4. "paddr not page-aligned, or size == 0: INVALID_ARGS. paddr + size - 1 overflows:
        // INVALID_ARGS."
        if !paddr.is_multiple_of(self.page_size)
            || rounded == 0
            || paddr.checked_add(rounded - 1).is_none()
        {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        // 5. "cache policy UNCACHED ... The content size is set to the rounded size".
        let params = self.vmo_params(rounded, ZX_CACHE_POLICY_UNCACHED);
        let body = VmoBody::Physical {
            paddr,
            size: rounded,
        };
        let vmo = Vmo::new(params, body, self.page_size, &self.tree);
        self.add_vmo(vmo, ZX_DEFAULT_VMO_RIGHTS)
    }

    /// `zx_vmo_create_child`: slices and snapshot children (`ZX_VMO_CHILD_REFERENCE` is
    /// `ZX_ERR_NOT_SUPPORTED` here).
    pub fn vmo_create_child(
        &self,
        vmo: Handle,
        options: u32,
        offset: u64,
        size: u64,
    ) -> Result<Handle, Status> {
        let rounded = round_size(size, self.page_size)?;
        // "NO_WRITE forbids the WRITE permissions, as such it does not make sense to create a VMO
        // with both of these."
        if options & ZX_VMO_CHILD_NO_WRITE != 0 && options & ZX_VMO_CHILD_RESIZABLE != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        let no_write = options & ZX_VMO_CHILD_NO_WRITE != 0;
        let mut opts = options & !ZX_VMO_CHILD_NO_WRITE;
        let (parent, in_rights) = self
            .handles
            .lookup::<Vmo>(vmo, ZX_RIGHT_DUPLICATE | ZX_RIGHT_READ)?;
        let snapshot_kinds = ZX_VMO_CHILD_SNAPSHOT
            | ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE
            | ZX_VMO_CHILD_SNAPSHOT_MODIFIED;
        let (body, kind, resizable, cache_policy) = if opts & ZX_VMO_CHILD_SLICE != 0 {
            // "No other flags are valid for slices."
            if opts & !ZX_VMO_CHILD_SLICE != 0 {
                return Err(ZX_ERR_INVALID_ARGS);
            }
            let body = parent.slice_body(offset, rounded)?;
            // Slices "inherit the cache policy".
            (body, ChildKind::Slice, false, parent.cache_policy())
        } else if opts & ZX_VMO_CHILD_REFERENCE != 0 {
            return Err(ZX_ERR_NOT_SUPPORTED);
        } else {
            // "Check for mutually-exclusive child type flags."
            if opts & ZX_VMO_CHILD_SNAPSHOT != 0 {
                opts &= !ZX_VMO_CHILD_SNAPSHOT;
            } else if opts & ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE != 0 {
                opts &= !ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE;
            } else if opts & ZX_VMO_CHILD_SNAPSHOT_MODIFIED != 0 {
                opts &= !ZX_VMO_CHILD_SNAPSHOT_MODIFIED;
            } else {
                return Err(ZX_ERR_INVALID_ARGS);
            }
            let resizable = opts & ZX_VMO_CHILD_RESIZABLE != 0;
            opts &= !ZX_VMO_CHILD_RESIZABLE;
            if opts != 0 {
                return Err(ZX_ERR_INVALID_ARGS);
            }
            let body = parent.snapshot_body(offset, rounded)?;
            (body, ChildKind::Snapshot, resizable, ZX_CACHE_POLICY_CACHED)
        };
        let mut params = self.vmo_params(size, cache_policy);
        params.resizable = resizable;
        params.child_kind = kind;
        params.immutable = no_write && options & ZX_VMO_CHILD_SNAPSHOT != 0;
        params.parent = Some(parent.koid());
        // "copy_name = in_rights & ZX_RIGHT_GET_PROPERTY".
        if in_rights & ZX_RIGHT_GET_PROPERTY != 0 {
            *params.header.name.lock() = *parent.header.name.lock();
        }
        // "rights = (in_rights & ~ZX_RIGHT_RESIZE) | (options & ZX_VMO_CHILD_RESIZABLE ?
        // ZX_RIGHT_RESIZE : 0) | ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY"; NO_WRITE drops
        // WRITE; snapshots drop EXECUTE and gain WRITE.
        let mut rights = (in_rights & !ZX_RIGHT_RESIZE)
            | if options & ZX_VMO_CHILD_RESIZABLE != 0 {
                ZX_RIGHT_RESIZE
            } else {
                0
            }
            | ZX_RIGHT_GET_PROPERTY
            | ZX_RIGHT_SET_PROPERTY;
        if no_write {
            rights &= !ZX_RIGHT_WRITE;
        } else if options & snapshot_kinds != 0 {
            rights &= !ZX_RIGHT_EXECUTE;
            rights |= ZX_RIGHT_WRITE;
        }
        let child = Vmo::new(params, body, self.page_size, &self.tree);
        self.add_vmo(child, rights)
    }

    // -----------------------------------------------------------------------------------------
    // VMO operations
    // -----------------------------------------------------------------------------------------

    /// `zx_vmo_read`.
    pub fn vmo_read(&self, vmo: Handle, buf: &mut [u8], offset: u64) -> Result<(), Status> {
        let (vmo, _) = self.handles.lookup::<Vmo>(vmo, ZX_RIGHT_READ)?;
        vmo.read(buf, offset)
    }

    /// `zx_vmo_write`.
    pub fn vmo_write(&self, vmo: Handle, buf: &[u8], offset: u64) -> Result<(), Status> {
        let (vmo, _) = self.handles.lookup::<Vmo>(vmo, ZX_RIGHT_WRITE)?;
        vmo.write(buf, offset)
    }

    /// `zx_vmo_get_size`: "no rights check, anyone should be able to get the size".
    pub fn vmo_get_size(&self, vmo: Handle) -> Result<u64, Status> {
        let (vmo, _) = self.handles.lookup::<Vmo>(vmo, ZX_RIGHT_NONE)?;
        Ok(vmo.size())
    }

    /// `zx_vmo_set_size`.
    pub fn vmo_set_size(&self, vmo: Handle, size: u64) -> Result<(), Status> {
        let (vmo, rights) = self.handles.lookup::<Vmo>(vmo, ZX_RIGHT_WRITE)?;
        // "VMOs that are not resizable should fail with ZX_ERR_UNAVAILABLE for backwards
        // compatibility ... Only validate the RESIZE right if the VMO is resizable."
        if vmo.resizable && rights & ZX_RIGHT_RESIZE == 0 {
            return Err(ZX_ERR_ACCESS_DENIED);
        }
        vmo.set_size(size)
    }

    /// `zx_vmo_op_range`.
    pub fn vmo_op_range(&self, vmo: Handle, op: u32, offset: u64, size: u64) -> Result<(), Status> {
        let (vmo, rights) = self.handles.lookup::<Vmo>(vmo, ZX_RIGHT_NONE)?;
        vmo.op_range(op, offset, size, rights)
    }

    /// `zx_vmo_set_cache_policy`.
    pub fn vmo_set_cache_policy(&self, vmo: Handle, cache_policy: u32) -> Result<(), Status> {
        // "Sanity check the cache policy." (before the handle lookup)
        if cache_policy & !ZX_CACHE_POLICY_MASK != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        let (vmo, _) = self.handles.lookup::<Vmo>(vmo, ZX_RIGHT_MAP)?;
        vmo.set_cache_policy(cache_policy)
    }

    // -----------------------------------------------------------------------------------------
    // Generic object operations
    // -----------------------------------------------------------------------------------------

    /// `zx_object_get_info`: writes whole records in Zircon's C layout (little-endian) and returns
    /// (actual, avail). A buffer too small for the record is `ZX_ERR_BUFFER_TOO_SMALL` (the kernel
    /// would also report actual = 0, avail = 1). Topics: `ZX_INFO_HANDLE_VALID`,
    /// `ZX_INFO_HANDLE_BASIC`, `ZX_INFO_BTI`, `ZX_INFO_VMO` (and `_V1`..`_V3`),
    /// `ZX_INFO_RESOURCE`; others are `ZX_ERR_NOT_SUPPORTED`.
    pub fn object_get_info(
        &self,
        handle: Handle,
        topic: u32,
        buffer: &mut [u8],
    ) -> Result<(usize, usize), Status> {
        match topic {
            ZX_INFO_HANDLE_VALID => {
                self.handles.get(handle)?;
                Ok((0, 0))
            }
            ZX_INFO_HANDLE_BASIC => {
                let entry = self.handles.get(handle)?;
                let header = entry.object.header();
                info::write_handle_basic(
                    buffer,
                    header.koid,
                    entry.rights,
                    entry.object.obj_type(),
                    0,
                )
            }
            ZX_INFO_BTI => {
                // "BTI handle requires ZX_RIGHT_INSPECT."
                let (bti, _) = self.handles.lookup::<Bti>(handle, ZX_RIGHT_INSPECT)?;
                let (pmo_count, quarantine_count) = bti.counts();
                info::write_bti(
                    buffer,
                    bti.iommu.minimum_contiguity(),
                    bti.iommu.aspace_size(),
                    pmo_count,
                    quarantine_count,
                )
            }
            ZX_INFO_VMO_V1 | ZX_INFO_VMO_V2 | ZX_INFO_VMO_V3 | ZX_INFO_VMO => {
                let (vmo, rights) = self.handles.lookup::<Vmo>(handle, ZX_RIGHT_NONE)?;
                info::write_vmo(buffer, topic, &vmo.info(rights))
            }
            ZX_INFO_RESOURCE => {
                let (r, _) = self.handles.lookup::<Resource>(handle, ZX_RIGHT_INSPECT)?;
                let name = r.header.name.lock().padded();
                info::write_resource(buffer, r.kind, r.flags, r.base, r.size, &name)
            }
            _ => Err(ZX_ERR_NOT_SUPPORTED),
        }
    }

    /// `zx_object_get_property`: `ZX_PROP_NAME` (32 bytes, NUL-padded) and
    /// `ZX_PROP_VMO_CONTENT_SIZE` (u64 little-endian).
    pub fn object_get_property(
        &self,
        handle: Handle,
        property: u32,
        value: &mut [u8],
    ) -> Result<(), Status> {
        let entry = self.handles.get(handle)?;
        rights_ok(entry.rights, ZX_RIGHT_GET_PROPERTY)?;
        match property {
            ZX_PROP_NAME => {
                if value.len() < ZX_MAX_NAME_LEN {
                    return Err(ZX_ERR_BUFFER_TOO_SMALL);
                }
                let name = entry.object.header().name.lock().padded();
                value[..ZX_MAX_NAME_LEN].copy_from_slice(&name);
                Ok(())
            }
            ZX_PROP_VMO_CONTENT_SIZE => {
                if value.len() < 8 {
                    return Err(ZX_ERR_BUFFER_TOO_SMALL);
                }
                let Object::Vmo(vmo) = &entry.object else {
                    return Err(ZX_ERR_WRONG_TYPE);
                };
                value[..8].copy_from_slice(&vmo.content_size().to_le_bytes());
                Ok(())
            }
            _ => Err(ZX_ERR_NOT_SUPPORTED),
        }
    }

    /// `zx_object_set_property`: `ZX_PROP_NAME` (truncated to 31 bytes) and
    /// `ZX_PROP_VMO_CONTENT_SIZE` (u64 little-endian in the first 8 bytes).
    pub fn object_set_property(
        &self,
        handle: Handle,
        property: u32,
        value: &[u8],
    ) -> Result<(), Status> {
        let entry = self.handles.get(handle)?;
        rights_ok(entry.rights, ZX_RIGHT_SET_PROPERTY)?;
        match property {
            ZX_PROP_NAME => {
                let n = value.len().min(ZX_MAX_NAME_LEN - 1);
                *entry.object.header().name.lock() = Name::new(&value[..n]);
                Ok(())
            }
            ZX_PROP_VMO_CONTENT_SIZE => {
                let Some(bytes) = value.get(..8) else {
                    return Err(ZX_ERR_BUFFER_TOO_SMALL);
                };
                let Object::Vmo(vmo) = &entry.object else {
                    return Err(ZX_ERR_WRONG_TYPE);
                };
                let mut raw = [0u8; 8];
                raw.copy_from_slice(bytes);
                vmo.set_content_size(u64::from_le_bytes(raw));
                Ok(())
            }
            _ => Err(ZX_ERR_NOT_SUPPORTED),
        }
    }

    /// `zx_object_signal`: needs `ZX_RIGHT_SIGNAL`; only user signals may change.
    pub fn object_signal(
        &self,
        handle: Handle,
        clear_mask: u32,
        set_mask: u32,
    ) -> Result<(), Status> {
        let entry = self.handles.get(handle)?;
        rights_ok(entry.rights, ZX_RIGHT_SIGNAL)?;
        if (clear_mask | set_mask) & !ZX_USER_SIGNAL_ALL != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        entry.object.header().signals.update(clear_mask, set_mask);
        Ok(())
    }

    /// `zx_object_wait_one`: Ok(observed signals) once any of `signals` is asserted;
    /// `ZX_ERR_TIMED_OUT` if none is by `deadline` (in [`Kernel::clock_get_monotonic`]'s clock;
    /// `ZX_TIME_INFINITE` waits forever, `ZX_TIME_INFINITE_PAST` only polls);
    /// `ZX_ERR_CANCELED` if the handle is closed during the wait. Needs `ZX_RIGHT_WAIT`.
    pub fn object_wait_one(
        &self,
        handle: Handle,
        signals: u32,
        deadline: i64,
    ) -> Result<u32, Status> {
        let entry = self.handles.get(handle)?;
        rights_ok(entry.rights, ZX_RIGHT_WAIT)?;
        let deadline = self.clock.deadline(deadline);
        entry
            .object
            .header()
            .signals
            .wait(signals, deadline, &entry.closed)
    }

    /// `zx_handle_duplicate`.
    pub fn handle_duplicate(&self, handle: Handle, rights: u32) -> Result<Handle, Status> {
        let entry = self.handles.get(handle)?;
        rights_ok(entry.rights, ZX_RIGHT_DUPLICATE)?;
        let new_rights = derived_rights(entry.rights, rights)?;
        self.handles.add(entry.object.clone(), new_rights)
    }

    /// `zx_handle_replace`: "handle is always invalidated".
    pub fn handle_replace(&self, handle: Handle, rights: u32) -> Result<Handle, Status> {
        let entry = self.handles.remove(handle)?;
        let result = derived_rights(entry.rights, rights)
            .and_then(|r| self.handles.add(entry.object.clone(), r));
        self.finish_close(&entry);
        result
    }

    /// `zx_handle_close`: closing `ZX_HANDLE_INVALID` succeeds and does nothing.
    pub fn handle_close(&self, handle: Handle) -> Result<(), Status> {
        if handle == ZX_HANDLE_INVALID {
            return Ok(());
        }
        let entry = self.handles.remove(handle)?;
        self.finish_close(&entry);
        Ok(())
    }

    /// Koid of the object a handle refers to (convenience for tests and tools).
    pub fn object_koid(&self, handle: Handle) -> Result<Koid, Status> {
        Ok(self.handles.get(handle)?.object.header().koid)
    }
}

/// "If rights is ZX_RIGHT_SAME_RIGHTS, the replacement handle will have the same rights as the
/// original handle. Otherwise, rights must be a subset of original handle's rights."
fn derived_rights(have: u32, requested: u32) -> Result<u32, Status> {
    if requested == ZX_RIGHT_SAME_RIGHTS {
        Ok(have)
    } else if have & requested != requested {
        Err(ZX_ERR_INVALID_ARGS)
    } else {
        Ok(requested)
    }
}

/// Device addresses of an identity-mapped pin: one per `step` bytes (a page, or the minimum
/// contiguity with COMPRESS), or only the first with CONTIGUOUS.
fn write_identity_addrs(
    runs: &[Run],
    addrs: &mut [Paddr],
    page_size: u64,
    step: u64,
    contiguous: bool,
) {
    if contiguous {
        if let (Some(first), Some(slot)) = (runs.first(), addrs.first_mut()) {
            *slot = first.paddr;
        }
        return;
    }
    let pages_per_step = (step / page_size).max(1);
    let mut out = addrs.iter_mut();
    if pages_per_step == 1 {
        for run in runs {
            for (j, slot) in (0..run.pages).zip(out.by_ref()) {
                *slot = run.paddr + j * page_size;
            }
        }
        return;
    }
    let mut page_index: u64 = 0;
    for run in runs {
        for j in 0..run.pages {
            if page_index.is_multiple_of(pages_per_step) {
                match out.next() {
                    Some(slot) => *slot = run.paddr + j * page_size,
                    None => return,
                }
            }
            page_index += 1;
        }
    }
}

impl Drop for Kernel {
    fn drop(&mut self) {
        // Close every handle without zero-handles actions, then break the BTI <-> quarantined PMT
        // cycles so that pages are unpinned and memory is returned.
        let entries = self.handles.drain();
        drop(entries);
        let btis: Vec<Arc<Bti>> = self.btis.lock().iter().filter_map(Weak::upgrade).collect();
        for bti in btis {
            let q = bti.take_quarantine();
            drop(q);
        }
    }
}
