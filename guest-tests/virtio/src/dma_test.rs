//! A driver for the project's DMA test device (docs/PLATFORM.md "DMA test device"): one request
//! queue; each request asks the device to COPY, FILL or COMPARE between device addresses (IOVAs
//! behind the IOMMU) and comes back with a status, and for a blocked access its address.

use core::fmt;

use crate::Error;
use crate::driver::Virtqueue;
use crate::mem::DeviceBuf;
use crate::mmio::{MmioDevice, features};
use crate::queue::{Buf, SplitQueue};
use crate::time::Deadline;

/// COPY `len` bytes from `src` to `dst`.
pub const OP_COPY: u32 = 1;
/// FILL `len` bytes at `dst` with `pattern`.
pub const OP_FILL: u32 = 2;
/// COMPARE `len` bytes at `src` and `dst`.
pub const OP_COMPARE: u32 = 3;

/// Done.
pub const S_OK: u8 = 0;
/// The IOMMU refused an access.
pub const S_FAULT: u8 = 1;
/// Bad request.
pub const S_INVAL: u8 = 2;
/// An address that is not guest RAM.
pub const S_IOERR: u8 = 3;
/// `fault_flags`: a read was refused.
pub const FAULT_F_READ: u32 = 1;
/// `fault_flags`: a write was refused.
pub const FAULT_F_WRITE: u32 = 2;

/// Request size.
pub const REQUEST_LEN: usize = 40;
/// Reply size.
pub const REPLY_LEN: usize = 24;
/// Queue entries used.
pub const QUEUE_SIZE: u16 = 16;
/// Pages of control memory (rings, request, reply) a [`DmaTest`] needs.
pub const CTRL_PAGES: usize = 2;
/// Offset of the request in the control memory (the reply follows at +64).
const REQUEST_AT: usize = 0x1000;
const REPLY_AT: usize = REQUEST_AT + 64;

/// A request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// `OP_*`.
    pub op: u32,
    /// Must be 0.
    pub flags: u32,
    /// Source device address.
    pub src: u64,
    /// Destination device address.
    pub dst: u64,
    /// Bytes.
    pub len: u64,
    /// FILL byte.
    pub pattern: u8,
}

impl Request {
    /// FILL `len` bytes at `dst` with `pattern`.
    pub fn fill(dst: u64, len: u64, pattern: u8) -> Self {
        Request {
            op: OP_FILL,
            flags: 0,
            src: 0,
            dst,
            len,
            pattern,
        }
    }

    /// COPY `len` bytes from `src` to `dst`.
    pub fn copy(src: u64, dst: u64, len: u64) -> Self {
        Request {
            op: OP_COPY,
            flags: 0,
            src,
            dst,
            len,
            pattern: 0,
        }
    }

    /// COMPARE `len` bytes at `src` and `dst`.
    pub fn compare(src: u64, dst: u64, len: u64) -> Self {
        Request {
            op: OP_COMPARE,
            flags: 0,
            src,
            dst,
            len,
            pattern: 0,
        }
    }

    /// The 40 bytes.
    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[0..4].copy_from_slice(&self.op.to_le_bytes());
        b[4..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..16].copy_from_slice(&self.src.to_le_bytes());
        b[16..24].copy_from_slice(&self.dst.to_le_bytes());
        b[24..32].copy_from_slice(&self.len.to_le_bytes());
        b[32] = self.pattern;
        b
    }
}

/// A reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// `S_*`.
    pub status: u8,
    /// `FAULT_F_*`.
    pub fault_flags: u32,
    /// IOVA of the refused access.
    pub fault_addr: u64,
    /// Bytes written (COPY/FILL) or equal leading bytes (COMPARE).
    pub result: u64,
    /// The used length.
    pub used_len: u32,
}

impl Reply {
    /// OK with the full reply written.
    pub fn ok(&self) -> bool {
        self.status == S_OK && self.used_len == REPLY_LEN as u32
    }

    /// A refused access with the full reply written.
    pub fn fault(&self) -> bool {
        self.status == S_FAULT && self.used_len == REPLY_LEN as u32
    }
}

/// The name of a DMA test status.
pub fn status_name(status: u8) -> &'static str {
    match status {
        S_OK => "OK",
        S_FAULT => "FAULT",
        S_INVAL => "INVAL",
        S_IOERR => "IOERR",
        _ => "?",
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} result={}", status_name(self.status), self.result)?;
        if self.status == S_FAULT {
            write!(
                f,
                " fault_flags={:#x} fault_addr={:#x}",
                self.fault_flags, self.fault_addr
            )?;
        }
        write!(f, " (used {})", self.used_len)
    }
}

/// The DMA test device.
#[derive(Debug)]
pub struct DmaTest {
    dev: MmioDevice,
    negotiated: u64,
    offered: u64,
    ctrl: DeviceBuf,
    queue: Virtqueue,
    /// Configuration `endpoint` (0xFFFFFFFF when not behind the IOMMU).
    pub config_endpoint: u32,
    /// Configuration `max_len`.
    pub max_len: u32,
}

impl DmaTest {
    /// Brings the device up with its rings, request and reply in `ctrl` ([`CTRL_PAGES`] pages,
    /// page-aligned; the device is given `ctrl.dev_addr` and must be able to reach all of it:
    /// behind the IOMMU, the program maps it first). `access_platform`: accept
    /// `VIRTIO_F_ACCESS_PLATFORM` if offered.
    pub fn new(dev: MmioDevice, ctrl: DeviceBuf, access_platform: bool) -> Result<Self, Error> {
        if ctrl.buf.len() < CTRL_PAGES * 4096 {
            return Err(Error::BufferTooSmall);
        }
        let mut wanted = features::INDIRECT_DESC;
        if access_platform {
            wanted |= features::ACCESS_PLATFORM;
        }
        let negotiated = dev.negotiate(wanted)?;
        let offered = dev.device_features();
        let queue = Virtqueue::new(
            dev,
            0,
            QUEUE_SIZE,
            ctrl.sub(0, SplitQueue::bytes(QUEUE_SIZE)),
        )?;
        dev.driver_ok()?;
        Ok(DmaTest {
            dev,
            negotiated,
            offered,
            ctrl,
            queue,
            config_endpoint: dev.config_u32(0),
            max_len: dev.config_u32(4),
        })
    }

    /// The transport.
    pub fn device(&self) -> MmioDevice {
        self.dev
    }

    /// Features negotiated.
    pub fn negotiated(&self) -> u64 {
        self.negotiated
    }

    /// Features offered.
    pub fn offered(&self) -> u64 {
        self.offered
    }

    /// The control memory (rings at page 0, request and reply at page 1).
    pub fn ctrl(&self) -> DeviceBuf {
        self.ctrl
    }

    /// Runs one request and waits for the reply (which is pre-filled with 0xEE).
    pub fn run(&mut self, req: &Request) -> Result<Reply, Error> {
        self.run_until(req, Deadline::request())
    }

    /// Runs one request, waiting until `deadline`.
    pub fn run_until(&mut self, req: &Request, deadline: Deadline) -> Result<Reply, Error> {
        let head = self.submit(req)?;
        self.wait(head, deadline)
    }

    /// Writes the request, pre-fills the reply with 0xEE, puts the chain on the ring and
    /// notifies; returns the head to [`DmaTest::wait`] for. Requests share one request and one
    /// reply buffer: submit the next only once this one is back (or given up on).
    pub fn submit(&mut self, req: &Request) -> Result<u16, Error> {
        let r = self.ctrl.sub(REQUEST_AT, REQUEST_LEN);
        let p = self.ctrl.sub(REPLY_AT, REPLY_LEN);
        r.buf.write(0, &req.encode());
        p.buf.fill(0xee);
        self.queue.submit(&[Buf::r(&r), Buf::w(&p)])
    }

    /// Waits until `deadline` for the request with `head` and returns its reply.
    pub fn wait(&mut self, head: u16, deadline: Deadline) -> Result<Reply, Error> {
        let used_len = self.queue.wait(head, deadline)?;
        let b = self.ctrl.sub(REPLY_AT, REPLY_LEN).buf;
        Ok(Reply {
            status: b.read_u8(0),
            fault_flags: b.read_u32(4),
            fault_addr: b.read_u64(8),
            result: b.read_u64(16),
            used_len,
        })
    }

    /// Notifies the device again (e.g. once the IOMMU lets it reach its rings).
    pub fn notify(&self) {
        self.queue.notify();
    }

    /// FILL.
    pub fn fill(&mut self, dst: u64, len: u64, pattern: u8) -> Result<Reply, Error> {
        self.run(&Request::fill(dst, len, pattern))
    }

    /// COPY.
    pub fn copy(&mut self, src: u64, dst: u64, len: u64) -> Result<Reply, Error> {
        self.run(&Request::copy(src, dst, len))
    }

    /// COMPARE.
    pub fn compare(&mut self, src: u64, dst: u64, len: u64) -> Result<Reply, Error> {
        self.run(&Request::compare(src, dst, len))
    }
}
