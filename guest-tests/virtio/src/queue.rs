//! Split virtqueues, driver side (virtio 1.2 §2.7): a descriptor table with a free list, the
//! available ring the driver publishes chains on, and the used ring it polls.
//!
//! The three areas live in one [`DeviceBuf`]: the driver writes them through its guest-physical
//! address, the device is told their device addresses (IOVAs behind the IOMMU). The driver never
//! reads a register to learn about completions: it polls the used ring's `idx` in memory.

use core::sync::atomic::{Ordering, fence};

use crate::Error;
use crate::mem::{DeviceBuf, DmaBuf};
use crate::time::Deadline;

/// `VIRTQ_DESC_F_NEXT`: the chain continues in `next`.
pub const DESC_F_NEXT: u16 = 1;
/// `VIRTQ_DESC_F_WRITE`: the buffer is device-writable.
pub const DESC_F_WRITE: u16 = 2;
/// `VIRTQ_DESC_F_INDIRECT`: the buffer is a table of descriptors.
pub const DESC_F_INDIRECT: u16 = 4;
/// Size of one descriptor.
pub const DESC_SIZE: usize = 16;
/// Largest queue this driver builds.
pub const MAX_QUEUE_SIZE: u16 = 256;

/// One buffer of a descriptor chain, by device address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    /// Device address (IOVA behind the IOMMU, else guest-physical).
    pub addr: u64,
    /// Length in bytes.
    pub len: u32,
    /// Device-writable (else device-readable).
    pub writable: bool,
}

impl Buf {
    /// A device-readable buffer.
    pub fn readable(addr: u64, len: u32) -> Self {
        Buf {
            addr,
            len,
            writable: false,
        }
    }

    /// A device-writable buffer.
    pub fn writable(addr: u64, len: u32) -> Self {
        Buf {
            addr,
            len,
            writable: true,
        }
    }

    /// The whole of `b`, readable.
    pub fn r(b: &DeviceBuf) -> Self {
        Self::readable(b.dev_addr, b.buf.len() as u32)
    }

    /// The whole of `b`, writable.
    pub fn w(b: &DeviceBuf) -> Self {
        Self::writable(b.dev_addr, b.buf.len() as u32)
    }
}

/// Byte offsets of the three areas of a queue of `size` entries (virtio 1.2 §2.7: descriptor
/// table 16-byte aligned, available ring 2-byte aligned, used ring 4-byte aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Offset of the available ring.
    pub avail: usize,
    /// Offset of the used ring.
    pub used: usize,
    /// Total bytes.
    pub total: usize,
}

impl Layout {
    /// The layout for `size` entries.
    pub const fn new(size: u16) -> Self {
        let n = size as usize;
        let avail = DESC_SIZE * n;
        // flags, idx, ring[n], used_event
        let avail_end = avail + 4 + 2 * n + 2;
        let used = (avail_end + 3) & !3;
        // flags, idx, ring[n] of {id: le32, len: le32}, avail_event
        let total = used + 4 + 8 * n + 2;
        Layout { avail, used, total }
    }
}

/// A split virtqueue.
#[derive(Debug)]
pub struct SplitQueue {
    index: u16,
    size: u16,
    layout: Layout,
    mem: DeviceBuf,
    free_head: u16,
    num_free: u16,
    /// The driver's copy of `avail.idx`.
    avail_idx: u16,
    /// Used entries consumed so far.
    last_used: u16,
    /// Descriptors in the chain starting at each head (0: not in flight).
    chain_len: [u16; MAX_QUEUE_SIZE as usize],
}

impl SplitQueue {
    /// Bytes of ring memory a queue of `size` entries needs.
    pub const fn bytes(size: u16) -> usize {
        Layout::new(size).total
    }

    /// Queue `index` of `size` entries (a power of two, at most [`MAX_QUEUE_SIZE`]) in `mem`
    /// (at least [`SplitQueue::bytes`] long, 16-byte aligned at both addresses), which it zeroes.
    pub fn new(index: u16, size: u16, mem: DeviceBuf) -> Result<Self, Error> {
        if !size.is_power_of_two() || size > MAX_QUEUE_SIZE {
            return Err(Error::QueueSize(size, u32::from(MAX_QUEUE_SIZE)));
        }
        let layout = Layout::new(size);
        if mem.buf.len() < layout.total {
            return Err(Error::BufferTooSmall);
        }
        mem.buf.sub(0, layout.total).fill(0);
        let q = SplitQueue {
            index,
            size,
            layout,
            mem,
            free_head: 0,
            num_free: size,
            avail_idx: 0,
            last_used: 0,
            chain_len: [0; MAX_QUEUE_SIZE as usize],
        };
        // The free list threads every descriptor through `next`.
        for i in 0..size {
            q.write_desc(i, 0, 0, 0, (i + 1) % size);
        }
        Ok(q)
    }

    /// The queue index.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// Number of entries.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Free descriptors.
    pub fn num_free(&self) -> u16 {
        self.num_free
    }

    /// Chains in flight.
    pub fn in_flight(&self) -> usize {
        self.chain_len.iter().filter(|&&n| n != 0).count()
    }

    /// Device address of the descriptor table.
    pub fn desc_addr(&self) -> u64 {
        self.mem.dev(0)
    }

    /// Device address of the available ring.
    pub fn avail_addr(&self) -> u64 {
        self.mem.dev(self.layout.avail)
    }

    /// Device address of the used ring.
    pub fn used_addr(&self) -> u64 {
        self.mem.dev(self.layout.used)
    }

    /// The ring memory.
    pub fn memory(&self) -> DeviceBuf {
        self.mem
    }

    fn ring(&self) -> DmaBuf {
        self.mem.buf
    }

    fn write_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = DESC_SIZE * usize::from(i);
        let m = self.ring();
        m.write_u64(at, addr);
        m.write_u32(at + 8, len);
        m.write_u16(at + 12, flags);
        m.write_u16(at + 14, next);
    }

    fn desc_next(&self, i: u16) -> u16 {
        self.ring().load_u16(DESC_SIZE * usize::from(i) + 14)
    }

    /// Puts a chain of `bufs` on the available ring (without notifying the device) and returns
    /// its head.
    pub fn add(&mut self, bufs: &[Buf]) -> Result<u16, Error> {
        let n = u16::try_from(bufs.len()).map_err(|_| Error::BadChain)?;
        if n == 0 || n > self.size {
            return Err(Error::BadChain);
        }
        if n > self.num_free {
            return Err(Error::NoDescriptors);
        }
        let head = self.free_head;
        let mut i = head;
        for (k, b) in bufs.iter().enumerate() {
            let next = self.desc_next(i);
            let last = k + 1 == bufs.len();
            let mut flags = if b.writable { DESC_F_WRITE } else { 0 };
            if !last {
                flags |= DESC_F_NEXT;
            }
            self.write_desc(i, b.addr, b.len, flags, next);
            if last {
                self.free_head = next;
            }
            i = next;
        }
        self.num_free -= n;
        self.chain_len[usize::from(head)] = n;
        self.publish(head);
        Ok(head)
    }

    /// Puts one descriptor with `VIRTQ_DESC_F_INDIRECT` on the available ring, pointing at
    /// `table`, into which `bufs` are written as a descriptor table (needs
    /// `VIRTIO_F_INDIRECT_DESC`). Returns the head.
    pub fn add_indirect(&mut self, table: DeviceBuf, bufs: &[Buf]) -> Result<u16, Error> {
        let n = u16::try_from(bufs.len()).map_err(|_| Error::BadChain)?;
        if n == 0 || table.buf.len() < DESC_SIZE * bufs.len() {
            return Err(Error::BadChain);
        }
        if self.num_free == 0 {
            return Err(Error::NoDescriptors);
        }
        for (k, b) in bufs.iter().enumerate() {
            let at = DESC_SIZE * k;
            let last = k + 1 == bufs.len();
            let mut flags = if b.writable { DESC_F_WRITE } else { 0 };
            if !last {
                flags |= DESC_F_NEXT;
            }
            let t = table.buf;
            t.write_u64(at, b.addr);
            t.write_u32(at + 8, b.len);
            t.write_u16(at + 12, flags);
            t.write_u16(at + 14, if last { 0 } else { k as u16 + 1 });
        }
        let head = self.free_head;
        self.free_head = self.desc_next(head);
        self.write_desc(
            head,
            table.dev_addr,
            (DESC_SIZE * bufs.len()) as u32,
            DESC_F_INDIRECT,
            0,
        );
        self.num_free -= 1;
        self.chain_len[usize::from(head)] = 1;
        self.publish(head);
        Ok(head)
    }

    fn publish(&mut self, head: u16) {
        let m = self.ring();
        let slot = usize::from(self.avail_idx % self.size);
        m.write_u16(self.layout.avail + 4 + 2 * slot, head);
        // "The driver MUST perform a suitable memory barrier before the idx update, to ensure
        // the device sees the most up-to-date copy."
        fence(Ordering::SeqCst);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        m.write_u16(self.layout.avail + 2, self.avail_idx);
        fence(Ordering::SeqCst);
    }

    /// The device's `used.idx`.
    pub fn used_idx(&self) -> u16 {
        self.ring().load_u16(self.layout.used + 2)
    }

    /// Whether the device has returned a chain the driver has not consumed yet.
    pub fn has_used(&self) -> bool {
        self.used_idx() != self.last_used
    }

    /// Consumes the next used entry, if any: `(head, used length)`, and frees its descriptors.
    pub fn pop_used(&mut self) -> Result<Option<(u16, u32)>, Error> {
        if !self.has_used() {
            return Ok(None);
        }
        // Read the entry only after seeing idx move.
        fence(Ordering::SeqCst);
        let slot = usize::from(self.last_used % self.size);
        let at = self.layout.used + 4 + 8 * slot;
        let id = self.ring().read_u32(at);
        let len = self.ring().read_u32(at + 4);
        self.last_used = self.last_used.wrapping_add(1);
        let head = u16::try_from(id)
            .ok()
            .filter(|&h| h < self.size && self.chain_len[usize::from(h)] != 0)
            .ok_or(Error::BadUsedId(id))?;
        self.free_chain(head);
        Ok(Some((head, len)))
    }

    fn free_chain(&mut self, head: u16) {
        let n = core::mem::take(&mut self.chain_len[usize::from(head)]);
        // Walk the chain to its last descriptor and splice the chain onto the free list.
        let mut last = head;
        for _ in 1..n {
            last = self.desc_next(last);
        }
        let at = DESC_SIZE * usize::from(last);
        self.ring().write_u16(at + 14, self.free_head);
        self.free_head = head;
        self.num_free += n;
    }

    /// Waits for the chain `head` to come back and returns its used length. Entries for other
    /// chains (e.g. of requests that timed out earlier) are consumed on the way.
    pub fn wait(&mut self, head: u16, deadline: Deadline) -> Result<u32, Error> {
        let mut spins = 0u32;
        loop {
            while let Some((id, len)) = self.pop_used()? {
                if id == head {
                    return Ok(len);
                }
            }
            spins = spins.wrapping_add(1);
            // rdtsc may exit to the hypervisor: look at the clock only now and then.
            if spins.is_multiple_of(256) && deadline.expired() {
                return Err(Error::Timeout);
            }
            core::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(size: u16, backing: &mut Vec<u8>) -> SplitQueue {
        backing.resize(SplitQueue::bytes(size) + 16, 0);
        let addr = (backing.as_mut_ptr() as u64 + 15) & !15;
        let buf = DmaBuf::from_raw(addr, SplitQueue::bytes(size));
        SplitQueue::new(0, size, DeviceBuf::at(buf, 0x4000_0000)).unwrap()
    }

    /// The device's side: reads avail, returns head with `len` on the used ring.
    fn device_uses(q: &SplitQueue, n: u16, len: u32) -> Vec<Vec<(u64, u32, u16)>> {
        let m = q.ring();
        let mut chains = Vec::new();
        let used_idx = m.load_u16(q.layout.used + 2);
        for k in 0..n {
            let slot = usize::from(used_idx.wrapping_add(k) % q.size);
            let head = m.load_u16(q.layout.avail + 4 + 2 * slot);
            let mut chain = Vec::new();
            let mut i = head;
            loop {
                let at = DESC_SIZE * usize::from(i);
                let flags = m.load_u16(at + 12);
                chain.push((m.read_u64(at), m.read_u32(at + 8), flags));
                if flags & DESC_F_NEXT == 0 {
                    break;
                }
                i = m.load_u16(at + 14);
            }
            let uslot = usize::from(used_idx.wrapping_add(k) % q.size);
            m.write_u32(q.layout.used + 4 + 8 * uslot, u32::from(head));
            m.write_u32(q.layout.used + 8 + 8 * uslot, len);
            chains.push(chain);
        }
        m.write_u16(q.layout.used + 2, used_idx.wrapping_add(n));
        chains
    }

    #[test]
    fn layout_follows_the_alignment_rules() {
        let l = Layout::new(16);
        assert_eq!(l.avail, 256);
        assert_eq!(l.used, 256 + 38 + 2); // 294 rounded up to 296
        assert_eq!(l.total, 296 + 4 + 128 + 2);
    }

    #[test]
    fn device_addresses_are_offsets_from_the_ring_iova() {
        let mut b = Vec::new();
        let q = queue(16, &mut b);
        assert_eq!(q.desc_addr(), 0x4000_0000);
        assert_eq!(q.avail_addr(), 0x4000_0100);
        assert_eq!(q.used_addr(), 0x4000_0128);
    }

    #[test]
    fn chains_go_out_with_flags_and_come_back_freed() {
        let mut b = Vec::new();
        let mut q = queue(4, &mut b);
        let h = q
            .add(&[Buf::readable(0x1000, 40), Buf::writable(0x2000, 24)])
            .unwrap();
        assert_eq!(q.num_free(), 2);
        assert_eq!(q.pop_used().unwrap(), None);
        let chains = device_uses(&q, 1, 24);
        assert_eq!(
            chains[0],
            vec![(0x1000, 40, DESC_F_NEXT), (0x2000, 24, DESC_F_WRITE)]
        );
        assert_eq!(q.pop_used().unwrap(), Some((h, 24)));
        assert_eq!(q.num_free(), 4);
        assert_eq!(q.in_flight(), 0);
    }

    #[test]
    fn the_free_list_survives_wrapping_many_times() {
        let mut b = Vec::new();
        let mut q = queue(4, &mut b);
        for round in 0..100u32 {
            let n = (round % 3 + 1) as usize;
            let bufs = [Buf::writable(u64::from(round), 8); 3];
            let h = q.add(&bufs[..n]).unwrap();
            let chains = device_uses(&q, 1, round);
            assert_eq!(chains[0].len(), n);
            assert_eq!(q.wait(h, Deadline::after_cycles(1 << 30)).unwrap(), round);
            assert_eq!(q.num_free(), 4);
        }
    }

    #[test]
    fn too_long_chains_and_unknown_used_ids_are_errors() {
        let mut b = Vec::new();
        let mut q = queue(4, &mut b);
        assert_eq!(q.add(&[Buf::readable(0, 1); 5]), Err(Error::BadChain));
        q.add(&[Buf::readable(0, 1); 3]).unwrap();
        assert_eq!(q.add(&[Buf::readable(0, 1); 2]), Err(Error::NoDescriptors));
        let m = q.ring();
        m.write_u32(q.layout.used + 4, 3); // a head never handed out
        m.write_u16(q.layout.used + 2, 1);
        assert_eq!(q.pop_used(), Err(Error::BadUsedId(3)));
    }

    #[test]
    fn indirect_chains_use_one_ring_descriptor() {
        let mut b = Vec::new();
        let mut q = queue(4, &mut b);
        let mut t = vec![0u8; 64];
        let table = DmaBuf::from_raw(t.as_mut_ptr() as u64, 64);
        let h = q
            .add_indirect(
                DeviceBuf::at(table, 0x9000),
                &[Buf::readable(0x1000, 40), Buf::writable(0x2000, 24)],
            )
            .unwrap();
        assert_eq!(q.num_free(), 3);
        let chains = device_uses(&q, 1, 24);
        assert_eq!(chains[0], vec![(0x9000, 32, DESC_F_INDIRECT)]);
        assert_eq!(table.read_u16(12), DESC_F_NEXT);
        assert_eq!(table.read_u16(14), 1);
        assert_eq!(table.read_u16(16 + 12), DESC_F_WRITE);
        assert_eq!(q.pop_used().unwrap(), Some((h, 24)));
        assert_eq!(q.num_free(), 4);
    }
}
