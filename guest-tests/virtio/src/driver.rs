//! A virtqueue bound to its device: add a chain, notify, poll for the used entry.

use crate::Error;
use crate::mem::DeviceBuf;
use crate::mmio::MmioDevice;
use crate::queue::{Buf, SplitQueue};
use crate::time::Deadline;

/// A split virtqueue of a virtio-mmio device.
#[derive(Debug)]
pub struct Virtqueue {
    dev: MmioDevice,
    queue: SplitQueue,
}

impl Virtqueue {
    /// Builds queue `index` of `size` entries in `mem` and tells the device about it (between
    /// feature negotiation and DRIVER_OK).
    pub fn new(dev: MmioDevice, index: u16, size: u16, mem: DeviceBuf) -> Result<Self, Error> {
        let queue = SplitQueue::new(index, size, mem)?;
        dev.setup_queue(&queue)?;
        Ok(Virtqueue { dev, queue })
    }

    /// The queue.
    pub fn queue(&self) -> &SplitQueue {
        &self.queue
    }

    /// The queue, mutably (to add chains without notifying, or poll).
    pub fn queue_mut(&mut self) -> &mut SplitQueue {
        &mut self.queue
    }

    /// Notifies the device (one MMIO write).
    pub fn notify(&self) {
        self.dev.notify(self.queue.index());
    }

    /// Adds the chain and notifies the device; returns its head.
    pub fn submit(&mut self, bufs: &[Buf]) -> Result<u16, Error> {
        let head = self.queue.add(bufs)?;
        self.notify();
        Ok(head)
    }

    /// Adds one indirect descriptor for `bufs` (written into `table`) and notifies.
    pub fn submit_indirect(&mut self, table: DeviceBuf, bufs: &[Buf]) -> Result<u16, Error> {
        let head = self.queue.add_indirect(table, bufs)?;
        self.notify();
        Ok(head)
    }

    /// Waits for chain `head`; returns its used length.
    pub fn wait(&mut self, head: u16, deadline: Deadline) -> Result<u32, Error> {
        self.queue.wait(head, deadline)
    }

    /// Submits `bufs` and waits (default request timeout) for the used length.
    pub fn transact(&mut self, bufs: &[Buf]) -> Result<u32, Error> {
        let head = self.submit(bufs)?;
        self.wait(head, Deadline::request())
    }
}
