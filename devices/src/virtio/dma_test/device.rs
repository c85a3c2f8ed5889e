//! [`VirtioDmaTest`]: executes COPY / FILL / COMPARE requests between IOVAs.
//!
//! Each request's chain carries the 40-byte request (device-readable) and the 24-byte reply
//! (device-writable), in any descriptor layout. The data accesses go through the device's
//! [`DmaMemory`] in 4 KiB steps, so behind the IOMMU each step is translated and permission
//! checked; a blocked access stops the operation, is reported on the virtio-iommu event queue
//! (by the translator) and is returned in the reply as `S_FAULT` with the access and address.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ::iommu::{Fault, Perms};
use log::warn;
use virtio_queue::{Queue, QueueT};
use vm_memory::{Bytes, GuestAddress};

use super::protocol::{
    DmaTestReply, DmaTestRequest, FAULT_F_READ, FAULT_F_WRITE, MAX_LEN, OP_COMPARE, OP_COPY,
    OP_FILL, REPLY_SIZE, REQUEST_SIZE, S_FAULT, S_INVAL, S_IOERR, S_OK,
};
use crate::virtio::chain::ChainBuffers;
use crate::virtio::dma::{
    DeviceMemory, DmaEndpoint, DmaMemory, access_platform_acceptable, access_platform_feature,
};
use crate::virtio::features::{self, bit};
use crate::virtio::{ActivateContext, ActivateError, Interrupt, VirtioDevice, device_type};

/// Queue size.
pub const QUEUE_SIZE: u16 = 64;
/// Bytes per DMA step.
const STEP: u64 = 4096;

/// DMA test device counters.
#[derive(Debug, Default)]
pub struct DmaTestCounters {
    /// Requests completed (any status).
    pub requests: AtomicU64,
    /// Requests completed with `S_OK`.
    pub ok: AtomicU64,
    /// Requests stopped by an IOMMU fault.
    pub faults: AtomicU64,
    /// Requests refused as invalid.
    pub invalid: AtomicU64,
    /// Requests stopped by a non-RAM address.
    pub io_errors: AtomicU64,
    /// Requests returned with used length 0 (no room for the reply).
    pub untouched: AtomicU64,
    /// Bytes written to destination buffers.
    pub bytes_written: AtomicU64,
}

struct Active {
    mem: DeviceMemory,
    interrupt: Arc<dyn Interrupt>,
    queue: Queue,
}

/// The DMA test device.
pub struct VirtioDmaTest {
    endpoint: Option<DmaEndpoint>,
    acked: u64,
    active: Option<Active>,
    buffers: ChainBuffers,
    counters: Arc<DmaTestCounters>,
}

impl std::fmt::Debug for VirtioDmaTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioDmaTest")
            .field("endpoint", &self.endpoint)
            .field("active", &self.active.is_some())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// Why a data access stopped.
enum DmaStop {
    Fault(Fault),
    NotRam,
}

fn stop(mem: &DeviceMemory) -> DmaStop {
    match mem.take_fault() {
        Some(f) => DmaStop::Fault(f),
        None => DmaStop::NotRam,
    }
}

impl VirtioDmaTest {
    /// A DMA test device; behind the IOMMU as `endpoint` if given.
    pub fn new(endpoint: Option<DmaEndpoint>) -> Self {
        VirtioDmaTest {
            endpoint,
            acked: 0,
            active: None,
            buffers: ChainBuffers::new(),
            counters: Arc::new(DmaTestCounters::default()),
        }
    }

    /// The counters (shared; readable after the device is boxed into a transport).
    pub fn counters_handle(&self) -> Arc<DmaTestCounters> {
        Arc::clone(&self.counters)
    }

    /// Executes one request against `mem`.
    pub fn execute(mem: &DeviceMemory, req: &DmaTestRequest) -> DmaTestReply {
        if req.flags != 0 || req.reserved != [0; 7] || req.len == 0 || req.len > MAX_LEN {
            return DmaTestReply {
                status: S_INVAL,
                ..Default::default()
            };
        }
        // Forget faults of earlier accesses (ring reads) so only this operation's is reported.
        let _ = mem.take_fault();
        let m = mem.memory();
        let mut buf = [0u8; STEP as usize];
        let mut other = [0u8; STEP as usize];
        let mut done = 0u64;
        let outcome: Result<(), DmaStop> = (|| {
            while done < req.len {
                let take = (req.len - done).min(STEP) as usize;
                let at = |base: u64| base.checked_add(done).map(GuestAddress);
                match req.op {
                    OP_COPY => {
                        let (Some(src), Some(dst)) = (at(req.src), at(req.dst)) else {
                            return Err(DmaStop::NotRam);
                        };
                        m.read_slice(&mut buf[..take], src).map_err(|_| stop(mem))?;
                        m.write_slice(&buf[..take], dst).map_err(|_| stop(mem))?;
                    }
                    OP_FILL => {
                        let Some(dst) = at(req.dst) else {
                            return Err(DmaStop::NotRam);
                        };
                        buf[..take].fill(req.pattern);
                        m.write_slice(&buf[..take], dst).map_err(|_| stop(mem))?;
                    }
                    _ => {
                        let (Some(src), Some(dst)) = (at(req.src), at(req.dst)) else {
                            return Err(DmaStop::NotRam);
                        };
                        m.read_slice(&mut buf[..take], src).map_err(|_| stop(mem))?;
                        m.read_slice(&mut other[..take], dst)
                            .map_err(|_| stop(mem))?;
                        if let Some(i) = buf[..take]
                            .iter()
                            .zip(&other[..take])
                            .position(|(a, b)| a != b)
                        {
                            done += i as u64;
                            return Ok(());
                        }
                    }
                }
                done += take as u64;
            }
            Ok(())
        })();
        match outcome {
            Ok(()) => DmaTestReply {
                status: S_OK,
                result: done,
                ..Default::default()
            },
            Err(DmaStop::Fault(f)) => {
                let mut flags = 0;
                if f.access.contains(Perms::READ) {
                    flags |= FAULT_F_READ;
                }
                if f.access.contains(Perms::WRITE) {
                    flags |= FAULT_F_WRITE;
                }
                DmaTestReply {
                    status: S_FAULT,
                    fault_flags: flags,
                    fault_addr: f.iova,
                    result: done,
                }
            }
            Err(DmaStop::NotRam) => DmaTestReply {
                status: S_IOERR,
                result: done,
                ..Default::default()
            },
        }
    }

    fn serve(&self, mem: &DeviceMemory, m: &DmaMemory) -> u32 {
        // The reply must fit: otherwise nothing is done and the chain is returned untouched.
        if self.buffers.writable_len() < REPLY_SIZE as u64 {
            return 0;
        }
        let mut raw = [0u8; REQUEST_SIZE];
        let mut writes = false;
        let reply = match self.buffers.read_at(m, 0, &mut raw) {
            Ok(n) if n == REQUEST_SIZE => {
                let req = DmaTestRequest::decode(&raw);
                writes = matches!(req.op, OP_COPY | OP_FILL);
                if matches!(req.op, OP_COPY | OP_FILL | OP_COMPARE) {
                    Self::execute(mem, &req)
                } else {
                    DmaTestReply {
                        status: S_INVAL,
                        ..Default::default()
                    }
                }
            }
            Ok(_) => DmaTestReply {
                status: S_INVAL,
                ..Default::default()
            },
            Err(_) => DmaTestReply {
                status: S_IOERR,
                ..Default::default()
            },
        };
        let c = &self.counters;
        match reply.status {
            S_OK => &c.ok,
            S_FAULT => &c.faults,
            S_INVAL => &c.invalid,
            _ => &c.io_errors,
        }
        .fetch_add(1, Ordering::Relaxed);
        if writes {
            c.bytes_written.fetch_add(reply.result, Ordering::Relaxed);
        }
        match self.buffers.write_at(m, 0, &reply.encode()) {
            Ok(()) => REPLY_SIZE as u32,
            Err(_) => 0,
        }
    }

    fn process_requests(&mut self) {
        let Some(mut active) = self.active.take() else {
            return;
        };
        let mut used_any = false;
        loop {
            // One request is one DMA: from popping its chain to its used entry.
            let _dma = active.mem.begin();
            let m = active.mem.memory();
            let Some(chain) = active.queue.pop_descriptor_chain(m) else {
                break;
            };
            let head = chain.head_index();
            let used_len = match self.buffers.load(chain) {
                Ok(()) => self.serve(&active.mem, m),
                Err(_) => 0,
            };
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            if used_len == 0 {
                self.counters.untouched.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = active.queue.add_used(m, head, used_len) {
                warn!("dma-test: cannot write the used ring: {e}");
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

impl VirtioDevice for VirtioDmaTest {
    fn device_type(&self) -> u32 {
        device_type::DMA_TEST
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        bit(features::VERSION_1)
            | bit(features::INDIRECT_DESC)
            | access_platform_feature(self.endpoint.as_ref())
    }

    fn features_acceptable(&self, driver_features: u64) -> bool {
        access_platform_acceptable(self.endpoint.as_ref(), driver_features)
    }

    fn ack_features(&mut self, driver_features: u64) {
        self.acked = driver_features;
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        // Configuration space: le32 endpoint ID (0xffffffff when not behind the IOMMU), le32
        // MAX_LEN.
        let mut space = [0u8; 8];
        let ep = self.endpoint.as_ref().map_or(u32::MAX, |e| e.id().0);
        space[0..4].copy_from_slice(&ep.to_le_bytes());
        space[4..8].copy_from_slice(&(MAX_LEN as u32).to_le_bytes());
        crate::virtio::read_config_bytes(&space, offset, data);
    }

    fn write_config(&mut self, _offset: u64, _data: &[u8]) {}

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
            ("requests", get(&c.requests)),
            ("ok", get(&c.ok)),
            ("faults", get(&c.faults)),
            ("invalid", get(&c.invalid)),
            ("io_errors", get(&c.io_errors)),
            ("untouched", get(&c.untouched)),
            ("bytes_written", get(&c.bytes_written)),
        ]
    }

    fn endpoint(&self) -> Option<::iommu::EndpointId> {
        self.endpoint.as_ref().map(DmaEndpoint::id)
    }
}

#[cfg(test)]
mod tests {
    use vm_memory::{Bytes, GuestAddress};

    use super::*;
    use crate::virtio::test_utils::{DriverQueue, activate, test_ram};
    use crate::virtio::{GuestRam, TestInterrupt};

    const REQ: u64 = 0x2_0000;

    fn setup() -> (VirtioDmaTest, &'static GuestRam, DriverQueue<'static>) {
        let mut dev = VirtioDmaTest::new(None);
        dev.ack_features(dev.features());
        let mem: &'static GuestRam = Box::leak(Box::new(test_ram()));
        let q = DriverQueue::new(mem, GuestAddress(0x1_0000), 16);
        activate(&mut dev, mem, &[&q], Arc::new(TestInterrupt::new()));
        (dev, mem, q)
    }

    fn run(
        dev: &mut VirtioDmaTest,
        mem: &GuestRam,
        q: &mut DriverQueue<'_>,
        req: DmaTestRequest,
    ) -> DmaTestReply {
        mem.write_slice(&req.encode(), GuestAddress(REQ)).unwrap();
        q.add(&[(REQ, 40, false), (REQ + 0x100, 24, true)]);
        dev.process_queue(0);
        assert_eq!(q.used().last().map(|u| u.1), Some(24));
        let mut b = [0u8; REPLY_SIZE];
        mem.read_slice(&mut b, GuestAddress(REQ + 0x100)).unwrap();
        DmaTestReply::decode(&b)
    }

    fn req(op: u32, src: u64, dst: u64, len: u64, pattern: u8) -> DmaTestRequest {
        DmaTestRequest {
            op,
            flags: 0,
            src,
            dst,
            len,
            pattern,
            reserved: [0; 7],
        }
    }

    #[test]
    fn fill_copy_and_compare_move_exactly_len_bytes() {
        let (mut dev, mem, mut q) = setup();
        mem.write_slice(&[0u8; 0x6000], GuestAddress(0x10_0000))
            .unwrap();

        let fill = run(
            &mut dev,
            mem,
            &mut q,
            req(OP_FILL, 0, 0x10_0010, 5000, 0xab),
        );
        let copy = run(
            &mut dev,
            mem,
            &mut q,
            req(OP_COPY, 0x10_0010, 0x10_3000, 5000, 0),
        );
        let same = run(
            &mut dev,
            mem,
            &mut q,
            req(OP_COMPARE, 0x10_0010, 0x10_3000, 5000, 0),
        );
        let diff = run(
            &mut dev,
            mem,
            &mut q,
            req(OP_COMPARE, 0x10_0000, 0x10_0010, 100, 0),
        );

        assert_eq!((fill.status, fill.result), (S_OK, 5000));
        assert_eq!((copy.status, copy.result), (S_OK, 5000));
        assert_eq!((same.status, same.result), (S_OK, 5000));
        assert_eq!((diff.status, diff.result), (S_OK, 0));
        let mut b = [0u8; 0x1400];
        mem.read_slice(&mut b, GuestAddress(0x10_3000)).unwrap();
        assert!(b[..5000].iter().all(|&x| x == 0xab));
        assert!(b[5000..].iter().all(|&x| x == 0));
    }

    #[test]
    fn bad_requests_are_inval() {
        let (mut dev, mem, mut q) = setup();
        let zero = run(&mut dev, mem, &mut q, req(OP_FILL, 0, 0x10_0000, 0, 0));
        let big = run(
            &mut dev,
            mem,
            &mut q,
            req(OP_FILL, 0, 0x10_0000, MAX_LEN + 1, 0),
        );
        let op = run(&mut dev, mem, &mut q, req(9, 0, 0x10_0000, 1, 0));
        let mut flags = req(OP_FILL, 0, 0x10_0000, 1, 0);
        flags.flags = 1;
        let flags = run(&mut dev, mem, &mut q, flags);
        for r in [zero, big, op, flags] {
            assert_eq!(r.status, S_INVAL);
        }
    }

    #[test]
    fn dma_outside_ram_is_ioerr_with_the_bytes_done() {
        let (mut dev, mem, mut q) = setup();
        let end = crate::virtio::test_utils::TEST_RAM_SIZE as u64;
        let r = run(&mut dev, mem, &mut q, req(OP_FILL, 0, end - 4096, 8192, 1));
        assert_eq!((r.status, r.result), (S_IOERR, 4096));
        let r = run(
            &mut dev,
            mem,
            &mut q,
            req(OP_FILL, 0, u64::MAX - 10, 100, 1),
        );
        assert_eq!(r.status, S_IOERR);
    }

    #[test]
    fn chain_without_room_for_the_reply_does_nothing() {
        let (mut dev, mem, mut q) = setup();
        mem.write_slice(
            &req(OP_FILL, 0, 0x10_0000, 16, 9).encode(),
            GuestAddress(REQ),
        )
        .unwrap();
        mem.write_slice(&[0u8; 16], GuestAddress(0x10_0000))
            .unwrap();
        q.add(&[(REQ, 40, false), (REQ + 0x100, 23, true)]);
        dev.process_queue(0);
        assert_eq!(q.used(), vec![(0, 0)]);
        let mut b = [0u8; 16];
        mem.read_slice(&mut b, GuestAddress(0x10_0000)).unwrap();
        assert_eq!(b, [0u8; 16]);
    }
}
