//! Guest RAM: anonymous mappings split around the 32-bit MMIO gap (see [`crate::layout`]).

use vm_memory::{GuestAddress, GuestMemoryMmap};

use crate::layout;

/// Guest RAM.
pub type GuestMemory = GuestMemoryMmap<()>;

/// Why guest RAM could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The size is outside the supported range.
    #[error(
        "guest memory of {mib} MiB is outside the supported range {} to {} MiB",
        layout::MIN_MEMORY / layout::MIB,
        layout::MAX_MEMORY / layout::MIB
    )]
    BadSize {
        /// Requested size.
        mib: u64,
    },
    /// mmap failed.
    #[error("failed to map {mib} MiB of guest memory")]
    Map {
        /// Requested size.
        mib: u64,
        /// Cause.
        #[source]
        source: vm_memory::mmap::FromRangesError,
    },
}

/// Maps `mib` MiB of zeroed guest RAM.
pub fn create_guest_memory(mib: u64) -> Result<GuestMemory, MemoryError> {
    let size = mib
        .checked_mul(layout::MIB)
        .filter(|s| (layout::MIN_MEMORY..=layout::MAX_MEMORY).contains(s))
        .ok_or(MemoryError::BadSize { mib })?;
    let ranges: Vec<(GuestAddress, usize)> = layout::ram_regions(size)
        .into_iter()
        // MAX_MEMORY fits in usize on the only supported target (x86_64).
        .map(|(base, len)| (GuestAddress(base), len as usize))
        .collect();
    GuestMemoryMmap::from_ranges(&ranges).map_err(|source| MemoryError::Map { mib, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};

    #[test]
    fn regions_follow_the_layout() {
        let mem = create_guest_memory(64).unwrap();
        let regions: Vec<(u64, u64)> = mem.iter().map(|r| (r.start_addr().0, r.len())).collect();
        assert_eq!(regions, vec![(0, 64 * layout::MIB)]);
    }

    #[test]
    fn sizes_outside_the_range_are_rejected() {
        assert!(matches!(
            create_guest_memory(1),
            Err(MemoryError::BadSize { mib: 1 })
        ));
        assert!(matches!(
            create_guest_memory(u64::MAX),
            Err(MemoryError::BadSize { .. })
        ));
    }
}
