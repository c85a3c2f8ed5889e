//! The one error type of the driver: what can go wrong between a guest driver and a device.

use core::fmt;

/// Why a driver operation did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// No device with this virtio device ID was found.
    NoDevice(u32),
    /// `MagicValue` is not "virt".
    BadMagic(u32),
    /// `Version` is not 2 (this driver is modern-only).
    BadVersion(u32),
    /// The device does not offer `VIRTIO_F_VERSION_1`.
    NoVersion1,
    /// The device cleared FEATURES_OK after the driver accepted these features.
    FeaturesRefused(u64),
    /// The device set DEVICE_NEEDS_RESET (status value attached).
    NeedsReset(u32),
    /// DRIVER_OK did not stick (status value attached).
    NotLive(u32),
    /// `QueueNumMax` is 0 for this queue.
    NoQueue(u16),
    /// The queue size asked for is not a power of two, or exceeds `QueueNumMax` (which is given).
    QueueSize(u16, u32),
    /// Not enough free descriptors for the chain.
    NoDescriptors,
    /// A chain needs at least one buffer and at most the queue size.
    BadChain,
    /// The device did not return the buffers in time.
    Timeout,
    /// The DMA arena has no room for the allocation.
    OutOfMemory,
    /// A buffer is too small for what the driver has to put in it.
    BufferTooSmall,
    /// The device returned a chain the driver did not have in flight.
    BadUsedId(u32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDevice(id) => write!(f, "no virtio device with ID {id:#x}"),
            Self::BadMagic(v) => write!(f, "bad MagicValue {v:#x}"),
            Self::BadVersion(v) => write!(f, "virtio-mmio version {v}, need 2"),
            Self::NoVersion1 => f.write_str("device does not offer VIRTIO_F_VERSION_1"),
            Self::FeaturesRefused(feat) => write!(f, "FEATURES_OK refused for features {feat:#x}"),
            Self::NeedsReset(s) => write!(f, "device needs reset (status {s:#x})"),
            Self::NotLive(s) => write!(f, "DRIVER_OK not accepted (status {s:#x})"),
            Self::NoQueue(q) => write!(f, "queue {q} does not exist"),
            Self::QueueSize(want, max) => write!(f, "queue size {want} (max {max})"),
            Self::NoDescriptors => f.write_str("no free descriptors"),
            Self::BadChain => f.write_str("bad descriptor chain"),
            Self::Timeout => f.write_str("device did not complete the request in time"),
            Self::OutOfMemory => f.write_str("DMA arena exhausted"),
            Self::BufferTooSmall => f.write_str("buffer too small"),
            Self::BadUsedId(id) => write!(f, "used ring names descriptor {id}, not in flight"),
        }
    }
}
