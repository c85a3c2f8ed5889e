//! Emulated devices of the VMM.
//!
//! - [`bus`]: the address-range bus vCPU exits are dispatched through.
//! - [`legacy`]: the COM1 16550 serial port, the i8042 reset line and the exit port.
//! - [`virtio`]: the virtio-mmio transport and the virtio devices (virtio-iommu, virtio-blk,
//!   virtio-rng, the DMA test device).

pub mod bus;
pub mod legacy;
pub mod virtio;
