//! virtio-iommu counters: requests by type and by status, requests returned untouched, faults
//! reported and dropped. Live mappings and domains come from the engine.

use std::sync::atomic::{AtomicU64, Ordering};

use super::protocol::STATUS_COUNT;
use super::request::RequestKind;

/// Counters updated by the request queue (atomics: readable from any thread).
#[derive(Debug, Default)]
pub struct IommuCounters {
    attach: AtomicU64,
    detach: AtomicU64,
    map: AtomicU64,
    unmap: AtomicU64,
    probe: AtomicU64,
    untouched: AtomicU64,
    statuses: [AtomicU64; STATUS_COUNT],
}

impl IommuCounters {
    pub(crate) fn count_request(&self, kind: RequestKind) {
        let c = match kind {
            RequestKind::Attach => &self.attach,
            RequestKind::Detach => &self.detach,
            RequestKind::Map => &self.map,
            RequestKind::Unmap => &self.unmap,
            RequestKind::Probe => &self.probe,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_status(&self, status: u8) {
        if let Some(c) = self.statuses.get(usize::from(status)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn count_untouched(&self) {
        self.untouched.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot_into(&self, s: &mut IommuCountersSnapshot) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        s.attach = get(&self.attach);
        s.detach = get(&self.detach);
        s.map = get(&self.map);
        s.unmap = get(&self.unmap);
        s.probe = get(&self.probe);
        s.untouched = get(&self.untouched);
        for (dst, src) in s.statuses.iter_mut().zip(&self.statuses) {
            *dst = get(src);
        }
    }
}

/// A consistent-enough copy of every virtio-iommu counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IommuCountersSnapshot {
    /// ATTACH requests completed.
    pub attach: u64,
    /// DETACH requests completed.
    pub detach: u64,
    /// MAP requests completed.
    pub map: u64,
    /// UNMAP requests completed.
    pub unmap: u64,
    /// PROBE requests completed.
    pub probe: u64,
    /// Requests returned with used length 0 and nothing written (unknown type, no head, no room
    /// for the tail, malformed chain, memory error).
    pub untouched: u64,
    /// Completed requests by status code (`statuses[S_OK]`, `statuses[S_INVAL]`, ...).
    pub statuses: [u64; STATUS_COUNT],
    /// Faults written to the event queue.
    pub faults_reported: u64,
    /// Faults dropped because the driver had given no (large enough) event buffer.
    pub faults_dropped: u64,
    /// Live mappings in the engine.
    pub mappings: u64,
    /// Live domains in the engine.
    pub domains: u64,
}

impl IommuCountersSnapshot {
    /// Named values, as `VirtioDevice::counters` reports them.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        const STATUS_NAMES: [&str; STATUS_COUNT] = [
            "status_ok",
            "status_ioerr",
            "status_unsupp",
            "status_deverr",
            "status_inval",
            "status_range",
            "status_noent",
            "status_fault",
            "status_nomem",
        ];
        let mut v = vec![
            ("requests_attach", self.attach),
            ("requests_detach", self.detach),
            ("requests_map", self.map),
            ("requests_unmap", self.unmap),
            ("requests_probe", self.probe),
            ("requests_untouched", self.untouched),
        ];
        v.extend(STATUS_NAMES.iter().copied().zip(self.statuses));
        v.extend([
            ("faults_reported", self.faults_reported),
            ("faults_dropped", self.faults_dropped),
            ("mappings", self.mappings),
            ("domains", self.domains),
        ]);
        v
    }
}
