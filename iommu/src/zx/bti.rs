//! Bus transaction initiators: the PMT bookkeeping (`pmo_count`) and the quarantine.

use std::sync::Arc;

use parking_lot::Mutex;

use super::iommu_obj::{BusSpace, Iommu};
use super::object::ObjectHeader;
use super::pmt::Pmt;

/// A BTI's mutable state.
#[derive(Debug, Default)]
pub(crate) struct BtiState {
    /// "Sets zero_handles. Further pins are impossible (BAD_STATE...)."
    pub(crate) zero_handles: bool,
    /// "pmo_count counts all PMTs created from this BTI and not yet destroyed, including
    /// quarantined ones."
    pub(crate) pmo_count: u64,
    /// "BTI.quarantine_: RefPtr list of quarantined PMTs (quarantine_count)".
    pub(crate) quarantine: Vec<Arc<Pmt>>,
}

/// A BTI kernel object.
#[derive(Debug)]
pub(crate) struct Bti {
    pub(crate) header: ObjectHeader,
    /// "The BTI keeps a reference to the IOMMU."
    pub(crate) iommu: Arc<Iommu>,
    pub(crate) bti_id: u64,
    /// The IOVA space on a translating IOMMU (None on the dummy IOMMU).
    pub(crate) space: Option<Arc<BusSpace>>,
    pub(crate) state: Mutex<BtiState>,
}

impl Bti {
    /// "If the BTI has reached zero handles, or its quarantine list is non-empty:
    /// ZX_ERR_BAD_STATE." Otherwise counts a new PMT.
    pub(crate) fn begin_pin(&self) -> bool {
        let mut st = self.state.lock();
        if st.zero_handles || !st.quarantine.is_empty() {
            return false;
        }
        st.pmo_count += 1;
        true
    }

    /// A PMT of this BTI was destroyed ("RemovePmo").
    pub(crate) fn remove_pmo(&self) {
        let mut st = self.state.lock();
        st.pmo_count = st.pmo_count.saturating_sub(1);
    }

    /// "bti->Quarantine(RefPtr(this)): the BTI takes a reference and appends the PMT to its
    /// quarantine list."
    pub(crate) fn quarantine(&self, pmt: Arc<Pmt>) {
        let mut st = self.state.lock();
        if st.zero_handles {
            // "If the BTI has already reached zero handles when this happens, the kernel prints a
            // 'leaked N pages' OOPS. The PMT, its pins, and the BTI then leak forever."
            log::warn!(
                "zx: BTI {} (id {:#x}) has no handles: quarantined PMT of {} bytes is leaked",
                self.header.koid,
                self.bti_id,
                pmt.size
            );
        }
        st.quarantine.push(pmt);
    }

    /// "Under the lock, the quarantine list is swapped with an empty one." The caller drops the
    /// returned PMTs after the lock is released, which unpins their pages.
    pub(crate) fn take_quarantine(&self) -> Vec<Arc<Pmt>> {
        std::mem::take(&mut self.state.lock().quarantine)
    }

    /// "Sets zero_handles ... The quarantine is not cleared."
    pub(crate) fn on_zero_handles(&self) {
        let mut st = self.state.lock();
        st.zero_handles = true;
        if !st.quarantine.is_empty() {
            log::warn!(
                "zx: BTI {} (id {:#x}) closed with {} quarantined PMTs: their pages stay pinned forever",
                self.header.koid,
                self.bti_id,
                st.quarantine.len()
            );
        }
    }

    /// (pmo_count, quarantine_count).
    pub(crate) fn counts(&self) -> (u64, u64) {
        let st = self.state.lock();
        (st.pmo_count, st.quarantine.len() as u64)
    }
}
