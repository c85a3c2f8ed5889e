//! [`IommuConfig`]: what the VMM configures about the virtio-iommu (page sizes, input range,
//! domain range, PROBE size, initial bypass, reserved regions, limits), and its validation.

use ::iommu::{EngineConfig, IovaRange};

use super::protocol::{RESV_MEM_SIZE, RESV_MEM_T_MSI, RESV_MEM_T_RESERVED, ResvMem};

/// What a reserved IOVA region is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReservedKind {
    /// IOVAs that cannot be mapped (`VIRTIO_IOMMU_RESV_MEM_T_RESERVED`).
    Reserved,
    /// An MSI doorbell window (`VIRTIO_IOMMU_RESV_MEM_T_MSI`).
    Msi,
}

/// A reserved IOVA region reported by PROBE (RESV_MEM) for every endpoint, and refused by MAP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReservedRegion {
    /// First reserved IOVA.
    pub start: u64,
    /// Last reserved IOVA (inclusive).
    pub end: u64,
    /// What it is.
    pub kind: ReservedKind,
}

impl ReservedRegion {
    /// The x86 MSI window, 0xFEE00000–0xFEEFFFFF: writes there are interrupts, not memory.
    pub const X86_MSI: ReservedRegion = ReservedRegion {
        start: 0xFEE0_0000,
        end: 0xFEEF_FFFF,
        kind: ReservedKind::Msi,
    };

    /// Whether `[start, end]` shares at least one address with the region.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        start <= self.end && self.start <= end
    }

    /// The PROBE property describing it.
    pub fn property(&self) -> ResvMem {
        ResvMem {
            subtype: match self.kind {
                ReservedKind::Reserved => RESV_MEM_T_RESERVED,
                ReservedKind::Msi => RESV_MEM_T_MSI,
            },
            start: self.start,
            end: self.end,
        }
    }
}

/// The virtio-iommu's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IommuConfig {
    /// `page_size_mask`: page sizes the device maps efficiently; the lowest set bit is the
    /// granule (at least 4 KiB). Default: every power of two from 4 KiB up.
    pub page_size_mask: u64,
    /// `input_range`: the IOVAs MAP accepts. Default `[0, 2^64-1]`.
    pub input_range: IovaRange,
    /// `domain_range`: the domain IDs accepted, inclusive. Default `[0, 2^32-1]`.
    pub domain_range: (u32, u32),
    /// `probe_size`: bytes of PROBE properties; room for every reserved region. Default 64.
    pub probe_size: u32,
    /// Initial `bypass` (unattached endpoints bypass translation). Default off.
    pub bypass: bool,
    /// Reserved regions reported by PROBE for every endpoint. Default: the x86 MSI window.
    pub reserved_regions: Vec<ReservedRegion>,
    /// Limit on live domains (ATTACH beyond it -> NOMEM). Default 4096.
    pub max_domains: usize,
    /// Limit on live mappings (MAP beyond it -> NOMEM). Default 2^20.
    pub max_mappings: usize,
    /// Size of the request and event queues (a power of two). Default 256.
    pub queue_size: u16,
}

impl Default for IommuConfig {
    fn default() -> Self {
        IommuConfig {
            page_size_mask: !0xfff,
            input_range: IovaRange::new(0, u64::MAX),
            domain_range: (0, u32::MAX),
            probe_size: 64,
            bypass: false,
            reserved_regions: vec![ReservedRegion::X86_MSI],
            max_domains: 4096,
            max_mappings: 1 << 20,
            queue_size: 256,
        }
    }
}

/// Why an [`IommuConfig`] cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IommuConfigError {
    /// "The device MUST set at least one bit in page_size_mask".
    #[error("page_size_mask has no bit set")]
    EmptyPageSizeMask,
    /// The engine's smallest granule is 4 KiB.
    #[error("granule {0:#x} is smaller than 4 KiB")]
    GranuleTooSmall(u64),
    /// `input_range.start > input_range.last`.
    #[error("input range is empty")]
    EmptyInputRange,
    /// `domain_range.0 > domain_range.1`.
    #[error("domain range is empty")]
    EmptyDomainRange,
    /// A reserved region ends before it starts.
    #[error("reserved region {0:#x}..={1:#x} is empty")]
    EmptyReservedRegion(u64, u64),
    /// `probe_size` cannot hold every reserved region.
    #[error("probe_size {probe_size} cannot hold {regions} reserved regions")]
    ProbeSizeTooSmall {
        /// Configured `probe_size`.
        probe_size: u32,
        /// Number of reserved regions.
        regions: usize,
    },
    /// Queue size zero, not a power of two, or above 32768.
    #[error("queue size {0} is not a power of two in 1..=32768")]
    BadQueueSize(u16),
    /// A shared engine was created with a different granule, input range or domain range.
    #[error("engine configuration does not match the virtio-iommu configuration")]
    EngineMismatch,
}

impl IommuConfig {
    /// The granule: the lowest set bit of `page_size_mask`.
    pub fn granule(&self) -> u64 {
        1u64 << self.page_size_mask.trailing_zeros().min(63)
    }

    /// Checks the configuration.
    pub fn validate(&self) -> Result<(), IommuConfigError> {
        if self.page_size_mask == 0 {
            return Err(IommuConfigError::EmptyPageSizeMask);
        }
        if self.granule() < 4096 {
            return Err(IommuConfigError::GranuleTooSmall(self.granule()));
        }
        if self.input_range.is_empty() {
            return Err(IommuConfigError::EmptyInputRange);
        }
        if self.domain_range.0 > self.domain_range.1 {
            return Err(IommuConfigError::EmptyDomainRange);
        }
        if let Some(r) = self.reserved_regions.iter().find(|r| r.start > r.end) {
            return Err(IommuConfigError::EmptyReservedRegion(r.start, r.end));
        }
        let needed = self.reserved_regions.len().saturating_mul(RESV_MEM_SIZE);
        if (self.probe_size as usize) < needed {
            return Err(IommuConfigError::ProbeSizeTooSmall {
                probe_size: self.probe_size,
                regions: self.reserved_regions.len(),
            });
        }
        if self.queue_size == 0 || !self.queue_size.is_power_of_two() || self.queue_size > 32768 {
            return Err(IommuConfigError::BadQueueSize(self.queue_size));
        }
        Ok(())
    }

    /// The engine configuration matching this device configuration.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            granule: self.granule(),
            input_range: self.input_range,
            domain_range: self.domain_range,
            max_domains: self.max_domains,
            max_mappings: self.max_mappings,
            bypass: self.bypass,
        }
    }

    /// Whether an engine created with `engine` enforces the same granule and ranges.
    pub fn matches_engine(&self, engine: &EngineConfig) -> bool {
        engine.granule == self.granule()
            && engine.input_range == self.input_range
            && engine.domain_range == self.domain_range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_with_4k_granule_and_msi_window() {
        let c = IommuConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.granule(), 4096);
        assert_eq!(c.reserved_regions, vec![ReservedRegion::X86_MSI]);
        assert!(c.matches_engine(&c.engine_config()));
    }

    #[test]
    fn empty_page_size_mask_is_rejected() {
        let c = IommuConfig {
            page_size_mask: 0,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(IommuConfigError::EmptyPageSizeMask));
    }

    #[test]
    fn sub_4k_granule_is_rejected() {
        let c = IommuConfig {
            page_size_mask: 0x200,
            ..Default::default()
        };
        assert_eq!(c.validate(), Err(IommuConfigError::GranuleTooSmall(0x200)));
    }

    #[test]
    fn probe_size_must_hold_every_region() {
        let c = IommuConfig {
            probe_size: 23,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(IommuConfigError::ProbeSizeTooSmall { .. })
        ));
    }

    #[test]
    fn region_overlap_is_inclusive() {
        let r = ReservedRegion::X86_MSI;
        assert!(r.overlaps(0xFEEF_F000, 0xFEF0_0FFF));
        assert!(r.overlaps(0, u64::MAX));
        assert!(!r.overlaps(0xFEF0_0000, u64::MAX));
        assert!(!r.overlaps(0, 0xFEDF_FFFF));
    }
}
