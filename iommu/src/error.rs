//! Failures of the translation core: [`Error`] for requests (attach/detach/map/unmap), [`Fault`]
//! for DMA translations.

use crate::types::{EndpointId, Perms};

/// Why a domain/mapping request failed. The virtio-iommu device maps these to its status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Error {
    /// The endpoint was never registered with `Engine::add_endpoint`.
    #[error("no such endpoint")]
    NoSuchEndpoint,
    /// The domain does not exist.
    #[error("no such domain")]
    NoSuchDomain,
    /// The domain ID is outside the configured domain range.
    #[error("domain ID outside the domain range")]
    DomainOutOfRange,
    /// A malformed or inconsistent request (bypass kind mismatch, MAP/UNMAP on a bypass domain,
    /// start after end, detaching from a domain the endpoint is not attached to, ...).
    #[error("invalid argument")]
    InvalidArgument,
    /// An address or size is not a multiple of the granule.
    #[error("address not aligned to the granule")]
    Unaligned,
    /// The IOVA range is not inside the configured input range.
    #[error("IOVA range outside the input range")]
    OutOfInputRange,
    /// MAP over a range that already holds (part of) a mapping.
    #[error("range overlaps an existing mapping")]
    Overlap,
    /// UNMAP whose range would split a mapping; nothing was removed.
    #[error("unmap would split a mapping")]
    WouldSplit,
    /// A configured limit (domains, mappings, table memory) would be exceeded.
    #[error("out of memory: engine limit reached")]
    NoMemory,
}

/// Why a DMA could not be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultReason {
    /// The endpoint is not attached to a domain and the global bypass is off (virtio-iommu
    /// `VIRTIO_IOMMU_FAULT_R_DOMAIN`); also any endpoint that was never registered.
    NotAttached,
    /// The address is not mapped in the endpoint's domain (`VIRTIO_IOMMU_FAULT_R_MAPPING`).
    Unmapped,
    /// The address is mapped without the permission the access needs
    /// (`VIRTIO_IOMMU_FAULT_R_MAPPING`).
    Permission,
}

/// A DMA the IOMMU refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("IOMMU fault: endpoint {} {:?} access at IOVA {:#x}: {:?}", endpoint.0, access, iova, reason)]
pub struct Fault {
    /// The endpoint that made the access.
    pub endpoint: EndpointId,
    /// The first byte of the access that could not be translated. For a DMA that runs past
    /// 2^64-1 with everything up to there translatable, this is the wrapped address 0.
    pub iova: u64,
    /// The access the DMA made.
    pub access: Perms,
    /// Why it was refused.
    pub reason: FaultReason,
}
