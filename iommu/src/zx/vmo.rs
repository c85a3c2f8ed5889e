//! Virtual memory objects: paged (including contiguous), physical, slices and snapshot children,
//! with the kernel's range checks, content size, cache policy and the parent/child tree behind
//! `ZX_VMO_ZERO_CHILDREN`.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::constants::*;
use super::object::{ObjectHeader, SignalState};
use super::pages::{Attribution, PageStore, Run};
use super::{Koid, Paddr, Status};

/// `VmPageList::MAX_SIZE`: "ROUNDDOWN(UINT64_MAX, 2 * kPageFanOut * PAGE_SIZE)".
pub(crate) fn max_vmo_size(page_size: u64) -> u64 {
    let unit = 2 * PAGE_LIST_FAN_OUT * page_size;
    u64::MAX - u64::MAX % unit
}

/// `VmObject::RoundSize`: round up to a page, `ZX_ERR_OUT_OF_RANGE` on overflow or past the
/// largest VMO.
pub(crate) fn round_size(size: u64, page_size: u64) -> Result<u64, Status> {
    let rounded = size
        .checked_next_multiple_of(page_size)
        .ok_or(ZX_ERR_OUT_OF_RANGE)?;
    if rounded > max_vmo_size(page_size) {
        return Err(ZX_ERR_OUT_OF_RANGE);
    }
    Ok(rounded)
}

/// `offset + len <= size` without overflow (`InRange`).
pub(crate) fn in_range(offset: u64, len: u64, size: u64) -> bool {
    offset.checked_add(len).is_some_and(|end| end <= size)
}

/// The parent/child relation of VMOs as userspace sees it (`num_children`, `parent_koid`,
/// `ZX_VMO_ZERO_CHILDREN`). A destroyed VMO's children are re-homed to its parent, so
/// grandchildren keep their grandparent's signal deasserted.
#[derive(Debug, Default)]
pub(crate) struct VmoTree {
    nodes: Mutex<HashMap<Koid, TreeNode>>,
}

#[derive(Debug)]
struct TreeNode {
    parent: Option<Koid>,
    children: Vec<Koid>,
    signals: Arc<SignalState>,
}

impl VmoTree {
    pub(crate) fn add(&self, koid: Koid, parent: Option<Koid>, signals: Arc<SignalState>) {
        let mut nodes = self.nodes.lock();
        nodes.insert(
            koid,
            TreeNode {
                parent,
                children: Vec::new(),
                signals,
            },
        );
        if let Some(p) = parent.and_then(|p| nodes.get_mut(&p)) {
            p.children.push(koid);
            // "Cleared synchronously when zx_vmo_create_child succeeds".
            p.signals.update(ZX_VMO_ZERO_CHILDREN, 0);
        }
    }

    /// "Re-asserted from OnZeroChild when the VmObject's child count drops to 0. This happens
    /// only when the child VmObject is destroyed, not when its handle closes."
    fn remove(&self, koid: Koid) {
        let mut nodes = self.nodes.lock();
        let Some(node) = nodes.remove(&koid) else {
            return;
        };
        for c in &node.children {
            if let Some(child) = nodes.get_mut(c) {
                child.parent = node.parent;
            }
        }
        if let Some(parent) = node.parent.and_then(|p| nodes.get_mut(&p)) {
            parent.children.retain(|&c| c != koid);
            parent.children.extend_from_slice(&node.children);
            if parent.children.is_empty() {
                parent.signals.update(0, ZX_VMO_ZERO_CHILDREN);
            }
        }
    }

    pub(crate) fn num_children(&self, koid: Koid) -> usize {
        self.nodes.lock().get(&koid).map_or(0, |n| n.children.len())
    }

    pub(crate) fn parent(&self, koid: Koid) -> Option<Koid> {
        self.nodes.lock().get(&koid).and_then(|n| n.parent)
    }
}

/// What backs a VMO.
#[derive(Debug)]
pub(crate) enum VmoBody {
    /// Pages from the kernel's physical memory. A slice shares its parent's store at `offset`
    /// with its own fixed `slice_size`; anything else owns its store and `offset` is 0.
    Paged {
        store: Arc<PageStore>,
        offset: u64,
        slice_size: Option<u64>,
    },
    /// A fixed physical range (MMIO): always committed and pinned, never read or written here.
    Physical { paddr: Paddr, size: u64 },
}

/// How a VMO was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChildKind {
    Root,
    Slice,
    Snapshot,
}

/// Where the pages of a pin live, to unpin them later.
#[derive(Debug)]
pub(crate) enum PinTarget {
    Paged {
        store: Arc<PageStore>,
        first: u64,
        end: u64,
    },
    /// "For physical VMOs Unpin does nothing."
    Physical,
}

impl PinTarget {
    pub(crate) fn unpin(&self) {
        if let PinTarget::Paged { store, first, end } = self {
            store.unpin_locked(&mut store.inner.lock(), *first, *end);
        }
    }
}

/// The numbers of a `zx_info_vmo_t` record.
#[derive(Clone, Debug, Default)]
pub(crate) struct VmoInfo {
    pub(crate) koid: Koid,
    pub(crate) name: [u8; ZX_MAX_NAME_LEN],
    pub(crate) size_bytes: u64,
    pub(crate) parent_koid: Koid,
    pub(crate) num_children: u64,
    pub(crate) flags: u32,
    pub(crate) attribution: Attribution,
    pub(crate) handle_rights: u32,
    pub(crate) cache_policy: u32,
    pub(crate) metadata_bytes: u64,
}

/// A VMO kernel object.
#[derive(Debug)]
pub(crate) struct Vmo {
    pub(crate) header: ObjectHeader,
    pub(crate) body: VmoBody,
    pub(crate) resizable: bool,
    pub(crate) child_kind: ChildKind,
    /// Made with `ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_NO_WRITE` (`ZX_INFO_VMO_IMMUTABLE`).
    pub(crate) immutable: bool,
    pub(crate) page_size: u64,
    cache_policy: Mutex<u32>,
    content_size: Mutex<u64>,
    tree: Arc<VmoTree>,
}

/// Everything needed to create a VMO object besides its body.
#[derive(Debug)]
pub(crate) struct VmoParams {
    pub(crate) header: ObjectHeader,
    pub(crate) resizable: bool,
    pub(crate) child_kind: ChildKind,
    pub(crate) immutable: bool,
    pub(crate) cache_policy: u32,
    pub(crate) content_size: u64,
    pub(crate) parent: Option<Koid>,
}

impl Vmo {
    pub(crate) fn new(
        params: VmoParams,
        body: VmoBody,
        page_size: u64,
        tree: &Arc<VmoTree>,
    ) -> Vmo {
        tree.add(
            params.header.koid,
            params.parent,
            params.header.signals.clone(),
        );
        Vmo {
            header: params.header,
            body,
            resizable: params.resizable,
            child_kind: params.child_kind,
            immutable: params.immutable,
            page_size,
            cache_policy: Mutex::new(params.cache_policy),
            content_size: Mutex::new(params.content_size),
            tree: tree.clone(),
        }
    }

    pub(crate) fn koid(&self) -> Koid {
        self.header.koid
    }

    /// "is_contiguous() ... is true for zx_vmo_create_contiguous VMOs, slices of them, and all
    /// physical VMOs."
    pub(crate) fn is_contiguous(&self) -> bool {
        match &self.body {
            VmoBody::Paged { store, .. } => store.contiguous,
            VmoBody::Physical { .. } => true,
        }
    }

    pub(crate) fn is_physical(&self) -> bool {
        matches!(self.body, VmoBody::Physical { .. })
    }

    pub(crate) fn cache_policy(&self) -> u32 {
        *self.cache_policy.lock()
    }

    pub(crate) fn content_size(&self) -> u64 {
        *self.content_size.lock()
    }

    pub(crate) fn size(&self) -> u64 {
        match &self.body {
            VmoBody::Paged {
                slice_size: Some(s),
                ..
            } => *s,
            VmoBody::Paged { store, .. } => store.inner.lock().size,
            VmoBody::Physical { size, .. } => *size,
        }
    }

    fn page_shift(&self) -> u32 {
        self.page_size.trailing_zeros()
    }

    /// `zx_vmo_read` after the READ right check.
    pub(crate) fn read(&self, buf: &mut [u8], offset: u64) -> Result<(), Status> {
        let VmoBody::Paged {
            store,
            offset: base,
            slice_size,
        } = &self.body
        else {
            // "zx_vmo_read / zx_vmo_write: ZX_ERR_NOT_SUPPORTED" for physical VMOs.
            return Err(ZX_ERR_NOT_SUPPORTED);
        };
        // "ZX_ERR_BAD_STATE VMO has been marked uncached and is not directly readable."
        if self.cache_policy() != ZX_CACHE_POLICY_CACHED {
            return Err(ZX_ERR_BAD_STATE);
        }
        let inner = store.inner.lock();
        let size = slice_size.unwrap_or(inner.size);
        if !in_range(offset, buf.len() as u64, size) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        store.read_locked(&inner, base + offset, buf)
    }

    /// `zx_vmo_write` after the WRITE right check.
    pub(crate) fn write(&self, data: &[u8], offset: u64) -> Result<(), Status> {
        let VmoBody::Paged {
            store,
            offset: base,
            slice_size,
        } = &self.body
        else {
            return Err(ZX_ERR_NOT_SUPPORTED);
        };
        if self.cache_policy() != ZX_CACHE_POLICY_CACHED {
            return Err(ZX_ERR_BAD_STATE);
        }
        let mut inner = store.inner.lock();
        let size = slice_size.unwrap_or(inner.size);
        if !in_range(offset, data.len() as u64, size) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        store.write_locked(&mut inner, base + offset, data)
    }

    /// Zeroes `[offset, offset + len)` as `ZX_VMO_OP_ZERO` does (no rights check).
    fn zero_range(&self, offset: u64, len: u64) -> Result<(), Status> {
        let VmoBody::Paged {
            store,
            offset: base,
            slice_size,
        } = &self.body
        else {
            return Err(ZX_ERR_NOT_SUPPORTED);
        };
        // "As we cannot write to uncached vmo, we also cannot zero an uncached vmo."
        if self.cache_policy() != ZX_CACHE_POLICY_CACHED {
            return Err(ZX_ERR_BAD_STATE);
        }
        let mut inner = store.inner.lock();
        let size = slice_size.unwrap_or(inner.size);
        if !in_range(offset, len, size) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        store.zero_locked(&mut inner, base + offset, len)
    }

    /// `zx_vmo_set_size` after the WRITE (and, for resizable VMOs, RESIZE) right checks.
    pub(crate) fn set_size(&self, size: u64) -> Result<(), Status> {
        let mut content = self.content_size.lock();
        // "Dispatcher SetSize: ROUNDUP(size, PAGE) overflows gives OUT_OF_RANGE."
        let aligned = size
            .checked_next_multiple_of(self.page_size)
            .ok_or(ZX_ERR_OUT_OF_RANGE)?;
        let VmoBody::Paged { store, .. } = &self.body else {
            // "Physical: NOT_SUPPORTED."
            return Err(ZX_ERR_NOT_SUPPORTED);
        };
        // "Paged, non-resizable (including contiguous VMOs): UNAVAILABLE."
        if !self.resizable {
            return Err(ZX_ERR_UNAVAILABLE);
        }
        // "Larger than MAX_SIZE: OUT_OF_RANGE."
        if aligned > max_vmo_size(self.page_size) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        {
            let mut inner = store.inner.lock();
            store.resize_locked(&mut inner, aligned)?;
        }
        // "On success the tail bytes [size, aligned) are zeroed. The content size is set to the
        // unrounded size."
        if aligned > size {
            let _ = self.zero_range(size, aligned - size);
        }
        *content = size;
        Ok(())
    }

    /// `ZX_PROP_VMO_CONTENT_SIZE` set: "If it is below the VMO size, [content, vmo_size) is
    /// zeroed. The VMO is not resized."
    pub(crate) fn set_content_size(&self, value: u64) {
        let mut content = self.content_size.lock();
        let size = self.size();
        if value < size {
            let _ = self.zero_range(value, size - value);
        }
        *content = value;
    }

    /// `zx_vmo_op_range` after the handle lookup; `rights` are the handle's.
    pub(crate) fn op_range(
        &self,
        op: u32,
        offset: u64,
        len: u64,
        rights: u32,
    ) -> Result<(), Status> {
        let need = |r: u32| {
            if rights & r == r {
                Ok(())
            } else {
                Err(ZX_ERR_ACCESS_DENIED)
            }
        };
        match op {
            ZX_VMO_OP_COMMIT => {
                need(ZX_RIGHT_WRITE)?;
                self.commit(offset, len)
            }
            ZX_VMO_OP_DECOMMIT => {
                need(ZX_RIGHT_WRITE)?;
                self.decommit(offset, len)
            }
            ZX_VMO_OP_LOCK | ZX_VMO_OP_TRY_LOCK | ZX_VMO_OP_UNLOCK => {
                if rights & (ZX_RIGHT_READ | ZX_RIGHT_WRITE) == 0 {
                    return Err(ZX_ERR_ACCESS_DENIED);
                }
                // Only discardable VMOs can be locked; this kernel does not create them.
                Err(ZX_ERR_NOT_SUPPORTED)
            }
            ZX_VMO_OP_CACHE_SYNC | ZX_VMO_OP_CACHE_CLEAN | ZX_VMO_OP_CACHE_CLEAN_INVALIDATE => {
                need(ZX_RIGHT_READ)?;
                self.cache_op(offset, len)
            }
            // "if (!gBootOptions->enable_debugging_syscalls) return ZX_ERR_NOT_SUPPORTED;" —
            // debugging syscalls are off in this kernel.
            ZX_VMO_OP_CACHE_INVALIDATE => Err(ZX_ERR_NOT_SUPPORTED),
            ZX_VMO_OP_ZERO => {
                need(ZX_RIGHT_WRITE)?;
                self.zero_range(offset, len)
            }
            ZX_VMO_OP_DONT_NEED | ZX_VMO_OP_ALWAYS_NEED => {
                // "Ignore hints for non user-pager-backed VMOs."
                if self.is_physical() {
                    Err(ZX_ERR_NOT_SUPPORTED)
                } else {
                    Ok(())
                }
            }
            ZX_VMO_OP_PREFETCH => {
                need(ZX_RIGHT_READ)?;
                self.prefetch(offset, len)
            }
            _ => Err(ZX_ERR_INVALID_ARGS),
        }
    }

    /// Page-rounds `[offset, offset + len)` ("Round offset and len to be page aligned"):
    /// returns the first byte and the end byte, `ZX_ERR_OUT_OF_RANGE` on overflow.
    fn round_out(&self, offset: u64, len: u64) -> Result<(u64, u64), Status> {
        let end = offset.checked_add(len).ok_or(ZX_ERR_OUT_OF_RANGE)?;
        let end_page = end
            .checked_next_multiple_of(self.page_size)
            .ok_or(ZX_ERR_OUT_OF_RANGE)?;
        Ok((offset - offset % self.page_size, end_page))
    }

    fn commit(&self, offset: u64, len: u64) -> Result<(), Status> {
        let VmoBody::Paged {
            store,
            offset: base,
            slice_size,
        } = &self.body
        else {
            return Err(ZX_ERR_NOT_SUPPORTED);
        };
        let (start, end) = self.round_out(offset, len)?;
        let mut inner = store.inner.lock();
        let size = slice_size.unwrap_or(inner.size);
        if end > size {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        if start == end {
            return Ok(());
        }
        let shift = self.page_shift();
        store.commit_locked(&mut inner, (base + start) >> shift, (base + end) >> shift)
    }

    /// The DECOMMIT checks of the reference (2.13) in their order.
    fn decommit(&self, offset: u64, len: u64) -> Result<(), Status> {
        let VmoBody::Paged {
            store,
            offset: base,
            slice_size,
        } = &self.body
        else {
            // "Physical VMO: NOT_SUPPORTED (VmObject default)."
            return Err(ZX_ERR_NOT_SUPPORTED);
        };
        // "Contiguous paged VMO: NOT_SUPPORTED when physical page loaning is disabled".
        if store.contiguous {
            return Err(ZX_ERR_NOT_SUPPORTED);
        }
        // "offset+size overflows: OUT_OF_RANGE."
        let end = offset.checked_add(len).ok_or(ZX_ERR_OUT_OF_RANGE)?;
        let mut inner = store.inner.lock();
        let size = slice_size.unwrap_or(inner.size);
        // "the range must be entirely inside the VMO, else OUT_OF_RANGE".
        if end > size {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        // "Length 0 (in range): OK."
        if len == 0 {
            return Ok(());
        }
        // "VMO has a COW parent, or is pager-backed: NOT_SUPPORTED." A VMO with a live snapshot
        // child has one too: its pages moved to a hidden COW parent at the snapshot.
        if store.cow_clone || inner.cow_children > 0 {
            return Err(ZX_ERR_NOT_SUPPORTED);
        }
        // "offset or size not page-aligned: INVALID_ARGS."
        if !offset.is_multiple_of(self.page_size) || !len.is_multiple_of(self.page_size) {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        let shift = self.page_shift();
        let (first, last) = ((base + offset) >> shift, (base + end) >> shift);
        // "Any pinned page in the range: ZX_ERR_BAD_STATE."
        if store.any_pinned_locked(&inner, first, last) {
            return Err(ZX_ERR_BAD_STATE);
        }
        store.decommit_locked(&mut inner, first, last);
        Ok(())
    }

    fn cache_op(&self, offset: u64, len: u64) -> Result<(), Status> {
        if len == 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        if !in_range(offset, len, self.size()) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        // Host memory is coherent with device DMA here: nothing to clean or invalidate.
        Ok(())
    }

    fn prefetch(&self, offset: u64, len: u64) -> Result<(), Status> {
        if self.is_physical() {
            return if in_range(offset, len, self.size()) {
                Ok(())
            } else {
                Err(ZX_ERR_OUT_OF_RANGE)
            };
        }
        let (_, end) = self.round_out(offset, len)?;
        if end > self.size() {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        Ok(())
    }

    /// `zx_vmo_set_cache_policy` after the MAP right check.
    pub(crate) fn set_cache_policy(&self, policy: u32) -> Result<(), Status> {
        if policy & !ZX_CACHE_POLICY_MASK != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        let mut current = self.cache_policy.lock();
        let has_children = self.tree.num_children(self.koid()) > 0;
        let has_parent = self.tree.parent(self.koid()).is_some();
        match &self.body {
            VmoBody::Physical { .. } => {
                // "Setting the same policy again is always OK."
                if *current == policy {
                    return Ok(());
                }
                // "The cache policy can only change while the VMO has no mappings, children or
                // parent; otherwise BAD_STATE."
                if has_children || has_parent {
                    return Err(ZX_ERR_BAD_STATE);
                }
            }
            VmoBody::Paged { store, .. } => {
                let inner = store.inner.lock();
                // "vmo either has no pages committed currently or is transitioning from being
                // cached", "vmo has no pinned pages", no mappings, no children, not a child.
                if store.committed_pages(&inner) > 0 && *current != ZX_CACHE_POLICY_CACHED {
                    return Err(ZX_ERR_BAD_STATE);
                }
                if store.has_pins(&inner) || has_children || has_parent {
                    return Err(ZX_ERR_BAD_STATE);
                }
            }
        }
        *current = policy;
        Ok(())
    }

    /// Pins `[offset, offset + size)` (page-aligned, `size > 0`), appending the frames to `runs`:
    /// "Paged VMO: offset+size overflow, or range not inside the VMO's current size:
    /// OUT_OF_RANGE. For a slice, the range is checked against the slice size".
    pub(crate) fn pin(
        &self,
        offset: u64,
        size: u64,
        runs: &mut Vec<Run>,
    ) -> Result<PinTarget, Status> {
        match &self.body {
            VmoBody::Paged {
                store,
                offset: base,
                slice_size,
            } => {
                let mut inner = store.inner.lock();
                let vmo_size = slice_size.unwrap_or(inner.size);
                if !in_range(offset, size, vmo_size) {
                    return Err(ZX_ERR_OUT_OF_RANGE);
                }
                let shift = self.page_shift();
                let first = (base + offset) >> shift;
                let end = (base + offset + size) >> shift;
                store.pin_locked(&mut inner, first, end, runs)?;
                Ok(PinTarget::Paged {
                    store: store.clone(),
                    first,
                    end,
                })
            }
            VmoBody::Physical {
                paddr,
                size: vmo_size,
            } => {
                // "Physical VMO: len==0 or offset unaligned gives INVALID_ARGS. Not in range gives
                // OUT_OF_RANGE. Otherwise OK; pinning is a no-op".
                if size == 0 || !offset.is_multiple_of(self.page_size) {
                    return Err(ZX_ERR_INVALID_ARGS);
                }
                if !in_range(offset, size, *vmo_size) {
                    return Err(ZX_ERR_OUT_OF_RANGE);
                }
                runs.push(Run {
                    paddr: paddr + offset,
                    pages: size / self.page_size,
                });
                Ok(PinTarget::Physical)
            }
        }
    }

    /// Validates and builds the body of a `ZX_VMO_CHILD_SLICE` child of this VMO.
    pub(crate) fn slice_body(&self, offset: u64, size: u64) -> Result<VmoBody, Status> {
        // "Offset must be page aligned." "Make sure size is page aligned."
        if !offset.is_multiple_of(self.page_size) || !size.is_multiple_of(self.page_size) {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        if size > max_vmo_size(self.page_size) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        match &self.body {
            VmoBody::Physical { paddr, size: ours } => {
                // "Slice must be wholly contained." (INVALID_ARGS)
                if !in_range(offset, size, *ours) {
                    return Err(ZX_ERR_INVALID_ARGS);
                }
                Ok(VmoBody::Physical {
                    paddr: paddr + offset,
                    size,
                })
            }
            VmoBody::Paged {
                store,
                offset: base,
                slice_size,
            } => {
                let ours = slice_size.unwrap_or_else(|| store.inner.lock().size);
                if !in_range(offset, size, ours) {
                    return Err(ZX_ERR_INVALID_ARGS);
                }
                // "Forbid creating children of resizable VMOs."
                if self.resizable {
                    return Err(ZX_ERR_NOT_SUPPORTED);
                }
                // "We know that we are not contiguous so we should not be uncached either."
                if self.cache_policy() != ZX_CACHE_POLICY_CACHED && !store.contiguous {
                    return Err(ZX_ERR_BAD_STATE);
                }
                Ok(VmoBody::Paged {
                    store: store.clone(),
                    offset: base + offset,
                    slice_size: Some(size),
                })
            }
        }
    }

    /// Validates and builds the body of a snapshot child (`CreateClone`).
    pub(crate) fn snapshot_body(&self, offset: u64, size: u64) -> Result<VmoBody, Status> {
        let VmoBody::Paged {
            store,
            offset: base,
            slice_size,
        } = &self.body
        else {
            // "Snapshot clone: NOT_SUPPORTED (VmoClone2TestCase.NoPhysical)."
            return Err(ZX_ERR_NOT_SUPPORTED);
        };
        // "Copy-on-write clones of contiguous VMOs do not have meaningful semantics".
        if store.contiguous {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        if !offset.is_multiple_of(self.page_size) || !size.is_multiple_of(self.page_size) {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        if size > max_vmo_size(self.page_size) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        // GetCowRange: the range projected onto the store must not overflow.
        let start = base.checked_add(offset).ok_or(ZX_ERR_OUT_OF_RANGE)?;
        start.checked_add(size).ok_or(ZX_ERR_OUT_OF_RANGE)?;
        if self.cache_policy() != ZX_CACHE_POLICY_CACHED {
            return Err(ZX_ERR_BAD_STATE);
        }
        // "If we are a slice we require a unidirection clone" which anonymous VMOs cannot make.
        if slice_size.is_some() {
            return Err(ZX_ERR_NOT_SUPPORTED);
        }
        let mut inner = store.inner.lock();
        // "If this is non-zero, that means that there are pages which hardware can touch, so the
        // vmo can't be safely cloned."
        if store.has_pins(&inner) {
            return Err(ZX_ERR_BAD_STATE);
        }
        let child = store.snapshot_locked(&mut inner, start >> self.page_shift(), size);
        Ok(VmoBody::Paged {
            store: Arc::new(child),
            offset: 0,
            slice_size: None,
        })
    }

    /// The record of `ZX_INFO_VMO` for a handle with `rights`.
    pub(crate) fn info(&self, rights: u32) -> VmoInfo {
        let mut flags = ZX_INFO_VMO_VIA_HANDLE;
        let (mut attribution, mut metadata) = (Attribution::default(), 0);
        match &self.body {
            VmoBody::Paged {
                store, slice_size, ..
            } => {
                flags |= ZX_INFO_VMO_TYPE_PAGED;
                // "A reference never has memory attributed to it" (slices are references).
                if slice_size.is_none() {
                    let inner = store.inner.lock();
                    attribution = store.attribution_locked(&inner);
                    metadata = store.metadata_bytes(&inner);
                }
            }
            VmoBody::Physical { .. } => flags |= ZX_INFO_VMO_TYPE_PHYSICAL,
        }
        if self.resizable {
            flags |= ZX_INFO_VMO_RESIZABLE;
        }
        if self.is_contiguous() {
            flags |= ZX_INFO_VMO_CONTIGUOUS;
        }
        if self.child_kind == ChildKind::Snapshot {
            flags |= ZX_INFO_VMO_IS_COW_CLONE;
        }
        if self.immutable {
            flags |= ZX_INFO_VMO_IMMUTABLE;
        }
        VmoInfo {
            koid: self.koid(),
            name: self.header.name.lock().padded(),
            size_bytes: self.size(),
            parent_koid: self.tree.parent(self.koid()).unwrap_or(ZX_KOID_INVALID),
            num_children: self.tree.num_children(self.koid()) as u64,
            flags,
            attribution,
            handle_rights: rights,
            cache_policy: self.cache_policy(),
            metadata_bytes: metadata,
        }
    }
}

impl Drop for Vmo {
    fn drop(&mut self) {
        self.tree.remove(self.koid());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(max_vmo_size(4096), 0xffff_ffff_fffe_0000);
        assert_eq!(round_size(1, 4096), Ok(4096));
        assert_eq!(round_size(0, 4096), Ok(0));
        assert_eq!(round_size(u64::MAX, 4096), Err(ZX_ERR_OUT_OF_RANGE));
        assert_eq!(
            round_size(0xffff_ffff_fffe_0000, 4096),
            Ok(0xffff_ffff_fffe_0000)
        );
        assert_eq!(
            round_size(0xffff_ffff_fffe_0001, 4096),
            Err(ZX_ERR_OUT_OF_RANGE)
        );
        assert!(in_range(0, 0, 0));
        assert!(!in_range(1, 0, 0));
        assert!(!in_range(u64::MAX, 2, u64::MAX));
    }

    #[test]
    fn tree_rehomes_grandchildren() {
        let t = VmoTree::default();
        let sig = |v| Arc::new(SignalState::new(v));
        let p = sig(ZX_VMO_ZERO_CHILDREN);
        t.add(1, None, p.clone());
        t.add(2, Some(1), sig(ZX_VMO_ZERO_CHILDREN));
        t.add(3, Some(2), sig(ZX_VMO_ZERO_CHILDREN));
        assert_eq!(p.get() & ZX_VMO_ZERO_CHILDREN, 0);
        t.remove(2);
        assert_eq!(t.parent(3), Some(1));
        assert_eq!(t.num_children(1), 1);
        assert_eq!(p.get() & ZX_VMO_ZERO_CHILDREN, 0);
        t.remove(3);
        assert_eq!(p.get() & ZX_VMO_ZERO_CHILDREN, ZX_VMO_ZERO_CHILDREN);
    }
}
