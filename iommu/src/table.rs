//! A domain's mapping table: a multi-level radix table over IOVA page numbers.
//!
//! Layout (granule 4 KiB: 52 bits of page number):
//!
//! ```text
//! page number:  | top (7 bits) | L4 (9) | L3 (9) | L2 (9) | L1 (9) | L0 (9) |
//! ```
//!
//! Every level below the top indexes 9 bits like an x86 page table; the top level gets whatever
//! is left (`64 - log2(granule) - 9 * (levels - 1)` bits). Nodes are `[u64; 512]` arrays kept in
//! an arena (`Vec` of boxed arrays plus a live-entry count each) and linked by arena index, not
//! by pointer. An entry is one `u64`:
//!
//! ```text
//! 0                         empty
//! index << 12 | PRESENT     child node `index` (one level down)
//! paddr | PRESENT | LEAF | HEAD? | READ? | WRITE? | EXEC?
//!                           a mapped block: the whole IOVA span of this entry (one page at level
//!                           0, 512 pages at level 1, ...) translates to `paddr..` (the block's
//!                           physical base; granule aligned, so the low 12 bits hold the flags)
//! ```
//!
//! A MAP is decomposed into maximal aligned blocks: an entry whose whole span lies inside the
//! mapping becomes a (huge) leaf at that level, so mapping `[0, 2^64-1]` costs 128 entries and a
//! 1 GiB aligned mapping one. `HEAD` marks the first block of a mapping; that is all UNMAP needs
//! to tell mappings apart (see [`Table::splits_at`]), so there is no separate range map.
//!
//! A node (other than the root) with no live entry is freed at once, so an empty table is just its
//! root. Freed, zeroed nodes are kept in a small [`NodePool`] for the next MAP.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::types::Perms;

/// Bits of page number per level.
const LEVEL_BITS: u32 = 9;
/// Entries per node.
pub(crate) const NODE_ENTRIES: usize = 1 << LEVEL_BITS;
const INDEX_MASK: u64 = NODE_ENTRIES as u64 - 1;

/// Entry flags (low 12 bits).
const PRESENT: u64 = 1 << 0;
const LEAF: u64 = 1 << 1;
const HEAD: u64 = 1 << 2;
const PERM_SHIFT: u32 = 3;
const PERM_MASK: u64 = (Perms::ALL.bits() as u64) << PERM_SHIFT;
const FLAG_BITS: u32 = 12;
const ADDR_MASK: u64 = !((1 << FLAG_BITS) - 1);

/// Entries of the walk hint (a direct-mapped cache of level-1 nodes, see [`Table::lookup`]).
const HINTS: usize = 16;
/// Walk hints encode node indices in 26 bits.
const HINT_NODE_BITS: u32 = 26;
const HINT_NODE_MASK: u64 = (1 << HINT_NODE_BITS) - 1;

/// Arena slots an empty table keeps allocated.
const SMALL_ARENA: usize = 64;

/// Index of the root node in every table's arena.
const ROOT: u32 = 0;

/// The smallest granule a table supports: leaf entries keep flags in the low 12 bits of the
/// (granule-aligned) physical address.
pub(crate) const MIN_GRANULE_SHIFT: u32 = FLAG_BITS;

type NodeArray = [u64; NODE_ENTRIES];

/// Bytes one node costs: the entry array plus its arena slot.
pub(crate) const NODE_BYTES: usize = size_of::<NodeArray>() + size_of::<Slot>();

fn zeroed_node() -> Box<NodeArray> {
    // Built from a zeroed Vec so the allocation is zeroed in place (calloc), not copied from the
    // stack.
    match vec![0u64; NODE_ENTRIES].into_boxed_slice().try_into() {
        Ok(node) => node,
        Err(_) => Box::new([0; NODE_ENTRIES]),
    }
}

/// Zeroed nodes kept for reuse across the tables of one engine, so MAP/UNMAP churn does not hit
/// the allocator.
#[derive(Debug)]
pub(crate) struct NodePool {
    spare: Vec<Box<NodeArray>>,
    cap: usize,
}

impl NodePool {
    pub(crate) fn new(cap: usize) -> Self {
        NodePool {
            spare: Vec::new(),
            cap,
        }
    }

    fn take(&mut self) -> Box<NodeArray> {
        self.spare.pop().unwrap_or_else(zeroed_node)
    }

    /// Returns a node whose entries are all zero.
    fn give(&mut self, node: Box<NodeArray>) {
        debug_assert!(node.iter().all(|&e| e == 0));
        if self.spare.len() < self.cap {
            self.spare.push(node);
        }
    }

    /// Number of nodes held.
    pub(crate) fn len(&self) -> usize {
        self.spare.len()
    }
}

#[derive(Debug)]
struct Slot {
    entries: Option<Box<NodeArray>>,
    live: u32,
}

/// A mapped block found by [`Table::lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    /// First page number of the block (aligned to the block size).
    pub first_page: u64,
    /// Table level: the block spans `512^level` pages.
    pub level: u32,
    entry: u64,
}

impl Block {
    /// Physical address of the block's first byte.
    pub(crate) fn paddr(&self) -> u64 {
        self.entry & ADDR_MASK
    }

    pub(crate) fn perms(&self) -> Perms {
        Perms::from_bits(((self.entry & PERM_MASK) >> PERM_SHIFT) as u8).unwrap_or(Perms::NONE)
    }

    /// Whether this block is the first block of its mapping.
    pub(crate) fn is_head(&self) -> bool {
        self.entry & HEAD != 0
    }
}

/// What a [`Table::clear`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Removed {
    /// Mappings removed (= removed blocks with HEAD set).
    pub mappings: u64,
    /// Bytes unmapped.
    pub bytes: u128,
}

/// One leaf block as reported by [`Table::for_each_block`]: byte range, physical base, perms, head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockInfo {
    pub start: u64,
    pub last: u64,
    pub paddr: u64,
    pub perms: Perms,
    pub head: bool,
}

/// The radix table of one domain.
#[derive(Debug)]
pub(crate) struct Table {
    page_shift: u32,
    /// Number of levels; the root is at level `levels - 1`.
    levels: u32,
    nodes: Vec<Slot>,
    free_slots: Vec<u32>,
    live_nodes: usize,
    /// Walk hints: level-1 nodes recently walked through, keyed by the page-number bits above
    /// them, so a lookup usually starts two levels above the leaves instead of at the root.
    /// Written by readers (under the engine's read lock, so every value stored describes the
    /// current table) and cleared by writers that free a level-1 node. Encoded as
    /// `prefix << 27 | node << 1 | 1`; 0 is empty.
    hints: [AtomicU64; HINTS],
}

impl Table {
    /// An empty table for pages of `1 << page_shift` bytes (`page_shift` in 12..=63).
    pub(crate) fn new(page_shift: u32, pool: &mut NodePool) -> Self {
        let levels = Self::levels_for(page_shift);
        Table {
            page_shift,
            levels,
            nodes: vec![Slot {
                entries: Some(pool.take()),
                live: 0,
            }],
            free_slots: Vec::new(),
            live_nodes: 1,
            hints: [const { AtomicU64::new(0) }; HINTS],
        }
    }

    /// Levels needed for `64 - page_shift` bits of page number.
    pub(crate) fn levels_for(page_shift: u32) -> u32 {
        (64 - page_shift).div_ceil(LEVEL_BITS).max(1)
    }

    /// Upper bound on the nodes one insertion of a contiguous range can allocate: at most two
    /// partially covered entries (the range's two edges) per level below the root.
    pub(crate) fn max_new_nodes_per_insert(&self) -> usize {
        2 * (self.levels as usize - 1)
    }

    /// Live nodes, the root included.
    pub(crate) fn live_nodes(&self) -> usize {
        self.live_nodes
    }

    fn top(&self) -> u32 {
        self.levels - 1
    }

    fn span_shift(level: u32) -> u32 {
        LEVEL_BITS * level
    }

    fn index(page: u64, level: u32) -> usize {
        ((page >> Self::span_shift(level)) & INDEX_MASK) as usize
    }

    fn entries(&self, node: u32) -> Option<&NodeArray> {
        self.nodes.get(node as usize)?.entries.as_deref()
    }

    /// Byte range `(start, last)` of the block at `first_page` of `level`.
    pub(crate) fn block_bytes(&self, first_page: u64, level: u32) -> (u64, u64) {
        let start = first_page << self.page_shift;
        let size_shift = Self::span_shift(level) + self.page_shift;
        (start, start + ((1u64 << size_shift) - 1))
    }

    /// The mapped block containing `page`, if any.
    #[inline]
    pub(crate) fn lookup(&self, page: u64) -> Option<Block> {
        let mut node = ROOT;
        let mut level = self.top();
        let hint_prefix = page >> Self::span_shift(2);
        let hint = &self.hints[hint_prefix as usize % HINTS];
        if level >= 2 {
            let h = hint.load(Ordering::Relaxed);
            if h & 1 != 0 && h >> (HINT_NODE_BITS + 1) == hint_prefix {
                node = ((h >> 1) & HINT_NODE_MASK) as u32;
                level = 1;
            }
        }
        loop {
            let entry = self.entries(node)?[Self::index(page, level)];
            if entry == 0 {
                return None;
            }
            if entry & LEAF != 0 {
                let span_mask = (1u64 << Self::span_shift(level)) - 1;
                return Some(Block {
                    first_page: page & !span_mask,
                    level,
                    entry,
                });
            }
            if level == 0 {
                return None;
            }
            node = (entry >> FLAG_BITS) as u32;
            level -= 1;
            if level == 1 && u64::from(node) <= HINT_NODE_MASK {
                let h = (hint_prefix << (HINT_NODE_BITS + 1)) | (u64::from(node) << 1) | 1;
                hint.store(h, Ordering::Relaxed);
            }
        }
    }

    /// Whether an UNMAP boundary at byte `addr` would split a mapping: the page holding `addr` is
    /// mapped and `addr` is not the first byte of a mapping (unaligned, strictly inside a huge
    /// block, or at a block that continues the mapping of the block before it: no HEAD).
    pub(crate) fn splits_at(&self, addr: u64) -> bool {
        let page = addr >> self.page_shift;
        match self.lookup(page) {
            None => false,
            Some(block) => {
                let page_offset = addr & ((1u64 << self.page_shift) - 1);
                page_offset != 0 || block.first_page != page || !block.is_head()
            }
        }
    }

    /// Whether no page in `[lo, hi]` (page numbers, inclusive) is mapped. Empty subtrees are
    /// skipped.
    pub(crate) fn is_range_empty(&self, lo: u64, hi: u64) -> bool {
        if lo == hi {
            return self.lookup(lo).is_none();
        }
        self.range_empty_in(ROOT, self.top(), 0, lo, hi)
    }

    fn range_empty_in(&self, node: u32, level: u32, base: u64, lo: u64, hi: u64) -> bool {
        let Some(entries) = self.entries(node) else {
            return true;
        };
        let shift = Self::span_shift(level);
        let first = ((lo - base) >> shift) as usize;
        let last = ((hi - base) >> shift) as usize;
        for (i, &entry) in entries[first..=last].iter().enumerate() {
            if entry == 0 {
                continue;
            }
            if entry & LEAF != 0 {
                return false;
            }
            let child_base = base + (((first + i) as u64) << shift);
            let child_last = child_base + ((1u64 << shift) - 1);
            if lo <= child_base && child_last <= hi {
                // A non-root node is never empty: it is freed with its last entry.
                return false;
            }
            if level == 0 {
                continue;
            }
            let child = (entry >> FLAG_BITS) as u32;
            if !self.range_empty_in(
                child,
                level - 1,
                child_base,
                lo.max(child_base),
                hi.min(child_last),
            ) {
                return false;
            }
        }
        true
    }

    /// Maps pages `[lo, hi]` (inclusive, page numbers). `block_paddr(first_page)` gives the
    /// physical base of the block starting at `first_page` and whether it starts a mapping (HEAD).
    /// Blocks bigger than a page are only used at levels `<= max_leaf_level`.
    ///
    /// The caller must have checked that the range is empty and that the node budget allows
    /// [`Self::max_new_nodes_per_insert`] more nodes.
    pub(crate) fn insert(
        &mut self,
        lo: u64,
        hi: u64,
        perms: Perms,
        max_leaf_level: u32,
        pool: &mut NodePool,
        block_paddr: &mut impl FnMut(u64) -> (u64, bool),
    ) {
        let flags = PRESENT | LEAF | (u64::from(perms.bits()) << PERM_SHIFT);
        let top = self.top();
        self.insert_in(
            ROOT,
            top,
            0,
            lo,
            hi,
            flags,
            max_leaf_level,
            pool,
            block_paddr,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_in(
        &mut self,
        node: u32,
        level: u32,
        base: u64,
        lo: u64,
        hi: u64,
        flags: u64,
        max_leaf_level: u32,
        pool: &mut NodePool,
        block_paddr: &mut impl FnMut(u64) -> (u64, bool),
    ) {
        let shift = Self::span_shift(level);
        let first = ((lo - base) >> shift) as usize;
        let last = ((hi - base) >> shift) as usize;
        for i in first..=last {
            let child_base = base + ((i as u64) << shift);
            let child_last = child_base + ((1u64 << shift) - 1);
            let Some(slot) = self.nodes.get_mut(node as usize) else {
                return;
            };
            let Some(entries) = slot.entries.as_deref_mut() else {
                return;
            };
            let whole = lo <= child_base && child_last <= hi;
            if level == 0 || (whole && level <= max_leaf_level) {
                let (paddr, head) = block_paddr(child_base);
                debug_assert_eq!(entries[i], 0, "insert over a live entry");
                if entries[i] == 0 {
                    slot.live += 1;
                }
                entries[i] = (paddr & ADDR_MASK) | flags | if head { HEAD } else { 0 };
                continue;
            }
            let entry = entries[i];
            let child = if entry == 0 {
                let child = self.alloc_node(pool);
                if let Some(slot) = self.nodes.get_mut(node as usize)
                    && let Some(entries) = slot.entries.as_deref_mut()
                {
                    entries[i] = (u64::from(child) << FLAG_BITS) | PRESENT;
                    slot.live += 1;
                }
                child
            } else if entry & LEAF != 0 {
                debug_assert!(false, "insert below a live leaf");
                continue;
            } else {
                (entry >> FLAG_BITS) as u32
            };
            self.insert_in(
                child,
                level - 1,
                child_base,
                lo.max(child_base),
                hi.min(child_last),
                flags,
                max_leaf_level,
                pool,
                block_paddr,
            );
        }
    }

    fn alloc_node(&mut self, pool: &mut NodePool) -> u32 {
        self.live_nodes += 1;
        let slot = Slot {
            entries: Some(pool.take()),
            live: 0,
        };
        match self.free_slots.pop() {
            Some(index) => {
                self.nodes[index as usize] = slot;
                index
            }
            None => {
                self.nodes.push(slot);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn free_node(&mut self, node: u32, pool: &mut NodePool) {
        if let Some(slot) = self.nodes.get_mut(node as usize)
            && let Some(entries) = slot.entries.take()
        {
            pool.give(entries);
            slot.live = 0;
            self.live_nodes -= 1;
            self.free_slots.push(node);
        }
        if self.free_slots.len() == self.nodes.len() - 1 {
            // Only the root is left: drop the free slots, and give a large arena's memory back
            // (a small one is kept for the next MAP).
            self.nodes.truncate(1);
            self.free_slots.clear();
            if self.nodes.capacity() > SMALL_ARENA {
                self.nodes.shrink_to(SMALL_ARENA);
                self.free_slots.shrink_to(SMALL_ARENA);
            }
        }
    }

    /// Removes every block inside pages `[lo, hi]`, skipping empty subtrees and freeing nodes
    /// that become empty. Blocks that stick out of the range are left alone (the caller has made
    /// sure with [`Self::splits_at`] that there are none).
    pub(crate) fn clear(&mut self, lo: u64, hi: u64, pool: &mut NodePool) -> Removed {
        let mut removed = Removed::default();
        let top = self.top();
        self.clear_in(ROOT, top, 0, lo, hi, pool, &mut removed);
        removed
    }

    #[allow(clippy::too_many_arguments)]
    fn clear_in(
        &mut self,
        node: u32,
        level: u32,
        base: u64,
        lo: u64,
        hi: u64,
        pool: &mut NodePool,
        removed: &mut Removed,
    ) {
        let shift = Self::span_shift(level);
        let first = ((lo - base) >> shift) as usize;
        let last = ((hi - base) >> shift) as usize;
        let mut i = first;
        while i <= last {
            let Some(entries) = self.entries(node) else {
                return;
            };
            // Skip the run of empty entries.
            let Some(skip) = entries[i..=last].iter().position(|&e| e != 0) else {
                return;
            };
            i += skip;
            let entry = entries[i];
            let child_base = base + ((i as u64) << shift);
            let child_last = child_base + ((1u64 << shift) - 1);
            let whole = lo <= child_base && child_last <= hi;
            if entry & LEAF != 0 {
                if whole {
                    if entry & HEAD != 0 {
                        removed.mappings += 1;
                    }
                    removed.bytes += 1u128 << (shift + self.page_shift);
                    self.set_entry(node, i, 0);
                } else {
                    debug_assert!(false, "clear would split a huge block");
                }
            } else if level > 0 {
                let child = (entry >> FLAG_BITS) as u32;
                self.clear_in(
                    child,
                    level - 1,
                    child_base,
                    lo.max(child_base),
                    hi.min(child_last),
                    pool,
                    removed,
                );
                if self.nodes.get(child as usize).is_some_and(|s| s.live == 0) {
                    self.set_entry(node, i, 0);
                    self.free_node(child, pool);
                    if level == 2 {
                        // A level-1 node went away: its index may be reused for another prefix.
                        for h in &mut self.hints {
                            *h.get_mut() = 0;
                        }
                    }
                }
            }
            i += 1;
        }
    }

    /// Sets a live entry to 0 and keeps the node's live count.
    fn set_entry(&mut self, node: u32, index: usize, value: u64) {
        if let Some(slot) = self.nodes.get_mut(node as usize)
            && let Some(entries) = slot.entries.as_deref_mut()
        {
            let was_live = entries[index] != 0;
            entries[index] = value;
            match (was_live, value != 0) {
                (true, false) => slot.live -= 1,
                (false, true) => slot.live += 1,
                _ => {}
            }
        }
    }

    /// Calls `f` for every leaf block, in IOVA order.
    pub(crate) fn for_each_block(&self, f: &mut impl FnMut(BlockInfo)) {
        self.for_each_in(ROOT, self.top(), 0, f);
    }

    fn for_each_in(&self, node: u32, level: u32, base: u64, f: &mut impl FnMut(BlockInfo)) {
        let Some(entries) = self.entries(node) else {
            return;
        };
        let shift = Self::span_shift(level);
        for (i, &entry) in entries.iter().enumerate() {
            if entry == 0 {
                continue;
            }
            let child_base = base + ((i as u64) << shift);
            if entry & LEAF != 0 {
                let block = Block {
                    first_page: child_base,
                    level,
                    entry,
                };
                let (start, last) = self.block_bytes(child_base, level);
                f(BlockInfo {
                    start,
                    last,
                    paddr: block.paddr(),
                    perms: block.perms(),
                    head: block.is_head(),
                });
            } else if level > 0 {
                self.for_each_in((entry >> FLAG_BITS) as u32, level - 1, child_base, f);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIFT: u32 = 12;

    fn table() -> (Table, NodePool) {
        let mut pool = NodePool::new(8);
        (Table::new(SHIFT, &mut pool), pool)
    }

    /// Maps pages [lo, hi] contiguously to `paddr`, huge blocks allowed.
    fn map(t: &mut Table, pool: &mut NodePool, lo: u64, hi: u64, paddr: u64, perms: Perms) {
        assert!(t.is_range_empty(lo, hi));
        t.insert(lo, hi, perms, u32::MAX, pool, &mut |first| {
            (paddr + ((first - lo) << SHIFT), first == lo)
        });
    }

    fn blocks(t: &Table) -> Vec<BlockInfo> {
        let mut v = Vec::new();
        t.for_each_block(&mut |b| v.push(b));
        v
    }

    #[test]
    fn geometry() {
        assert_eq!(Table::levels_for(12), 6);
        assert_eq!(Table::levels_for(16), 6);
        assert_eq!(Table::levels_for(21), 5);
        assert_eq!(Table::levels_for(63), 1);
        let (t, _) = table();
        assert_eq!(t.block_bytes(0, 5), (0, (1 << 57) - 1));
        assert_eq!(t.block_bytes((1 << 52) - 1, 0), (u64::MAX - 4095, u64::MAX));
        assert_eq!(t.max_new_nodes_per_insert(), 10);
    }

    #[test]
    fn whole_address_space_is_128_top_level_blocks() {
        let (mut t, mut pool) = table();
        map(&mut t, &mut pool, 0, (1 << 52) - 1, 0, Perms::RW);
        let b = blocks(&t);
        assert_eq!(b.len(), 128);
        assert_eq!(t.live_nodes(), 1);
        assert!(b[0].head && !b[1].head);
        assert_eq!(b[127].last, u64::MAX);
        assert_eq!(b[127].paddr, 127 << 57);
        let r = t.clear(0, (1 << 52) - 1, &mut pool);
        assert_eq!(
            r,
            Removed {
                mappings: 1,
                bytes: 1 << 64
            }
        );
        assert_eq!(t.live_nodes(), 1);
    }

    #[test]
    fn unaligned_range_uses_maximal_blocks() {
        let (mut t, mut pool) = table();
        // pages [1, 1024 + 512 + 3]: 511 pages, a 2 MiB block, then 4 more pages... decomposed
        // as 511 level-0 + 2 level-1 + 4 level-0.
        map(&mut t, &mut pool, 1, 1539, 0x10_0000_0000, Perms::READ);
        let b = blocks(&t);
        assert_eq!(b.len(), 511 + 2 + 4);
        assert_eq!(b[511].start, 512 << 12);
        assert_eq!(b[511].last, (1024 << 12) - 1);
        assert_eq!(b[511].paddr, 0x10_0000_0000 + (511 << 12));
        assert_eq!(b.iter().filter(|b| b.head).count(), 1);
        // root + L4 + L3 + L2 + L1 + 2 L0 nodes.
        assert_eq!(t.live_nodes(), 7);
        let block = t.lookup(700).unwrap();
        assert_eq!((block.first_page, block.level), (512, 1));
        assert_eq!(block.perms(), Perms::READ);
        assert!(!t.splits_at(1 << 12));
        assert!(t.splits_at(2 << 12));
        assert!(t.splits_at(600 << 12));
        assert!(t.splits_at((1540 << 12) - 1));
        assert!(!t.splits_at(1540 << 12));
        assert!(!t.is_range_empty(0, 1));
        assert!(t.is_range_empty(1540, u64::MAX >> 12));
        assert_eq!(t.clear(0, 2000, &mut pool).mappings, 1);
        assert_eq!(t.live_nodes(), 1);
        assert!(blocks(&t).is_empty());
    }

    #[test]
    fn clear_skips_empty_and_frees_nodes() {
        let (mut t, mut pool) = table();
        for i in 0..1000u64 {
            map(&mut t, &mut pool, i * 3, i * 3, i << 12, Perms::WRITE);
        }
        assert_eq!(blocks(&t).len(), 1000);
        let r = t.clear(0, 1499, &mut pool);
        assert_eq!(r.mappings, 500);
        assert_eq!(r.bytes, 500 * 4096);
        let r = t.clear(0, u64::MAX >> 12, &mut pool);
        assert_eq!(r.mappings, 500);
        assert_eq!(t.live_nodes(), 1);
        assert!(pool.len() <= 8);
    }
}
