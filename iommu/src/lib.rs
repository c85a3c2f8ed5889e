#![forbid(unsafe_code)]
//! iommu: the host-side IOMMU engine.
//!
//! Two parts:
//! - the **translation core** (this crate's root: [`Engine`]): domains of mappings
//!   `[iova, iova+len) -> physical` with READ/WRITE/EXEC permissions, endpoints attached to at most
//!   one domain, MAP at an explicit IOVA, UNMAP with virtio-iommu semantics, per-endpoint and
//!   global bypass, and `translate(endpoint, iova, len, access)` for every device DMA, with a
//!   per-endpoint translation cache per thread that is invalidated synchronously. It is what the
//!   virtio-iommu device drives, and [`EndpointIommu`] plugs it into vm-memory's `IommuMemory`;
//! - [`zx`]: the Zircon syscall surface (BTI/PMT/VMO semantics) on top of it.
//!
//! Pure Rust: no KVM, no virtio, no `unsafe`.

mod cache;
mod endpoint_iommu;
mod engine;
mod error;
mod stats;
mod table;
mod types;

pub mod zx;

pub use endpoint_iommu::{EndpointIommu, permissions_from_perms, perms_from_permissions};
pub use engine::Engine;
pub use error::{Error, Fault, FaultReason};
pub use stats::EngineStats;
pub use types::{
    DomainId, EndpointId, EngineConfig, IovaRange, Mapping, Perms, Segment, Translation,
    TranslationIntoIter,
};
