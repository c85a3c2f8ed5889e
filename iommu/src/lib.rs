#![forbid(unsafe_code)]
//! iommu: the host-side IOMMU engine (owned by the core engineer; `zx` by the zx engineer).

pub mod zx;
