//! [`VirtioBlock`]: a raw disk image file behind one request queue.
//!
//! Every request is `header (16 bytes, readable) | data | status (1 byte, writable)`, in any
//! descriptor layout: the data of a write follows the header in the readable part, the data of
//! a read (or get-id) precedes the status byte, the last byte of the writable part.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use log::warn;
use virtio_queue::{Queue, QueueT};

use super::protocol::{
    self, F_BLK_SIZE, F_FLUSH, F_RO, F_SEG_MAX, HEADER_SIZE, ID_LEN, RequestHeader, S_IOERR,
    S_OK, S_UNSUPP, SECTOR_SIZE,
};
use crate::virtio::chain::ChainBuffers;
use crate::virtio::dma::{
    DeviceMemory, DmaEndpoint, DmaMemory, access_platform_acceptable, access_platform_feature,
};
use crate::virtio::features::{self, bit};
use crate::virtio::{
    ActivateContext, ActivateError, Interrupt, VirtioDevice, device_type, read_config_bytes,
};

/// Queue size.
pub const QUEUE_SIZE: u16 = 128;
/// Bytes moved between the image and guest memory at a time.
const CHUNK: usize = 64 * 1024;

/// How to build a block device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockConfig {
    /// The raw image file.
    pub path: PathBuf,
    /// Refuse writes (`VIRTIO_BLK_F_RO`).
    pub read_only: bool,
    /// The device ID string (at most 20 bytes are used); defaults to the file name.
    pub id: Option<String>,
}

/// Why a block device cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// The image cannot be opened.
    #[error("cannot open disk image {path:?}")]
    Open {
        /// The image path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The image size cannot be read.
    #[error("cannot read the size of disk image {path:?}")]
    Size {
        /// The image path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// virtio-blk counters.
#[derive(Debug, Default)]
pub struct BlockCounters {
    /// Read requests completed.
    pub reads: AtomicU64,
    /// Write requests completed.
    pub writes: AtomicU64,
    /// Flush requests completed.
    pub flushes: AtomicU64,
    /// Get-ID requests completed.
    pub get_ids: AtomicU64,
    /// Requests completed with `VIRTIO_BLK_S_UNSUPP`.
    pub unsupported: AtomicU64,
    /// Requests completed with `VIRTIO_BLK_S_IOERR`.
    pub io_errors: AtomicU64,
    /// Requests returned with used length 0 (no status byte, or it could not be written).
    pub untouched: AtomicU64,
    /// Bytes read from the image into guest memory.
    pub bytes_read: AtomicU64,
    /// Bytes written to the image.
    pub bytes_written: AtomicU64,
}

struct Active {
    mem: DeviceMemory,
    interrupt: Arc<dyn Interrupt>,
    queue: Queue,
}

/// The block device.
pub struct VirtioBlock {
    disk: File,
    capacity: u64,
    read_only: bool,
    id: [u8; ID_LEN],
    endpoint: Option<DmaEndpoint>,
    acked: u64,
    active: Option<Active>,
    buffers: ChainBuffers,
    scratch: Vec<u8>,
    counters: Arc<BlockCounters>,
}

impl std::fmt::Debug for VirtioBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioBlock")
            .field("capacity", &self.capacity)
            .field("read_only", &self.read_only)
            .field("endpoint", &self.endpoint)
            .field("active", &self.active.is_some())
            .finish_non_exhaustive()
    }
}

/// What one request did: its status and how many data bytes it wrote into the writable part.
struct Outcome {
    status: u8,
    data_written: u64,
}

impl Outcome {
    fn status(status: u8) -> Self {
        Outcome {
            status,
            data_written: 0,
        }
    }
}

impl VirtioBlock {
    /// A block device over `config.path`; behind the IOMMU as `endpoint` if given.
    pub fn new(config: &BlockConfig, endpoint: Option<DmaEndpoint>) -> Result<Self, BlockError> {
        let disk = OpenOptions::new()
            .read(true)
            .write(!config.read_only)
            .open(&config.path)
            .map_err(|source| BlockError::Open {
                path: config.path.clone(),
                source,
            })?;
        let len = disk
            .metadata()
            .map_err(|source| BlockError::Size {
                path: config.path.clone(),
                source,
            })?
            .len();
        let name = config.id.clone().unwrap_or_else(|| {
            config
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        let mut id = [0u8; ID_LEN];
        for (dst, src) in id.iter_mut().zip(name.bytes()) {
            *dst = src;
        }
        Ok(VirtioBlock {
            disk,
            // "The capacity of the device (expressed in 512-byte sectors)"; a partial last
            // sector of the image is not exposed.
            capacity: len / SECTOR_SIZE,
            read_only: config.read_only,
            id,
            endpoint,
            acked: 0,
            active: None,
            buffers: ChainBuffers::new(),
            scratch: Vec::new(),
            counters: Arc::new(BlockCounters::default()),
        })
    }

    /// Capacity in 512-byte sectors.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The counters (shared; readable after the device is boxed into a transport).
    pub fn counters_handle(&self) -> Arc<BlockCounters> {
        Arc::clone(&self.counters)
    }

    /// Byte offset and length of a data transfer, if it lies inside the disk and is made of
    /// whole sectors.
    fn check_range(&self, sector: u64, len: u64) -> Option<u64> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return None;
        }
        let offset = sector.checked_mul(SECTOR_SIZE)?;
        let end = offset.checked_add(len)?;
        (end <= self.capacity.checked_mul(SECTOR_SIZE)?).then_some(offset)
    }

    fn execute(&mut self, mem: &DmaMemory) -> Outcome {
        let mut header = [0u8; HEADER_SIZE];
        match self.buffers.read_at(mem, 0, &mut header) {
            Ok(n) if n == HEADER_SIZE => {}
            _ => return Outcome::status(S_IOERR),
        }
        let header = RequestHeader::decode(&header);
        // The status byte is the last writable byte; the data of a read precedes it.
        let data_len = self.buffers.writable_len() - 1;
        match header.req_type {
            protocol::T_IN => {
                self.counters.reads.fetch_add(1, Ordering::Relaxed);
                self.read(mem, header.sector, data_len)
            }
            protocol::T_OUT => {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
                // "A device MUST set the status byte to VIRTIO_BLK_S_IOERR for a write request if
                // the VIRTIO_BLK_F_RO feature if offered, and MUST NOT write any data."
                if self.read_only {
                    return Outcome::status(S_IOERR);
                }
                let len = self.buffers.readable_len() - HEADER_SIZE as u64;
                self.write(mem, header.sector, len)
            }
            protocol::T_FLUSH => {
                self.counters.flushes.fetch_add(1, Ordering::Relaxed);
                if self.read_only {
                    return Outcome::status(S_OK);
                }
                match self.disk.sync_data() {
                    Ok(()) => Outcome::status(S_OK),
                    Err(e) => {
                        warn!("virtio-blk: flush failed: {e}");
                        Outcome::status(S_IOERR)
                    }
                }
            }
            protocol::T_GET_ID => {
                self.counters.get_ids.fetch_add(1, Ordering::Relaxed);
                // "VIRTIO_BLK_T_GET_ID requests fetch the device ID string from the device into
                // data."
                let n = (data_len as usize).min(ID_LEN);
                match self.buffers.write_at(mem, 0, &self.id[..n]) {
                    Ok(()) => Outcome {
                        status: S_OK,
                        data_written: n as u64,
                    },
                    Err(_) => Outcome::status(S_IOERR),
                }
            }
            // "VIRTIO_BLK_S_UNSUPP for a request unsupported by device".
            _ => Outcome::status(S_UNSUPP),
        }
    }

    fn read(&mut self, mem: &DmaMemory, sector: u64, len: u64) -> Outcome {
        let Some(offset) = self.check_range(sector, len) else {
            return Outcome::status(S_IOERR);
        };
        let mut done = 0u64;
        while done < len {
            let take = (len - done).min(CHUNK as u64) as usize;
            self.scratch.resize(take, 0);
            if let Err(e) = self.disk.read_exact_at(&mut self.scratch, offset + done) {
                warn!("virtio-blk: read failed: {e}");
                return Outcome {
                    status: S_IOERR,
                    data_written: done,
                };
            }
            if self.buffers.write_at(mem, done, &self.scratch).is_err() {
                return Outcome {
                    status: S_IOERR,
                    data_written: done,
                };
            }
            done += take as u64;
            self.counters
                .bytes_read
                .fetch_add(take as u64, Ordering::Relaxed);
        }
        Outcome {
            status: S_OK,
            data_written: done,
        }
    }

    fn write(&mut self, mem: &DmaMemory, sector: u64, len: u64) -> Outcome {
        let Some(offset) = self.check_range(sector, len) else {
            return Outcome::status(S_IOERR);
        };
        let mut done = 0u64;
        while done < len {
            let take = (len - done).min(CHUNK as u64) as usize;
            self.scratch.resize(take, 0);
            match self
                .buffers
                .read_at(mem, HEADER_SIZE as u64 + done, &mut self.scratch)
            {
                Ok(n) if n == take => {}
                _ => return Outcome::status(S_IOERR),
            }
            if let Err(e) = self.disk.write_all_at(&self.scratch, offset + done) {
                warn!("virtio-blk: write failed: {e}");
                return Outcome::status(S_IOERR);
            }
            done += take as u64;
            self.counters
                .bytes_written
                .fetch_add(take as u64, Ordering::Relaxed);
        }
        Outcome::status(S_OK)
    }

    fn process_requests(&mut self) {
        let Some(mut active) = self.active.take() else {
            return;
        };
        let mut used_any = false;
        loop {
            // One request is one DMA: from popping its chain to its used entry.
            let _dma = active.mem.begin();
            let mem = active.mem.memory();
            let Some(chain) = active.queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            let used_len = if self.buffers.load(chain).is_ok() && self.buffers.writable_len() >= 1
            {
                let outcome = self.execute(mem);
                match outcome.status {
                    S_IOERR => {
                        self.counters.io_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    S_UNSUPP => {
                        self.counters.unsupported.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
                let status_at = self.buffers.writable_len() - 1;
                match self.buffers.write_at(mem, status_at, &[outcome.status]) {
                    // Used length: the data bytes written plus the status byte.
                    Ok(()) => u32::try_from(outcome.data_written + 1).unwrap_or(u32::MAX),
                    Err(_) => 0,
                }
            } else {
                // No status byte to report in (or a malformed chain): return it untouched.
                0
            };
            if used_len == 0 {
                self.counters.untouched.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = active.queue.add_used(mem, head, used_len) {
                warn!("virtio-blk: cannot write the used ring: {e}");
                break;
            }
            used_any = true;
        }
        if used_any {
            active.interrupt.signal_used_queue(0);
        }
        self.active = Some(active);
    }
}

impl VirtioDevice for VirtioBlock {
    fn device_type(&self) -> u32 {
        device_type::BLOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        // "Devices SHOULD always offer VIRTIO_BLK_F_FLUSH".
        let mut f = bit(features::VERSION_1)
            | bit(features::INDIRECT_DESC)
            | bit(F_SEG_MAX)
            | bit(F_BLK_SIZE)
            | bit(F_FLUSH)
            | access_platform_feature(self.endpoint.as_ref());
        if self.read_only {
            f |= bit(F_RO);
        }
        f
    }

    fn features_acceptable(&self, driver_features: u64) -> bool {
        access_platform_acceptable(self.endpoint.as_ref(), driver_features)
    }

    fn ack_features(&mut self, driver_features: u64) {
        self.acked = driver_features;
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // seg_max: a request may use every descriptor but the header's and the status's.
        let space = protocol::config_space(
            self.capacity,
            u32::from(QUEUE_SIZE) - 2,
            SECTOR_SIZE as u32,
        );
        read_config_bytes(&space, offset, data);
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {
        // No writable field without VIRTIO_BLK_F_CONFIG_WCE.
    }

    fn activate(&mut self, ctx: ActivateContext) -> Result<(), ActivateError> {
        if self.active.is_some() {
            return Err(ActivateError::AlreadyActive);
        }
        let got = ctx.queues.len();
        let [queue]: [Queue; 1] = ctx
            .queues
            .try_into()
            .map_err(|_| ActivateError::QueueCount { expected: 1, got })?;
        if !queue.ready() {
            return Err(ActivateError::QueueNotReady(0));
        }
        let translate = self.acked & bit(features::ACCESS_PLATFORM) != 0;
        self.active = Some(Active {
            mem: DeviceMemory::new(ctx.mem, self.endpoint.as_ref(), translate),
            interrupt: ctx.interrupt,
            queue,
        });
        Ok(())
    }

    fn is_active(&self) -> bool {
        self.active.is_some()
    }

    fn process_queue(&mut self, index: usize) {
        if index == 0 {
            self.process_requests();
        }
    }

    fn reset(&mut self) {
        self.active = None;
        self.acked = 0;
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            ("reads", get(&c.reads)),
            ("writes", get(&c.writes)),
            ("flushes", get(&c.flushes)),
            ("get_ids", get(&c.get_ids)),
            ("unsupported", get(&c.unsupported)),
            ("io_errors", get(&c.io_errors)),
            ("untouched", get(&c.untouched)),
            ("bytes_read", get(&c.bytes_read)),
            ("bytes_written", get(&c.bytes_written)),
        ]
    }

    fn endpoint(&self) -> Option<::iommu::EndpointId> {
        self.endpoint.as_ref().map(DmaEndpoint::id)
    }
}
