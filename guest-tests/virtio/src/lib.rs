//! gtest-virtio: the guest side of virtio for the bare-metal test programs of `guest-tests/`.
//!
//! - [`mmio`]: the virtio-mmio (version 2) transport — registers, status sequence, feature
//!   negotiation (including `VIRTIO_F_ACCESS_PLATFORM`), queue setup — and device discovery from
//!   `virtio_mmio.device=` arguments or the virtio-mmio window; [`platform`] ties it to the VIOT.
//! - [`queue`] / [`driver`]: split virtqueues with a descriptor free list and indirect tables,
//!   polled through the used ring in memory (no interrupts: programs run with IF=0, and each
//!   register access is a VM exit).
//! - [`iommu`]: the virtio-iommu client; [`dma_test`], [`blk`], [`rng`]: the devices whose DMA
//!   it translates.
//! - [`mem`]: DMA buffers in identity-mapped RAM after the image, each with the device address
//!   (IOVA) a device is given for it. [`time`]: TSC deadlines and frequency. [`viot`]: the ACPI
//!   VIOT parser.
//! - [`harness`] (feature `rt`): what every conformance program does first — find the devices,
//!   bring up the IOMMU and the DMA test device — with `gtest-rt` reporting.
//!
//! The parsers and the queue logic are plain code over byte slices and are unit-tested on the
//! host (`cargo test -p gtest-virtio`).
#![cfg_attr(not(test), no_std)]
#![warn(missing_docs)]

pub mod blk;
pub mod dma_test;
pub mod driver;
mod error;
#[cfg(feature = "rt")]
pub mod harness;
pub mod iommu;
pub mod mem;
pub mod mmio;
pub mod platform;
pub mod queue;
pub mod rng;
pub mod time;
pub mod viot;

pub use error::Error;
