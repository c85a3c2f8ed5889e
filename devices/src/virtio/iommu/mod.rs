//! virtio-iommu (virtio 1.2 §5.13, device ID 23) over the `iommu::Engine`.
//!
//! - [`protocol`]: wire formats; [`request`]: request parsing and engine-error → status mapping;
//!   [`config`]: [`IommuConfig`]; [`device`]: [`VirtioIommu`] (features, config space, request
//!   queue, reset) and [`IommuRequestHandler`]; [`event_queue`]: [`FaultReporter`] (fault
//!   reports on the event queue); [`metrics`]: counters.
//!
//! Rules this device keeps that peers do not (see docs/DESIGN.md): used length equals the size
//! of the device-writable part for every completed request, errors included; any descriptor
//! layout; permissions enforced; faults reported; UNMAP atomic; reset detaches everything but
//! keeps `bypass`; UNMAP/DETACH complete only after older in-flight DMA has finished.

pub mod config;
pub mod device;
pub mod event_queue;
pub mod metrics;
pub mod protocol;
pub mod request;

#[cfg(test)]
mod tests;

pub use config::{IommuConfig, IommuConfigError, ReservedKind, ReservedRegion};
pub use device::{IommuRequestHandler, REQUESTQ_INDEX, Response, VirtioIommu};
pub use event_queue::{EVENTQ_INDEX, FaultReporter};
pub use metrics::IommuCountersSnapshot;
