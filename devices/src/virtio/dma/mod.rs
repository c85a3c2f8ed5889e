//! How a device reaches guest memory, with or without the IOMMU.
//!
//! Every DMA-capable device holds a [`DeviceMemory`]: a `vm_memory::IommuMemory` over guest RAM
//! plus, when the device sits behind the virtio-iommu, its endpoint's [`EndpointTranslator`] and
//! the shared [`DmaFence`].
//!
//! - Behind the IOMMU with `VIRTIO_F_ACCESS_PLATFORM` negotiated, every access — virtio-queue's
//!   descriptor, ring and indirect-table reads and used-ring writes as much as the device's own
//!   buffer accesses — goes through `IommuMemory::get_slices`, i.e. through the engine for the
//!   device's endpoint ID, with the access's READ/WRITE permission. A refused access fails, is
//!   reported as a fault on the virtio-iommu event queue ([`crate::virtio::iommu::FaultReporter`])
//!   and is remembered for the device ([`DeviceMemory::take_fault`]).
//! - Without the IOMMU the same `IommuMemory` runs in pass-through mode: addresses are
//!   guest-physical.
//! - Each request a device processes is bracketed by a [`DmaGuard`] ([`DeviceMemory::begin`]) so
//!   that the virtio-iommu can complete UNMAP/DETACH only after older DMA has finished.

mod fence;
mod translator;

use std::fmt;
use std::sync::Arc;

use ::iommu::{EndpointId, Engine, Fault};
use vm_memory::IommuMemory;

pub use fence::{DmaFence, DmaGuard};
pub use translator::EndpointTranslator;

use super::GuestRam;
use super::iommu::FaultReporter;

/// Guest memory as a device sees it: IOVAs translated by its endpoint's translator when
/// translation is enabled, guest-physical addresses otherwise.
pub type DmaMemory = IommuMemory<GuestRam, EndpointTranslator>;

/// What every device behind one virtio-iommu shares with it: the engine, the in-flight DMA
/// fence and the fault reporter. Owned by [`crate::virtio::iommu::VirtioIommu`].
pub struct IommuContext {
    engine: Arc<Engine>,
    fence: Arc<DmaFence>,
    faults: FaultReporter,
}

impl fmt::Debug for IommuContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IommuContext")
            .field("fence", &self.fence)
            .field("faults", &self.faults)
            .finish_non_exhaustive()
    }
}

impl IommuContext {
    /// A context around `engine`.
    pub fn new(engine: Arc<Engine>) -> Self {
        IommuContext {
            engine,
            fence: Arc::new(DmaFence::new()),
            faults: FaultReporter::new(),
        }
    }

    /// The translation engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// The in-flight DMA fence.
    pub fn fence(&self) -> &Arc<DmaFence> {
        &self.fence
    }

    /// Where blocked DMA is reported.
    pub fn faults(&self) -> &FaultReporter {
        &self.faults
    }
}

/// The handle a device behind the IOMMU is built with: which IOMMU, which endpoint ID.
/// Obtained from [`crate::virtio::iommu::VirtioIommu::endpoint`].
#[derive(Clone)]
pub struct DmaEndpoint {
    ctx: Arc<IommuContext>,
    endpoint: EndpointId,
}

impl fmt::Debug for DmaEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DmaEndpoint")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl DmaEndpoint {
    pub(crate) fn new(ctx: Arc<IommuContext>, endpoint: EndpointId) -> Self {
        DmaEndpoint { ctx, endpoint }
    }

    /// The endpoint ID (the device's VIOT endpoint and its BTI id in the engine).
    pub fn id(&self) -> EndpointId {
        self.endpoint
    }

    /// The shared IOMMU context.
    pub fn context(&self) -> &Arc<IommuContext> {
        &self.ctx
    }
}

/// A device's view of guest memory plus its DMA bracket.
#[derive(Debug)]
pub struct DeviceMemory {
    mem: DmaMemory,
    fence: Option<Arc<DmaFence>>,
}

impl DeviceMemory {
    /// Memory for a device: translated for `endpoint` when `translate` is set (the device is
    /// behind the IOMMU and `VIRTIO_F_ACCESS_PLATFORM` was negotiated), guest-physical otherwise.
    pub fn new(ram: GuestRam, endpoint: Option<&DmaEndpoint>, translate: bool) -> Self {
        let (translator, fence) = match endpoint {
            Some(ep) => (
                EndpointTranslator::new(Some(Arc::clone(&ep.ctx)), ep.endpoint),
                Some(Arc::clone(&ep.ctx.fence)),
            ),
            None => (EndpointTranslator::new(None, EndpointId(u32::MAX)), None),
        };
        let translate = translate && endpoint.is_some();
        DeviceMemory {
            mem: IommuMemory::new(ram, translator, translate, ()),
            fence,
        }
    }

    /// The memory to hand to virtio-queue and to read/write buffers through.
    pub fn memory(&self) -> &DmaMemory {
        &self.mem
    }

    /// Whether accesses are translated by the IOMMU.
    pub fn translated(&self) -> bool {
        self.mem.get_iommu_enabled()
    }

    /// Starts a DMA (one request: from popping its chain to writing its used entry). `None` when
    /// the device is not behind the IOMMU.
    pub fn begin(&self) -> Option<DmaGuard> {
        self.fence.as_ref().map(|fence| fence.enter())
    }

    /// The last DMA fault since the previous call.
    pub fn take_fault(&self) -> Option<Fault> {
        self.mem.iommu().take_fault()
    }
}

/// `VIRTIO_F_ACCESS_PLATFORM` if the device is behind the IOMMU: "the device [...] can only
/// access certain memory addresses with said access specified and/or granted by the platform".
pub fn access_platform_feature(endpoint: Option<&DmaEndpoint>) -> u64 {
    match endpoint {
        Some(_) => super::features::bit(super::features::ACCESS_PLATFORM),
        None => 0,
    }
}

/// Whether a device behind the IOMMU accepts `driver_features`: "A device MAY fail to operate
/// further if VIRTIO_F_ACCESS_PLATFORM is not accepted." Without it the driver would hand the
/// device guest-physical addresses and its DMA would escape translation, so FEATURES_OK is
/// refused.
pub fn access_platform_acceptable(endpoint: Option<&DmaEndpoint>, driver_features: u64) -> bool {
    endpoint.is_none()
        || driver_features & super::features::bit(super::features::ACCESS_PLATFORM) != 0
}
