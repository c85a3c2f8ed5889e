//! One test per virtio-iommu rule (issue #4 §2), driven from the driver side through
//! virtio-queue's `MockSplitQueue` and a `TestInterrupt`, without KVM. Devices behind the IOMMU
//! are exercised with the DMA test device.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use ::iommu::{DomainId, EndpointId, IovaRange};
use virtio_bindings::bindings::virtio_ring::{
    VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};
use virtio_queue::desc::RawDescriptor;
use virtio_queue::desc::split::Descriptor;
use vm_memory::{Bytes, GuestAddress};

use super::protocol::*;
use super::*;
use crate::virtio::dma_test::VirtioDmaTest;
use crate::virtio::dma_test::protocol as dt;
use crate::virtio::features::{self, bit};
use crate::virtio::test_utils::{DriverQueue, activate, test_ram};
use crate::virtio::{GuestRam, TestInterrupt, VirtioDevice};

const EP1: u32 = 1;
const EP2: u32 = 2;
const EP3: u32 = 3;
const EP_UNKNOWN: u32 = 99;
const REQQ: u64 = 0x1_0000;
const EVQ: u64 = 0x2_0000;
const BUF_START: u64 = 0x10_0000;
const BUF_END: u64 = 0x80_0000;
const UNTOUCHED: u8 = 0xAA;
const RW: u32 = MAP_F_READ | MAP_F_WRITE;

fn ram() -> &'static GuestRam {
    Box::leak(Box::new(test_ram()))
}

/// What came back for one request.
#[derive(Debug)]
struct Reply {
    used_len: u32,
    /// The whole writable part after the device processed the request.
    bytes: Vec<u8>,
}

impl Reply {
    fn status(&self) -> u8 {
        self.bytes[self.bytes.len() - TAIL_SIZE]
    }

    fn tail(&self) -> &[u8] {
        &self.bytes[self.bytes.len() - TAIL_SIZE..]
    }

    fn untouched(&self) -> bool {
        self.used_len == 0 && self.bytes.iter().all(|&b| b == UNTOUCHED)
    }
}

struct Harness {
    mem: &'static GuestRam,
    dev: VirtioIommu,
    reqq: DriverQueue<'static>,
    evq: DriverQueue<'static>,
    irq: Arc<TestInterrupt>,
    next: u64,
    event_bufs: HashMap<u32, u64>,
}

impl Harness {
    fn new() -> Self {
        Self::with(IommuConfig::default(), 0)
    }

    /// A device with `config`, endpoints 1–3 registered, every feature but `refuse` accepted.
    fn with(config: IommuConfig, refuse: u64) -> Self {
        let mem = ram();
        let mut dev = VirtioIommu::new(config).unwrap();
        for ep in [EP1, EP2, EP3] {
            dev.endpoint(EndpointId(ep)).unwrap();
        }
        let accepted = dev.features() & !refuse;
        assert!(dev.features_acceptable(accepted));
        dev.ack_features(accepted);
        let reqq = DriverQueue::new(mem, GuestAddress(REQQ), 64);
        let evq = DriverQueue::new(mem, GuestAddress(EVQ), 16);
        let irq = Arc::new(TestInterrupt::new());
        activate(&mut dev, mem, &[&reqq, &evq], irq.clone());
        Harness {
            mem,
            dev,
            reqq,
            evq,
            irq,
            next: BUF_START,
            event_bufs: HashMap::new(),
        }
    }

    fn alloc(&mut self, len: u64) -> u64 {
        let len = len.max(1).next_multiple_of(64);
        if self.next + len > BUF_END {
            self.next = BUF_START;
        }
        let at = self.next;
        self.next += len;
        at
    }

    /// Sends `readable` cut into descriptors of `r_pieces` bytes (the last takes the rest) and a
    /// writable part of `writable_len` bytes cut into `w_pieces`.
    fn send_split(
        &mut self,
        readable: &[u8],
        r_pieces: &[usize],
        writable_len: usize,
        w_pieces: &[usize],
    ) -> Reply {
        let mut descs = Vec::new();
        let mut off = 0;
        for (i, &piece) in r_pieces.iter().enumerate() {
            let len = if i + 1 == r_pieces.len() {
                readable.len() - off
            } else {
                piece
            };
            let at = self.alloc(len as u64);
            self.mem
                .write_slice(&readable[off..off + len], GuestAddress(at))
                .unwrap();
            descs.push((at, len as u32, false));
            off += len;
        }
        let mut writable = Vec::new();
        let mut woff = 0;
        for (i, &piece) in w_pieces.iter().enumerate() {
            let len = if i + 1 == w_pieces.len() {
                writable_len - woff
            } else {
                piece
            };
            let at = self.alloc(len as u64);
            self.mem
                .write_slice(&vec![UNTOUCHED; len], GuestAddress(at))
                .unwrap();
            descs.push((at, len as u32, true));
            writable.push((at, len));
            woff += len;
        }
        let head = self.reqq.add(&descs);
        self.dev.process_queue(0);
        let used = self.reqq.used();
        assert_eq!(used.len(), 1, "exactly one used entry");
        assert_eq!(used[0].0, u32::from(head));
        let mut bytes = Vec::new();
        for (at, len) in writable {
            let mut b = vec![0u8; len];
            self.mem.read_slice(&mut b, GuestAddress(at)).unwrap();
            bytes.extend(b);
        }
        Reply {
            used_len: used[0].1,
            bytes,
        }
    }

    fn send(&mut self, readable: &[u8], writable_len: usize) -> Reply {
        self.send_split(readable, &[readable.len()], writable_len, &[writable_len])
    }

    /// Sends a request with a 4-byte writable tail; checks the used length and returns the status.
    fn status_of(&mut self, readable: &[u8]) -> u8 {
        let r = self.send(readable, TAIL_SIZE);
        assert_eq!(
            r.used_len, TAIL_SIZE as u32,
            "used length must be the writable size"
        );
        r.status()
    }

    fn attach_flags(&mut self, ep: u32, domain: u32, flags: u32) -> u8 {
        self.status_of(
            &AttachReq {
                domain,
                endpoint: ep,
                flags,
                reserved: [0; 4],
            }
            .encode(),
        )
    }

    fn attach(&mut self, ep: u32, domain: u32) -> u8 {
        self.attach_flags(ep, domain, 0)
    }

    fn detach(&mut self, ep: u32, domain: u32) -> u8 {
        self.status_of(
            &DetachReq {
                domain,
                endpoint: ep,
            }
            .encode(),
        )
    }

    fn map(&mut self, domain: u32, start: u64, end: u64, phys: u64, flags: u32) -> u8 {
        self.status_of(
            &MapReq {
                domain,
                virt_start: start,
                virt_end: end,
                phys_start: phys,
                flags,
            }
            .encode(),
        )
    }

    fn unmap(&mut self, domain: u32, start: u64, end: u64) -> u8 {
        self.status_of(
            &UnmapReq {
                domain,
                virt_start: start,
                virt_end: end,
                reserved: [0; 4],
            }
            .encode(),
        )
    }

    fn probe(&mut self, ep: u32, properties_len: usize) -> Reply {
        self.send(
            &ProbeReq { endpoint: ep }.encode(),
            properties_len + TAIL_SIZE,
        )
    }

    /// The domain's mappings as `(start, end)` pairs.
    fn mappings(&self, domain: u32) -> Vec<(u64, u64)> {
        self.dev
            .engine()
            .mappings(DomainId(domain))
            .map(|v| v.iter().map(|m| (m.range.start, m.range.last)).collect())
            .unwrap_or_default()
    }

    fn domain_exists(&self, domain: u32) -> bool {
        self.dev
            .engine()
            .domain_is_bypass(DomainId(domain))
            .is_some()
    }

    /// Gives the driver's event queue `n` buffers of `len` bytes.
    fn give_event_buffers(&mut self, n: usize, len: u32) {
        for _ in 0..n {
            let at = self.alloc(u64::from(len));
            let head = self.evq.add(&[(at, len, true)]);
            self.event_bufs.insert(u32::from(head), at);
        }
    }

    /// Fault reports written to the event queue since the last call, with their used lengths.
    fn events(&mut self) -> Vec<(u32, FaultRecord)> {
        self.evq
            .used()
            .into_iter()
            .map(|(head, len)| {
                let at = self.event_bufs[&head];
                let mut b = [0u8; FAULT_SIZE];
                self.mem.read_slice(&mut b, GuestAddress(at)).unwrap();
                (len, FaultRecord::decode(&b).unwrap())
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Features and configuration space.

#[test]
fn offers_version1_map_unmap_input_range_domain_range_probe_bypass_config_and_mmio_but_not_legacy_bypass()
 {
    let h = Harness::new();
    let f = h.dev.features();
    for feature in [
        features::VERSION_1,
        F_MAP_UNMAP,
        F_INPUT_RANGE,
        F_DOMAIN_RANGE,
        F_PROBE,
        F_BYPASS_CONFIG,
        F_MMIO,
    ] {
        assert_ne!(f & bit(feature), 0, "feature {feature} not offered");
    }
    assert_eq!(f & bit(F_BYPASS), 0, "legacy BYPASS must not be offered");
    assert_eq!(f & bit(features::ACCESS_PLATFORM), 0);
}

#[test]
fn config_space_is_exactly_40_bytes_with_the_configured_values() {
    let config = IommuConfig {
        page_size_mask: 0x20_1000,
        input_range: IovaRange::new(0x1000, (1 << 48) - 1),
        domain_range: (1, 1000),
        probe_size: 128,
        bypass: true,
        ..Default::default()
    };
    let h = Harness::with(config, 0);
    let mut space = [0xffu8; 48];
    h.dev.read_config(0, &mut space);

    assert_eq!(
        u64::from_le_bytes(space[0..8].try_into().unwrap()),
        0x20_1000
    );
    assert_eq!(u64::from_le_bytes(space[8..16].try_into().unwrap()), 0x1000);
    assert_eq!(
        u64::from_le_bytes(space[16..24].try_into().unwrap()),
        (1 << 48) - 1
    );
    assert_eq!(u32::from_le_bytes(space[24..28].try_into().unwrap()), 1);
    assert_eq!(u32::from_le_bytes(space[28..32].try_into().unwrap()), 1000);
    assert_eq!(u32::from_le_bytes(space[32..36].try_into().unwrap()), 128);
    assert_eq!(space[36], 1);
    assert_eq!(
        &space[37..48],
        &[0; 11],
        "reserved bytes and beyond 40 read as zero"
    );
}

#[test]
fn page_size_mask_has_at_least_one_bit_and_a_4k_granule_by_default() {
    let h = Harness::new();
    let mut b = [0u8; 8];
    h.dev.read_config(0, &mut b);
    let mask = u64::from_le_bytes(b);
    assert_ne!(mask, 0);
    assert_eq!(mask.trailing_zeros(), 12);
}

#[test]
fn bypass_write_without_bypass_config_negotiated_is_ignored() {
    let mut h = Harness::with(IommuConfig::default(), bit(F_BYPASS_CONFIG));
    h.dev.write_config(CONFIG_BYPASS_OFFSET, &[1]);
    let mut b = [0u8; 1];
    h.dev.read_config(CONFIG_BYPASS_OFFSET, &mut b);
    assert_eq!(b[0], 0);
    assert!(!h.dev.engine().bypass());
}

#[test]
fn bypass_write_takes_bit_0_and_other_fields_are_read_only() {
    let mut h = Harness::new();
    h.dev.write_config(CONFIG_BYPASS_OFFSET, &[0xff]);
    h.dev.write_config(0, &[0; 8]);
    let mut space = [0u8; CONFIG_SIZE];
    h.dev.read_config(0, &mut space);
    assert_eq!(space[36], 1, "device presents only 0 or 1");
    assert!(h.dev.engine().bypass());
    assert_ne!(u64::from_le_bytes(space[0..8].try_into().unwrap()), 0);
    h.dev.write_config(CONFIG_BYPASS_OFFSET, &[0xfe]);
    assert!(!h.dev.engine().bypass());
}

// ---------------------------------------------------------------------------------------------
// NOENT, INVAL for reserved fields and unknown flags.

#[test]
fn attach_of_unknown_endpoint_is_noent() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP_UNKNOWN, 1), S_NOENT);
    assert!(!h.domain_exists(1));
}

#[test]
fn detach_of_unknown_endpoint_is_noent() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.detach(EP_UNKNOWN, 1), S_NOENT);
}

#[test]
fn probe_of_unknown_endpoint_is_noent() {
    let mut h = Harness::new();
    let r = h.probe(EP_UNKNOWN, 64);
    assert_eq!(r.used_len, 68);
    assert_eq!(r.status(), S_NOENT);
}

#[test]
fn map_and_unmap_on_unknown_domain_are_noent() {
    let mut h = Harness::new();
    assert_eq!(h.map(7, 0, 0xfff, 0x10_0000, RW), S_NOENT);
    assert_eq!(h.unmap(7, 0, 0xfff), S_NOENT);
}

#[test]
fn attach_with_nonzero_reserved_is_inval() {
    let mut h = Harness::new();
    let req = AttachReq {
        domain: 1,
        endpoint: EP1,
        flags: 0,
        reserved: [0, 0, 1, 0],
    };
    assert_eq!(h.status_of(&req.encode()), S_INVAL);
    assert_eq!(h.dev.engine().endpoint_domain(EndpointId(EP1)), None);
}

#[test]
fn attach_with_unknown_flag_is_inval() {
    let mut h = Harness::new();
    assert_eq!(h.attach_flags(EP1, 1, 1 << 1), S_INVAL);
    assert_eq!(h.attach_flags(EP1, 1, 1 << 31), S_INVAL);
    assert!(!h.domain_exists(1));
}

#[test]
fn attach_bypass_flag_without_bypass_config_negotiated_is_inval() {
    let mut h = Harness::with(IommuConfig::default(), bit(F_BYPASS_CONFIG));
    assert_eq!(h.attach_flags(EP1, 1, ATTACH_F_BYPASS), S_INVAL);
}

#[test]
fn map_with_unknown_flag_is_inval() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0, 0xfff, 0x10_0000, 1 << 3), S_INVAL);
    assert!(h.mappings(1).is_empty());
}

#[test]
fn map_mmio_flag_needs_f_mmio() {
    let mut without = Harness::with(IommuConfig::default(), bit(F_MMIO));
    assert_eq!(without.attach(EP1, 1), S_OK);
    assert_eq!(
        without.map(1, 0, 0xfff, 0xd000_0000, RW | MAP_F_MMIO),
        S_INVAL
    );

    let mut with = Harness::new();
    assert_eq!(with.attach(EP1, 1), S_OK);
    assert_eq!(with.map(1, 0, 0xfff, 0xd000_0000, RW | MAP_F_MMIO), S_OK);
}

#[test]
fn unmap_with_nonzero_reserved_is_inval_and_removes_nothing() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0, 0xfff, 0x10_0000, RW), S_OK);
    let req = UnmapReq {
        domain: 1,
        virt_start: 0,
        virt_end: 0xfff,
        reserved: [1, 0, 0, 0],
    };
    assert_eq!(h.status_of(&req.encode()), S_INVAL);
    assert_eq!(h.mappings(1), vec![(0, 0xfff)]);
}

#[test]
fn detach_ignores_reserved_bytes() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    let mut req = DetachReq {
        domain: 1,
        endpoint: EP1,
    }
    .encode();
    req[12..20].copy_from_slice(&[0xff; 8]);
    assert_eq!(h.status_of(&req), S_OK);
}

#[test]
fn probe_ignores_reserved_bytes() {
    let mut h = Harness::new();
    let mut req = ProbeReq { endpoint: EP1 }.encode();
    req[8..72].copy_from_slice(&[0x5a; 64]);
    let r = h.send(&req, 64 + TAIL_SIZE);
    assert_eq!(r.status(), S_OK);
}

#[test]
fn map_and_unmap_without_map_unmap_negotiated_are_unsupp() {
    let mut h = Harness::with(IommuConfig::default(), bit(F_MAP_UNMAP));
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0, 0xfff, 0x10_0000, RW), S_UNSUPP);
    assert_eq!(h.unmap(1, 0, 0xfff), S_UNSUPP);
}

// ---------------------------------------------------------------------------------------------
// ATTACH moves, DETACH, domain destruction.

#[test]
fn attach_of_attached_endpoint_moves_it_to_the_new_domain() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.attach(EP2, 1), S_OK);
    assert_eq!(h.attach(EP1, 2), S_OK);

    assert_eq!(
        h.dev.engine().endpoint_domain(EndpointId(EP1)),
        Some(DomainId(2))
    );
    // The move is an implicit DETACH: a DETACH from the old domain now fails.
    assert_eq!(h.detach(EP1, 1), S_INVAL);
    assert!(h.domain_exists(1), "domain 1 still has EP2");
}

#[test]
fn domain_and_its_mappings_are_destroyed_when_the_last_endpoint_detaches() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0x1000, 0x1fff, 0x10_0000, RW), S_OK);
    assert_eq!(h.detach(EP1, 1), S_OK);

    assert!(!h.domain_exists(1));
    assert_eq!(h.map(1, 0x1000, 0x1fff, 0x10_0000, RW), S_NOENT);
    // Linux replays its mappings into a re-created domain: they must not collide.
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0x1000, 0x1fff, 0x10_0000, RW), S_OK);
}

#[test]
fn domain_is_destroyed_when_its_last_endpoint_moves_away() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0, 0xfff, 0x10_0000, RW), S_OK);
    assert_eq!(h.attach(EP1, 2), S_OK);

    assert!(!h.domain_exists(1));
    assert_eq!(h.dev.counters_snapshot().mappings, 0);
}

#[test]
fn detach_from_a_domain_the_endpoint_is_not_attached_to_is_inval() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.attach(EP2, 2), S_OK);
    assert_eq!(h.detach(EP1, 2), S_INVAL);
    assert_eq!(h.detach(EP1, 77), S_INVAL);
    assert_eq!(
        h.dev.engine().endpoint_domain(EndpointId(EP1)),
        Some(DomainId(1))
    );
}

#[test]
fn attach_with_bypass_flag_inconsistent_with_the_domain_is_inval() {
    let mut h = Harness::new();
    assert_eq!(h.attach_flags(EP1, 1, ATTACH_F_BYPASS), S_OK);
    assert_eq!(h.attach(EP2, 1), S_INVAL);
    assert_eq!(h.attach(EP2, 2), S_OK);
    assert_eq!(h.attach_flags(EP3, 2, ATTACH_F_BYPASS), S_INVAL);
}

#[test]
fn attach_outside_domain_range_is_range() {
    let mut h = Harness::with(
        IommuConfig {
            domain_range: (1, 10),
            ..Default::default()
        },
        0,
    );
    assert_eq!(h.attach(EP1, 0), S_RANGE);
    assert_eq!(h.attach(EP1, 11), S_RANGE);
    assert_eq!(h.attach(EP1, 10), S_OK);
}

// ---------------------------------------------------------------------------------------------
// MAP.

#[test]
fn map_unaligned_virt_start_phys_start_or_end_is_range() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0x800, 0x1fff, 0x10_0000, RW), S_RANGE);
    assert_eq!(h.map(1, 0x1000, 0x1fff, 0x10_0800, RW), S_RANGE);
    assert_eq!(h.map(1, 0x1000, 0x1ffe, 0x10_0000, RW), S_RANGE);
    assert!(h.mappings(1).is_empty());
}

#[test]
fn map_overlapping_an_existing_mapping_is_inval() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0x2000, 0x3fff, 0x10_0000, RW), S_OK);
    assert_eq!(h.map(1, 0x3000, 0x4fff, 0x20_0000, RW), S_INVAL);
    assert_eq!(h.map(1, 0x0000, 0x2fff, 0x20_0000, RW), S_INVAL);
    assert_eq!(h.map(1, 0x0000, 0xffff, 0x20_0000, RW), S_INVAL);
    assert_eq!(h.mappings(1), vec![(0x2000, 0x3fff)]);
}

#[test]
fn map_outside_the_input_range_is_range() {
    let mut h = Harness::with(
        IommuConfig {
            input_range: IovaRange::new(0x1_0000, 0xffff_ffff),
            ..Default::default()
        },
        0,
    );
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0x0, 0x1_0fff, 0x10_0000, RW), S_RANGE);
    assert_eq!(h.map(1, 0xffff_f000, 0x1_0000_0fff, 0x10_0000, RW), S_RANGE);
    assert_eq!(h.map(1, 0x1_0000, 0x1_0fff, 0x10_0000, RW), S_OK);
}

#[test]
fn map_and_unmap_on_a_bypass_domain_are_inval() {
    let mut h = Harness::new();
    assert_eq!(h.attach_flags(EP1, 1, ATTACH_F_BYPASS), S_OK);
    assert_eq!(h.map(1, 0, 0xfff, 0x10_0000, RW), S_INVAL);
    assert_eq!(h.unmap(1, 0, 0xfff), S_INVAL);
}

#[test]
fn map_overlapping_the_msi_resv_mem_region_is_rejected() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0xfee0_0000, 0xfee0_0fff, 0x10_0000, RW), S_INVAL);
    assert_eq!(h.map(1, 0xfed0_0000, 0xfee0_0fff, 0x10_0000, RW), S_INVAL);
    assert_eq!(h.map(1, 0xfeef_f000, 0xfef0_0fff, 0x10_0000, RW), S_INVAL);
    assert!(h.mappings(1).is_empty());
    assert_eq!(h.map(1, 0xfef0_0000, 0xfef0_0fff, 0x10_0000, RW), S_OK);
}

#[test]
fn map_with_virt_end_before_virt_start_is_inval() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0x2000, 0x0fff, 0x10_0000, RW), S_INVAL);
    assert_eq!(h.unmap(1, 0x2000, 0x0fff), S_INVAL);
}

#[test]
fn map_ending_at_2_pow_64_minus_1_works_without_overflow() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, u64::MAX - 0xfff, u64::MAX, 0x10_0000, RW), S_OK);
    assert_eq!(h.mappings(1), vec![(u64::MAX - 0xfff, u64::MAX)]);
    // An identity map of everything below the MSI window (what Linux sends without
    // BYPASS_CONFIG) and a range up to the top.
    assert_eq!(h.map(1, 0, 0xfedf_ffff, 0, RW), S_OK);
    assert_eq!(h.unmap(1, 0, u64::MAX), S_OK);
    assert!(h.mappings(1).is_empty());
}

#[test]
fn map_phys_range_overflowing_64_bits_is_rejected() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_ne!(h.map(1, 0, 0x1fff, u64::MAX - 0xfff, RW), S_OK);
    assert!(h.mappings(1).is_empty());
}

#[test]
fn map_beyond_max_mappings_is_nomem() {
    let mut h = Harness::with(
        IommuConfig {
            max_mappings: 2,
            ..Default::default()
        },
        0,
    );
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0x0000, 0x0fff, 0x10_0000, RW), S_OK);
    assert_eq!(h.map(1, 0x1000, 0x1fff, 0x10_0000, RW), S_OK);
    assert_eq!(h.map(1, 0x2000, 0x2fff, 0x10_0000, RW), S_NOMEM);
}

#[test]
fn attach_beyond_max_domains_is_nomem() {
    let mut h = Harness::with(
        IommuConfig {
            max_domains: 2,
            ..Default::default()
        },
        0,
    );
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.attach(EP2, 2), S_OK);
    assert_eq!(h.attach(EP3, 3), S_NOMEM);
    assert_eq!(h.dev.engine().endpoint_domain(EndpointId(EP3)), None);
}

// ---------------------------------------------------------------------------------------------
// UNMAP: the spec's seven examples and atomicity.

/// Runs one spec example: each starts from a blank address space.
fn unmap_example(maps: &[(u64, u64)], unmap: (u64, u64)) -> (u8, Vec<(u64, u64)>) {
    // The spec's examples count in pages here: page n is [n * 4K, n * 4K + 4K - 1].
    let page = |p: u64| p * 0x1000;
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    for &(s, e) in maps {
        assert_eq!(
            h.map(1, page(s), page(e + 1) - 1, 0x10_0000 + page(s), RW),
            S_OK
        );
    }
    let status = h.unmap(1, page(unmap.0), page(unmap.1 + 1) - 1);
    let left = h
        .mappings(1)
        .into_iter()
        .map(|(s, e)| (s / 0x1000, (e + 1) / 0x1000 - 1))
        .collect();
    (status, left)
}

#[test]
fn unmap_spec_example_1_empty_range_succeeds_and_unmaps_nothing() {
    assert_eq!(unmap_example(&[], (0, 4)), (S_OK, vec![]));
}

#[test]
fn unmap_spec_example_2_exact_mapping_is_removed() {
    assert_eq!(unmap_example(&[(0, 9)], (0, 9)), (S_OK, vec![]));
}

#[test]
fn unmap_spec_example_3_two_adjacent_mappings_are_removed() {
    assert_eq!(unmap_example(&[(0, 4), (5, 9)], (0, 9)), (S_OK, vec![]));
}

#[test]
fn unmap_spec_example_4_split_fails_with_range_and_unmaps_nothing() {
    assert_eq!(unmap_example(&[(0, 9)], (0, 4)), (S_RANGE, vec![(0, 9)]));
}

#[test]
fn unmap_spec_example_5_only_the_covered_mapping_is_removed() {
    assert_eq!(
        unmap_example(&[(0, 4), (5, 9)], (0, 4)),
        (S_OK, vec![(5, 9)])
    );
}

#[test]
fn unmap_spec_example_6_range_spilling_over_unmapped_space_succeeds() {
    assert_eq!(unmap_example(&[(0, 4)], (0, 9)), (S_OK, vec![]));
}

#[test]
fn unmap_spec_example_7_mappings_with_a_hole_between_are_removed() {
    assert_eq!(unmap_example(&[(0, 4), (10, 14)], (0, 14)), (S_OK, vec![]));
}

#[test]
fn unmap_that_would_split_a_later_mapping_removes_nothing_at_all() {
    // a is fully covered, b would be split: atomic, so a stays too (QEMU removes a).
    assert_eq!(
        unmap_example(&[(0, 4), (5, 9)], (0, 7)),
        (S_RANGE, vec![(0, 4), (5, 9)])
    );
}

#[test]
fn unmap_range_need_not_be_aligned_when_it_splits_nothing() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.map(1, 0x1000, 0x1fff, 0x10_0000, RW), S_OK);
    assert_eq!(h.unmap(1, 0x800, 0x2800), S_OK);
    assert!(h.mappings(1).is_empty());
}

// ---------------------------------------------------------------------------------------------
// PROBE.

#[test]
fn probe_reports_the_x86_msi_window_as_resv_mem_msi_and_zero_fills_the_rest() {
    let mut h = Harness::new();
    let r = h.probe(EP1, 64);
    assert_eq!(r.used_len, 68);
    assert_eq!(r.status(), S_OK);
    let prop = ResvMem::decode(&r.bytes[..RESV_MEM_SIZE]).unwrap();
    assert_eq!(
        prop,
        ResvMem {
            subtype: RESV_MEM_T_MSI,
            start: 0xfee0_0000,
            end: 0xfeef_ffff,
        }
    );
    assert_eq!(&r.bytes[5..8], &[0, 0, 0], "property reserved bytes zero");
    assert!(r.bytes[RESV_MEM_SIZE..64].iter().all(|&b| b == 0));
}

#[test]
fn probe_places_each_property_length_plus_4_after_the_previous() {
    let config = IommuConfig {
        reserved_regions: vec![
            ReservedRegion::X86_MSI,
            ReservedRegion {
                start: 0x1_0000_0000,
                end: 0x1_0fff_ffff,
                kind: ReservedKind::Reserved,
            },
        ],
        ..Default::default()
    };
    let mut h = Harness::with(config, 0);
    let r = h.probe(EP2, 64);
    assert_eq!(r.status(), S_OK);
    let len0 = u16::from_le_bytes([r.bytes[2], r.bytes[3]]) as usize;
    let second = ResvMem::decode(&r.bytes[len0 + 4..]).unwrap();
    assert_eq!(second.subtype, RESV_MEM_T_RESERVED);
    assert_eq!((second.start, second.end), (0x1_0000_0000, 0x1_0fff_ffff));
    // And MAP refuses the RESERVED region too.
    assert_eq!(h.attach(EP2, 1), S_OK);
    assert_eq!(
        h.map(1, 0x1_0000_0000, 0x1_0000_0fff, 0x10_0000, RW),
        S_INVAL
    );
}

#[test]
fn probe_with_a_properties_buffer_smaller_than_probe_size_is_inval_and_writes_no_property() {
    let mut h = Harness::new();
    let r = h.probe(EP1, 32);
    assert_eq!(r.used_len, 36);
    assert_eq!(r.status(), S_INVAL);
    assert!(r.bytes[..32].iter().all(|&b| b == 0), "no property written");
}

// ---------------------------------------------------------------------------------------------
// Framing, used length, hostile chains.

#[test]
fn unknown_request_type_leaves_buffers_untouched_with_used_length_zero() {
    let mut h = Harness::new();
    for t in [0u8, 6, 0x80, 0xff] {
        let r = h.send(
            &[
                t, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
            ],
            4,
        );
        assert!(r.untouched(), "type {t}: {r:?}");
    }
    assert_eq!(h.dev.counters_snapshot().untouched, 4);
}

#[test]
fn used_length_is_the_writable_size_for_success_and_for_every_error() {
    let mut h = Harness::new();
    // OK, NOENT, INVAL, RANGE: all with used length 4 and the status in the tail.
    let ok = h.send(
        &AttachReq {
            domain: 1,
            endpoint: EP1,
            flags: 0,
            reserved: [0; 4],
        }
        .encode(),
        4,
    );
    let noent = h.send(
        &AttachReq {
            domain: 1,
            endpoint: EP_UNKNOWN,
            flags: 0,
            reserved: [0; 4],
        }
        .encode(),
        4,
    );
    let inval = h.send(
        &AttachReq {
            domain: 1,
            endpoint: EP1,
            flags: 8,
            reserved: [0; 4],
        }
        .encode(),
        4,
    );
    let range = h.send(
        &MapReq {
            domain: 1,
            virt_start: 0x10,
            virt_end: 0xfff,
            phys_start: 0,
            flags: RW,
        }
        .encode(),
        4,
    );
    for (r, status) in [
        (ok, S_OK),
        (noent, S_NOENT),
        (inval, S_INVAL),
        (range, S_RANGE),
    ] {
        assert_eq!(r.used_len, 4);
        assert_eq!(r.tail(), &[status, 0, 0, 0], "tail reserved bytes are zero");
    }
}

#[test]
fn larger_writable_part_gets_the_tail_at_its_end_and_used_length_equal_to_its_size() {
    let mut h = Harness::new();
    let r = h.send(
        &AttachReq {
            domain: 1,
            endpoint: EP1,
            flags: 0,
            reserved: [0; 4],
        }
        .encode(),
        16,
    );
    assert_eq!(r.used_len, 16);
    assert_eq!(r.status(), S_OK);
    assert!(r.bytes[..12].iter().all(|&b| b == 0));
}

#[test]
fn request_split_across_arbitrary_descriptors_is_accepted() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    let map = MapReq {
        domain: 1,
        virt_start: 0x4000,
        virt_end: 0x4fff,
        phys_start: 0x20_0000,
        flags: RW,
    }
    .encode();
    // Head split from the body, body cut in odd places, tail in two descriptors.
    let r = h.send_split(&map, &[1, 3, 5, 7, 11, 9], 4, &[1, 3]);
    assert_eq!(r.used_len, 4);
    assert_eq!(r.status(), S_OK);
    assert_eq!(h.mappings(1), vec![(0x4000, 0x4fff)]);
    // A PROBE with properties and tail spread over three descriptors.
    let r = h.send_split(
        &ProbeReq { endpoint: EP1 }.encode(),
        &[40, 32],
        68,
        &[10, 50, 8],
    );
    assert_eq!(r.used_len, 68);
    assert_eq!(r.status(), S_OK);
    assert_eq!(ResvMem::decode(&r.bytes).unwrap().start, 0xfee0_0000);
}

#[test]
fn readable_part_shorter_than_the_request_type_is_inval() {
    let mut h = Harness::new();
    let map = MapReq {
        domain: 1,
        virt_start: 0,
        virt_end: 0xfff,
        phys_start: 0,
        flags: RW,
    }
    .encode();
    let r = h.send(&map[..20], 4);
    assert_eq!(r.used_len, 4);
    assert_eq!(r.status(), S_INVAL);
}

#[test]
fn chain_without_room_for_the_tail_is_returned_untouched() {
    let mut h = Harness::new();
    let attach = AttachReq {
        domain: 1,
        endpoint: EP1,
        flags: 0,
        reserved: [0; 4],
    }
    .encode();
    let r = h.send(&attach, 3);
    assert!(r.untouched());
    assert_eq!(
        h.dev.engine().endpoint_domain(EndpointId(EP1)),
        None,
        "not executed"
    );
    // No writable part at all.
    let at = h.alloc(20);
    h.mem.write_slice(&attach, GuestAddress(at)).unwrap();
    let head = h.reqq.add(&[(at, 20, false)]);
    h.dev.process_queue(0);
    assert_eq!(h.reqq.used(), vec![(u32::from(head), 0)]);
    assert_eq!(h.dev.engine().endpoint_domain(EndpointId(EP1)), None);
}

#[test]
fn looping_chain_ends_the_request_cleanly() {
    let mut h = Harness::new();
    let at = h.alloc(64);
    h.mem
        .write_slice(
            &AttachReq {
                domain: 1,
                endpoint: EP1,
                flags: 0,
                reserved: [0; 4],
            }
            .encode(),
            GuestAddress(at),
        )
        .unwrap();
    // Descriptors 40 -> 41 -> 40 -> ...
    h.reqq
        .write_desc(40, Descriptor::new(at, 20, VRING_DESC_F_NEXT as u16, 41));
    h.reqq.write_desc(
        41,
        Descriptor::new(
            at + 32,
            4,
            (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE) as u16,
            40,
        ),
    );
    h.reqq.publish(40);
    h.dev.process_queue(0);
    let used = h.reqq.used();
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].0, 40);
    // The loop puts a readable descriptor after a writable one: returned untouched.
    assert_eq!(used[0].1, 0);
}

#[test]
fn chain_pointing_outside_ram_ends_the_request_cleanly() {
    let mut h = Harness::new();
    let attach = AttachReq {
        domain: 1,
        endpoint: EP1,
        flags: 0,
        reserved: [0; 4],
    }
    .encode();
    let at = h.alloc(64);
    h.mem.write_slice(&attach, GuestAddress(at)).unwrap();
    // Writable tail outside guest RAM.
    h.reqq.add(&[(at, 20, false), (0x4000_0000_0000, 4, true)]);
    // Readable part outside guest RAM.
    h.reqq.add(&[(u64::MAX - 8, 20, false), (at + 32, 4, true)]);
    // Next index outside the descriptor table.
    h.reqq
        .write_desc(50, Descriptor::new(at, 20, VRING_DESC_F_NEXT as u16, 4000));
    h.reqq.publish(50);
    h.dev.process_queue(0);
    let used = h.reqq.used();
    assert_eq!(used.len(), 3);
    assert!(used.iter().all(|&(_, len)| len == 0));
    assert_eq!(
        h.dev.engine().endpoint_domain(EndpointId(EP1)),
        None,
        "nothing executed"
    );
}

#[test]
fn indirect_descriptor_table_is_followed() {
    let mut h = Harness::new();
    let attach = AttachReq {
        domain: 3,
        endpoint: EP2,
        flags: 0,
        reserved: [0; 4],
    }
    .encode();
    let req = h.alloc(64);
    h.mem.write_slice(&attach, GuestAddress(req)).unwrap();
    h.mem
        .write_slice(&[UNTOUCHED; 4], GuestAddress(req + 32))
        .unwrap();
    let table = h.alloc(32);
    let d0 = RawDescriptor::from(Descriptor::new(req, 20, VRING_DESC_F_NEXT as u16, 1));
    let d1 = RawDescriptor::from(Descriptor::new(req + 32, 4, VRING_DESC_F_WRITE as u16, 0));
    h.mem.write_obj(d0, GuestAddress(table)).unwrap();
    h.mem.write_obj(d1, GuestAddress(table + 16)).unwrap();
    h.reqq.write_desc(
        60,
        Descriptor::new(table, 32, VRING_DESC_F_INDIRECT as u16, 0),
    );
    h.reqq.publish(60);
    h.dev.process_queue(0);
    assert_eq!(h.reqq.used(), vec![(60, 4)]);
    let mut tail = [0u8; 4];
    h.mem.read_slice(&mut tail, GuestAddress(req + 32)).unwrap();
    assert_eq!(tail, [S_OK, 0, 0, 0]);
    assert_eq!(
        h.dev.engine().endpoint_domain(EndpointId(EP2)),
        Some(DomainId(3))
    );
}

#[test]
fn a_batch_of_requests_is_completed_in_order_with_one_interrupt() {
    let mut h = Harness::new();
    let before = h.irq.used_count(0);
    let attach = AttachReq {
        domain: 1,
        endpoint: EP1,
        flags: 0,
        reserved: [0; 4],
    }
    .encode();
    let mut heads = Vec::new();
    for i in 0..10u64 {
        let r = h.alloc(64);
        let req = if i == 0 {
            attach.to_vec()
        } else {
            MapReq {
                domain: 1,
                virt_start: i * 0x1000,
                virt_end: i * 0x1000 + 0xfff,
                phys_start: 0,
                flags: RW,
            }
            .encode()
            .to_vec()
        };
        h.mem.write_slice(&req, GuestAddress(r)).unwrap();
        heads.push(u32::from(
            h.reqq
                .add(&[(r, req.len() as u32, false), (r + 48, 4, true)]),
        ));
    }
    h.dev.process_queue(0);
    let used = h.reqq.used();
    assert_eq!(used.iter().map(|u| u.0).collect::<Vec<_>>(), heads);
    assert!(used.iter().all(|u| u.1 == 4));
    assert_eq!(h.irq.used_count(0), before + 1);
    assert_eq!(h.mappings(1).len(), 9);
}

// ---------------------------------------------------------------------------------------------
// Reset.

#[test]
fn reset_detaches_every_endpoint_and_destroys_every_domain_but_keeps_bypass() {
    let mut h = Harness::new();
    h.dev.write_config(CONFIG_BYPASS_OFFSET, &[1]);
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.attach_flags(EP2, 2, ATTACH_F_BYPASS), S_OK);
    assert_eq!(h.map(1, 0, 0xfff, 0x10_0000, RW), S_OK);

    h.dev.reset();

    let engine = h.dev.engine();
    assert_eq!(engine.endpoint_domain(EndpointId(EP1)), None);
    assert_eq!(engine.endpoint_domain(EndpointId(EP2)), None);
    assert_eq!(engine.stats().domains, 0);
    assert_eq!(engine.stats().mappings, 0);
    assert!(engine.bypass(), "bypass survives device reset");
    let mut b = [0u8; 1];
    h.dev.read_config(CONFIG_BYPASS_OFFSET, &mut b);
    assert_eq!(b[0], 1);
    assert!(
        engine.has_endpoint(EndpointId(EP1)),
        "endpoints still exist"
    );
    assert!(!h.dev.is_active());
}

// ---------------------------------------------------------------------------------------------
// Counters.

#[test]
fn counters_count_requests_by_type_and_status_and_live_mappings() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    assert_eq!(h.attach(EP_UNKNOWN, 1), S_NOENT);
    assert_eq!(h.map(1, 0, 0xfff, 0x10_0000, RW), S_OK);
    assert_eq!(h.map(1, 0x1000, 0x1fff, 0x10_0000, RW), S_OK);
    assert_eq!(h.map(1, 0, 0xfff, 0x10_0000, RW), S_INVAL);
    assert_eq!(h.unmap(1, 0, 0xfff), S_OK);
    let _ = h.probe(EP1, 64);
    assert_eq!(h.detach(EP2, 1), S_INVAL);

    let c = h.dev.counters_snapshot();
    assert_eq!(
        (c.attach, c.detach, c.map, c.unmap, c.probe),
        (2, 1, 3, 1, 1)
    );
    assert_eq!(c.statuses[S_OK as usize], 5);
    assert_eq!(c.statuses[S_NOENT as usize], 1);
    assert_eq!(c.statuses[S_INVAL as usize], 2);
    assert_eq!(c.mappings, 1);
    assert_eq!(c.domains, 1);
    let named = h.dev.counters();
    assert!(named.contains(&("requests_map", 3)));
    assert!(named.contains(&("mappings", 1)));
}

// ---------------------------------------------------------------------------------------------
// Devices behind the IOMMU: translation, permissions, faults, strict completion.

/// Guest-physical page holding the DMA test device's queue (identity mapped in its domain).
const DT_RING: u64 = 0x30_0000;
/// Guest-physical page holding its request and reply.
const DT_REQ: u64 = 0x30_1000;

struct DmaTestRig {
    dev: VirtioDmaTest,
    q: DriverQueue<'static>,
}

impl DmaTestRig {
    /// A DMA test device behind `h`'s IOMMU as EP1, attached to domain 1 with its ring and
    /// request pages identity-mapped.
    fn new(h: &mut Harness) -> Self {
        let mut dev = VirtioDmaTest::new(Some(h.dev.endpoint(EndpointId(EP1)).unwrap()));
        let accepted = dev.features();
        assert!(dev.features_acceptable(accepted));
        dev.ack_features(accepted);
        let q = DriverQueue::new(h.mem, GuestAddress(DT_RING), 16);
        assert_eq!(h.attach(EP1, 1), S_OK);
        assert_eq!(h.map(1, DT_RING, DT_RING + 0xfff, DT_RING, RW), S_OK);
        assert_eq!(h.map(1, DT_REQ, DT_REQ + 0xfff, DT_REQ, RW), S_OK);
        activate(&mut dev, h.mem, &[&q], Arc::new(TestInterrupt::new()));
        DmaTestRig { dev, q }
    }

    fn run(
        &mut self,
        mem: &GuestRam,
        op: u32,
        src: u64,
        dst: u64,
        len: u64,
        pattern: u8,
    ) -> dt::DmaTestReply {
        let req = dt::DmaTestRequest {
            op,
            flags: 0,
            src,
            dst,
            len,
            pattern,
            reserved: [0; 7],
        };
        mem.write_slice(&req.encode(), GuestAddress(DT_REQ))
            .unwrap();
        mem.write_slice(&[0xee; dt::REPLY_SIZE], GuestAddress(DT_REQ + 0x100))
            .unwrap();
        self.q.add(&[
            (DT_REQ, dt::REQUEST_SIZE as u32, false),
            (DT_REQ + 0x100, dt::REPLY_SIZE as u32, true),
        ]);
        self.dev.process_queue(0);
        let used = self.q.used();
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].1, dt::REPLY_SIZE as u32);
        let mut b = [0u8; dt::REPLY_SIZE];
        mem.read_slice(&mut b, GuestAddress(DT_REQ + 0x100))
            .unwrap();
        dt::DmaTestReply::decode(&b)
    }
}

#[test]
fn device_behind_the_iommu_offers_and_requires_access_platform() {
    let h = Harness::new();
    let dev = VirtioDmaTest::new(Some(h.dev.endpoint(EndpointId(EP1)).unwrap()));
    let f = dev.features();
    assert_ne!(f & bit(features::ACCESS_PLATFORM), 0);
    assert!(!dev.features_acceptable(f & !bit(features::ACCESS_PLATFORM)));
    assert_eq!(dev.endpoint(), Some(EndpointId(EP1)));
}

#[test]
fn dma_lands_where_the_mapping_says_and_nowhere_else() {
    let mut h = Harness::new();
    let mut rig = DmaTestRig::new(&mut h);
    // IOVA 0x4000_0000 -> GPA 0x50_0000.
    assert_eq!(h.map(1, 0x4000_0000, 0x4000_1fff, 0x50_0000, RW), S_OK);
    h.mem
        .write_slice(&[0u8; 0x3000], GuestAddress(0x4f_f000))
        .unwrap();

    let r = rig.run(h.mem, dt::OP_FILL, 0, 0x4000_0800, 0x1000, 0x5a);

    assert_eq!(r.status, dt::S_OK);
    assert_eq!(r.result, 0x1000);
    let mut after = vec![0u8; 0x3000];
    h.mem
        .read_slice(&mut after, GuestAddress(0x4f_f000))
        .unwrap();
    assert!(after[..0x1800].iter().all(|&b| b == 0));
    assert!(after[0x1800..0x2800].iter().all(|&b| b == 0x5a));
    assert!(after[0x2800..].iter().all(|&b| b == 0));
}

#[test]
fn dma_to_an_unmapped_iova_fails_and_reports_a_mapping_fault_with_endpoint_and_address() {
    let mut h = Harness::new();
    h.give_event_buffers(4, FAULT_SIZE as u32);
    let mut rig = DmaTestRig::new(&mut h);

    let r = rig.run(h.mem, dt::OP_FILL, 0, 0x7000_0000, 16, 1);

    assert_eq!(r.status, dt::S_FAULT);
    assert_eq!(r.fault_addr, 0x7000_0000);
    assert_eq!(r.fault_flags, dt::FAULT_F_WRITE);
    let events = h.events();
    assert_eq!(events.len(), 1);
    let (len, ev) = events[0];
    assert_eq!(len, FAULT_SIZE as u32);
    assert_eq!(ev.reason, FAULT_R_MAPPING);
    assert_eq!(ev.flags, FAULT_F_WRITE | FAULT_F_ADDRESS);
    assert_eq!(ev.endpoint, EP1);
    assert_eq!(ev.address, 0x7000_0000);
    assert!(h.irq.used_count(EVENTQ_INDEX) >= 1);
    assert_eq!(h.dev.counters_snapshot().faults_reported, 1);
}

#[test]
fn write_through_a_read_only_mapping_is_blocked_and_reported() {
    let mut h = Harness::new();
    h.give_event_buffers(2, FAULT_SIZE as u32);
    let mut rig = DmaTestRig::new(&mut h);
    assert_eq!(
        h.map(1, 0x4000_0000, 0x4000_0fff, 0x50_0000, MAP_F_READ),
        S_OK
    );
    h.mem
        .write_slice(&[7u8; 16], GuestAddress(0x50_0000))
        .unwrap();

    let r = rig.run(h.mem, dt::OP_FILL, 0, 0x4000_0000, 16, 0xff);

    assert_eq!(r.status, dt::S_FAULT);
    assert_eq!(r.fault_flags, dt::FAULT_F_WRITE);
    let mut b = [0u8; 16];
    h.mem.read_slice(&mut b, GuestAddress(0x50_0000)).unwrap();
    assert_eq!(b, [7u8; 16], "memory behind a read-only mapping unchanged");
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.reason, FAULT_R_MAPPING);
    assert_eq!(events[0].1.flags, FAULT_F_WRITE | FAULT_F_ADDRESS);
    // Reading through it is fine.
    let r = rig.run(h.mem, dt::OP_COMPARE, 0x4000_0000, 0x4000_0000, 16, 0);
    assert_eq!((r.status, r.result), (dt::S_OK, 16));
}

#[test]
fn dma_by_an_unattached_endpoint_is_a_domain_fault_unless_bypass_is_on() {
    let mut h = Harness::new();
    h.give_event_buffers(2, FAULT_SIZE as u32);
    let mut rig = DmaTestRig::new(&mut h);
    // The device's first ring access happens unattached: move EP1 out by resetting its domain
    // membership (detach), keeping the rig configured.
    assert_eq!(h.detach(EP1, 1), S_OK);
    rig.q
        .add(&[(DT_REQ, 40, false), (DT_REQ + 0x100, 24, true)]);
    rig.dev.process_queue(0);
    assert!(rig.q.used().is_empty(), "ring not reachable");
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.reason, FAULT_R_DOMAIN);
    assert_eq!(events[0].1.flags & FAULT_F_READ, FAULT_F_READ);
    assert_eq!(events[0].1.endpoint, EP1);

    // With bypass on, unattached endpoints use guest-physical addresses.
    h.dev.write_config(CONFIG_BYPASS_OFFSET, &[1]);
    rig.dev.process_queue(0);
    let used = rig.q.used();
    assert_eq!(used.len(), 1);
}

#[test]
fn fault_is_dropped_and_counted_when_the_driver_gave_no_event_buffer() {
    let mut h = Harness::new();
    let mut rig = DmaTestRig::new(&mut h);
    let r = rig.run(h.mem, dt::OP_FILL, 0, 0x7000_0000, 16, 1);
    assert_eq!(r.status, dt::S_FAULT);
    let c = h.dev.counters_snapshot();
    assert_eq!(c.faults_dropped, 1);
    assert_eq!(c.faults_reported, 0);
}

#[test]
fn fault_report_is_never_split_across_buffers() {
    let mut h = Harness::new();
    h.give_event_buffers(2, 12);
    h.give_event_buffers(1, FAULT_SIZE as u32);
    let mut rig = DmaTestRig::new(&mut h);
    let _ = rig.run(h.mem, dt::OP_FILL, 0, 0x7000_0000, 16, 1);
    let events = h.events();
    let lens: Vec<u32> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        lens,
        vec![0, 0, FAULT_SIZE as u32],
        "small buffers returned unwritten"
    );
    assert_eq!(events[2].1.address, 0x7000_0000);
}

/// Starts a DMA by `ep` in another thread that stays in flight for `hold`, then sets the
/// returned flag and ends. Returns once the DMA has started.
fn dma_in_flight(
    ep: crate::virtio::dma::DmaEndpoint,
    hold: Duration,
) -> (Arc<std::sync::atomic::AtomicBool>, thread::JoinHandle<()>) {
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel();
    let flag = Arc::clone(&done);
    let handle = thread::spawn(move || {
        let mem = crate::virtio::dma::DeviceMemory::new(test_ram(), Some(&ep), true);
        let guard = mem.begin();
        started_tx.send(()).unwrap();
        thread::sleep(hold);
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        drop(guard);
    });
    started_rx.recv().unwrap();
    (done, handle)
}

#[test]
fn unmap_completes_only_after_in_flight_dma_of_another_thread_has_finished() {
    let mut h = Harness::new();
    let mut rig = DmaTestRig::new(&mut h);
    assert_eq!(h.map(1, 0x4000_0000, 0x4000_0fff, 0x50_0000, RW), S_OK);
    // A DMA in flight in another thread: it translated before the UNMAP and is still copying.
    let ep = h.dev.endpoint(EndpointId(EP1)).unwrap();
    let (dma_done, dma) = dma_in_flight(ep, Duration::from_millis(200));

    assert_eq!(h.unmap(1, 0x4000_0000, 0x4000_0fff), S_OK);

    assert!(
        dma_done.load(std::sync::atomic::Ordering::SeqCst),
        "UNMAP completed while DMA was in flight"
    );
    dma.join().unwrap();
    // And the old translation is gone for new DMA.
    let r = rig.run(h.mem, dt::OP_FILL, 0, 0x4000_0000, 16, 1);
    assert_eq!(r.status, dt::S_FAULT);
}

#[test]
fn unmap_that_removes_nothing_does_not_wait_for_dma() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP1, 1), S_OK);
    let ep = h.dev.endpoint(EndpointId(EP1)).unwrap();
    let (dma_done, dma) = dma_in_flight(ep, Duration::from_millis(1000));
    assert_eq!(h.unmap(1, 0x4000_0000, 0x4000_0fff), S_OK);
    assert!(!dma_done.load(std::sync::atomic::Ordering::SeqCst));
    dma.join().unwrap();
}

#[test]
fn detach_completes_only_after_in_flight_dma_has_finished() {
    let mut h = Harness::new();
    assert_eq!(h.attach(EP2, 5), S_OK);
    let ep = h.dev.endpoint(EndpointId(EP2)).unwrap();
    let (dma_done, dma) = dma_in_flight(ep, Duration::from_millis(200));

    assert_eq!(h.detach(EP2, 5), S_OK);

    assert!(
        dma_done.load(std::sync::atomic::Ordering::SeqCst),
        "DETACH completed while DMA was in flight"
    );
    dma.join().unwrap();
}

#[test]
fn indirect_table_of_a_device_behind_the_iommu_is_read_through_its_mapping() {
    let mut h = Harness::new();
    h.give_event_buffers(2, FAULT_SIZE as u32);
    let mut rig = DmaTestRig::new(&mut h);
    const TABLE_GPA: u64 = 0x31_0000;
    const TABLE_IOVA: u64 = 0x6000_0000;
    assert_eq!(
        h.map(1, TABLE_IOVA, TABLE_IOVA + 0xfff, TABLE_GPA, MAP_F_READ),
        S_OK
    );
    let req = dt::DmaTestRequest {
        op: dt::OP_FILL,
        flags: 0,
        src: 0,
        dst: DT_REQ + 0x800,
        len: 8,
        pattern: 0x11,
        reserved: [0; 7],
    };
    h.mem
        .write_slice(&req.encode(), GuestAddress(DT_REQ))
        .unwrap();
    let d0 = RawDescriptor::from(Descriptor::new(DT_REQ, 40, VRING_DESC_F_NEXT as u16, 1));
    let d1 = RawDescriptor::from(Descriptor::new(
        DT_REQ + 0x100,
        24,
        VRING_DESC_F_WRITE as u16,
        0,
    ));
    h.mem.write_obj(d0, GuestAddress(TABLE_GPA)).unwrap();
    h.mem.write_obj(d1, GuestAddress(TABLE_GPA + 16)).unwrap();

    rig.q.write_desc(
        5,
        Descriptor::new(TABLE_IOVA, 32, VRING_DESC_F_INDIRECT as u16, 0),
    );
    rig.q.publish(5);
    rig.dev.process_queue(0);
    assert_eq!(rig.q.used(), vec![(5, 24)]);
    let mut b = [0u8; 8];
    h.mem
        .read_slice(&mut b, GuestAddress(DT_REQ + 0x800))
        .unwrap();
    assert_eq!(b, [0x11; 8]);

    // Without the mapping the indirect table cannot be read: nothing is done, a fault is
    // reported for the table's IOVA.
    assert_eq!(h.unmap(1, TABLE_IOVA, TABLE_IOVA + 0xfff), S_OK);
    h.mem
        .write_slice(&[0u8; 8], GuestAddress(DT_REQ + 0x800))
        .unwrap();
    rig.q.publish(5);
    rig.dev.process_queue(0);
    assert_eq!(rig.q.used(), vec![(5, 0)]);
    h.mem
        .read_slice(&mut b, GuestAddress(DT_REQ + 0x800))
        .unwrap();
    assert_eq!(b, [0; 8]);
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.address, TABLE_IOVA);
    assert_eq!(events[0].1.flags, FAULT_F_READ | FAULT_F_ADDRESS);
}
