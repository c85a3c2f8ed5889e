//! Pinned memory tokens: one pin of a VMO range through a BTI, its device addresses, and what
//! unpin and quarantine do to it.

use std::sync::Arc;

use parking_lot::Mutex;

use super::bti::Bti;
use super::iommu_obj::PinMapping;
use super::object::ObjectHeader;
use super::vmo::{PinTarget, Vmo};

#[derive(Debug)]
struct PmtState {
    /// The pages are still pinned (false after an explicit unpin).
    pinned: bool,
    explicitly_unpinned: bool,
    /// IOMMU mapping; `None` once unmapped.
    mapping: Option<PinMapping>,
}

/// A PMT kernel object.
#[derive(Debug)]
pub(crate) struct Pmt {
    pub(crate) header: ObjectHeader,
    /// "PMT --RefPtr--> BTI".
    pub(crate) bti: Arc<Bti>,
    /// "The PMT retains a reference to the associated VMO": keeps it (and a child VMO's parent
    /// relation) alive. Never read.
    _vmo: Arc<Vmo>,
    target: PinTarget,
    /// Bytes pinned.
    pub(crate) size: u64,
    state: Mutex<PmtState>,
}

impl Pmt {
    /// A PMT over pages already pinned in `target` (and counted in the BTI's `pmo_count`),
    /// not yet mapped into the IOMMU.
    pub(crate) fn new(
        header: ObjectHeader,
        bti: Arc<Bti>,
        vmo: Arc<Vmo>,
        target: PinTarget,
        size: u64,
    ) -> Pmt {
        Pmt {
            header,
            bti,
            _vmo: vmo,
            target,
            size,
            state: Mutex::new(PmtState {
                pinned: true,
                explicitly_unpinned: false,
                mapping: None,
            }),
        }
    }

    pub(crate) fn set_mapping(&self, mapping: PinMapping) {
        self.state.lock().mapping = Some(mapping);
    }

    fn unmap(&self, mapping: Option<PinMapping>) {
        if let (Some(PinMapping::Iova(block)), Some(space)) = (mapping, &self.bti.space) {
            space.unmap(block);
        }
    }

    /// `PinnedMemoryTokenDispatcher::Unpin`: "set explicitly_unpinned; UnmapFromIommuLocked();
    /// ... vmo->Unpin(offset,size)". Unmapping comes first, so once this returns no DMA reaches
    /// the pages.
    pub(crate) fn unpin(&self) {
        let mut st = self.state.lock();
        st.explicitly_unpinned = true;
        self.unmap(st.mapping.take());
        if st.pinned {
            st.pinned = false;
            self.target.unpin();
        }
    }

    /// Closing the handle without unpinning: "unmap from the IOMMU; leave the pages pinned;
    /// bti->Quarantine(RefPtr(this))".
    pub(crate) fn on_zero_handles(self: &Arc<Self>) {
        {
            let mut st = self.state.lock();
            if st.explicitly_unpinned || !st.pinned {
                return;
            }
            self.unmap(st.mapping.take());
        }
        self.bti.quarantine(self.clone());
    }
}

impl Drop for Pmt {
    fn drop(&mut self) {
        let st = self.state.get_mut();
        let mapping = st.mapping.take();
        let pinned = std::mem::replace(&mut st.pinned, false);
        self.unmap(mapping);
        // A quarantined PMT released by zx_bti_release_quarantine: "each quarantined PMT is
        // destroyed, its pages are unpinned, and RemovePmo decrements pmo_count."
        if pinned {
            self.target.unpin();
        }
        self.bti.remove_pmo();
    }
}
