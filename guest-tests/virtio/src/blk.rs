//! A minimal virtio-blk driver (virtio 1.2 §5.2): read, write, flush and get-id requests of
//! `header | data | status` chains, the data buffer given by device address.

use crate::Error;
use crate::driver::Virtqueue;
use crate::mem::DeviceBuf;
use crate::mmio::{MmioDevice, features};
use crate::queue::{Buf, SplitQueue};

/// `VIRTIO_BLK_F_RO` (5).
pub const F_RO: u64 = 1 << 5;
/// `VIRTIO_BLK_F_FLUSH` (9).
pub const F_FLUSH: u64 = 1 << 9;
/// `VIRTIO_BLK_T_IN`.
pub const T_IN: u32 = 0;
/// `VIRTIO_BLK_T_OUT`.
pub const T_OUT: u32 = 1;
/// `VIRTIO_BLK_T_FLUSH`.
pub const T_FLUSH: u32 = 4;
/// `VIRTIO_BLK_T_GET_ID`.
pub const T_GET_ID: u32 = 8;
/// `VIRTIO_BLK_S_OK`.
pub const S_OK: u8 = 0;
/// `VIRTIO_BLK_S_IOERR`.
pub const S_IOERR: u8 = 1;
/// `VIRTIO_BLK_S_UNSUPP`.
pub const S_UNSUPP: u8 = 2;
/// Sector size.
pub const SECTOR: u64 = 512;
/// Queue entries used.
pub const QUEUE_SIZE: u16 = 16;
/// Pages of control memory (rings, header, status) a [`Blk`] needs.
pub const CTRL_PAGES: usize = 2;
const HEADER_AT: usize = 0x1000;
const STATUS_AT: usize = 0x1040;

/// The outcome of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkReply {
    /// The status byte (0xEE if the device never wrote it).
    pub status: u8,
    /// The used length.
    pub used_len: u32,
}

/// A virtio-blk device.
#[derive(Debug)]
pub struct Blk {
    dev: MmioDevice,
    negotiated: u64,
    ctrl: DeviceBuf,
    queue: Virtqueue,
    /// Capacity in 512-byte sectors.
    pub capacity: u64,
}

impl Blk {
    /// Brings the device up with its rings, header and status byte in `ctrl` ([`CTRL_PAGES`]
    /// pages at `ctrl.dev_addr`, reachable by the device).
    pub fn new(dev: MmioDevice, ctrl: DeviceBuf, access_platform: bool) -> Result<Self, Error> {
        if ctrl.buf.len() < CTRL_PAGES * 4096 {
            return Err(Error::BufferTooSmall);
        }
        let mut wanted = F_RO | F_FLUSH | features::INDIRECT_DESC;
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
        let mut cap = [0u8; 8];
        dev.read_config(0, &mut cap);
        Ok(Blk {
            dev,
            negotiated,
            ctrl,
            queue,
            capacity: u64::from_le_bytes(cap),
        })
    }

    /// Features negotiated.
    pub fn negotiated(&self) -> u64 {
        self.negotiated
    }

    /// Whether the device is read-only.
    pub fn read_only(&self) -> bool {
        self.negotiated & F_RO != 0
    }

    /// The transport.
    pub fn device(&self) -> MmioDevice {
        self.dev
    }

    fn header(&self, req_type: u32, sector: u64) -> (DeviceBuf, DeviceBuf) {
        let h = self.ctrl.sub(HEADER_AT, 16);
        let mut b = [0u8; 16];
        b[0..4].copy_from_slice(&req_type.to_le_bytes());
        b[8..16].copy_from_slice(&sector.to_le_bytes());
        h.buf.write(0, &b);
        let s = self.ctrl.sub(STATUS_AT, 1);
        s.buf.fill(0xee);
        (h, s)
    }

    fn finish(&mut self, bufs: &[Buf], status: DeviceBuf) -> Result<BlkReply, Error> {
        let used_len = self.queue.transact(bufs)?;
        Ok(BlkReply {
            status: status.buf.read_u8(0),
            used_len,
        })
    }

    /// Reads `len` bytes from `sector` into device address `data`.
    pub fn read(&mut self, sector: u64, data: u64, len: u32) -> Result<BlkReply, Error> {
        let (h, s) = self.header(T_IN, sector);
        self.finish(&[Buf::r(&h), Buf::writable(data, len), Buf::w(&s)], s)
    }

    /// The same read with the three descriptors in an indirect table at `table` (needs
    /// `VIRTIO_F_INDIRECT_DESC`).
    pub fn read_indirect(
        &mut self,
        sector: u64,
        data: u64,
        len: u32,
        table: DeviceBuf,
    ) -> Result<BlkReply, Error> {
        let (h, s) = self.header(T_IN, sector);
        let head = self
            .queue
            .submit_indirect(table, &[Buf::r(&h), Buf::writable(data, len), Buf::w(&s)])?;
        let used_len = self.queue.wait(head, crate::time::Deadline::request())?;
        Ok(BlkReply {
            status: s.buf.read_u8(0),
            used_len,
        })
    }

    /// Writes `len` bytes at device address `data` to `sector`.
    pub fn write(&mut self, sector: u64, data: u64, len: u32) -> Result<BlkReply, Error> {
        let (h, s) = self.header(T_OUT, sector);
        self.finish(&[Buf::r(&h), Buf::readable(data, len), Buf::w(&s)], s)
    }

    /// Fetches the device ID string (up to 20 bytes) into device address `data`.
    pub fn get_id(&mut self, data: u64) -> Result<BlkReply, Error> {
        let (h, s) = self.header(T_GET_ID, 0);
        self.finish(&[Buf::r(&h), Buf::writable(data, 20), Buf::w(&s)], s)
    }

    /// Flush.
    pub fn flush(&mut self) -> Result<BlkReply, Error> {
        let (h, s) = self.header(T_FLUSH, 0);
        self.finish(&[Buf::r(&h), Buf::w(&s)], s)
    }
}
