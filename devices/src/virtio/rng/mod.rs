//! virtio-rng, the entropy device (virtio 1.2 §5.4, device ID 4): one request queue whose
//! device-writable buffers the device fills with host entropy from `/dev/urandom`.

pub mod device;

pub use device::{RngCounters, VirtioRng};
