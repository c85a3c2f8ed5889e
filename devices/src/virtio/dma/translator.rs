//! [`EndpointTranslator`]: the `vm_memory::Iommu` through which a device behind the virtio-iommu
//! sees guest memory.
//!
//! `vm_memory::IommuMemory` calls [`vm_memory::Iommu::translate`] for every access — and
//! virtio-queue makes every descriptor, ring and buffer access through `GuestMemory`, so
//! descriptor tables, avail/used rings, indirect tables and data buffers are all translated and
//! permission-checked for the device's endpoint.
//!
//! Translation itself is the engine's [`EndpointIommu`] (an IOTLB tagged with the engine's
//! invalidation generation, so nothing is served from contents older than the last
//! UNMAP/DETACH). `EndpointIommu` reports a refusal only as text, so when it refuses an access
//! this wrapper asks the engine for the structured [`Fault`] (the same translation, one more
//! time), reports it on the virtio-iommu event queue and remembers it for the device
//! ([`EndpointTranslator::take_fault`]).

use std::fmt;
use std::sync::Arc;

use ::iommu::{EndpointId, EndpointIommu, Fault, perms_from_permissions};
use parking_lot::Mutex;
use vm_memory::iommu::{Error as IommuError, IotlbIterator, IovaRange as VmIovaRange};
use vm_memory::{GuestAddress, Iommu, Permissions};

use super::IommuContext;

/// How often a refused access is re-checked when the engine, asked for the fault, finds the
/// access translatable after all (a MAP raced with the DMA).
const RACE_RETRIES: usize = 2;

/// Translates one endpoint's DMA through the engine and reports what it blocks.
pub struct EndpointTranslator {
    inner: Option<(EndpointIommu, Arc<IommuContext>)>,
    endpoint: EndpointId,
    last_fault: Mutex<Option<Fault>>,
}

impl fmt::Debug for EndpointTranslator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EndpointTranslator")
            .field("endpoint", &self.endpoint)
            .field("behind_iommu", &self.inner.is_some())
            .finish()
    }
}

impl EndpointTranslator {
    /// A translator for `endpoint`; without a context it refuses every translation (used when
    /// the `IommuMemory` is never switched to translation).
    pub(super) fn new(ctx: Option<Arc<IommuContext>>, endpoint: EndpointId) -> Self {
        EndpointTranslator {
            inner: ctx.map(|ctx| (EndpointIommu::new(Arc::clone(ctx.engine()), endpoint), ctx)),
            endpoint,
            last_fault: Mutex::new(None),
        }
    }

    /// The endpoint this translator serves.
    pub fn endpoint(&self) -> EndpointId {
        self.endpoint
    }

    /// The most recent fault since the last call, if any.
    pub fn take_fault(&self) -> Option<Fault> {
        self.last_fault.lock().take()
    }
}

impl Iommu for EndpointTranslator {
    type IotlbGuard<'a> = <EndpointIommu as Iommu>::IotlbGuard<'a>;

    fn translate(
        &self,
        iova: GuestAddress,
        length: usize,
        access: Permissions,
    ) -> Result<IotlbIterator<Self::IotlbGuard<'_>>, IommuError> {
        let Some((iommu, ctx)) = self.inner.as_ref() else {
            return Err(IommuError::IommuMisconfigured {
                reason: "device is not behind the IOMMU".into(),
            });
        };
        let len = length as u64;
        // vm-memory ranges have exclusive ends: an access reaching the last byte of the 64-bit
        // IOVA space cannot be described to it at all. Refused before any translation.
        if iova.0.checked_add(len).is_none() {
            return Err(IommuError::CannotResolve {
                iova_range: VmIovaRange { base: iova, length },
                reason: "access reaches the end of the 64-bit IOVA space".into(),
            });
        }
        let mut attempt = 0;
        loop {
            let err = match iommu.translate(iova, length, access) {
                Ok(it) => return Ok(it),
                Err(err) => err,
            };
            match ctx
                .engine()
                .translate(self.endpoint, iova.0, len, perms_from_permissions(access))
            {
                Err(fault) => {
                    ctx.faults().report(&fault);
                    *self.last_fault.lock() = Some(fault);
                    return Err(err);
                }
                // The engine translates it now: a MAP landed between the two calls. Try again.
                Ok(_) if attempt < RACE_RETRIES => attempt += 1,
                Ok(_) => return Err(err),
            }
        }
    }
}
