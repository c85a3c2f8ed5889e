//! The physical memory behind a [`Kernel`](super::Kernel): a trait so the VMM can plug guest RAM
//! in, and [`LazyMemory`], a store for standalone use in which untouched pages cost no host memory.
//!
//! `LazyMemory` keeps two structures:
//! * a frame allocator over the configured RAM ranges: a map of free extents (start -> end), so
//!   its size depends on fragmentation, never on how much RAM the ranges describe;
//! * a sparse map from frame number to page contents, holding only pages that were written with
//!   non-zero data. Reading any other page of RAM returns zeros.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Range;

use parking_lot::Mutex;

use super::constants::*;
use super::{Paddr, Status};

/// Physical memory a kernel allocates VMO pages from and reads/writes on their behalf.
///
/// Every method may be called from many threads at once. Frames handed out by the allocation
/// methods read as zero. Addresses passed to `free_page` must be frames this memory handed out.
pub trait PhysicalMemory: Send + Sync + fmt::Debug {
    /// Size of a frame in bytes (a power of two, at least 4096).
    fn page_size(&self) -> u64;

    /// Allocates one zero-filled frame. `ZX_ERR_NO_MEMORY` when none is left.
    fn alloc_page(&self) -> Result<Paddr, Status>;

    /// Allocates a physically contiguous run of 1 to `max_pages` zero-filled frames (as many as
    /// are conveniently available at once) and returns its start and its length in pages.
    /// `ZX_ERR_NO_MEMORY` when no frame is left.
    fn alloc_run(&self, max_pages: u64) -> Result<(Paddr, u64), Status> {
        let _ = max_pages;
        self.alloc_page().map(|p| (p, 1))
    }

    /// Allocates `pages` physically contiguous zero-filled frames whose first address is a
    /// multiple of `1 << alignment_log2`. `ZX_ERR_NO_MEMORY` when no such run exists.
    fn alloc_contiguous(&self, pages: u64, alignment_log2: u32) -> Result<Paddr, Status>;

    /// Returns a frame to the allocator; its contents are forgotten.
    fn free_page(&self, paddr: Paddr);

    /// Reads `buf.len()` bytes at `paddr`. `ZX_ERR_OUT_OF_RANGE` if any byte is outside RAM.
    fn read(&self, paddr: Paddr, buf: &mut [u8]) -> Result<(), Status>;

    /// Writes `data` at `paddr`. `ZX_ERR_OUT_OF_RANGE` if any byte is outside RAM.
    fn write(&self, paddr: Paddr, data: &[u8]) -> Result<(), Status>;

    /// Sets `len` bytes at `paddr` to zero. `ZX_ERR_OUT_OF_RANGE` if any byte is outside RAM.
    fn zero(&self, paddr: Paddr, len: u64) -> Result<(), Status>;

    /// Copies one whole frame.
    fn copy_page(&self, dst: Paddr, src: Paddr) -> Result<(), Status> {
        let len = usize::try_from(self.page_size()).map_err(|_| ZX_ERR_NO_MEMORY)?;
        let mut buf = vec![0u8; len];
        self.read(src, &mut buf)?;
        self.write(dst, &buf)
    }

    /// Frames in the pool.
    fn total_pages(&self) -> u64;

    /// Frames not allocated.
    fn free_pages(&self) -> u64;
}

/// Free extents of a frame pool: `start -> end` (exclusive), disjoint, never adjacent.
#[derive(Debug, Default)]
struct ExtentSet {
    free: BTreeMap<u64, u64>,
    free_pages: u64,
}

impl ExtentSet {
    fn insert_range(&mut self, start: u64, end: u64, page_size: u64) -> bool {
        if start >= end {
            return true;
        }
        // Reject anything overlapping a free extent (a double free).
        if let Some((_, &pe)) = self.free.range(..end).next_back()
            && pe > start
        {
            return false;
        }
        let mut new_start = start;
        let mut new_end = end;
        if let Some((&ps, &pe)) = self.free.range(..start).next_back()
            && pe == start
        {
            new_start = ps;
            self.free.remove(&ps);
        }
        if let Some(&ne) = self.free.get(&end) {
            new_end = ne;
            self.free.remove(&end);
        }
        self.free.insert(new_start, new_end);
        self.free_pages += (end - start) / page_size;
        true
    }

    /// Takes up to `max_pages` frames from the lowest free extent.
    fn take_run(&mut self, max_pages: u64, page_size: u64) -> Option<(u64, u64)> {
        let (start, end) = self.free.pop_first()?;
        let avail = (end - start) / page_size;
        let n = avail.min(max_pages.max(1));
        let split = start + n * page_size;
        if split < end {
            self.free.insert(split, end);
        }
        self.free_pages -= n;
        Some((start, n))
    }

    fn take_aligned(&mut self, pages: u64, align: u64, page_size: u64) -> Option<u64> {
        let bytes = pages.checked_mul(page_size)?;
        let mut found = None;
        for (&s, &e) in &self.free {
            let Some(aligned) = s.checked_next_multiple_of(align) else {
                continue;
            };
            if let Some(run_end) = aligned.checked_add(bytes)
                && run_end <= e
            {
                found = Some((s, e, aligned, run_end));
                break;
            }
        }
        let (s, e, aligned, run_end) = found?;
        self.free.remove(&s);
        if s < aligned {
            self.free.insert(s, aligned);
        }
        if run_end < e {
            self.free.insert(run_end, e);
        }
        self.free_pages -= pages;
        Some(aligned)
    }
}

/// A lazily backed physical memory over a set of RAM ranges.
pub struct LazyMemory {
    page_size: u64,
    page_shift: u32,
    ranges: Vec<Range<u64>>,
    total_pages: u64,
    allocator: Mutex<ExtentSet>,
    /// Frame number -> contents, only for frames that were written.
    data: Mutex<HashMap<u64, Box<[u8]>>>,
}

impl fmt::Debug for LazyMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyMemory")
            .field("page_size", &self.page_size)
            .field("ranges", &self.ranges)
            .field("total_pages", &self.total_pages)
            .field("free_pages", &self.free_pages())
            .field("backed_pages", &self.backed_pages())
            .finish()
    }
}

/// Page sizes this kernel supports: powers of two from 4 KiB to 1 GiB.
pub(crate) fn valid_page_size(page_size: u64) -> bool {
    page_size.is_power_of_two() && (4096..=1 << 30).contains(&page_size)
}

/// Page-aligns (start up, end down), drops empty ranges, sorts and merges overlapping ones.
pub(crate) fn normalize_ranges(ranges: &[Range<u64>], page_size: u64) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = ranges
        .iter()
        .filter_map(|r| {
            let start = r.start.checked_next_multiple_of(page_size)?;
            let end = r.end - r.end % page_size;
            (start < end).then_some(start..end)
        })
        .collect();
    out.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(out.len());
    for r in out {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

impl LazyMemory {
    /// A pool of the page-aligned parts of `ram`. `page_size` must be a power of two of at least
    /// 4096, else `ZX_ERR_INVALID_ARGS`.
    pub fn new(page_size: u64, ram: &[Range<u64>]) -> Result<LazyMemory, Status> {
        if !valid_page_size(page_size) {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        Ok(Self::build(page_size, ram))
    }

    /// `new` for a page size already known to be valid.
    pub(crate) fn build(page_size: u64, ram: &[Range<u64>]) -> LazyMemory {
        let ranges = normalize_ranges(ram, page_size);
        let mut extents = ExtentSet::default();
        for r in &ranges {
            extents.insert_range(r.start, r.end, page_size);
        }
        LazyMemory {
            page_size,
            page_shift: page_size.trailing_zeros(),
            total_pages: extents.free_pages,
            ranges,
            allocator: Mutex::new(extents),
            data: Mutex::new(HashMap::new()),
        }
    }

    /// The page-aligned RAM ranges of the pool.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Frames that currently hold host memory (were written with data).
    pub fn backed_pages(&self) -> usize {
        self.data.lock().len()
    }

    fn in_ram(&self, paddr: u64, len: u64) -> bool {
        if len == 0 {
            return true;
        }
        let Some(last) = paddr.checked_add(len - 1) else {
            return false;
        };
        self.ranges.iter().any(|r| r.start <= paddr && last < r.end)
    }

    fn page_len(&self) -> usize {
        // page_size is checked to be a power of two; on hosts where it does not fit usize no
        // frame could ever be backed anyway.
        usize::try_from(self.page_size).unwrap_or(usize::MAX)
    }

    /// Calls `f(frame_number, offset_in_page, range_of_the_access)` for each page piece.
    fn for_each_piece(&self, paddr: u64, len: u64, mut f: impl FnMut(u64, usize, Range<usize>)) {
        let mut done: u64 = 0;
        while done < len {
            let addr = paddr + done;
            let frame = addr >> self.page_shift;
            let in_page = addr & (self.page_size - 1);
            let n = (self.page_size - in_page).min(len - done);
            // Both fit usize: n <= page_size and done < len which is a slice length.
            let start = done as usize;
            f(frame, in_page as usize, start..start + n as usize);
            done += n;
        }
    }
}

impl PhysicalMemory for LazyMemory {
    fn page_size(&self) -> u64 {
        self.page_size
    }

    fn alloc_page(&self) -> Result<Paddr, Status> {
        self.alloc_run(1).map(|(p, _)| p)
    }

    fn alloc_run(&self, max_pages: u64) -> Result<(Paddr, u64), Status> {
        self.allocator
            .lock()
            .take_run(max_pages, self.page_size)
            .ok_or(ZX_ERR_NO_MEMORY)
    }

    fn alloc_contiguous(&self, pages: u64, alignment_log2: u32) -> Result<Paddr, Status> {
        if pages == 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        let align = 1u64
            .checked_shl(alignment_log2)
            .ok_or(ZX_ERR_INVALID_ARGS)?
            .max(self.page_size);
        self.allocator
            .lock()
            .take_aligned(pages, align, self.page_size)
            .ok_or(ZX_ERR_NO_MEMORY)
    }

    fn free_page(&self, paddr: Paddr) {
        if !paddr.is_multiple_of(self.page_size) || !self.in_ram(paddr, self.page_size) {
            log::error!("LazyMemory: free of a frame outside the pool: {paddr:#x}");
            return;
        }
        self.data.lock().remove(&(paddr >> self.page_shift));
        if !self
            .allocator
            .lock()
            .insert_range(paddr, paddr + self.page_size, self.page_size)
        {
            log::error!("LazyMemory: double free of frame {paddr:#x}");
        }
    }

    fn read(&self, paddr: Paddr, buf: &mut [u8]) -> Result<(), Status> {
        let len = buf.len() as u64;
        if !self.in_ram(paddr, len) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        let data = self.data.lock();
        self.for_each_piece(paddr, len, |frame, off, range| {
            let dst = &mut buf[range];
            match data.get(&frame) {
                Some(page) => dst.copy_from_slice(&page[off..off + dst.len()]),
                None => dst.fill(0),
            }
        });
        Ok(())
    }

    fn write(&self, paddr: Paddr, src: &[u8]) -> Result<(), Status> {
        let len = src.len() as u64;
        if !self.in_ram(paddr, len) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        let page_len = self.page_len();
        let mut data = self.data.lock();
        self.for_each_piece(paddr, len, |frame, off, range| {
            let piece = &src[range];
            match data.get_mut(&frame) {
                Some(page) => page[off..off + piece.len()].copy_from_slice(piece),
                None => {
                    // Untouched pages stay unbacked as long as only zeros are written to them.
                    if piece.iter().any(|&b| b != 0) {
                        let mut page = vec![0u8; page_len].into_boxed_slice();
                        page[off..off + piece.len()].copy_from_slice(piece);
                        data.insert(frame, page);
                    }
                }
            }
        });
        Ok(())
    }

    fn zero(&self, paddr: Paddr, len: u64) -> Result<(), Status> {
        if !self.in_ram(paddr, len) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        let page_len = self.page_len();
        let mut data = self.data.lock();
        self.for_each_piece(paddr, len, |frame, off, range| {
            let n = range.len();
            if n == page_len {
                data.remove(&frame);
            } else if let Some(page) = data.get_mut(&frame) {
                page[off..off + n].fill(0);
            }
        });
        Ok(())
    }

    fn copy_page(&self, dst: Paddr, src: Paddr) -> Result<(), Status> {
        if !self.in_ram(dst, self.page_size) || !self.in_ram(src, self.page_size) {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        let mut data = self.data.lock();
        match data.get(&(src >> self.page_shift)).cloned() {
            Some(page) => {
                data.insert(dst >> self.page_shift, page);
            }
            None => {
                data.remove(&(dst >> self.page_shift));
            }
        }
        Ok(())
    }

    fn total_pages(&self) -> u64 {
        self.total_pages
    }

    fn free_pages(&self) -> u64 {
        self.allocator.lock().free_pages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS: u64 = 4096;

    #[test]
    fn allocates_in_order_and_runs_out() {
        let m = LazyMemory::new(PS, &[0x10000..0x14000]).unwrap();
        assert_eq!(m.total_pages(), 4);
        assert_eq!(m.alloc_page(), Ok(0x10000));
        assert_eq!(m.alloc_run(10), Ok((0x11000, 3)));
        assert_eq!(m.alloc_page(), Err(ZX_ERR_NO_MEMORY));
        m.free_page(0x12000);
        m.free_page(0x11000);
        assert_eq!(m.free_pages(), 2);
        assert_eq!(m.alloc_run(10), Ok((0x11000, 2)));
    }

    #[test]
    fn double_free_and_foreign_free_are_ignored() {
        let m = LazyMemory::new(PS, &[0x10000..0x12000]).unwrap();
        let p = m.alloc_page().unwrap();
        m.free_page(p);
        m.free_page(p);
        m.free_page(0x1234_5000);
        m.free_page(0x10001);
        assert_eq!(m.free_pages(), 2);
    }

    #[test]
    fn contiguous_alignment() {
        let m = LazyMemory::new(PS, &[0x1000..0x40000]).unwrap();
        let p = m.alloc_contiguous(4, 16).unwrap();
        assert_eq!(p % 0x10000, 0);
        assert_eq!(p, 0x10000);
        assert_eq!(m.free_pages(), 0x3f - 4);
        assert_eq!(m.alloc_contiguous(0x100, 12), Err(ZX_ERR_NO_MEMORY));
        assert_eq!(m.alloc_contiguous(1, 64), Err(ZX_ERR_INVALID_ARGS));
        assert_eq!(m.alloc_contiguous(u64::MAX, 12), Err(ZX_ERR_NO_MEMORY));
    }

    #[test]
    fn lazy_data_costs_nothing_until_written() {
        let m = LazyMemory::new(PS, &[0x1_0000_0000..0x1_4000_0000]).unwrap();
        assert_eq!(m.total_pages(), 0x40000);
        let p = m.alloc_page().unwrap();
        let mut buf = [0xffu8; 16];
        m.read(p, &mut buf).unwrap();
        assert_eq!(buf, [0; 16]);
        m.write(p + 10, &[0; 100]).unwrap();
        assert_eq!(m.backed_pages(), 0);
        m.write(p + 4090, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        assert_eq!(m.backed_pages(), 2);
        m.read(p + 4088, &mut buf[..10]).unwrap();
        assert_eq!(&buf[..10], &[0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        m.zero(p + 4096, 4096).unwrap();
        assert_eq!(m.backed_pages(), 1);
        m.free_page(p);
        assert_eq!(m.backed_pages(), 0);
        assert_eq!(m.read(u64::MAX - 3, &mut buf), Err(ZX_ERR_OUT_OF_RANGE));
        assert_eq!(m.write(0, &buf), Err(ZX_ERR_OUT_OF_RANGE));
    }

    #[test]
    fn ranges_are_normalized() {
        let r = normalize_ranges(
            &[
                0x2001..0x5000,
                0x1000..0x3000,
                10..20,
                u64::MAX - 5..u64::MAX,
            ],
            PS,
        );
        assert_eq!(r, vec![0x1000..0x5000]);
        assert!(LazyMemory::new(1000, &[]).is_err());
    }
}
