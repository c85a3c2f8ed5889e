//! Fault reporting on the virtio-iommu event queue.
//!
//! "The device can report translation faults and other significant asynchronous events on the
//! event virtqueue. [...] When the device needs to report an event, it fills a buffer and
//! notifies the driver." Every DMA the engine refuses is handed to [`FaultReporter::report`] by
//! the device's translator, on whatever thread made the DMA; the report is written at once into
//! the next event buffer. The reporter's lock is a leaf (nothing else is locked while it is
//! held), so reporting never waits on the virtio-iommu's request processing.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ::iommu::{Fault, FaultReason, Perms};
use log::{debug, warn};
use parking_lot::Mutex;
use virtio_queue::{Queue, QueueT};

use super::protocol::{
    FAULT_F_ADDRESS, FAULT_F_READ, FAULT_F_WRITE, FAULT_R_DOMAIN, FAULT_R_MAPPING, FAULT_SIZE,
    FaultRecord,
};
use crate::virtio::chain::ChainBuffers;
use crate::virtio::{GuestRam, Interrupt};

/// Index of the event queue.
pub const EVENTQ_INDEX: u16 = 1;

/// The report for an engine fault.
pub fn fault_record(fault: &Fault) -> FaultRecord {
    // "VIRTIO_IOMMU_FAULT_R_DOMAIN (1) The endpoint attempted to access address without being
    // attached to a domain. VIRTIO_IOMMU_FAULT_R_MAPPING (2) The endpoint attempted to access
    // address, which wasn't mapped in the domain or didn't have the correct protection flags."
    let reason = match fault.reason {
        FaultReason::NotAttached => FAULT_R_DOMAIN,
        FaultReason::Unmapped | FaultReason::Permission => FAULT_R_MAPPING,
    };
    // "The device SHOULD set undefined flags to zero."
    let mut flags = FAULT_F_ADDRESS;
    if fault.access.contains(Perms::READ) {
        flags |= FAULT_F_READ;
    }
    if fault.access.contains(Perms::WRITE) {
        flags |= FAULT_F_WRITE;
    }
    FaultRecord {
        reason,
        flags,
        endpoint: fault.endpoint.0,
        address: fault.iova,
    }
}

struct EventQueue {
    queue: Queue,
    mem: GuestRam,
    interrupt: Arc<dyn Interrupt>,
    buffers: ChainBuffers,
}

/// Writes fault reports into the event queue's buffers.
#[derive(Default)]
pub struct FaultReporter {
    eventq: Mutex<Option<EventQueue>>,
    reported: AtomicU64,
    dropped: AtomicU64,
}

impl fmt::Debug for FaultReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FaultReporter")
            .field("reported", &self.reported())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl FaultReporter {
    /// A reporter with no event queue yet (faults are dropped until one is attached).
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts delivering into `queue` (the virtio-iommu was activated).
    pub fn attach(&self, queue: Queue, mem: GuestRam, interrupt: Arc<dyn Interrupt>) {
        *self.eventq.lock() = Some(EventQueue {
            queue,
            mem,
            interrupt,
            buffers: ChainBuffers::new(),
        });
    }

    /// Stops delivering (the virtio-iommu was reset).
    pub fn detach(&self) {
        *self.eventq.lock() = None;
    }

    /// Faults written to the event queue so far.
    pub fn reported(&self) -> u64 {
        self.reported.load(Ordering::Relaxed)
    }

    /// Faults dropped so far because no event buffer was available.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Reports a refused DMA: writes one fault record into the next event buffer and notifies
    /// the driver, or drops (and counts) the report when the driver has given no buffer.
    pub fn report(&self, fault: &Fault) {
        let record = fault_record(fault).to_bytes();
        let mut guard = self.eventq.lock();
        let delivered = match guard.as_mut() {
            Some(eq) => eq.deliver(&record),
            None => false,
        };
        drop(guard);
        if delivered {
            self.reported.fetch_add(1, Ordering::Relaxed);
            debug!("iommu fault reported: {fault}");
        } else {
            // "If no buffer is available, the device can either wait for one to be consumed, or
            // drop the event." Waiting would stall the faulting device; drop and count.
            self.dropped.fetch_add(1, Ordering::Relaxed);
            warn!("iommu fault dropped (no event buffer): {fault}");
        }
    }
}

impl EventQueue {
    /// Writes `record` into the first available buffer that can hold all of it. Returns whether
    /// it was written.
    fn deliver(&mut self, record: &[u8; FAULT_SIZE]) -> bool {
        let mut delivered = false;
        let mut used_any = false;
        while let Some(chain) = self.queue.pop_descriptor_chain(&self.mem) {
            let head = chain.head_index();
            let fits = self.buffers.load(chain).is_ok()
                && self.buffers.writable_len() >= FAULT_SIZE as u64;
            // "If a buffer is too small to contain the fault report, the device SHOULD NOT use
            // multiple buffers to describe it." A buffer that cannot hold the whole report is
            // returned unwritten (used length 0) and the next one is tried.
            let used_len = if fits && self.buffers.write_at(&self.mem, 0, record).is_ok() {
                FAULT_SIZE as u32
            } else {
                0
            };
            if self.queue.add_used(&self.mem, head, used_len).is_err() {
                break;
            }
            used_any = true;
            if used_len != 0 {
                delivered = true;
                break;
            }
        }
        if used_any {
            self.interrupt.signal_used_queue(EVENTQ_INDEX);
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::iommu::EndpointId;

    #[test]
    fn unattached_access_is_a_domain_fault_with_address() {
        let rec = fault_record(&Fault {
            endpoint: EndpointId(3),
            iova: 0x1234,
            access: Perms::READ,
            reason: FaultReason::NotAttached,
        });
        assert_eq!(rec.reason, FAULT_R_DOMAIN);
        assert_eq!(rec.flags, FAULT_F_READ | FAULT_F_ADDRESS);
        assert_eq!(rec.endpoint, 3);
        assert_eq!(rec.address, 0x1234);
    }

    #[test]
    fn permission_fault_is_a_mapping_fault_with_write_flag() {
        let rec = fault_record(&Fault {
            endpoint: EndpointId(1),
            iova: 0x2000,
            access: Perms::WRITE,
            reason: FaultReason::Permission,
        });
        assert_eq!(rec.reason, FAULT_R_MAPPING);
        assert_eq!(rec.flags, FAULT_F_WRITE | FAULT_F_ADDRESS);
    }

    #[test]
    fn fault_without_event_queue_is_dropped_and_counted() {
        let r = FaultReporter::new();
        r.report(&Fault {
            endpoint: EndpointId(1),
            iova: 0,
            access: Perms::READ,
            reason: FaultReason::Unmapped,
        });
        assert_eq!(r.dropped(), 1);
        assert_eq!(r.reported(), 0);
    }
}
