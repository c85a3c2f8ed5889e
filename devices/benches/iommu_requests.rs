//! Host-side virtio-iommu throughput: MAP and UNMAP requests processed per second by the device
//! (request queue walk, chain gathering, parsing, engine call, strict-completion check, reply,
//! used ring), driven through a split queue in guest memory like a guest driver would.
//!
//! Each iteration publishes a batch of 128 requests — 64 MAP/UNMAP pairs of one 4 KiB page,
//! each request two descriptors like Linux sends them — and lets the device process them in one
//! notification. Throughput is reported in requests per second.
//!
//! Run: `cargo bench -p devices --bench iommu_requests`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use devices::virtio::iommu::protocol::{AttachReq, MapReq, UnmapReq};
use devices::virtio::iommu::{IommuConfig, VirtioIommu};
use devices::virtio::{ActivateContext, GuestRam, TestInterrupt, VirtioDevice};
use iommu::EndpointId;
use virtio_bindings::bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::Descriptor;
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};

const QUEUE_SIZE: u16 = 256;
const PAIRS: u64 = 64;
const REQUESTS: u64 = 2 * PAIRS;
const REQUEST_BUFS: u64 = 0x10_0000;
/// IOVAs of the churned pages sit above any pre-populated mapping.
const CHURN_IOVA: u64 = 1 << 40;

struct Rig<'a> {
    dev: VirtioIommu,
    mock: MockSplitQueue<'a, GuestRam>,
    avail_idx: u16,
}

impl<'a> Rig<'a> {
    /// A device with endpoint 1 attached to domain 1 holding `live` mappings, and the request
    /// queue loaded with 64 MAP/UNMAP pairs.
    fn new(mem: &'a GuestRam, live: u64) -> Self {
        let mut dev = VirtioIommu::new(IommuConfig::default()).expect("config");
        dev.endpoint(EndpointId(1)).expect("endpoint");
        dev.ack_features(dev.features());
        let mock = MockSplitQueue::create(mem, GuestAddress(0x1_0000), QUEUE_SIZE);
        let evq = MockSplitQueue::create(mem, GuestAddress(0x2_0000), 16);
        dev.activate(ActivateContext {
            mem: mem.clone(),
            interrupt: Arc::new(TestInterrupt::new()),
            queues: vec![
                mock.create_queue().expect("queue"),
                evq.create_queue().expect("queue"),
            ],
        })
        .expect("activate");
        let handler = dev.handler();
        let attach = AttachReq {
            domain: 1,
            endpoint: 1,
            flags: 0,
            reserved: [0; 4],
        };
        handler.handle(&attach.encode(), 4);
        for i in 0..live {
            let map = MapReq {
                domain: 1,
                virt_start: i << 12,
                virt_end: (i << 12) + 0xfff,
                phys_start: 0x80_0000,
                flags: 3,
            };
            handler.handle(&map.encode(), 4);
        }
        for k in 0..REQUESTS {
            let page = CHURN_IOVA + ((k / 2) << 12);
            let req = if k % 2 == 0 {
                MapReq {
                    domain: 1,
                    virt_start: page,
                    virt_end: page + 0xfff,
                    phys_start: 0x80_0000 + ((k / 2) << 12),
                    flags: 3,
                }
                .encode()
                .to_vec()
            } else {
                UnmapReq {
                    domain: 1,
                    virt_start: page,
                    virt_end: page + 0xfff,
                    reserved: [0; 4],
                }
                .encode()
                .to_vec()
            };
            let buf = REQUEST_BUFS + k * 64;
            mem.write_slice(&req, GuestAddress(buf)).expect("request");
            let d = (k * 2) as u16;
            let table = mock.desc_table();
            table
                .store(
                    d,
                    RawDescriptor::from(Descriptor::new(
                        buf,
                        req.len() as u32,
                        VRING_DESC_F_NEXT as u16,
                        d + 1,
                    )),
                )
                .expect("desc");
            table
                .store(
                    d + 1,
                    RawDescriptor::from(Descriptor::new(buf + 48, 4, VRING_DESC_F_WRITE as u16, 0)),
                )
                .expect("desc");
        }
        Rig {
            dev,
            mock,
            avail_idx: 0,
        }
    }

    /// Publishes the 128 requests and processes them.
    fn batch(&mut self) {
        let avail = self.mock.avail();
        for k in 0..REQUESTS as u16 {
            avail
                .ring()
                .ref_at(usize::from(self.avail_idx % QUEUE_SIZE))
                .expect("slot")
                .store(k * 2);
            self.avail_idx = self.avail_idx.wrapping_add(1);
        }
        avail.idx().store(self.avail_idx);
        self.dev.process_queue(0);
    }
}

fn bench(c: &mut Criterion) {
    let mem = GuestRam::from_ranges(&[(GuestAddress(0), 32 << 20)]).expect("guest RAM");
    let mut group = c.benchmark_group("virtio_iommu_requests");
    group.throughput(Throughput::Elements(REQUESTS));
    for live in [0u64, 10_000] {
        let mut rig = Rig::new(&mem, live);
        rig.batch();
        let c = rig.dev.counters_snapshot();
        assert_eq!(
            c.statuses[0],
            c.map + c.unmap + 1,
            "every request succeeded"
        );
        group.bench_function(format!("map_unmap_{live}_live_mappings"), |b| {
            b.iter(|| {
                rig.batch();
                black_box(&rig.dev);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
