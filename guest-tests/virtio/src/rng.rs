//! A minimal virtio-rng driver (virtio 1.2 §5.4): device-writable buffers come back holding
//! random bytes.

use crate::Error;
use crate::driver::Virtqueue;
use crate::mem::DeviceBuf;
use crate::mmio::{MmioDevice, features};
use crate::queue::{Buf, SplitQueue};

/// Queue entries used.
pub const QUEUE_SIZE: u16 = 16;
/// Pages of control memory (the rings) an [`Rng`] needs.
pub const CTRL_PAGES: usize = 1;

/// A virtio-rng device.
#[derive(Debug)]
pub struct Rng {
    dev: MmioDevice,
    negotiated: u64,
    queue: Virtqueue,
}

impl Rng {
    /// Brings the device up with its rings in `ctrl` (at `ctrl.dev_addr` for the device).
    pub fn new(dev: MmioDevice, ctrl: DeviceBuf, access_platform: bool) -> Result<Self, Error> {
        let mut wanted = features::INDIRECT_DESC;
        if access_platform {
            wanted |= features::ACCESS_PLATFORM;
        }
        let negotiated = dev.negotiate(wanted)?;
        let queue = Virtqueue::new(
            dev,
            0,
            QUEUE_SIZE,
            ctrl.sub(0, SplitQueue::bytes(QUEUE_SIZE)),
        )?;
        dev.driver_ok()?;
        Ok(Rng {
            dev,
            negotiated,
            queue,
        })
    }

    /// Features negotiated.
    pub fn negotiated(&self) -> u64 {
        self.negotiated
    }

    /// The transport.
    pub fn device(&self) -> MmioDevice {
        self.dev
    }

    /// Hands the device a writable buffer of `len` bytes at device address `data`; returns the
    /// used length (the number of random bytes written).
    pub fn fill(&mut self, data: u64, len: u32) -> Result<u32, Error> {
        self.queue.transact(&[Buf::writable(data, len)])
    }
}
