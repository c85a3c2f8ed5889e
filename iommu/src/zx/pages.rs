//! Page lists of paged VMOs: which frame backs each page, its pin count and whether the frame is
//! shared copy-on-write with a snapshot relative.
//!
//! A page list is a sparse map of chunks of 512 flat `u64` entries (8 bytes per page; no per-page
//! allocation, no hashing). Each entry packs:
//! * bits 0..=4: the pin count (0..=31, `VM_PAGE_OBJECT_MAX_PIN_COUNT`);
//! * bit 5 (`SHARED`): the frame may be shared with another page list (snapshots);
//! * bit 6 (`PRESENT`): the page is committed;
//! * bits 12..: the frame's physical address (frames are page-aligned, pages are >= 4 KiB).
//!
//! An uncommitted page reads as zero. A snapshot child copies its parent's entries and marks the
//! frames `SHARED` on both sides; the [`ShareTable`] counts holders of each shared frame. Writing
//! or pinning a shared page first gives it a private copy ("a pin forks the pages").

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::constants::*;
use super::physmem::PhysicalMemory;
use super::{Paddr, Status};

pub(crate) const PIN_MASK: u64 = 0x1f;
pub(crate) const SHARED: u64 = 1 << 5;
pub(crate) const PRESENT: u64 = 1 << 6;
pub(crate) const FRAME_MASK: u64 = !0xfff;

const CHUNK_SHIFT: u32 = 9;
const CHUNK_PAGES: u64 = 1 << CHUNK_SHIFT;

type Chunk = Box<[u64; CHUNK_PAGES as usize]>;

/// Sparse, chunked page list.
#[derive(Debug, Default)]
pub(crate) struct PageList {
    chunks: BTreeMap<u64, Chunk>,
}

impl PageList {
    pub(crate) fn get(&self, idx: u64) -> u64 {
        self.chunks
            .get(&(idx >> CHUNK_SHIFT))
            .map_or(0, |c| c[(idx & (CHUNK_PAGES - 1)) as usize])
    }

    pub(crate) fn slot(&mut self, idx: u64) -> &mut u64 {
        let chunk = self
            .chunks
            .entry(idx >> CHUNK_SHIFT)
            .or_insert_with(|| Box::new([0; CHUNK_PAGES as usize]));
        &mut chunk[(idx & (CHUNK_PAGES - 1)) as usize]
    }

    /// Calls `f(index, &mut entry)` for every page in `[start, end)`, creating chunks on the way
    /// when `create`, else skipping pages whose chunk does not exist. Stops at the first error and
    /// returns the index it failed at.
    pub(crate) fn visit_mut(
        &mut self,
        start: u64,
        end: u64,
        create: bool,
        mut f: impl FnMut(u64, &mut u64) -> Result<(), Status>,
    ) -> Result<(), (u64, Status)> {
        if start >= end {
            return Ok(());
        }
        if create {
            let mut idx = start;
            while idx < end {
                let ci = idx >> CHUNK_SHIFT;
                let chunk_end = ((ci + 1) << CHUNK_SHIFT).min(end);
                let chunk = self
                    .chunks
                    .entry(ci)
                    .or_insert_with(|| Box::new([0; CHUNK_PAGES as usize]));
                let base = ci << CHUNK_SHIFT;
                let slice = &mut chunk[(idx - base) as usize..(chunk_end - base) as usize];
                for (i, e) in slice.iter_mut().enumerate() {
                    let at = idx + i as u64;
                    f(at, e).map_err(|s| (at, s))?;
                }
                idx = chunk_end;
            }
        } else {
            let first_chunk = start >> CHUNK_SHIFT;
            let last_chunk = (end - 1) >> CHUNK_SHIFT;
            for (&ci, chunk) in self.chunks.range_mut(first_chunk..=last_chunk) {
                let base = ci << CHUNK_SHIFT;
                let from = start.max(base);
                let to = end.min(base + CHUNK_PAGES);
                let slice = &mut chunk[(from - base) as usize..(to - base) as usize];
                for (i, e) in slice.iter_mut().enumerate() {
                    let at = from + i as u64;
                    f(at, e).map_err(|s| (at, s))?;
                }
            }
        }
        Ok(())
    }

    /// Calls `f(index, entry)` for every non-zero entry in `[start, end)`.
    pub(crate) fn visit(&self, start: u64, end: u64, mut f: impl FnMut(u64, u64)) {
        if start >= end {
            return;
        }
        let first_chunk = start >> CHUNK_SHIFT;
        let last_chunk = (end - 1) >> CHUNK_SHIFT;
        for (&ci, chunk) in self.chunks.range(first_chunk..=last_chunk) {
            let base = ci << CHUNK_SHIFT;
            let from = start.max(base);
            let to = end.min(base + CHUNK_PAGES);
            for (i, &e) in chunk[(from - base) as usize..(to - base) as usize]
                .iter()
                .enumerate()
            {
                if e != 0 {
                    f(from + i as u64, e);
                }
            }
        }
    }

    /// Drops chunks in `[start, end)` whose entries are all zero.
    pub(crate) fn prune(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let first_chunk = start >> CHUNK_SHIFT;
        let last_chunk = (end - 1) >> CHUNK_SHIFT;
        let empty: Vec<u64> = self
            .chunks
            .range(first_chunk..=last_chunk)
            .filter(|(_, c)| c.iter().all(|&e| e == 0))
            .map(|(&ci, _)| ci)
            .collect();
        for ci in empty {
            self.chunks.remove(&ci);
        }
    }

    /// Heap bytes used by the list (for `metadata_bytes`).
    pub(crate) fn heap_bytes(&self) -> u64 {
        self.chunks.len() as u64 * (CHUNK_PAGES * 8 + 16)
    }
}

/// Holders of frames shared between snapshot relatives: an entry exists only while at least
/// two page lists hold the frame.
#[derive(Debug, Default)]
pub(crate) struct ShareTable {
    holders: Mutex<HashMap<Paddr, u32>>,
}

impl ShareTable {
    /// One more page list now holds `frame`.
    fn add_holder(&self, frame: Paddr) {
        let mut h = self.holders.lock();
        let c = h.entry(frame).or_insert(1);
        *c = c.saturating_add(1);
    }

    /// Whether some other page list also holds `frame`.
    fn is_shared(&self, frame: Paddr) -> bool {
        self.holders.lock().contains_key(&frame)
    }

    /// The caller stops holding `frame`. Returns true if other holders remain (do not free).
    fn release(&self, frame: Paddr) -> bool {
        let mut h = self.holders.lock();
        match h.get_mut(&frame) {
            Some(c) => {
                *c -= 1;
                if *c <= 1 {
                    h.remove(&frame);
                }
                true
            }
            None => false,
        }
    }

    /// How many page lists hold `frame` (1 if it is not shared).
    fn holders(&self, frame: Paddr) -> u32 {
        self.holders.lock().get(&frame).copied().unwrap_or(1)
    }
}

/// What a page store needs from its kernel.
#[derive(Clone, Debug)]
pub(crate) struct MemCtx {
    pub(crate) mem: Arc<dyn PhysicalMemory>,
    pub(crate) shares: Arc<ShareTable>,
    pub(crate) page_size: u64,
    pub(crate) page_shift: u32,
}

/// A physically contiguous run of pinned frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) paddr: Paddr,
    pub(crate) pages: u64,
}

pub(crate) fn push_run(runs: &mut Vec<Run>, paddr: Paddr, page_size: u64) {
    if let Some(last) = runs.last_mut()
        && last.paddr.wrapping_add(last.pages * page_size) == paddr
    {
        last.pages += 1;
        return;
    }
    runs.push(Run { paddr, pages: 1 });
}

/// Frames taken from the allocator a run at a time; what is not used goes back on drop.
struct FrameSource<'a> {
    ctx: &'a MemCtx,
    next: Paddr,
    left: u64,
}

impl<'a> FrameSource<'a> {
    fn new(ctx: &'a MemCtx) -> Self {
        FrameSource {
            ctx,
            next: 0,
            left: 0,
        }
    }

    fn take(&mut self, wanted_hint: u64) -> Result<Paddr, Status> {
        if self.left == 0 {
            let (p, n) = self.ctx.mem.alloc_run(wanted_hint.max(1))?;
            self.next = p;
            self.left = n;
        }
        let p = self.next;
        self.next = self.next.wrapping_add(self.ctx.page_size);
        self.left -= 1;
        Ok(p)
    }
}

impl Drop for FrameSource<'_> {
    fn drop(&mut self) {
        while self.left > 0 {
            self.ctx.mem.free_page(self.next);
            self.next = self.next.wrapping_add(self.ctx.page_size);
            self.left -= 1;
        }
    }
}

/// Memory attribution of a page list (ZX_INFO_VMO committed/private/scaled bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attribution {
    pub(crate) committed_bytes: u64,
    pub(crate) private_bytes: u64,
    pub(crate) scaled_bytes: u64,
    /// Fixed point with 63 fractional bits: 0x8000_0000_0000_0000 is one byte.
    pub(crate) scaled_fraction: u64,
}

/// The mutable state of a page store.
#[derive(Debug)]
pub(crate) struct StoreInner {
    /// Bytes, page-aligned.
    pub(crate) size: u64,
    pages: PageList,
    pinned_pages: u64,
    committed_pages: u64,
    /// Live snapshot children made from this store.
    pub(crate) cow_children: u32,
}

/// The pages of a paged VMO (shared by the VMO and its slices).
#[derive(Debug)]
pub(crate) struct PageStore {
    pub(crate) ctx: MemCtx,
    /// Allocated by `zx_vmo_create_contiguous`: physically contiguous, always committed.
    pub(crate) contiguous: bool,
    /// A snapshot child (has a copy-on-write parent).
    pub(crate) cow_clone: bool,
    cow_parent: Option<Weak<PageStore>>,
    pub(crate) inner: Mutex<StoreInner>,
}

impl PageStore {
    pub(crate) fn new_paged(ctx: &MemCtx, size: u64) -> PageStore {
        PageStore {
            ctx: ctx.clone(),
            contiguous: false,
            cow_clone: false,
            cow_parent: None,
            inner: Mutex::new(StoreInner {
                size,
                pages: PageList::default(),
                pinned_pages: 0,
                committed_pages: 0,
                cow_children: 0,
            }),
        }
    }

    /// A physically contiguous, fully committed store of `size` bytes (page-aligned, non-zero).
    pub(crate) fn new_contiguous(
        ctx: &MemCtx,
        size: u64,
        alignment_log2: u32,
    ) -> Result<PageStore, Status> {
        let pages = size >> ctx.page_shift;
        let base = ctx.mem.alloc_contiguous(pages, alignment_log2)?;
        let mut list = PageList::default();
        let _ = list.visit_mut(0, pages, true, |i, e| {
            *e = (base + (i << ctx.page_shift)) | PRESENT;
            Ok(())
        });
        Ok(PageStore {
            ctx: ctx.clone(),
            contiguous: true,
            cow_clone: false,
            cow_parent: None,
            inner: Mutex::new(StoreInner {
                size,
                pages: list,
                pinned_pages: 0,
                committed_pages: pages,
                cow_children: 0,
            }),
        })
    }

    fn pages_of(&self, bytes: u64) -> u64 {
        bytes >> self.ctx.page_shift
    }

    /// Stops holding the frame of `entry` (frees it unless a snapshot relative still holds it).
    fn release_entry(&self, entry: u64) {
        if entry & PRESENT == 0 {
            return;
        }
        let frame = entry & FRAME_MASK;
        if entry & SHARED != 0 && self.ctx.shares.release(frame) {
            return;
        }
        self.ctx.mem.free_page(frame);
    }

    /// Makes `entry` present and not shared, allocating or copying a frame as needed.
    fn make_private(
        &self,
        entry: &mut u64,
        src: &mut FrameSource<'_>,
        hint: u64,
    ) -> Result<bool, Status> {
        let mut allocated = false;
        if *entry & PRESENT == 0 {
            *entry = src.take(hint)? | PRESENT | (*entry & PIN_MASK);
            allocated = true;
        } else if *entry & SHARED != 0 {
            let old = *entry & FRAME_MASK;
            if self.ctx.shares.is_shared(old) {
                let new = src.take(1)?;
                if let Err(s) = self.ctx.mem.copy_page(new, old) {
                    self.ctx.mem.free_page(new);
                    return Err(s);
                }
                if !self.ctx.shares.release(old) {
                    // Every other holder let go while we copied: the old frame is ours to free.
                    self.ctx.mem.free_page(old);
                }
                *entry = new | PRESENT | (*entry & PIN_MASK);
            } else {
                *entry &= !SHARED;
            }
        }
        Ok(allocated)
    }

    /// Commits every page of `[first, end)` (page indices); already committed pages are kept.
    pub(crate) fn commit_locked(
        &self,
        inner: &mut StoreInner,
        first: u64,
        end: u64,
    ) -> Result<(), Status> {
        let mut src = FrameSource::new(&self.ctx);
        let mut added = 0u64;
        let res = inner.pages.visit_mut(first, end, true, |i, e| {
            if *e & PRESENT == 0 {
                *e = src.take(end - i)? | PRESENT;
                added += 1;
            }
            Ok(())
        });
        inner.committed_pages += added;
        res.map_err(|(_, s)| s)
    }

    /// Commits, forks and pins every page of `[first, end)`, appending the pinned frames to `runs`.
    /// "Saturation (31) gives UNAVAILABLE. Out of memory gives NO_MEMORY. Any partial pin is
    /// rolled back on error."
    pub(crate) fn pin_locked(
        &self,
        inner: &mut StoreInner,
        first: u64,
        end: u64,
        runs: &mut Vec<Run>,
    ) -> Result<(), Status> {
        let ps = self.ctx.page_size;
        let mut src = FrameSource::new(&self.ctx);
        let mut added = 0u64;
        let mut newly_pinned = 0u64;
        let res = inner.pages.visit_mut(first, end, true, |i, e| {
            let cur = *e;
            if cur & (PRESENT | SHARED) != PRESENT && self.make_private(e, &mut src, end - i)? {
                added += 1;
            }
            let pins = *e & PIN_MASK;
            if pins >= MAX_PIN_COUNT {
                return Err(ZX_ERR_UNAVAILABLE);
            }
            if pins == 0 {
                newly_pinned += 1;
            }
            *e += 1;
            push_run(runs, *e & FRAME_MASK, ps);
            Ok(())
        });
        inner.committed_pages += added;
        inner.pinned_pages += newly_pinned;
        match res {
            Ok(()) => Ok(()),
            Err((failed_at, status)) => {
                self.unpin_locked(inner, first, failed_at);
                Err(status)
            }
        }
    }

    /// Drops one pin of every page of `[first, end)`.
    pub(crate) fn unpin_locked(&self, inner: &mut StoreInner, first: u64, end: u64) {
        let mut unpinned = 0u64;
        let mut missing = 0u64;
        let mut seen = 0u64;
        let _ = inner.pages.visit_mut(first, end, false, |_, e| {
            seen += 1;
            if *e & PIN_MASK == 0 {
                missing += 1;
            } else {
                *e -= 1;
                if *e & PIN_MASK == 0 {
                    unpinned += 1;
                }
            }
            Ok(())
        });
        if missing > 0 || seen != end.saturating_sub(first) {
            log::error!(
                "zx: unpin of {} pages found {missing} unpinned",
                end.saturating_sub(first)
            );
        }
        inner.pinned_pages = inner.pinned_pages.saturating_sub(unpinned);
    }

    pub(crate) fn any_pinned_locked(&self, inner: &StoreInner, first: u64, end: u64) -> bool {
        if inner.pinned_pages == 0 {
            return false;
        }
        let mut found = false;
        inner
            .pages
            .visit(first, end, |_, e| found |= e & PIN_MASK != 0);
        found
    }

    pub(crate) fn has_pins(&self, inner: &StoreInner) -> bool {
        inner.pinned_pages > 0
    }

    pub(crate) fn committed_pages(&self, inner: &StoreInner) -> u64 {
        inner.committed_pages
    }

    /// Frees every page of `[first, end)` (none may be pinned).
    pub(crate) fn decommit_locked(&self, inner: &mut StoreInner, first: u64, end: u64) {
        let mut removed = 0u64;
        let _ = inner.pages.visit_mut(first, end, false, |_, e| {
            if *e & PRESENT != 0 {
                self.release_entry(*e);
                removed += 1;
            }
            *e = 0;
            Ok(())
        });
        inner.committed_pages = inner.committed_pages.saturating_sub(removed);
        inner.pages.prune(first, end);
    }

    /// Makes `[offset, offset + len)` (bytes, inside the store) read as zero: whole unpinned pages
    /// are decommitted (contiguous stores keep theirs), everything else is zeroed in place.
    pub(crate) fn zero_locked(
        &self,
        inner: &mut StoreInner,
        offset: u64,
        len: u64,
    ) -> Result<(), Status> {
        if len == 0 {
            return Ok(());
        }
        let ps = self.ctx.page_size;
        let end = offset + len;
        let first_full = offset.next_multiple_of(ps);
        let end_full = end - end % ps;
        // Partial head and tail pages.
        let mut partials = Vec::with_capacity(2);
        if first_full > end_full {
            partials.push((offset, end));
        } else {
            if offset < first_full {
                partials.push((offset, first_full));
            }
            if end_full < end {
                partials.push((end_full, end));
            }
        }
        for (from, to) in partials {
            let idx = from >> self.ctx.page_shift;
            let cur = inner.pages.get(idx);
            if cur & PRESENT == 0 {
                continue;
            }
            let mut src = FrameSource::new(&self.ctx);
            let slot = inner.pages.slot(idx);
            self.make_private(slot, &mut src, 1)?;
            let frame = *slot & FRAME_MASK;
            self.ctx.mem.zero(frame + (from & (ps - 1)), to - from)?;
        }
        if first_full < end_full {
            let (a, b) = (self.pages_of(first_full), self.pages_of(end_full));
            let contiguous = self.contiguous;
            let mut removed = 0u64;
            let res = inner.pages.visit_mut(a, b, false, |_, e| {
                if *e & PRESENT == 0 {
                    return Ok(());
                }
                if contiguous || *e & PIN_MASK != 0 {
                    // Pinned pages are never shared.
                    self.ctx.mem.zero(*e & FRAME_MASK, ps)
                } else {
                    self.release_entry(*e);
                    *e = 0;
                    removed += 1;
                    Ok(())
                }
            });
            inner.committed_pages = inner.committed_pages.saturating_sub(removed);
            inner.pages.prune(a, b);
            res.map_err(|(_, s)| s)?;
        }
        Ok(())
    }

    /// Reads bytes at `offset` (inside the store); uncommitted pages read as zero.
    pub(crate) fn read_locked(
        &self,
        inner: &StoreInner,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), Status> {
        let ps = self.ctx.page_size;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let in_page = at & (ps - 1);
            let n = ((ps - in_page) as usize).min(buf.len() - done);
            let e = inner.pages.get(at >> self.ctx.page_shift);
            let dst = &mut buf[done..done + n];
            if e & PRESENT != 0 {
                self.ctx.mem.read((e & FRAME_MASK) + in_page, dst)?;
            } else {
                dst.fill(0);
            }
            done += n;
        }
        Ok(())
    }

    /// Writes bytes at `offset` (inside the store), committing and forking pages as needed.
    pub(crate) fn write_locked(
        &self,
        inner: &mut StoreInner,
        offset: u64,
        data: &[u8],
    ) -> Result<(), Status> {
        let ps = self.ctx.page_size;
        let mut done = 0usize;
        let mut src = FrameSource::new(&self.ctx);
        while done < data.len() {
            let at = offset + done as u64;
            let in_page = at & (ps - 1);
            let n = ((ps - in_page) as usize).min(data.len() - done);
            let remaining_pages = ((data.len() - done) as u64).div_ceil(ps);
            let slot = inner.pages.slot(at >> self.ctx.page_shift);
            if self.make_private(slot, &mut src, remaining_pages)? {
                inner.committed_pages += 1;
            }
            let frame = *slot & FRAME_MASK;
            self.ctx.mem.write(frame + in_page, &data[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    /// Changes the size; "Shrinking across any pinned page: ZX_ERR_BAD_STATE".
    pub(crate) fn resize_locked(
        &self,
        inner: &mut StoreInner,
        new_size: u64,
    ) -> Result<(), Status> {
        let old_pages = self.pages_of(inner.size);
        let new_pages = self.pages_of(new_size);
        if new_pages < old_pages {
            if self.any_pinned_locked(inner, new_pages, old_pages) {
                return Err(ZX_ERR_BAD_STATE);
            }
            self.decommit_locked(inner, new_pages, old_pages);
        }
        inner.size = new_size;
        Ok(())
    }

    /// A snapshot of `[first, first + pages)` of this store as a new store of `child_size` bytes:
    /// committed frames become shared copy-on-write; pages past this store's end read as zero.
    pub(crate) fn snapshot_locked(
        self: &Arc<Self>,
        inner: &mut StoreInner,
        first: u64,
        child_size: u64,
    ) -> PageStore {
        let child_pages = self.pages_of(child_size);
        let parent_pages = self.pages_of(inner.size);
        let end = first.saturating_add(child_pages).min(parent_pages);
        let mut child_list = PageList::default();
        let mut committed = 0u64;
        let shares = &self.ctx.shares;
        let _ = inner.pages.visit_mut(first, end, false, |i, e| {
            if *e & PRESENT != 0 {
                shares.add_holder(*e & FRAME_MASK);
                *e |= SHARED;
                *child_list.slot(i - first) = (*e & FRAME_MASK) | PRESENT | SHARED;
                committed += 1;
            }
            Ok(())
        });
        inner.cow_children += 1;
        PageStore {
            ctx: self.ctx.clone(),
            contiguous: false,
            cow_clone: true,
            cow_parent: Some(Arc::downgrade(self)),
            inner: Mutex::new(StoreInner {
                size: child_size,
                pages: child_list,
                pinned_pages: 0,
                committed_pages: committed,
                cow_children: 0,
            }),
        }
    }

    pub(crate) fn attribution_locked(&self, inner: &StoreInner) -> Attribution {
        let ps = self.ctx.page_size;
        let mut a = Attribution::default();
        let mut frac: u128 = 0;
        let one: u128 = 1 << 63;
        let size_pages = self.pages_of(inner.size);
        inner.pages.visit(0, size_pages, |_, e| {
            if e & PRESENT == 0 {
                return;
            }
            a.committed_bytes += ps;
            let holders = if e & SHARED != 0 {
                self.ctx.shares.holders(e & FRAME_MASK)
            } else {
                1
            };
            if holders <= 1 {
                a.private_bytes += ps;
                a.scaled_bytes += ps;
            } else {
                let h = u64::from(holders);
                a.scaled_bytes += ps / h;
                frac += (u128::from(ps % h) * one) / u128::from(h);
            }
        });
        a.scaled_bytes += (frac / one) as u64;
        a.scaled_fraction = (frac % one) as u64;
        a
    }

    pub(crate) fn metadata_bytes(&self, inner: &StoreInner) -> u64 {
        inner.pages.heap_bytes()
    }
}

impl Drop for PageStore {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        let mut entries = Vec::new();
        inner.pages.visit(0, u64::MAX, |_, e| entries.push(e));
        for e in entries {
            if e & PIN_MASK != 0 && !self.contiguous {
                log::error!("zx: page store dropped with a pinned page");
            }
            self.release_entry(e);
        }
        if let Some(parent) = self.cow_parent.as_ref().and_then(Weak::upgrade) {
            let mut p = parent.inner.lock();
            p.cow_children = p.cow_children.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zx::physmem::LazyMemory;

    fn ctx(pages: u64) -> MemCtx {
        let mem = LazyMemory::new(4096, &[0x10_0000..0x10_0000 + pages * 4096]).unwrap();
        MemCtx {
            mem: Arc::new(mem),
            shares: Arc::new(ShareTable::default()),
            page_size: 4096,
            page_shift: 12,
        }
    }

    #[test]
    fn pin_commits_and_saturates_at_31() {
        let c = ctx(16);
        let s = PageStore::new_paged(&c, 4 * 4096);
        let mut g = s.inner.lock();
        let mut runs = Vec::new();
        for _ in 0..31 {
            runs.clear();
            s.pin_locked(&mut g, 0, 2, &mut runs).unwrap();
        }
        assert_eq!(
            runs,
            vec![Run {
                paddr: 0x10_0000,
                pages: 2
            }]
        );
        assert_eq!(s.committed_pages(&g), 2);
        // Page 1 is full; a pin of pages 2..=1 rolls back the pin it took on page 2? No: order is
        // page 1 first, so nothing is pinned on failure.
        assert_eq!(
            s.pin_locked(&mut g, 1, 3, &mut runs),
            Err(ZX_ERR_UNAVAILABLE)
        );
        assert!(!s.any_pinned_locked(&g, 2, 4));
        // A pin starting on a free page fails on page... only when it reaches a full one.
        assert_eq!(s.pin_locked(&mut g, 2, 4, &mut Vec::new()), Ok(()));
        s.unpin_locked(&mut g, 2, 4);
        for _ in 0..31 {
            s.unpin_locked(&mut g, 0, 2);
        }
        assert!(!s.has_pins(&g));
        s.decommit_locked(&mut g, 0, 4);
        assert_eq!(s.committed_pages(&g), 0);
        assert_eq!(c.mem.free_pages(), 16);
    }

    #[test]
    fn pin_rolls_back_on_no_memory() {
        let c = ctx(2);
        let s = PageStore::new_paged(&c, 4 * 4096);
        let mut g = s.inner.lock();
        assert_eq!(
            s.pin_locked(&mut g, 0, 4, &mut Vec::new()),
            Err(ZX_ERR_NO_MEMORY)
        );
        assert!(!s.has_pins(&g));
    }

    #[test]
    fn snapshot_shares_until_written_or_pinned() {
        let c = ctx(16);
        let parent = Arc::new(PageStore::new_paged(&c, 2 * 4096));
        {
            let mut g = parent.inner.lock();
            parent.write_locked(&mut g, 0, b"parent").unwrap();
        }
        let child = {
            let mut g = parent.inner.lock();
            Arc::new(parent.snapshot_locked(&mut g, 0, 3 * 4096))
        };
        assert_eq!(c.mem.free_pages(), 15);
        let mut buf = [0u8; 6];
        child.read_locked(&child.inner.lock(), 0, &mut buf).unwrap();
        assert_eq!(&buf, b"parent");
        {
            let mut g = parent.inner.lock();
            parent.write_locked(&mut g, 0, b"PARENT").unwrap();
            let a = parent.attribution_locked(&g);
            assert_eq!(a.private_bytes, 4096);
        }
        child.read_locked(&child.inner.lock(), 0, &mut buf).unwrap();
        assert_eq!(&buf, b"parent");
        assert_eq!(c.mem.free_pages(), 14);
        {
            let mut g = child.inner.lock();
            let mut runs = Vec::new();
            child.pin_locked(&mut g, 0, 1, &mut runs).unwrap();
            child.unpin_locked(&mut g, 0, 1);
        }
        assert_eq!(parent.inner.lock().cow_children, 1);
        drop(child);
        assert_eq!(parent.inner.lock().cow_children, 0);
        drop(parent);
        assert_eq!(c.mem.free_pages(), 16);
    }

    #[test]
    fn shared_frame_scaled_attribution() {
        let c = ctx(16);
        let parent = Arc::new(PageStore::new_paged(&c, 4096));
        parent
            .write_locked(&mut parent.inner.lock(), 0, b"x")
            .unwrap();
        let child = parent.snapshot_locked(&mut parent.inner.lock(), 0, 4096);
        let a = child.attribution_locked(&child.inner.lock());
        assert_eq!(a.committed_bytes, 4096);
        assert_eq!(a.private_bytes, 0);
        assert_eq!(a.scaled_bytes, 2048);
        assert_eq!(a.scaled_fraction, 0);
    }

    #[test]
    fn zero_range_partial_and_full() {
        let c = ctx(16);
        let s = PageStore::new_paged(&c, 3 * 4096);
        let mut g = s.inner.lock();
        s.write_locked(&mut g, 0, &[7u8; 3 * 4096]).unwrap();
        s.pin_locked(&mut g, 1, 2, &mut Vec::new()).unwrap();
        s.zero_locked(&mut g, 100, 3 * 4096 - 200).unwrap();
        let mut buf = vec![0u8; 3 * 4096];
        s.read_locked(&g, 0, &mut buf).unwrap();
        assert!(buf[..100].iter().all(|&b| b == 7));
        assert!(buf[100..3 * 4096 - 100].iter().all(|&b| b == 0));
        assert!(buf[3 * 4096 - 100..].iter().all(|&b| b == 7));
        // The pinned middle page stays committed.
        assert_eq!(s.committed_pages(&g), 3);
        s.unpin_locked(&mut g, 1, 2);
        s.zero_locked(&mut g, 4096, 4096).unwrap();
        assert_eq!(s.committed_pages(&g), 2);
    }

    #[test]
    fn resize_refuses_to_drop_pinned_pages() {
        let c = ctx(16);
        let s = PageStore::new_paged(&c, 4 * 4096);
        let mut g = s.inner.lock();
        s.pin_locked(&mut g, 3, 4, &mut Vec::new()).unwrap();
        assert_eq!(s.resize_locked(&mut g, 3 * 4096), Err(ZX_ERR_BAD_STATE));
        assert_eq!(s.resize_locked(&mut g, 8 * 4096), Ok(()));
        s.unpin_locked(&mut g, 3, 4);
        assert_eq!(s.resize_locked(&mut g, 0), Ok(()));
        assert_eq!(s.committed_pages(&g), 0);
    }

    #[test]
    fn contiguous_store_is_committed_and_contiguous() {
        let c = ctx(16);
        let s = PageStore::new_contiguous(&c, 4 * 4096, 14).unwrap();
        let mut g = s.inner.lock();
        let mut runs = Vec::new();
        s.pin_locked(&mut g, 0, 4, &mut runs).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].paddr % (1 << 14), 0);
        s.unpin_locked(&mut g, 0, 4);
        drop(g);
        drop(s);
        assert_eq!(c.mem.free_pages(), 16);
    }
}
