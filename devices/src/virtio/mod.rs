//! Virtio devices (owned by the devices engineer).
//!
//! - [`mmio`]: the virtio-mmio (version 2, modern only) transport, [`mmio::MmioTransport`], which
//!   decodes the registers of virtio 1.2 §4.2.2, runs the device-status state machine and
//!   activates a [`VirtioDevice`] on DRIVER_OK.
//! - [`dma`]: how a device reaches guest memory. A device behind the virtio-iommu gets
//!   [`dma::DmaMemory`] whose every access (descriptor tables, rings, indirect tables, buffers) is
//!   translated and permission-checked by the `iommu::Engine` for the device's endpoint ID; a
//!   blocked access is reported on the virtio-iommu event queue; in-flight DMA is tracked so that
//!   UNMAP/DETACH complete only when no DMA can still use the old translation.
//! - [`iommu`], [`block`], [`rng`], [`dma_test`]: the devices.
//! - [`chain`]: gathering a descriptor chain into its device-readable and device-writable parts.
//! - [`interrupt`]: the [`Interrupt`] trait devices signal through, and [`TestInterrupt`].
//!
//! Device lifecycle, driven by the transport:
//!
//! ```text
//!   new ──► (driver negotiates features) ──ack_features──► (DRIVER_OK) ──activate──► active
//!    ▲                                                                                   │
//!    └──────────────────────────── reset (status 0) ◄────────────────────────────────────┘
//! ```

pub mod block;
pub mod chain;
pub mod dma;
pub mod dma_test;
pub mod event_handler;
pub mod interrupt;
pub mod iommu;
pub mod mmio;
pub mod rng;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;

use std::sync::Arc;

use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;

pub use interrupt::{Interrupt, IrqLine, TestInterrupt};

/// Guest physical memory as the VMM creates it.
pub type GuestRam = GuestMemoryMmap<()>;

/// Virtio device IDs (virtio 1.2 §5).
pub mod device_type {
    /// Block device.
    pub const BLOCK: u32 = 2;
    /// Entropy source.
    pub const RNG: u32 = 4;
    /// IOMMU.
    pub const IOMMU: u32 = 23;
    /// Our DMA test device (see docs/PLATFORM.md "DMA test device"); outside the range the
    /// virtio specification assigns.
    pub const DMA_TEST: u32 = 0xFFF1;
}

/// Feature bits defined by the virtio core (virtio 1.2 §6), as bit numbers.
pub mod features {
    /// Indirect descriptors (`VIRTIO_F_INDIRECT_DESC`).
    pub const INDIRECT_DESC: u32 = 28;
    /// `VIRTIO_F_VERSION_1`: the modern interface. Required: this transport is modern only.
    pub const VERSION_1: u32 = 32;
    /// `VIRTIO_F_ACCESS_PLATFORM`: the device's accesses go through the platform IOMMU.
    pub const ACCESS_PLATFORM: u32 = 33;

    /// The mask of a feature bit.
    pub const fn bit(feature: u32) -> u64 {
        1u64 << feature
    }
}

/// Device status bits (virtio 1.2 §2.1).
pub mod status {
    /// The guest OS has found the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest OS knows how to drive the device.
    pub const DRIVER: u32 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u32 = 4;
    /// The driver has acknowledged the features it understands; negotiation is complete.
    pub const FEATURES_OK: u32 = 8;
    /// The device has experienced an error from which it cannot recover.
    pub const DEVICE_NEEDS_RESET: u32 = 64;
    /// Something went wrong in the guest; it has given up on the device.
    pub const FAILED: u32 = 128;
}

/// Everything a device needs when the driver sets DRIVER_OK.
pub struct ActivateContext {
    /// Guest physical memory. A device behind the IOMMU wraps it in its own
    /// [`dma::DmaMemory`]; the others use it directly.
    pub mem: GuestRam,
    /// How the device signals used buffers and configuration changes.
    pub interrupt: Arc<dyn Interrupt>,
    /// One queue per entry of [`VirtioDevice::queue_max_sizes`], configured by the driver. A
    /// queue the driver did not enable is present with `ready() == false`.
    pub queues: Vec<Queue>,
}

impl std::fmt::Debug for ActivateContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActivateContext")
            .field("queues", &self.queues.len())
            .finish_non_exhaustive()
    }
}

/// Takes the one queue of a single-queue device from its activation context.
///
/// Fails with [`ActivateError::QueueCount`] when the transport hands over another number of
/// queues, and with [`ActivateError::QueueNotReady`] when the driver did not enable it.
pub fn single_ready_queue(queues: Vec<Queue>) -> Result<Queue, ActivateError> {
    let got = queues.len();
    let [queue]: [Queue; 1] = queues
        .try_into()
        .map_err(|_| ActivateError::QueueCount { expected: 1, got })?;
    if !virtio_queue::QueueT::ready(&queue) {
        return Err(ActivateError::QueueNotReady(0));
    }
    Ok(queue)
}

/// Why a device refused to activate; the transport then sets DEVICE_NEEDS_RESET.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActivateError {
    /// The driver enabled fewer queues than the device needs.
    #[error("queue {0} required by the device was not enabled by the driver")]
    QueueNotReady(usize),
    /// The number of queues handed over does not match the device.
    #[error("expected {expected} queues, got {got}")]
    QueueCount {
        /// Number the device declares.
        expected: usize,
        /// Number handed over.
        got: usize,
    },
    /// The device is already active.
    #[error("device already activated")]
    AlreadyActive,
}

/// A virtio device behind a transport.
///
/// The transport owns the register state; the device owns its queues once activated. All methods
/// are called with the transport's lock held, so they never run concurrently for one device.
pub trait VirtioDevice: Send {
    /// The virtio device ID ([`device_type`]).
    fn device_type(&self) -> u32;
    /// Maximum size of each queue (a power of two); the length is the number of queues.
    fn queue_max_sizes(&self) -> &[u16];
    /// Feature bits the device offers, including `VERSION_1` and, for a device behind the IOMMU,
    /// `ACCESS_PLATFORM`.
    fn features(&self) -> u64;
    /// Whether the device can work with the features the driver accepted (already known to be a
    /// subset of [`VirtioDevice::features`] that contains `VERSION_1`). Returning `false` keeps
    /// FEATURES_OK clear.
    fn features_acceptable(&self, _driver_features: u64) -> bool {
        true
    }
    /// The features negotiated, set when the driver sets FEATURES_OK.
    fn ack_features(&mut self, driver_features: u64);
    /// Reads `data.len()` bytes of the device configuration space at `offset`. Bytes beyond the
    /// end of the configuration space read as zero.
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// A driver write to the configuration space. Writes to read-only or absent fields are
    /// ignored.
    fn write_config(&mut self, offset: u64, data: &[u8]);
    /// Starts the device with the queues the driver configured.
    fn activate(&mut self, ctx: ActivateContext) -> Result<(), ActivateError>;
    /// Whether [`VirtioDevice::activate`] succeeded since the last reset.
    fn is_active(&self) -> bool;
    /// Processes the buffers the driver made available on queue `index` (a queue notification).
    fn process_queue(&mut self, index: usize);
    /// Device reset (status 0): drops the queues and returns to the pre-activation state.
    fn reset(&mut self);
    /// Named counters for the VMM and tests.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
    /// The endpoint ID the device's DMA is translated for, if it is behind the IOMMU.
    fn endpoint(&self) -> Option<::iommu::EndpointId> {
        None
    }
}

/// Copies `space[offset..offset + data.len()]` into `data`; bytes beyond the end of `space` read
/// as zero. For `VirtioDevice::read_config`.
pub(crate) fn read_config_bytes(space: &[u8], offset: u64, data: &mut [u8]) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte = offset
            .checked_add(i as u64)
            .and_then(|at| usize::try_from(at).ok())
            .and_then(|at| space.get(at))
            .copied()
            .unwrap_or(0);
    }
}
