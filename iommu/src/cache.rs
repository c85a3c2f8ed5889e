//! Per-endpoint translation cache, per thread.
//!
//! Every thread that translates has a small direct-mapped cache (64 entries) of recent
//! translations, keyed by (engine instance, endpoint, IOVA page). An entry holds the whole mapped
//! block the IOVA fell in (a page, a huge block, or the whole address space for an identity
//! translation), its physical base and permissions, and the engine *generation* it was read at.
//!
//! Invalidation is synchronous and costs readers nothing: the engine keeps one `AtomicU64`
//! generation. Every operation that can remove or narrow a translation (UNMAP that removed
//! something, ATTACH, DETACH, domain destruction, bypass change, reset) increments it while it
//! still holds the engine's write lock, i.e. before it returns. An entry is filled only with a
//! generation read under the engine's read lock, so it describes the table exactly as it was at
//! that generation; a hit requires the entry's generation to equal the current one (one `Acquire`
//! load). So once such an operation has returned, every thread's later translate sees the new
//! generation and misses on every older entry: no thread can be served a removed translation.
//! MAP only adds translations and leaves the generation alone, so it does not flush caches.
//!
//! The warm path is therefore one atomic load, one thread-local array access and a few compares:
//! no lock, no shared write.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::types::{Perms, Segment};

/// Entries per thread.
pub(crate) const CACHE_ENTRIES: usize = 64;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Engine instance id (never 0 for a real engine, so 0 marks an empty entry).
    engine: u64,
    generation: u64,
    endpoint: u32,
    perms: u8,
    /// First and last IOVA of the cached block.
    start: u64,
    last: u64,
    /// Physical address of `start`.
    paddr: u64,
}

const EMPTY: Entry = Entry {
    engine: 0,
    generation: 0,
    endpoint: 0,
    perms: 0,
    start: 1,
    last: 0,
    paddr: 0,
};

/// Marks a thread that has not been given a statistics stripe yet.
const NO_STRIPE: u32 = u32::MAX;

struct ThreadCache {
    stripe: Cell<u32>,
    entries: [Cell<Entry>; CACHE_ENTRIES],
}

thread_local! {
    static CACHE: ThreadCache = const {
        ThreadCache {
            stripe: Cell::new(NO_STRIPE),
            entries: [const { Cell::new(EMPTY) }; CACHE_ENTRIES],
        }
    };
}

/// Hands out statistics stripes to threads round-robin.
static NEXT_STRIPE: AtomicU32 = AtomicU32::new(0);

#[inline]
fn slot(endpoint: u32, iova: u64) -> usize {
    ((iova >> 12) as usize ^ (endpoint as usize).wrapping_mul(37)) % CACHE_ENTRIES
}

/// A cache hit for the access `[iova, iova + len)` (`len >= 1`) by `endpoint` of engine
/// `engine` at `generation`, if the cached block covers all of it with `access` allowed.
#[inline]
pub(crate) fn lookup(
    engine: u64,
    generation: u64,
    endpoint: u32,
    iova: u64,
    len: u64,
    access: Perms,
) -> Option<Segment> {
    let e = CACHE.with(|c| c.entries[slot(endpoint, iova)].get());
    let hit = e.engine == engine
        && e.generation == generation
        && e.endpoint == endpoint
        && e.start <= iova
        && iova <= e.last
        && len - 1 <= e.last - iova
        && e.perms & access.bits() == access.bits();
    hit.then(|| Segment {
        iova,
        paddr: e.paddr.wrapping_add(iova - e.start),
        len,
    })
}

/// Caches the block `[start, last]` -> `paddr` with `perms`, looked up at `generation`, in the
/// slot for `iova`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert(
    engine: u64,
    generation: u64,
    endpoint: u32,
    iova: u64,
    start: u64,
    last: u64,
    paddr: u64,
    perms: Perms,
) {
    let entry = Entry {
        engine,
        generation,
        endpoint,
        perms: perms.bits(),
        start,
        last,
        paddr,
    };
    CACHE.with(|c| c.entries[slot(endpoint, iova)].set(entry));
}

/// This thread's statistics stripe in `0..stripes`.
#[inline]
pub(crate) fn stripe(stripes: usize) -> usize {
    CACHE.with(|c| {
        let mut s = c.stripe.get();
        if s == NO_STRIPE {
            s = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) & (NO_STRIPE >> 1);
            c.stripe.set(s);
        }
        s as usize % stripes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_needs_engine_generation_endpoint_range_and_perms() {
        insert(7, 3, 1, 0x5000, 0x4000, 0x5fff, 0x9000, Perms::READ);
        let hit = lookup(7, 3, 1, 0x5000, 0x1000, Perms::READ);
        assert_eq!(
            hit,
            Some(Segment {
                iova: 0x5000,
                paddr: 0xa000,
                len: 0x1000
            })
        );
        assert_eq!(lookup(8, 3, 1, 0x5000, 0x1000, Perms::READ), None);
        assert_eq!(lookup(7, 4, 1, 0x5000, 0x1000, Perms::READ), None);
        assert_eq!(lookup(7, 3, 2, 0x5000, 0x1000, Perms::READ), None);
        assert_eq!(lookup(7, 3, 1, 0x5000, 0x1001, Perms::READ), None);
        assert_eq!(lookup(7, 3, 1, 0x5000, 0x1000, Perms::WRITE), None);
    }

    #[test]
    fn whole_space_entry_covers_the_top_byte() {
        insert(9, 1, 4, u64::MAX, 0, u64::MAX, 0, Perms::ALL);
        assert_eq!(
            lookup(9, 1, 4, u64::MAX, 1, Perms::RW),
            Some(Segment {
                iova: u64::MAX,
                paddr: u64::MAX,
                len: 1
            })
        );
    }
}
