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
    self, F_BLK_SIZE, F_FLUSH, F_RO, F_SEG_MAX, HEADER_SIZE, ID_LEN, RequestHeader, S_IOERR, S_OK,
    S_UNSUPP, SECTOR_SIZE,
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
            let used_len = if self.buffers.load(chain).is_ok() && self.buffers.writable_len() >= 1 {
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
        let space =
            protocol::config_space(self.capacity, u32::from(QUEUE_SIZE) - 2, SECTOR_SIZE as u32);
        read_config_bytes(&space, offset, data);
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {
        // No writable field without VIRTIO_BLK_F_CONFIG_WCE.
    }

    fn activate(&mut self, ctx: ActivateContext) -> Result<(), ActivateError> {
        if self.active.is_some() {
            return Err(ActivateError::AlreadyActive);
        }
        let queue = crate::virtio::single_ready_queue(ctx.queues)?;
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

#[cfg(test)]
mod tests {
    use std::io::Write;

    use ::iommu::EndpointId;
    use vm_memory::{Bytes, GuestAddress};
    use vmm_sys_util::tempfile::TempFile;

    use super::*;
    use crate::virtio::iommu::protocol::{FAULT_R_MAPPING, FaultRecord};
    use crate::virtio::iommu::{IommuConfig, VirtioIommu};
    use crate::virtio::test_utils::{DriverQueue, activate, test_ram};
    use crate::virtio::{GuestRam, TestInterrupt};

    const RING: u64 = 0x1_0000;
    const HDR: u64 = 0x2_0000;
    const DATA: u64 = 0x3_0000;
    const STATUS: u64 = 0x4_0000;

    /// A 64 KiB image whose sector `n` is filled with byte `n`.
    fn image() -> TempFile {
        let f = TempFile::new().unwrap();
        let mut data = Vec::new();
        for s in 0..128u8 {
            data.extend([s; 512]);
        }
        f.as_file().write_all(&data).unwrap();
        f
    }

    fn block(f: &TempFile, read_only: bool) -> VirtioBlock {
        let mut dev = VirtioBlock::new(
            &BlockConfig {
                path: f.as_path().to_path_buf(),
                read_only,
                id: Some("disk-0".into()),
            },
            None,
        )
        .unwrap();
        dev.ack_features(dev.features());
        dev
    }

    /// Sends `header | data (readable or writable) | status` and returns (used length, status).
    fn request(
        dev: &mut VirtioBlock,
        mem: &GuestRam,
        q: &mut DriverQueue<'_>,
        req_type: u32,
        sector: u64,
        data: Option<(u32, bool)>,
    ) -> (u32, u8) {
        let hdr = RequestHeader { req_type, sector }.encode();
        mem.write_slice(&hdr, GuestAddress(HDR)).unwrap();
        mem.write_obj(0xeeu8, GuestAddress(STATUS)).unwrap();
        let mut descs = vec![(HDR, HEADER_SIZE as u32, false)];
        if let Some((len, writable)) = data {
            descs.push((DATA, len, writable));
        }
        descs.push((STATUS, 1, true));
        q.add(&descs);
        dev.process_queue(0);
        let used = q.used();
        assert_eq!(used.len(), 1);
        (used[0].1, mem.read_obj(GuestAddress(STATUS)).unwrap())
    }

    fn setup(
        read_only: bool,
    ) -> (
        TempFile,
        VirtioBlock,
        &'static GuestRam,
        DriverQueue<'static>,
    ) {
        let f = image();
        let mut dev = block(&f, read_only);
        let mem: &'static GuestRam = Box::leak(Box::new(test_ram()));
        let q = DriverQueue::new(mem, GuestAddress(RING), 16);
        activate(&mut dev, mem, &[&q], Arc::new(TestInterrupt::new()));
        (f, dev, mem, q)
    }

    #[test]
    fn capacity_in_sectors_and_features_are_presented() {
        let (_f, dev, _, _) = setup(false);
        let mut cap = [0u8; 8];
        dev.read_config(0, &mut cap);
        assert_eq!(u64::from_le_bytes(cap), 128);
        let mut blk_size = [0u8; 4];
        dev.read_config(20, &mut blk_size);
        assert_eq!(u32::from_le_bytes(blk_size), 512);
        let f = dev.features();
        assert_ne!(f & bit(F_FLUSH), 0);
        assert_eq!(f & bit(F_RO), 0);
        assert_eq!(f & bit(features::ACCESS_PLATFORM), 0);
    }

    #[test]
    fn read_returns_image_sectors_with_used_length_data_plus_status() {
        let (_f, mut dev, mem, mut q) = setup(false);
        let (used, status) = request(&mut dev, mem, &mut q, protocol::T_IN, 3, Some((1024, true)));
        assert_eq!((used, status), (1025, S_OK));
        let mut got = [0u8; 1024];
        mem.read_slice(&mut got, GuestAddress(DATA)).unwrap();
        assert!(got[..512].iter().all(|&b| b == 3));
        assert!(got[512..].iter().all(|&b| b == 4));
    }

    #[test]
    fn write_lands_in_the_image() {
        let (f, mut dev, mem, mut q) = setup(false);
        mem.write_slice(&[0x77u8; 512], GuestAddress(DATA)).unwrap();
        let (used, status) = request(
            &mut dev,
            mem,
            &mut q,
            protocol::T_OUT,
            10,
            Some((512, false)),
        );
        assert_eq!((used, status), (1, S_OK));
        let mut got = [0u8; 512];
        f.as_file().read_exact_at(&mut got, 10 * 512).unwrap();
        assert_eq!(got, [0x77u8; 512]);
    }

    #[test]
    fn read_only_image_offers_ro_and_refuses_writes_with_ioerr_without_writing() {
        let (f, mut dev, mem, mut q) = setup(true);
        assert_ne!(dev.features() & bit(F_RO), 0);
        mem.write_slice(&[0x77u8; 512], GuestAddress(DATA)).unwrap();
        let (used, status) = request(
            &mut dev,
            mem,
            &mut q,
            protocol::T_OUT,
            10,
            Some((512, false)),
        );
        assert_eq!((used, status), (1, S_IOERR));
        let mut got = [0u8; 512];
        f.as_file().read_exact_at(&mut got, 10 * 512).unwrap();
        assert_eq!(got, [10u8; 512], "image unchanged");
        // Reads still work.
        let (_, status) = request(&mut dev, mem, &mut q, protocol::T_IN, 0, Some((512, true)));
        assert_eq!(status, S_OK);
    }

    #[test]
    fn flush_succeeds() {
        let (_f, mut dev, mem, mut q) = setup(false);
        assert_eq!(
            request(&mut dev, mem, &mut q, protocol::T_FLUSH, 0, None),
            (1, S_OK)
        );
    }

    #[test]
    fn get_id_returns_the_nul_padded_id_string() {
        let (_f, mut dev, mem, mut q) = setup(false);
        let (used, status) = request(
            &mut dev,
            mem,
            &mut q,
            protocol::T_GET_ID,
            0,
            Some((20, true)),
        );
        assert_eq!((used, status), (21, S_OK));
        let mut id = [0u8; 20];
        mem.read_slice(&mut id, GuestAddress(DATA)).unwrap();
        assert_eq!(&id[..6], b"disk-0");
        assert!(id[6..].iter().all(|&b| b == 0));
    }

    #[test]
    fn unknown_request_type_is_unsupp() {
        let (_f, mut dev, mem, mut q) = setup(false);
        assert_eq!(request(&mut dev, mem, &mut q, 11, 0, None), (1, S_UNSUPP));
    }

    #[test]
    fn access_past_the_capacity_or_of_a_partial_sector_is_ioerr() {
        let (_f, mut dev, mem, mut q) = setup(false);
        let past = request(
            &mut dev,
            mem,
            &mut q,
            protocol::T_IN,
            127,
            Some((1024, true)),
        );
        assert_eq!(past.1, S_IOERR);
        let huge = request(
            &mut dev,
            mem,
            &mut q,
            protocol::T_IN,
            u64::MAX / 256,
            Some((512, true)),
        );
        assert_eq!(huge.1, S_IOERR);
        let partial = request(&mut dev, mem, &mut q, protocol::T_IN, 0, Some((100, true)));
        assert_eq!(partial.1, S_IOERR);
    }

    #[test]
    fn chain_without_a_status_byte_is_returned_untouched() {
        let (_f, mut dev, mem, mut q) = setup(false);
        mem.write_slice(
            &RequestHeader {
                req_type: protocol::T_FLUSH,
                sector: 0,
            }
            .encode(),
            GuestAddress(HDR),
        )
        .unwrap();
        q.add(&[(HDR, 16, false)]);
        dev.process_queue(0);
        assert_eq!(q.used(), vec![(0, 0)]);
    }

    #[test]
    fn header_split_over_descriptors_is_accepted() {
        let (_f, mut dev, mem, mut q) = setup(false);
        let hdr = RequestHeader {
            req_type: protocol::T_IN,
            sector: 5,
        }
        .encode();
        mem.write_slice(&hdr[..3], GuestAddress(HDR)).unwrap();
        mem.write_slice(&hdr[3..], GuestAddress(HDR + 0x100))
            .unwrap();
        q.add(&[
            (HDR, 3, false),
            (HDR + 0x100, 13, false),
            (DATA, 256, true),
            (DATA + 0x1000, 257, true),
        ]);
        dev.process_queue(0);
        assert_eq!(q.used(), vec![(0, 513)]);
        let mut b = [0u8; 1];
        mem.read_slice(&mut b, GuestAddress(DATA + 0x1000 + 256))
            .unwrap();
        assert_eq!(b[0], S_OK);
        mem.read_slice(&mut b, GuestAddress(DATA + 0x1000 + 255))
            .unwrap();
        assert_eq!(b[0], 5);
    }

    #[test]
    fn read_into_a_read_only_mapping_behind_the_iommu_fails_and_is_reported() {
        let f = image();
        let mem: &'static GuestRam = Box::leak(Box::new(test_ram()));
        let mut iommu = VirtioIommu::new(IommuConfig::default()).unwrap();
        let ep = iommu.endpoint(EndpointId(9)).unwrap();
        iommu.ack_features(iommu.features());
        let engine = Arc::clone(iommu.engine());
        engine
            .attach(EndpointId(9), ::iommu::DomainId(1), false)
            .unwrap();
        let rw = ::iommu::Perms::RW;
        // Ring, header and status identity mapped RW; the data buffer READ only.
        for (start, perms) in [
            (RING, rw),
            (HDR, rw),
            (STATUS, rw),
            (DATA, ::iommu::Perms::READ),
        ] {
            engine
                .map(
                    ::iommu::DomainId(1),
                    ::iommu::IovaRange::new(start, start + 0xfff),
                    start,
                    perms,
                )
                .unwrap();
        }
        let reqq = DriverQueue::new(mem, GuestAddress(0x50_0000), 16);
        let mut evq = DriverQueue::new(mem, GuestAddress(0x51_0000), 16);
        evq.add(&[(0x52_0000, 24, true)]);
        activate(
            &mut iommu,
            mem,
            &[&reqq, &evq],
            Arc::new(TestInterrupt::new()),
        );

        let mut dev = VirtioBlock::new(
            &BlockConfig {
                path: f.as_path().to_path_buf(),
                read_only: false,
                id: None,
            },
            Some(ep),
        )
        .unwrap();
        dev.ack_features(dev.features());
        let mut q = DriverQueue::new(mem, GuestAddress(RING), 16);
        activate(&mut dev, mem, &[&q], Arc::new(TestInterrupt::new()));
        mem.write_slice(&[0u8; 512], GuestAddress(DATA)).unwrap();

        let (used, status) = request(&mut dev, mem, &mut q, protocol::T_IN, 1, Some((512, true)));

        assert_eq!((used, status), (1, S_IOERR));
        let mut data = [0u8; 512];
        mem.read_slice(&mut data, GuestAddress(DATA)).unwrap();
        assert_eq!(
            data, [0u8; 512],
            "nothing written through the read-only mapping"
        );
        assert_eq!(evq.used(), vec![(0, 24)]);
        let mut rec = [0u8; 24];
        mem.read_slice(&mut rec, GuestAddress(0x52_0000)).unwrap();
        let rec = FaultRecord::decode(&rec).unwrap();
        assert_eq!(
            (rec.reason, rec.endpoint, rec.address),
            (FAULT_R_MAPPING, 9, DATA)
        );
    }
}
