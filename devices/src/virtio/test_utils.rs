//! Driver-side helpers for device tests, benchmarks and fuzz targets (feature `test-utils`):
//! guest RAM, a split queue driven from the driver side on top of virtio-queue's
//! `MockSplitQueue`, and driver-side transport negotiation through MMIO registers.

use std::sync::Arc;

use virtio_bindings::bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::Descriptor;
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Address, GuestAddress};

use super::mmio::{MmioTransport, regs};
use super::{ActivateContext, GuestRam, Interrupt, VirtioDevice, status};
use crate::bus::BusDevice;

/// Size of [`test_ram`].
pub const TEST_RAM_SIZE: usize = 16 << 20;

/// 16 MiB of guest RAM at guest-physical 0.
pub fn test_ram() -> GuestRam {
    match GuestRam::from_ranges(&[(GuestAddress(0), TEST_RAM_SIZE)]) {
        Ok(mem) => mem,
        Err(e) => panic!("cannot allocate test RAM: {e}"),
    }
}

/// A split virtqueue as the driver sees it: it writes descriptors, publishes chains on the
/// avail ring and reads the used ring, all at guest-physical addresses in `mem`. The device may
/// see the queue at other addresses (IOVAs): `device_base` is the device address of the queue's
/// first byte.
pub struct DriverQueue<'a> {
    mock: MockSplitQueue<'a, GuestRam>,
    size: u16,
    next_desc: u16,
    used_seen: u16,
    gpa_base: u64,
    device_base: u64,
}

impl std::fmt::Debug for DriverQueue<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverQueue")
            .field("size", &self.size)
            .field("gpa_base", &self.gpa_base)
            .finish_non_exhaustive()
    }
}

impl<'a> DriverQueue<'a> {
    /// A queue of `size` entries at guest-physical `base`, seen by the device at the same
    /// addresses.
    pub fn new(mem: &'a GuestRam, base: GuestAddress, size: u16) -> Self {
        Self::with_device_base(mem, base, size, base.0)
    }

    /// A queue at guest-physical `base` that the device sees at `device_base`.
    pub fn with_device_base(
        mem: &'a GuestRam,
        base: GuestAddress,
        size: u16,
        device_base: u64,
    ) -> Self {
        DriverQueue {
            mock: MockSplitQueue::create(mem, base, size),
            size,
            next_desc: 0,
            used_seen: 0,
            gpa_base: base.0,
            device_base,
        }
    }

    fn to_device(&self, gpa: GuestAddress) -> u64 {
        gpa.0 - self.gpa_base + self.device_base
    }

    /// Device address of the descriptor table.
    pub fn desc_table(&self) -> u64 {
        self.to_device(self.mock.desc_table_addr())
    }

    /// Device address of the available ring.
    pub fn avail_ring(&self) -> u64 {
        self.to_device(self.mock.avail_addr())
    }

    /// Device address of the used ring.
    pub fn used_ring(&self) -> u64 {
        self.to_device(self.mock.used_addr())
    }

    /// Bytes from the queue's start to the end of its used ring.
    pub fn footprint(&self) -> u64 {
        self.mock.end().0 - self.gpa_base
    }

    /// Number of entries.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// A ready `Queue` for the device (as the transport would build it).
    pub fn create_queue(&self) -> Queue {
        let mut q = match Queue::new(self.size) {
            Ok(q) => q,
            Err(e) => panic!("bad queue size: {e}"),
        };
        q.set_size(self.size);
        let set = |f: &mut dyn FnMut(Option<u32>, Option<u32>), a: u64| {
            f(Some(a as u32), Some((a >> 32) as u32))
        };
        set(
            &mut |l, h| q.set_desc_table_address(l, h),
            self.desc_table(),
        );
        set(
            &mut |l, h| q.set_avail_ring_address(l, h),
            self.avail_ring(),
        );
        set(&mut |l, h| q.set_used_ring_address(l, h), self.used_ring());
        q.set_ready(true);
        q
    }

    /// Writes a chain of `(device address, length, device-writable)` buffers into the next free
    /// descriptors and publishes it. Returns the head index.
    pub fn add(&mut self, bufs: &[(u64, u32, bool)]) -> u16 {
        let head = self.next_desc;
        let n = bufs.len() as u16;
        for (i, &(addr, len, writable)) in bufs.iter().enumerate() {
            let idx = (head + i as u16) % self.size;
            let last = i as u16 + 1 == n;
            let mut flags = if writable {
                VRING_DESC_F_WRITE as u16
            } else {
                0
            };
            if !last {
                flags |= VRING_DESC_F_NEXT as u16;
            }
            let next = if last { 0 } else { (idx + 1) % self.size };
            self.write_desc(idx, Descriptor::new(addr, len, flags, next));
        }
        self.next_desc = (head + n.max(1)) % self.size;
        self.publish(head);
        head
    }

    /// Writes descriptor `index` as given (for malformed chains).
    pub fn write_desc(&self, index: u16, desc: Descriptor) {
        if let Err(e) = self
            .mock
            .desc_table()
            .store(index, RawDescriptor::from(desc))
        {
            panic!("cannot write descriptor {index}: {e}");
        }
    }

    /// Makes the chain starting at `head` available.
    pub fn publish(&self, head: u16) {
        let avail = self.mock.avail();
        let idx = avail.idx().load();
        match avail.ring().ref_at(usize::from(idx % self.size)) {
            Ok(slot) => slot.store(head),
            Err(e) => panic!("bad avail slot: {e}"),
        }
        avail.idx().store(idx.wrapping_add(1));
    }

    /// The `(head id, length)` entries the device added to the used ring since the last call.
    pub fn used(&mut self) -> Vec<(u32, u32)> {
        let used = self.mock.used();
        let idx = used.idx().load();
        let mut out = Vec::new();
        while self.used_seen != idx {
            match used.ring().ref_at(usize::from(self.used_seen % self.size)) {
                Ok(elem) => {
                    let e = elem.load();
                    out.push((e.id(), e.len()));
                }
                Err(e) => panic!("bad used slot: {e}"),
            }
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }

    /// Guest-physical address of the end of the queue (first free byte after it).
    pub fn end(&self) -> GuestAddress {
        self.mock.end().unchecked_align_up(16)
    }
}

/// Activates `device` directly (no transport) with the queues of `queues`.
pub fn activate(
    device: &mut dyn VirtioDevice,
    mem: &GuestRam,
    queues: &[&DriverQueue<'_>],
    interrupt: Arc<dyn Interrupt>,
) {
    let queues = queues.iter().map(|q| q.create_queue()).collect();
    if let Err(e) = device.activate(ActivateContext {
        mem: mem.clone(),
        interrupt,
        queues,
    }) {
        panic!("activation failed: {e}");
    }
}

/// Writes a 32-bit register of `transport`.
pub fn mmio_write(transport: &MmioTransport, offset: u64, value: u32) {
    transport.write(offset, &value.to_le_bytes());
}

/// Reads a 32-bit register of `transport`.
pub fn mmio_read(transport: &MmioTransport, offset: u64) -> u32 {
    let mut b = [0u8; 4];
    transport.read(offset, &mut b);
    u32::from_le_bytes(b)
}

/// Drives `transport` as a driver would: reset, ACKNOWLEDGE, DRIVER, accept every offered
/// feature except those in `refuse`, FEATURES_OK, set up `queues` (queue `i` from `queues[i]`),
/// DRIVER_OK. Returns the accepted features.
pub fn negotiate_and_activate(
    transport: &MmioTransport,
    queues: &[&DriverQueue<'_>],
    refuse: u64,
) -> u64 {
    mmio_write(transport, regs::STATUS, 0);
    mmio_write(transport, regs::STATUS, status::ACKNOWLEDGE);
    mmio_write(
        transport,
        regs::STATUS,
        status::ACKNOWLEDGE | status::DRIVER,
    );
    mmio_write(transport, regs::DEVICE_FEATURES_SEL, 0);
    let low = mmio_read(transport, regs::DEVICE_FEATURES);
    mmio_write(transport, regs::DEVICE_FEATURES_SEL, 1);
    let high = mmio_read(transport, regs::DEVICE_FEATURES);
    let accepted = ((u64::from(high) << 32) | u64::from(low)) & !refuse;
    mmio_write(transport, regs::DRIVER_FEATURES_SEL, 0);
    mmio_write(transport, regs::DRIVER_FEATURES, accepted as u32);
    mmio_write(transport, regs::DRIVER_FEATURES_SEL, 1);
    mmio_write(transport, regs::DRIVER_FEATURES, (accepted >> 32) as u32);
    let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    mmio_write(transport, regs::STATUS, s);
    for (i, q) in queues.iter().enumerate() {
        mmio_write(transport, regs::QUEUE_SEL, i as u32);
        mmio_write(transport, regs::QUEUE_NUM, u32::from(q.size()));
        for (low_reg, high_reg, addr) in [
            (regs::QUEUE_DESC_LOW, regs::QUEUE_DESC_HIGH, q.desc_table()),
            (
                regs::QUEUE_DRIVER_LOW,
                regs::QUEUE_DRIVER_HIGH,
                q.avail_ring(),
            ),
            (
                regs::QUEUE_DEVICE_LOW,
                regs::QUEUE_DEVICE_HIGH,
                q.used_ring(),
            ),
        ] {
            mmio_write(transport, low_reg, addr as u32);
            mmio_write(transport, high_reg, (addr >> 32) as u32);
        }
        mmio_write(transport, regs::QUEUE_READY, 1);
    }
    mmio_write(transport, regs::STATUS, s | status::DRIVER_OK);
    accepted
}
