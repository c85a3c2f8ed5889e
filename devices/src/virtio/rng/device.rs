//! [`VirtioRng`]: fills each buffer of its request queue with bytes from `/dev/urandom`.

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use log::warn;
use virtio_queue::{Queue, QueueT};

use crate::virtio::chain::ChainBuffers;
use crate::virtio::dma::{
    DeviceMemory, DmaEndpoint, access_platform_acceptable, access_platform_feature,
};
use crate::virtio::features::{self, bit};
use crate::virtio::{ActivateContext, ActivateError, Interrupt, VirtioDevice, device_type};

/// Queue size.
pub const QUEUE_SIZE: u16 = 64;
/// Most bytes written per request (a larger buffer is filled partly: "it MAY use less than the
/// entire buffer length").
pub const MAX_BYTES_PER_REQUEST: usize = 64 * 1024;

/// virtio-rng counters.
#[derive(Debug, Default)]
pub struct RngCounters {
    /// Requests completed.
    pub requests: AtomicU64,
    /// Random bytes written.
    pub bytes: AtomicU64,
    /// Requests completed with nothing written (no writable buffer, or its DMA failed).
    pub failed: AtomicU64,
}

struct Active {
    mem: DeviceMemory,
    interrupt: Arc<dyn Interrupt>,
    queue: Queue,
}

/// The entropy device.
pub struct VirtioRng {
    endpoint: Option<DmaEndpoint>,
    acked: u64,
    entropy: File,
    active: Option<Active>,
    buffers: ChainBuffers,
    scratch: Vec<u8>,
    counters: Arc<RngCounters>,
}

impl std::fmt::Debug for VirtioRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioRng")
            .field("endpoint", &self.endpoint)
            .field("active", &self.active.is_some())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl VirtioRng {
    /// An entropy device; behind the IOMMU as `endpoint` if given.
    pub fn new(endpoint: Option<DmaEndpoint>) -> io::Result<Self> {
        Ok(VirtioRng {
            endpoint,
            acked: 0,
            entropy: File::open("/dev/urandom")?,
            active: None,
            buffers: ChainBuffers::new(),
            scratch: Vec::new(),
            counters: Arc::new(RngCounters::default()),
        })
    }

    /// The counters (shared; readable after the device is boxed into a transport).
    pub fn counters_handle(&self) -> Arc<RngCounters> {
        Arc::clone(&self.counters)
    }

    fn process_requests(&mut self) {
        let Some(active) = self.active.as_mut() else {
            return;
        };
        let mut used_any = false;
        loop {
            // The whole request — popping its chain, filling it, the used entry — is one DMA.
            let _dma = active.mem.begin();
            let mem = active.mem.memory();
            let Some(chain) = active.queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            let mut written = 0u32;
            if self.buffers.load(chain).is_ok() {
                // "The device MUST place one or more random bytes into the buffer, but it MAY
                // use less than the entire buffer length." Readable descriptors ("The driver
                // MUST NOT place device-readable buffers into the queue") are ignored.
                let len = usize::try_from(self.buffers.writable_len())
                    .unwrap_or(MAX_BYTES_PER_REQUEST)
                    .min(MAX_BYTES_PER_REQUEST);
                self.scratch.resize(len, 0);
                match self.entropy.read_exact(&mut self.scratch) {
                    Ok(()) => {
                        if self.buffers.write_at(mem, 0, &self.scratch).is_ok() {
                            written = len as u32;
                        }
                    }
                    Err(e) => warn!("virtio-rng: cannot read entropy: {e}"),
                }
            }
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            if written == 0 {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            self.counters
                .bytes
                .fetch_add(u64::from(written), Ordering::Relaxed);
            if let Err(e) = active.queue.add_used(mem, head, written) {
                warn!("virtio-rng: cannot write the used ring: {e}");
                break;
            }
            used_any = true;
        }
        if used_any {
            active.interrupt.signal_used_queue(0);
        }
    }
}

impl VirtioDevice for VirtioRng {
    fn device_type(&self) -> u32 {
        device_type::RNG
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

    fn read_config(&self, _offset: u64, data: &mut [u8]) {
        // "Device configuration layout: None currently defined."
        data.fill(0);
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
        vec![
            ("requests", c.requests.load(Ordering::Relaxed)),
            ("bytes", c.bytes.load(Ordering::Relaxed)),
            ("failed", c.failed.load(Ordering::Relaxed)),
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

    fn setup() -> (
        VirtioRng,
        &'static GuestRam,
        DriverQueue<'static>,
        Arc<TestInterrupt>,
    ) {
        let mut dev = VirtioRng::new(None).unwrap();
        dev.ack_features(dev.features());
        let mem: &'static GuestRam = Box::leak(Box::new(test_ram()));
        let q = DriverQueue::new(mem, GuestAddress(0x1_0000), 16);
        let irq = Arc::new(TestInterrupt::new());
        activate(&mut dev, mem, &[&q], irq.clone());
        (dev, mem, q, irq)
    }

    #[test]
    fn buffer_is_filled_with_random_bytes_and_used_length_says_how_many() {
        let (mut dev, mem, mut q, irq) = setup();
        mem.write_slice(&[0u8; 4096], GuestAddress(0x4_0000))
            .unwrap();
        q.add(&[(0x4_0000, 1000, true), (0x5_0000, 24, true)]);
        dev.process_queue(0);
        assert_eq!(q.used(), vec![(0, 1024)]);
        let mut got = [0u8; 1000];
        mem.read_slice(&mut got, GuestAddress(0x4_0000)).unwrap();
        assert!(
            got.iter().filter(|&&b| b == 0).count() < 100,
            "not random: {got:?}"
        );
        assert_eq!(irq.used_count(0), 1);
        assert_eq!(dev.counters_handle().bytes.load(Ordering::Relaxed), 1024);
    }

    #[test]
    fn huge_buffer_is_filled_only_partly() {
        let (mut dev, _, mut q, _) = setup();
        q.add(&[(0x10_0000, 1 << 20, true)]);
        dev.process_queue(0);
        assert_eq!(q.used(), vec![(0, MAX_BYTES_PER_REQUEST as u32)]);
    }

    #[test]
    fn chain_with_only_readable_buffers_gets_used_length_zero() {
        let (mut dev, _, mut q, _) = setup();
        q.add(&[(0x4_0000, 64, false)]);
        dev.process_queue(0);
        assert_eq!(q.used(), vec![(0, 0)]);
    }

    #[test]
    fn buffer_outside_ram_gets_used_length_zero() {
        let (mut dev, _, mut q, _) = setup();
        q.add(&[(0x4000_0000_0000, 64, true)]);
        dev.process_queue(0);
        assert_eq!(q.used(), vec![(0, 0)]);
        assert_eq!(dev.counters()[2], ("failed", 1));
    }
}
