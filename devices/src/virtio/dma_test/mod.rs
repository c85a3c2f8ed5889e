//! The DMA test device (virtio device ID 0xFFF1), in the spirit of QEMU's `edu`: the guest asks
//! it to copy, fill or compare memory between IOVAs, and it reports completion and faults. Its
//! DMA goes through the IOMMU like every other device's, so it makes translation observable.
//! The guest-visible interface is specified in docs/PLATFORM.md, "DMA test device".

pub mod device;
pub mod protocol;

pub use device::{DmaTestCounters, VirtioDmaTest};
