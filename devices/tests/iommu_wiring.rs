//! The wiring a VMM does, end to end through the public API and the MMIO registers only: a
//! virtio-iommu and a DMA test device behind it, each on a virtio-mmio transport; the driver
//! negotiates both, attaches and maps through the IOMMU's request queue, and the DMA test
//! device's DMA lands through the mapping or faults onto the IOMMU's event queue.

use std::sync::Arc;

use devices::bus::BusDevice;
use devices::virtio::dma_test::VirtioDmaTest;
use devices::virtio::dma_test::protocol as dt;
use devices::virtio::iommu::protocol::{
    AttachReq, FAULT_F_ADDRESS, FAULT_F_WRITE, FAULT_R_MAPPING, FaultRecord, MapReq,
};
use devices::virtio::iommu::{IommuConfig, VirtioIommu};
use devices::virtio::mmio::{INT_USED_RING, MmioTransport, QUEUE_NOTIFY_OFFSET, regs};
use devices::virtio::{GuestRam, device_type, status};
use iommu::EndpointId;
use virtio_bindings::bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::Descriptor;
use virtio_queue::mock::MockSplitQueue;
use vm_memory::{Bytes, GuestAddress};
use vmm_sys_util::eventfd::{EFD_NONBLOCK, EventFd};

fn w(t: &MmioTransport, offset: u64, v: u32) {
    t.write(offset, &v.to_le_bytes());
}

fn r(t: &MmioTransport, offset: u64) -> u32 {
    let mut b = [0u8; 4];
    t.read(offset, &mut b);
    u32::from_le_bytes(b)
}

/// A driver-side queue: descriptors are allocated linearly, chains published one at a time.
struct Queue<'a> {
    mock: MockSplitQueue<'a, GuestRam>,
    next: u16,
    seen: u16,
}

impl<'a> Queue<'a> {
    fn new(mem: &'a GuestRam, at: u64) -> Self {
        Queue {
            mock: MockSplitQueue::create(mem, GuestAddress(at), 16),
            next: 0,
            seen: 0,
        }
    }

    fn add(&mut self, bufs: &[(u64, u32, bool)]) {
        let head = self.next;
        for (i, &(addr, len, writable)) in bufs.iter().enumerate() {
            let idx = head + i as u16;
            let last = i + 1 == bufs.len();
            let mut flags = if writable {
                VRING_DESC_F_WRITE as u16
            } else {
                0
            };
            if !last {
                flags |= VRING_DESC_F_NEXT as u16;
            }
            self.mock
                .desc_table()
                .store(
                    idx,
                    RawDescriptor::from(Descriptor::new(addr, len, flags, idx + 1)),
                )
                .unwrap();
        }
        self.next += bufs.len() as u16;
        let avail = self.mock.avail();
        let idx = avail.idx().load();
        avail
            .ring()
            .ref_at(usize::from(idx % 16))
            .unwrap()
            .store(head);
        avail.idx().store(idx + 1);
    }

    fn used(&mut self) -> Vec<u32> {
        let used = self.mock.used();
        let mut out = Vec::new();
        while self.seen != used.idx().load() {
            out.push(
                used.ring()
                    .ref_at(usize::from(self.seen % 16))
                    .unwrap()
                    .load()
                    .len(),
            );
            self.seen += 1;
        }
        out
    }
}

/// Drives a transport to DRIVER_OK, accepting every offered feature.
fn bring_up(t: &MmioTransport, queues: &[&Queue<'_>]) {
    w(t, regs::STATUS, status::ACKNOWLEDGE);
    w(t, regs::STATUS, status::ACKNOWLEDGE | status::DRIVER);
    for sel in 0..2 {
        w(t, regs::DEVICE_FEATURES_SEL, sel);
        let f = r(t, regs::DEVICE_FEATURES);
        w(t, regs::DRIVER_FEATURES_SEL, sel);
        w(t, regs::DRIVER_FEATURES, f);
    }
    let s = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    w(t, regs::STATUS, s);
    assert_eq!(r(t, regs::STATUS), s, "features accepted");
    for (i, q) in queues.iter().enumerate() {
        w(t, regs::QUEUE_SEL, i as u32);
        w(t, regs::QUEUE_NUM, 16);
        for (lo, hi, a) in [
            (
                regs::QUEUE_DESC_LOW,
                regs::QUEUE_DESC_HIGH,
                q.mock.desc_table_addr().0,
            ),
            (
                regs::QUEUE_DRIVER_LOW,
                regs::QUEUE_DRIVER_HIGH,
                q.mock.avail_addr().0,
            ),
            (
                regs::QUEUE_DEVICE_LOW,
                regs::QUEUE_DEVICE_HIGH,
                q.mock.used_addr().0,
            ),
        ] {
            w(t, lo, a as u32);
            w(t, hi, (a >> 32) as u32);
        }
        w(t, regs::QUEUE_READY, 1);
    }
    w(t, regs::STATUS, s | status::DRIVER_OK);
    assert_eq!(
        r(t, regs::STATUS),
        s | status::DRIVER_OK,
        "device activated"
    );
}

#[test]
fn dma_of_a_device_behind_the_iommu_goes_through_the_mapping_or_faults_onto_the_event_queue() {
    let mem = GuestRam::from_ranges(&[(GuestAddress(0), 16 << 20)]).unwrap();

    // The VMM: the IOMMU, one endpoint for the DMA test device, a transport (and an irqfd) each.
    let iommu = VirtioIommu::new(IommuConfig::default()).unwrap();
    let endpoint = iommu.endpoint(EndpointId(0x10)).unwrap();
    let dma_dev = VirtioDmaTest::new(Some(endpoint));
    let iommu_irq = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
    let dma_irq = Arc::new(EventFd::new(EFD_NONBLOCK).unwrap());
    let iommu_t = MmioTransport::new(Box::new(iommu), mem.clone(), iommu_irq.clone()).unwrap();
    let dma_t = MmioTransport::new(Box::new(dma_dev), mem.clone(), dma_irq.clone()).unwrap();
    assert_eq!(r(&iommu_t, regs::DEVICE_ID), device_type::IOMMU);
    assert_eq!(r(&dma_t, regs::DEVICE_ID), device_type::DMA_TEST);
    assert_eq!(dma_t.endpoint(), Some(EndpointId(0x10)));
    assert_eq!(iommu_t.queue_events().len(), 2);
    assert_eq!(QUEUE_NOTIFY_OFFSET, regs::QUEUE_NOTIFY);

    // The guest: bring both up; give the IOMMU an event buffer.
    let mut reqq = Queue::new(&mem, 0x1_0000);
    let mut evq = Queue::new(&mem, 0x2_0000);
    let mut dmaq = Queue::new(&mem, 0x3_0000);
    bring_up(&iommu_t, &[&reqq, &evq]);
    bring_up(&dma_t, &[&dmaq]);
    evq.add(&[(0x9_0000, 24, true)]);

    // ATTACH endpoint 0x10 to domain 1; map the DMA queue and request page 1:1, and
    // IOVA 0x4000_0000 -> GPA 0x50_0000 read-write.
    let send = |q: &mut Queue<'_>, req: &[u8], at: u64| {
        mem.write_slice(req, GuestAddress(at)).unwrap();
        q.add(&[(at, req.len() as u32, false), (at + 0x80, 4, true)]);
        w(&iommu_t, regs::QUEUE_NOTIFY, 0);
        iommu_t.process_queue(0);
        mem.read_obj::<u8>(GuestAddress(at + 0x80)).unwrap()
    };
    let attach = AttachReq {
        domain: 1,
        endpoint: 0x10,
        flags: 0,
        reserved: [0; 4],
    };
    assert_eq!(send(&mut reqq, &attach.encode(), 0x8_0000), 0);
    for (i, (iova, gpa)) in [
        (0x3_0000, 0x3_0000),
        (0x7_0000, 0x7_0000),
        (0x4000_0000, 0x50_0000),
    ]
    .into_iter()
    .enumerate()
    {
        let map = MapReq {
            domain: 1,
            virt_start: iova,
            virt_end: iova + 0xfff,
            phys_start: gpa,
            flags: 3,
        };
        assert_eq!(
            send(&mut reqq, &map.encode(), 0x8_1000 + i as u64 * 0x100),
            0
        );
    }
    assert_eq!(reqq.used(), vec![4, 4, 4, 4]);
    assert_eq!(r(&iommu_t, regs::INTERRUPT_STATUS), INT_USED_RING);

    // FILL through the mapping lands at the GPA.
    let fill = |dmaq: &mut Queue<'_>, dst: u64| {
        let req = dt::DmaTestRequest {
            op: dt::OP_FILL,
            flags: 0,
            src: 0,
            dst,
            len: 64,
            pattern: 0x42,
            reserved: [0; 7],
        };
        mem.write_slice(&req.encode(), GuestAddress(0x7_0000))
            .unwrap();
        dmaq.add(&[(0x7_0000, 40, false), (0x7_0100, 24, true)]);
        w(&dma_t, regs::QUEUE_NOTIFY, 0);
        assert_eq!(dma_t.queue_events()[0].read().unwrap(), 1);
        dma_t.process_queue(0);
        let mut b = [0u8; dt::REPLY_SIZE];
        mem.read_slice(&mut b, GuestAddress(0x7_0100)).unwrap();
        dt::DmaTestReply::decode(&b)
    };
    let ok = fill(&mut dmaq, 0x4000_0000);
    assert_eq!((ok.status, ok.result), (dt::S_OK, 64));
    let mut b = [0u8; 64];
    mem.read_slice(&mut b, GuestAddress(0x50_0000)).unwrap();
    assert_eq!(b, [0x42; 64]);
    assert_eq!(dma_irq.read().unwrap(), 1);

    // FILL to an unmapped IOVA faults; the fault reaches the IOMMU's event queue.
    let bad = fill(&mut dmaq, 0x4000_2000);
    assert_eq!((bad.status, bad.fault_addr), (dt::S_FAULT, 0x4000_2000));
    assert_eq!(evq.used(), vec![24]);
    let mut rec = [0u8; 24];
    mem.read_slice(&mut rec, GuestAddress(0x9_0000)).unwrap();
    let rec = FaultRecord::decode(&rec).unwrap();
    assert_eq!(rec.reason, FAULT_R_MAPPING);
    assert_eq!(rec.flags, FAULT_F_WRITE | FAULT_F_ADDRESS);
    assert_eq!((rec.endpoint, rec.address), (0x10, 0x4000_2000));
    let counters = iommu_t.counters();
    assert!(counters.contains(&("faults_reported", 1)));
    assert!(counters.contains(&("mappings", 3)));

    // Resetting the IOMMU detaches the endpoint: the next DMA faults on its ring.
    w(&iommu_t, regs::STATUS, 0);
    dmaq.add(&[(0x7_0000, 40, false), (0x7_0100, 24, true)]);
    dma_t.process_queue(0);
    assert_eq!(
        dmaq.used(),
        vec![24, 24],
        "the third request is never reached"
    );
}
