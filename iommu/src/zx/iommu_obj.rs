//! IOMMU objects: Zircon's dummy IOMMU (identity, no protection) and this crate's translating
//! IOMMU, in which every BTI has its own IOVA space backed by a private domain of an
//! [`Engine`](crate::Engine).
//!
//! The translating type is `IOMMU_TYPE_TRANSLATING` (0x5654_0001, far from Zircon's 0 = DUMMY,
//! 1 = INTEL, 2 = ARM SMMU). Its descriptor is 16 bytes, little-endian:
//!
//! | offset | field                | meaning                                                  |
//! |--------|----------------------|----------------------------------------------------------|
//! | 0      | `minimum_contiguity` | power of two >= page size: IOVA block size and alignment |
//! | 8      | `aspace_size`        | bytes of IOVA space per BTI; `u64::MAX` means 2^64; else a multiple of `minimum_contiguity` of at least two blocks |
//!
//! The first block of every IOVA space is never handed out, so device address 0 always faults.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::Status;
use super::constants::*;
use super::iova::IovaAllocator;
use super::object::ObjectHeader;
use super::pages::Run;
use crate::{DomainId, EndpointId, Engine, EngineConfig, Error, IovaRange, Perms};

/// Our translating IOMMU type (`zx_iommu_create` `type`); far from Zircon's own type numbers.
pub const IOMMU_TYPE_TRANSLATING: u32 = 0x5654_0001;

/// Size of the translating IOMMU's descriptor.
pub const TRANSLATING_DESC_LEN: usize = 16;

/// The descriptor of an [`IOMMU_TYPE_TRANSLATING`] IOMMU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranslatingIommuDesc {
    /// IOVA block size and alignment for COMPRESS pins; a power of two of at least a page.
    pub minimum_contiguity: u64,
    /// IOVA space of each BTI in bytes (`u64::MAX` = 2^64).
    pub aspace_size: u64,
}

impl TranslatingIommuDesc {
    /// The 16-byte little-endian wire form.
    pub fn to_bytes(&self) -> [u8; TRANSLATING_DESC_LEN] {
        let mut b = [0u8; TRANSLATING_DESC_LEN];
        b[..8].copy_from_slice(&self.minimum_contiguity.to_le_bytes());
        b[8..].copy_from_slice(&self.aspace_size.to_le_bytes());
        b
    }

    /// Parses and validates a descriptor; `ZX_ERR_INVALID_ARGS` if it is malformed.
    pub fn parse(desc: &[u8], page_size: u64) -> Result<TranslatingIommuDesc, Status> {
        let bytes: &[u8; TRANSLATING_DESC_LEN] =
            desc.try_into().map_err(|_| ZX_ERR_INVALID_ARGS)?;
        let (lo, hi) = bytes.split_at(8);
        let minimum_contiguity =
            u64::from_le_bytes(lo.try_into().map_err(|_| ZX_ERR_INVALID_ARGS)?);
        let aspace_size = u64::from_le_bytes(hi.try_into().map_err(|_| ZX_ERR_INVALID_ARGS)?);
        if !minimum_contiguity.is_power_of_two() || minimum_contiguity < page_size {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        if aspace_size != u64::MAX
            && (!aspace_size.is_multiple_of(minimum_contiguity)
                || aspace_size / minimum_contiguity < 2)
        {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        Ok(TranslatingIommuDesc {
            minimum_contiguity,
            aspace_size,
        })
    }

    /// The last usable IOVA.
    fn aspace_last(&self) -> u64 {
        if self.aspace_size == u64::MAX {
            u64::MAX
        } else {
            self.aspace_size - 1
        }
    }
}

/// The IOVA space of one bus transaction ID on the translating IOMMU: an engine endpoint attached
/// to a private domain, and the allocator of its IOVAs. Shared by every BTI with that ID; detached
/// when the last one is gone.
#[derive(Debug)]
pub(crate) struct BusSpace {
    pub(crate) endpoint: EndpointId,
    pub(crate) domain: DomainId,
    engine: Arc<Engine>,
    iova: Mutex<IovaAllocator>,
}

/// Pins with at most this many physically contiguous runs are mapped with one `Engine::map` per
/// run; more fragmented pins with one `Engine::map_pages`.
const RUNS_MAPPED_ONE_BY_ONE: usize = 16;

/// IOVAs allocated and mapped for one pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IovaBlock {
    pub(crate) start: u64,
    /// Rounded up to the minimum contiguity.
    pub(crate) len: u64,
}

fn engine_status(e: Error) -> Status {
    match e {
        Error::NoMemory => ZX_ERR_NO_MEMORY,
        Error::OutOfInputRange => ZX_ERR_OUT_OF_RANGE,
        _ => ZX_ERR_INTERNAL,
    }
}

impl BusSpace {
    /// Allocates IOVAs for `len` bytes and maps `runs` there in order with `perms`: one engine
    /// call per physically contiguous run, or a single scattered-page call when the pin is
    /// fragmented. "ZX_ERR_NO_RESOURCES" when the IOVA space is exhausted.
    pub(crate) fn map(
        &self,
        runs: &[Run],
        len: u64,
        perms: Perms,
        page_size: u64,
    ) -> Result<IovaBlock, Status> {
        let (start, rounded) = self.iova.lock().alloc(len).ok_or(ZX_ERR_NO_RESOURCES)?;
        let block = IovaBlock {
            start,
            len: rounded,
        };
        let res = if runs.len() <= RUNS_MAPPED_ONE_BY_ONE {
            self.map_runs(runs, start, perms, page_size)
        } else {
            let mut pages = Vec::new();
            for run in runs {
                pages.extend((0..run.pages).map(|i| run.paddr + i * page_size));
            }
            self.engine
                .map_pages(self.domain, start, &pages, perms)
                .map_err(engine_status)
        };
        if let Err(s) = res {
            self.unmap(block);
            return Err(s);
        }
        Ok(block)
    }

    fn map_runs(
        &self,
        runs: &[Run],
        start: u64,
        perms: Perms,
        page_size: u64,
    ) -> Result<(), Status> {
        let mut iova = start;
        for run in runs {
            let bytes = run.pages * page_size;
            let range = IovaRange::from_start_len(iova, bytes).ok_or(ZX_ERR_INTERNAL)?;
            self.engine
                .map(self.domain, range, run.paddr, perms)
                .map_err(engine_status)?;
            iova = iova.wrapping_add(bytes);
        }
        Ok(())
    }

    /// Removes every mapping of a pin, then frees its IOVAs. Once this returns no DMA by this
    /// bus transaction ID reaches the pin's pages.
    pub(crate) fn unmap(&self, block: IovaBlock) {
        if let Some(range) = IovaRange::from_start_len(block.start, block.len)
            && let Err(e) = self.engine.unmap(self.domain, range)
        {
            log::error!(
                "zx: unmapping IOVAs {:#x}+{:#x} failed: {e}",
                block.start,
                block.len
            );
        }
        self.iova.lock().free(block.start, block.len);
    }

    /// IOVA bytes currently allocated.
    pub(crate) fn allocated(&self) -> u64 {
        self.iova.lock().allocated()
    }
}

impl Drop for BusSpace {
    fn drop(&mut self) {
        // Fails harmlessly when a newer space for the same ID already moved the endpoint away.
        let _ = self.engine.detach(self.endpoint, self.domain);
    }
}

/// The translating IOMMU's state.
#[derive(Debug)]
pub(crate) struct Translating {
    pub(crate) engine: Arc<Engine>,
    pub(crate) desc: TranslatingIommuDesc,
    spaces: Mutex<Spaces>,
}

#[derive(Debug, Default)]
struct Spaces {
    by_id: HashMap<u32, Weak<BusSpace>>,
    next_domain: u32,
}

impl Translating {
    fn new(desc: TranslatingIommuDesc, page_size: u64) -> Result<Translating, Status> {
        let config = EngineConfig {
            granule: page_size,
            input_range: IovaRange::new(0, desc.aspace_last()),
            ..EngineConfig::default()
        };
        let engine = Engine::try_new(config).map_err(|_| ZX_ERR_INVALID_ARGS)?;
        Ok(Translating {
            engine: Arc::new(engine),
            desc,
            spaces: Mutex::new(Spaces::default()),
        })
    }

    /// The IOVA space of `bti_id`, creating it (endpoint + private domain) on first use.
    /// "bti_id must fit u32, else INVALID_ARGS" (`IsValidBusTxnId`).
    pub(crate) fn space(&self, bti_id: u64) -> Result<Arc<BusSpace>, Status> {
        let id = u32::try_from(bti_id).map_err(|_| ZX_ERR_INVALID_ARGS)?;
        let mut spaces = self.spaces.lock();
        if let Some(existing) = spaces.by_id.get(&id).and_then(Weak::upgrade) {
            return Ok(existing);
        }
        let endpoint = EndpointId(id);
        self.engine.add_endpoint(endpoint).map_err(engine_status)?;
        // A fresh domain ID per space, so a dying old space cannot detach a new one.
        let mut domain = None;
        for _ in 0..16 {
            spaces.next_domain = spaces.next_domain.wrapping_add(1);
            let candidate = DomainId(spaces.next_domain);
            if self.engine.mappings(candidate).is_err() {
                domain = Some(candidate);
                break;
            }
        }
        let domain = domain.ok_or(ZX_ERR_NO_RESOURCES)?;
        self.engine
            .attach(endpoint, domain, false)
            .map_err(engine_status)?;
        let block = self.desc.minimum_contiguity;
        let space = Arc::new(BusSpace {
            endpoint,
            domain,
            engine: self.engine.clone(),
            // The first block stays unallocated so that device address 0 always faults.
            iova: Mutex::new(IovaAllocator::new(block, self.desc.aspace_last(), block)),
        });
        spaces.by_id.retain(|_, w| w.strong_count() > 0);
        spaces.by_id.insert(id, Arc::downgrade(&space));
        Ok(space)
    }
}

/// What kind of IOMMU an object is.
#[derive(Debug)]
pub(crate) enum IommuKind {
    /// `ZX_IOMMU_TYPE_DUMMY`: "Device addresses equal physical addresses (identity mapping)."
    Dummy,
    /// [`IOMMU_TYPE_TRANSLATING`].
    Translating(Translating),
}

/// An IOMMU kernel object.
#[derive(Debug)]
pub(crate) struct Iommu {
    pub(crate) header: ObjectHeader,
    pub(crate) kind: IommuKind,
    page_size: u64,
}

impl Iommu {
    /// Creates an IOMMU of `iommu_type` from its descriptor. Checks after the resource and
    /// descriptor-length checks of the syscall: "Any other type returns ZX_ERR_NOT_SUPPORTED.
    /// The type is checked before the dummy descriptor length."
    pub(crate) fn create(
        header: ObjectHeader,
        iommu_type: u32,
        desc: &[u8],
        page_size: u64,
    ) -> Result<Iommu, Status> {
        let kind = match iommu_type {
            ZX_IOMMU_TYPE_DUMMY => {
                // "DummyIommu::Create(desc, desc_len) returns ZX_ERR_INVALID_ARGS if
                // desc_len != sizeof(zx_iommu_desc_dummy_t) (1)."
                if desc.len() != 1 {
                    return Err(ZX_ERR_INVALID_ARGS);
                }
                IommuKind::Dummy
            }
            IOMMU_TYPE_TRANSLATING => {
                let d = TranslatingIommuDesc::parse(desc, page_size)?;
                IommuKind::Translating(Translating::new(d, page_size)?)
            }
            // ZX_IOMMU_TYPE_INTEL drives real VT-d hardware, which this host-side kernel does not
            // have; like every unknown type it is not supported here.
            _ => return Err(ZX_ERR_NOT_SUPPORTED),
        };
        Ok(Iommu {
            header,
            kind,
            page_size,
        })
    }

    /// "`minimum_contiguity(bti_id)` returns PAGE_SIZE" for the dummy IOMMU.
    pub(crate) fn minimum_contiguity(&self) -> u64 {
        match &self.kind {
            IommuKind::Dummy => self.page_size,
            IommuKind::Translating(t) => t.desc.minimum_contiguity,
        }
    }

    /// "`aspace_size(bti_id)` returns UINT64_MAX" for the dummy IOMMU.
    pub(crate) fn aspace_size(&self) -> u64 {
        match &self.kind {
            IommuKind::Dummy => u64::MAX,
            IommuKind::Translating(t) => t.desc.aspace_size,
        }
    }

    pub(crate) fn engine(&self) -> Option<Arc<Engine>> {
        match &self.kind {
            IommuKind::Dummy => None,
            IommuKind::Translating(t) => Some(t.engine.clone()),
        }
    }
}

/// Where a pin's device addresses come from.
#[derive(Debug)]
pub(crate) enum PinMapping {
    /// Dummy IOMMU: device address = physical address.
    Identity,
    /// Translating IOMMU: mapped at these IOVAs in a BTI's space.
    Iova(IovaBlock),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_validation() {
        let ok = TranslatingIommuDesc {
            minimum_contiguity: 1 << 16,
            aspace_size: 1 << 32,
        };
        assert_eq!(TranslatingIommuDesc::parse(&ok.to_bytes(), 4096), Ok(ok));
        let bad = |m: u64, a: u64| {
            TranslatingIommuDesc::parse(
                &TranslatingIommuDesc {
                    minimum_contiguity: m,
                    aspace_size: a,
                }
                .to_bytes(),
                4096,
            )
        };
        assert_eq!(bad(2048, 1 << 32), Err(ZX_ERR_INVALID_ARGS));
        assert_eq!(bad(3 << 12, 1 << 32), Err(ZX_ERR_INVALID_ARGS));
        assert_eq!(bad(0, 1 << 32), Err(ZX_ERR_INVALID_ARGS));
        assert_eq!(bad(4096, 4096), Err(ZX_ERR_INVALID_ARGS));
        assert_eq!(bad(4096, 4096 * 3 + 1), Err(ZX_ERR_INVALID_ARGS));
        assert!(bad(4096, u64::MAX).is_ok());
        assert!(bad(1 << 63, u64::MAX).is_ok());
        assert_eq!(
            TranslatingIommuDesc::parse(&[0; 15], 4096),
            Err(ZX_ERR_INVALID_ARGS)
        );
        assert_eq!(
            TranslatingIommuDesc::parse(&[0; 17], 4096),
            Err(ZX_ERR_INVALID_ARGS)
        );
    }
}
