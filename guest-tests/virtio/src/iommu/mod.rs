//! A virtio-iommu driver: ATTACH/DETACH/MAP/UNMAP/PROBE requests on the request queue, fault
//! reports from the event queue, the `bypass` configuration field, and device reset.
//!
//! The virtio-iommu is not translated itself: its rings and buffers are at guest-physical
//! addresses. Each request is sent and waited for on its own (like Linux's synchronous
//! requests); [`Reply`] carries the status and the used length, which must be exactly the size
//! of the device-writable part (reference virtio-iommu.md §2.4).

pub mod protocol;

use core::fmt;

use protocol::{CONFIG_BYPASS, CONFIG_LEN, Config, FAULT_LEN, Fault, TAIL_LEN};

use crate::Error;
use crate::driver::Virtqueue;
use crate::mem::{DeviceBuf, DmaArena, DmaBuf};
use crate::mmio::MmioDevice;
use crate::queue::Buf;
use crate::time::Deadline;

/// Request queue index.
pub const REQUESTQ: u16 = 0;
/// Event queue index.
pub const EVENTQ: u16 = 1;
/// Entries of each queue.
pub const QUEUE_SIZE: u16 = 16;
/// Bytes of one event buffer (larger than a record: the device writes 24).
pub const EVENT_BUF_LEN: usize = 64;
/// Offset of the device-writable part in the request page.
const WRITABLE_AT: usize = 0x800;
/// Largest device-writable part a request can have.
pub const MAX_WRITABLE: usize = 0x800;

/// The outcome of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// `tail.status` (whatever is in the buffer when the used length is 0).
    pub status: u8,
    /// `tail.reserved`.
    pub tail_reserved: [u8; 3],
    /// The used length the device reported.
    pub used_len: u32,
    /// The size of the device-writable part that was offered.
    pub writable_len: u32,
}

impl Reply {
    /// Whether the device completed with `status` and a used length equal to the writable size.
    pub fn is(&self, status: u8) -> bool {
        self.status == status && self.used_len == self.writable_len
    }

    /// Completed with OK and the right used length.
    pub fn ok(&self) -> bool {
        self.is(protocol::S_OK)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (used {}/{})",
            protocol::status_name(self.status),
            self.used_len,
            self.writable_len
        )
    }
}

/// How a request's two parts are cut into descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Descriptors for the device-readable part (≥ 1).
    pub readable: usize,
    /// Descriptors for the device-writable part (≥ 1).
    pub writable: usize,
}

impl Split {
    /// One descriptor each, as Linux sends requests.
    pub const TWO: Split = Split {
        readable: 1,
        writable: 1,
    };
}

/// A virtio-iommu bound to this driver.
#[derive(Debug)]
pub struct Iommu {
    dev: MmioDevice,
    wanted: u64,
    offered: u64,
    negotiated: u64,
    reqq_mem: DeviceBuf,
    evq_mem: DeviceBuf,
    reqq: Virtqueue,
    evq: Virtqueue,
    /// Request page: readable part at 0, writable part at [`WRITABLE_AT`].
    req: DmaBuf,
    /// Event buffers, [`EVENT_BUF_LEN`] bytes each, one per event-queue entry.
    events: DmaBuf,
    /// Which event buffer each head of the event queue carries.
    event_slot: [u16; QUEUE_SIZE as usize],
    last_writable_len: usize,
    /// The configuration space as read when the device was brought up.
    pub config: Config,
}

impl Iommu {
    /// Brings up the virtio-iommu at `dev`, accepting the offered features among `wanted`
    /// (device features, e.g. [`protocol::F_ALL`]; VERSION_1 is always accepted), with its
    /// rings and buffers from `arena`, and fills the event queue.
    pub fn new(dev: MmioDevice, arena: &mut DmaArena, wanted: u64) -> Result<Self, Error> {
        let reqq_mem = DeviceBuf::identity(arena.pages(1)?);
        let evq_mem = DeviceBuf::identity(arena.pages(1)?);
        let req = arena.pages(1)?;
        let events = arena.alloc(EVENT_BUF_LEN * usize::from(QUEUE_SIZE), 64)?;
        let (offered, negotiated, reqq, evq) = Self::bring_up(dev, wanted, reqq_mem, evq_mem)?;
        let mut iommu = Iommu {
            dev,
            wanted,
            offered,
            negotiated,
            reqq_mem,
            evq_mem,
            reqq,
            evq,
            req,
            events,
            event_slot: [0; QUEUE_SIZE as usize],
            last_writable_len: 0,
            config: Self::read_config_of(dev),
        };
        iommu.fill_eventq()?;
        Ok(iommu)
    }

    fn bring_up(
        dev: MmioDevice,
        wanted: u64,
        reqq_mem: DeviceBuf,
        evq_mem: DeviceBuf,
    ) -> Result<(u64, u64, Virtqueue, Virtqueue), Error> {
        let negotiated = dev.negotiate(wanted)?;
        let offered = dev.device_features();
        let reqq = Virtqueue::new(dev, REQUESTQ, QUEUE_SIZE, reqq_mem)?;
        let evq = Virtqueue::new(dev, EVENTQ, QUEUE_SIZE, evq_mem)?;
        dev.driver_ok()?;
        Ok((offered, negotiated, reqq, evq))
    }

    fn read_config_of(dev: MmioDevice) -> Config {
        let mut raw = [0u8; CONFIG_LEN];
        dev.read_config(0, &mut raw);
        Config::decode(&raw)
    }

    fn fill_eventq(&mut self) -> Result<(), Error> {
        for slot in 0..usize::from(QUEUE_SIZE) {
            self.post_event_buffer(slot)?;
        }
        self.evq.notify();
        Ok(())
    }

    fn post_event_buffer(&mut self, slot: usize) -> Result<(), Error> {
        self.give_event_buffer(slot, EVENT_BUF_LEN)
    }

    /// Puts event buffer `slot` (of [`QUEUE_SIZE`]) back on the event queue, offering the device
    /// only its first `len` bytes (pre-filled with 0xEE), without notifying.
    pub fn give_event_buffer(&mut self, slot: usize, len: usize) -> Result<(), Error> {
        if slot >= usize::from(QUEUE_SIZE) || len > EVENT_BUF_LEN {
            return Err(Error::BadChain);
        }
        let buf = self.events.sub(slot * EVENT_BUF_LEN, EVENT_BUF_LEN);
        buf.fill(0xee);
        let head = self
            .evq
            .queue_mut()
            .add(&[Buf::writable(buf.addr(), len as u32)])?;
        self.event_slot[usize::from(head)] = slot as u16;
        Ok(())
    }

    /// Notifies the device that event buffers were added.
    pub fn notify_eventq(&self) {
        self.evq.notify();
    }

    /// Consumes the next event buffer the device returned, without giving it back: its slot, the
    /// used length and its first [`FAULT_LEN`] bytes.
    pub fn take_event(&mut self) -> Result<Option<(usize, u32, [u8; FAULT_LEN])>, Error> {
        let Some((head, used_len)) = self.evq.queue_mut().pop_used()? else {
            return Ok(None);
        };
        let slot = usize::from(self.event_slot[usize::from(head)]);
        let mut rec = [0u8; FAULT_LEN];
        self.events
            .sub(slot * EVENT_BUF_LEN, EVENT_BUF_LEN)
            .read(0, &mut rec);
        Ok(Some((slot, used_len, rec)))
    }

    /// The transport.
    pub fn device(&self) -> MmioDevice {
        self.dev
    }

    /// Features the device offers.
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// Features negotiated.
    pub fn negotiated(&self) -> u64 {
        self.negotiated
    }

    /// Whether device feature `f` (a mask) was negotiated.
    pub fn has(&self, f: u64) -> bool {
        self.negotiated & f != 0
    }

    /// Re-reads the configuration space.
    pub fn read_config(&self) -> Config {
        Self::read_config_of(self.dev)
    }

    /// The `bypass` configuration byte, read now.
    pub fn bypass(&self) -> u8 {
        self.dev.config_u8(CONFIG_BYPASS)
    }

    /// Writes the `bypass` configuration byte.
    pub fn set_bypass(&self, value: u8) {
        self.dev.set_config_u8(CONFIG_BYPASS, value);
    }

    /// Device reset (status 0), then the same bring-up again with the same features: fresh
    /// queues in the same memory, a full event queue.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.dev.reset()?;
        self.reinit()
    }

    /// Brings the device up again (after a reset done by someone else).
    pub fn reinit(&mut self) -> Result<(), Error> {
        let (offered, negotiated, reqq, evq) =
            Self::bring_up(self.dev, self.wanted, self.reqq_mem, self.evq_mem)?;
        self.offered = offered;
        self.negotiated = negotiated;
        self.reqq = reqq;
        self.evq = evq;
        self.config = self.read_config();
        self.fill_eventq()
    }

    /// Sends a raw request: `readable` is the device-readable part, then a device-writable part
    /// of `writable_len` bytes pre-filled with `prefill`, cut into descriptors as `split` says.
    /// The status is read from the last 4 bytes of the writable part.
    pub fn request_raw(
        &mut self,
        readable: &[u8],
        writable_len: usize,
        split: Split,
        prefill: u8,
    ) -> Result<Reply, Error> {
        if readable.len() > WRITABLE_AT || !(TAIL_LEN..=MAX_WRITABLE).contains(&writable_len) {
            return Err(Error::BufferTooSmall);
        }
        self.req.sub(0, readable.len()).write(0, readable);
        let w = self.req.sub(WRITABLE_AT, writable_len);
        w.fill(prefill);
        self.last_writable_len = writable_len;
        let mut bufs = [Buf::readable(0, 0); 16];
        let mut n = 0;
        for (part, (base, len, writable)) in [
            (split.readable, (self.req.addr(), readable.len(), false)),
            (split.writable, (w.addr(), writable_len, true)),
        ] {
            let parts = part.clamp(1, 8).min(len.max(1));
            let mut at = 0;
            for k in 0..parts {
                let piece = if k + 1 == parts {
                    len - at
                } else {
                    len / parts
                };
                bufs[n] = Buf {
                    addr: base + at as u64,
                    len: piece as u32,
                    writable,
                };
                n += 1;
                at += piece;
            }
        }
        let used_len = self.reqq.transact(&bufs[..n])?;
        let tail = w.sub(writable_len - TAIL_LEN, TAIL_LEN);
        Ok(Reply {
            status: tail.read_u8(0),
            tail_reserved: [tail.read_u8(1), tail.read_u8(2), tail.read_u8(3)],
            used_len,
            writable_len: writable_len as u32,
        })
    }

    /// Sends a request with a 4-byte tail as its writable part.
    pub fn request(&mut self, readable: &[u8]) -> Result<Reply, Error> {
        self.request_raw(readable, TAIL_LEN, Split::TWO, 0)
    }

    /// The writable part of the last request, as the device left it.
    pub fn last_writable(&self) -> DmaBuf {
        self.req.sub(WRITABLE_AT, self.last_writable_len)
    }

    /// ATTACH `endpoint` to `domain`.
    pub fn attach(&mut self, domain: u32, endpoint: u32) -> Result<Reply, Error> {
        self.request(&protocol::attach(domain, endpoint, 0))
    }

    /// ATTACH with `flags`.
    pub fn attach_flags(&mut self, domain: u32, endpoint: u32, flags: u32) -> Result<Reply, Error> {
        self.request(&protocol::attach(domain, endpoint, flags))
    }

    /// DETACH `endpoint` from `domain`.
    pub fn detach(&mut self, domain: u32, endpoint: u32) -> Result<Reply, Error> {
        self.request(&protocol::detach(domain, endpoint))
    }

    /// MAP `[virt_start, virt_end]` → `phys` in `domain`.
    pub fn map(
        &mut self,
        domain: u32,
        virt_start: u64,
        virt_end: u64,
        phys: u64,
        flags: u32,
    ) -> Result<Reply, Error> {
        self.request(&protocol::map(domain, virt_start, virt_end, phys, flags))
    }

    /// MAP `len` bytes at `iova` → `phys` in `domain` (`len` > 0).
    pub fn map_len(
        &mut self,
        domain: u32,
        iova: u64,
        len: u64,
        phys: u64,
        flags: u32,
    ) -> Result<Reply, Error> {
        self.map(domain, iova, iova.wrapping_add(len - 1), phys, flags)
    }

    /// UNMAP `[virt_start, virt_end]` in `domain`.
    pub fn unmap(&mut self, domain: u32, virt_start: u64, virt_end: u64) -> Result<Reply, Error> {
        self.request(&protocol::unmap(domain, virt_start, virt_end))
    }

    /// PROBE `endpoint` with a properties buffer of `probe_size` bytes.
    pub fn probe(&mut self, endpoint: u32) -> Result<Reply, Error> {
        let len = self.config.probe_size as usize;
        self.probe_with(endpoint, len)
    }

    /// PROBE with a properties buffer of `properties_len` bytes (pre-filled with 0xA5).
    pub fn probe_with(&mut self, endpoint: u32, properties_len: usize) -> Result<Reply, Error> {
        self.request_raw(
            &protocol::probe(endpoint),
            properties_len + TAIL_LEN,
            Split::TWO,
            0xa5,
        )
    }

    /// The properties written by the last PROBE (copied out, up to `out.len()` bytes); returns
    /// how many bytes were copied.
    pub fn probe_properties(&self, out: &mut [u8]) -> usize {
        let n = self
            .last_writable_len
            .saturating_sub(TAIL_LEN)
            .min(out.len());
        self.req.sub(WRITABLE_AT, n).read(0, &mut out[..n]);
        n
    }

    /// The next fault report, waiting until `deadline` for one.
    pub fn next_fault(&mut self, deadline: Deadline) -> Result<Option<Fault>, Error> {
        loop {
            if let Some(f) = self.pending_fault()? {
                return Ok(Some(f));
            }
            if deadline.expired() {
                return Ok(None);
            }
            for _ in 0..256 {
                core::hint::spin_loop();
            }
        }
    }

    /// A fault report the device has already written, if any (no waiting). The device writes a
    /// fault before the faulting device completes its request, so once a request has come back
    /// its fault, if any, is here.
    pub fn pending_fault(&mut self) -> Result<Option<Fault>, Error> {
        let Some((slot, used_len, rec)) = self.take_event()? else {
            return Ok(None);
        };
        self.post_event_buffer(slot)?;
        self.evq.notify();
        Ok(Some(Fault::decode(&rec, used_len)))
    }

    /// Consumes every pending fault report; returns how many there were.
    pub fn drain_faults(&mut self) -> Result<usize, Error> {
        let mut n = 0;
        while self.pending_fault()?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}
