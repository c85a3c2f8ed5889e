//! virtio-blk (virtio 1.2 §5.2, device ID 2) over a raw image file: read, write, flush and
//! get-id; a read-only image refuses writes.

pub mod device;
pub mod protocol;

pub use device::{BlockConfig, BlockCounters, BlockError, VirtioBlock};
