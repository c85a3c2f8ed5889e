//! IOVA allocation for one bus transaction initiator of the translating IOMMU: aligned blocks of
//! a fixed granularity (the IOMMU's minimum contiguity) from a free-extent map.

use std::collections::BTreeMap;

/// Free IOVA extents `start -> last` (inclusive, so the space may end at 2^64 - 1), disjoint and
/// never adjacent.
#[derive(Debug)]
pub(crate) struct IovaAllocator {
    free: BTreeMap<u64, u64>,
    /// Allocation granularity and alignment (a power of two).
    block: u64,
    allocated: u64,
}

impl IovaAllocator {
    /// An allocator over `[first, last]`; `first` and `last + 1` should be multiples of `block`.
    pub(crate) fn new(first: u64, last: u64, block: u64) -> IovaAllocator {
        let mut free = BTreeMap::new();
        if first <= last {
            free.insert(first, last);
        }
        IovaAllocator {
            free,
            block,
            allocated: 0,
        }
    }

    /// Allocates `len` bytes rounded up to the block size, block-aligned; returns the start and
    /// the rounded length. `None` if no free extent is large enough.
    pub(crate) fn alloc(&mut self, len: u64) -> Option<(u64, u64)> {
        if len == 0 {
            return None;
        }
        let rounded = len.checked_next_multiple_of(self.block)?;
        let mut found = None;
        for (&s, &l) in &self.free {
            let Some(aligned) = s.checked_next_multiple_of(self.block) else {
                continue;
            };
            // The allocation's last byte; it must not pass the extent's last byte.
            if let Some(end) = aligned.checked_add(rounded - 1)
                && aligned >= s
                && end <= l
            {
                found = Some((s, l, aligned, end));
                break;
            }
        }
        let (s, l, aligned, end) = found?;
        self.free.remove(&s);
        if s < aligned {
            self.free.insert(s, aligned - 1);
        }
        if end < l {
            self.free.insert(end + 1, l);
        }
        self.allocated += rounded;
        Some((aligned, rounded))
    }

    /// Returns `[start, start + len)` (as returned by `alloc`) to the free map.
    pub(crate) fn free(&mut self, start: u64, len: u64) {
        if len == 0 {
            return;
        }
        let Some(last) = start.checked_add(len - 1) else {
            return;
        };
        let mut new_start = start;
        let mut new_last = last;
        if let Some((&ps, &pl)) = self.free.range(..start).next_back()
            && pl.checked_add(1) == Some(start)
        {
            new_start = ps;
            self.free.remove(&ps);
        }
        if let Some(next) = last.checked_add(1)
            && let Some(&nl) = self.free.get(&next)
        {
            new_last = nl;
            self.free.remove(&next);
        }
        self.free.insert(new_start, new_last);
        self.allocated = self.allocated.saturating_sub(len);
    }

    /// Bytes currently allocated.
    pub(crate) fn allocated(&self) -> u64 {
        self.allocated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_blocks_and_coalescing() {
        let mut a = IovaAllocator::new(0x10000, 0x3ffff, 0x10000);
        assert_eq!(a.alloc(1), Some((0x10000, 0x10000)));
        assert_eq!(a.alloc(0x10001), Some((0x20000, 0x20000)));
        assert_eq!(a.alloc(1), None);
        a.free(0x10000, 0x10000);
        a.free(0x20000, 0x20000);
        assert_eq!(a.allocated(), 0);
        assert_eq!(a.alloc(0x30000), Some((0x10000, 0x30000)));
        assert_eq!(a.alloc(0), None);
        assert_eq!(a.alloc(u64::MAX), None);
    }

    #[test]
    fn space_up_to_the_top() {
        let mut a = IovaAllocator::new(0x1000, u64::MAX, 0x1000);
        let (s, l) = a.alloc(u64::MAX - 0x1fff).unwrap();
        assert_eq!(s, 0x1000);
        assert_eq!(s + (l - 1), u64::MAX - 0x1000);
        assert_eq!(a.alloc(0x1000), Some((u64::MAX - 0xfff, 0x1000)));
        a.free(u64::MAX - 0xfff, 0x1000);
        a.free(s, l);
        assert_eq!(a.allocated(), 0);
    }
}
