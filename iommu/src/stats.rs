//! Engine statistics: a snapshot type and the translation counters behind it.
//!
//! Translation counters must not cost the warm path a shared atomic read-modify-write, so they
//! are striped: each thread is given one of [`STRIPES`] cache-line-sized stripes and bumps its
//! own counters with a relaxed load and store. The counts are exact as long as no two threads
//! that share a stripe (threads are assigned stripes round-robin, so only when more than
//! [`STRIPES`] threads have translated) count at the same instant; otherwise an increment can be
//! lost, so treat `translations`/`cache_hits` as approximate under heavy multi-threading.
//! `faults` is a plain atomic counter (faults are on the slow path).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::cache;

/// Number of counter stripes per engine.
pub(crate) const STRIPES: usize = 32;

/// A snapshot of an engine's state and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Registered endpoints.
    pub endpoints: usize,
    /// Endpoints attached to a domain.
    pub attached_endpoints: usize,
    /// Live domains (bypass domains included).
    pub domains: usize,
    /// Live bypass domains.
    pub bypass_domains: usize,
    /// Live mappings across all domains.
    pub mappings: usize,
    /// Bytes covered by live mappings (up to 2^64 per domain, hence `u128`).
    pub mapped_bytes: u128,
    /// Successful and failed translations of non-empty DMAs (approximate under heavy
    /// multi-threading, see the module docs).
    pub translations: u64,
    /// Translations served by a thread's translation cache (approximate like `translations`).
    pub cache_hits: u64,
    /// Translations that faulted.
    pub faults: u64,
    /// Live mapping-table nodes, one root per non-bypass domain included.
    pub table_nodes: usize,
    /// Bytes held by mapping-table nodes, spare (pooled) nodes included.
    pub table_bytes: usize,
    /// The invalidation generation (bumped by every operation that removes or narrows a
    /// translation).
    pub generation: u64,
}

#[derive(Debug, Default)]
#[repr(align(64))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Translation counters of one engine.
#[derive(Debug)]
pub(crate) struct Counters {
    stripes: Box<[Stripe]>,
    faults: AtomicU64,
}

/// Adds one with a relaxed load and store: no locked instruction on the hot path.
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(
        counter.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

impl Counters {
    pub(crate) fn new() -> Self {
        Counters {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            faults: AtomicU64::new(0),
        }
    }

    fn mine(&self) -> Option<&Stripe> {
        self.stripes.get(cache::stripe(STRIPES))
    }

    #[inline]
    pub(crate) fn hit(&self) {
        if let Some(s) = self.mine() {
            bump(&s.hits);
        }
    }

    pub(crate) fn miss(&self) {
        if let Some(s) = self.mine() {
            bump(&s.misses);
        }
    }

    pub(crate) fn fault(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }

    /// (translations, cache hits, faults).
    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        let (mut hits, mut misses) = (0u64, 0u64);
        for s in self.stripes.iter() {
            hits = hits.wrapping_add(s.hits.load(Ordering::Relaxed));
            misses = misses.wrapping_add(s.misses.load(Ordering::Relaxed));
        }
        (
            hits.wrapping_add(misses),
            hits,
            self.faults.load(Ordering::Relaxed),
        )
    }
}
