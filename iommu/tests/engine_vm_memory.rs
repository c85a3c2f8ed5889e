//! `EndpointIommu` under vm-memory's `IommuMemory`: device accesses by IOVA land at the mapped
//! guest-physical addresses, with permissions enforced and unmaps taking effect at once.

use std::sync::Arc;

use iommu::{DomainId, EndpointId, EndpointIommu, Engine, EngineConfig, IovaRange, Perms};
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap, IommuMemory, Permissions};

const EP: EndpointId = EndpointId(3);
const D: DomainId = DomainId(1);
const RAM: usize = 0x10_0000;

const RW_IOVA: u64 = 0x1000_0000;
const RW_GPA: u64 = 0x2000;
const RO_IOVA: u64 = 0x2000_0000;
const RO_GPA: u64 = 0x8000;

type Mem = IommuMemory<GuestMemoryMmap<()>, EndpointIommu>;

fn setup() -> (Arc<Engine>, Mem) {
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    engine.add_endpoint(EP).unwrap();
    engine.attach(EP, D, false).unwrap();
    engine
        .map(
            D,
            IovaRange::new(RW_IOVA, RW_IOVA + 0x1fff),
            RW_GPA,
            Perms::RW,
        )
        .unwrap();
    engine
        .map(
            D,
            IovaRange::new(RO_IOVA, RO_IOVA + 0xfff),
            RO_GPA,
            Perms::READ,
        )
        .unwrap();
    let ram = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM)]).unwrap();
    let mem = IommuMemory::new(ram, EndpointIommu::new(engine.clone(), EP), true, ());
    (engine, mem)
}

#[test]
fn accesses_go_to_the_mapped_guest_physical_addresses() {
    let (_engine, mem) = setup();
    mem.write_obj(0x1122_3344_5566_7788u64, GuestAddress(RW_IOVA + 0x10))
        .unwrap();
    assert_eq!(
        mem.get_backend()
            .read_obj::<u64>(GuestAddress(RW_GPA + 0x10))
            .unwrap(),
        0x1122_3344_5566_7788
    );
    // Straddling the two pages of the mapping.
    mem.write_obj(0xa5a5_5a5a_dead_beefu64, GuestAddress(RW_IOVA + 0xffc))
        .unwrap();
    assert_eq!(
        mem.get_backend()
            .read_obj::<u64>(GuestAddress(RW_GPA + 0xffc))
            .unwrap(),
        0xa5a5_5a5a_dead_beef
    );
    assert_eq!(
        mem.read_obj::<u64>(GuestAddress(RW_IOVA + 0xffc)).unwrap(),
        0xa5a5_5a5a_dead_beef
    );
    // Reads through the read-only mapping.
    mem.get_backend()
        .write_obj(0x0bad_cafeu32, GuestAddress(RO_GPA + 0x40))
        .unwrap();
    assert_eq!(
        mem.read_obj::<u32>(GuestAddress(RO_IOVA + 0x40)).unwrap(),
        0x0bad_cafe
    );
    assert!(mem.check_range(GuestAddress(RO_IOVA), 0x1000, Permissions::Read));
    assert!(!mem.check_range(GuestAddress(RO_IOVA), 0x1000, Permissions::Write));
}

#[test]
fn writes_through_read_only_mappings_and_unmapped_accesses_fail() {
    let (engine, mem) = setup();
    assert!(mem.write_obj(1u32, GuestAddress(RO_IOVA)).is_err());
    assert_eq!(
        mem.get_backend()
            .read_obj::<u32>(GuestAddress(RO_GPA))
            .unwrap(),
        0,
        "nothing written"
    );
    assert!(mem.read_obj::<u32>(GuestAddress(0x3000_0000)).is_err());
    assert!(mem.write_obj(1u32, GuestAddress(0x3000_0000)).is_err());
    // A read that runs off the end of a mapping fails as a whole.
    assert!(mem.read_obj::<u64>(GuestAddress(RW_IOVA + 0x1ffc)).is_err());
    // The top of the IOVA space cannot be expressed in vm-memory's ranges: refused, no panic.
    assert!(mem.read_obj::<u32>(GuestAddress(u64::MAX - 3)).is_err());
    // Guest-physical addresses are not IOVAs.
    assert!(mem.read_obj::<u32>(GuestAddress(RW_GPA)).is_err());
    assert!(engine.stats().faults >= 5);
}

#[test]
fn unmap_detach_and_bypass_take_effect_immediately() {
    let (engine, mem) = setup();
    mem.write_obj(7u64, GuestAddress(RW_IOVA)).unwrap();
    assert_eq!(mem.read_obj::<u64>(GuestAddress(RW_IOVA)).unwrap(), 7);
    engine
        .unmap(D, IovaRange::new(RW_IOVA, RW_IOVA + 0x1fff))
        .unwrap();
    assert!(mem.read_obj::<u64>(GuestAddress(RW_IOVA)).is_err());
    // Remapping elsewhere is picked up.
    engine
        .map(
            D,
            IovaRange::new(RW_IOVA, RW_IOVA + 0xfff),
            0x5000,
            Perms::RW,
        )
        .unwrap();
    mem.write_obj(9u64, GuestAddress(RW_IOVA)).unwrap();
    assert_eq!(
        mem.get_backend()
            .read_obj::<u64>(GuestAddress(0x5000))
            .unwrap(),
        9
    );
    // Detached, no bypass: nothing is reachable.
    engine.detach(EP, D).unwrap();
    assert!(mem.read_obj::<u64>(GuestAddress(RW_IOVA)).is_err());
    assert!(mem.read_obj::<u64>(GuestAddress(0x5000)).is_err());
    // Global bypass: IOVA = GPA.
    engine.set_bypass(true);
    assert_eq!(mem.read_obj::<u64>(GuestAddress(0x5000)).unwrap(), 9);
    mem.write_obj(11u64, GuestAddress(0x6000)).unwrap();
    assert_eq!(
        mem.get_backend()
            .read_obj::<u64>(GuestAddress(0x6000))
            .unwrap(),
        11
    );
    engine.set_bypass(false);
    assert!(mem.read_obj::<u64>(GuestAddress(0x6000)).is_err());
    // A bypass domain behaves the same.
    engine.attach(EP, DomainId(2), true).unwrap();
    assert_eq!(mem.read_obj::<u64>(GuestAddress(0x6000)).unwrap(), 11);
    engine.reset();
    assert!(mem.read_obj::<u64>(GuestAddress(0x6000)).is_err());
}

#[test]
fn scattered_pages_are_stitched_together() {
    let (engine, mem) = setup();
    // Three IOVA-contiguous pages backed by out-of-order guest pages.
    engine
        .map_pages(D, 0x4000_0000, &[0x9000, 0x3000, 0xc000], Perms::RW)
        .unwrap();
    let data: Vec<u8> = (0..0x3000u32).map(|i| (i % 251) as u8).collect();
    mem.write_slice(&data, GuestAddress(0x4000_0000)).unwrap();
    for (i, gpa) in [0x9000u64, 0x3000, 0xc000].into_iter().enumerate() {
        let mut page = vec![0u8; 0x1000];
        mem.get_backend()
            .read_slice(&mut page, GuestAddress(gpa))
            .unwrap();
        assert_eq!(page, data[i * 0x1000..(i + 1) * 0x1000]);
    }
    let mut back = vec![0u8; 0x3000];
    mem.read_slice(&mut back, GuestAddress(0x4000_0000))
        .unwrap();
    assert_eq!(back, data);
}

#[test]
fn nested_accesses_do_not_deadlock() {
    let (_engine, mem) = setup();
    mem.write_obj(5u64, GuestAddress(RW_IOVA)).unwrap();
    // Keep a slice iterator (and with it the IOTLB read guard) alive.
    let mut held = mem
        .get_slices(GuestAddress(RW_IOVA), 8, Permissions::Read)
        .unwrap();
    // A nested access that hits works.
    assert_eq!(mem.read_obj::<u64>(GuestAddress(RW_IOVA)).unwrap(), 5);
    // A nested access that misses cannot refill while this thread holds the guard: it fails
    // after the refill timeout instead of waiting for itself forever.
    let start = std::time::Instant::now();
    assert!(mem.read_obj::<u32>(GuestAddress(RO_IOVA)).is_err());
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    assert!(held.next().is_some());
    drop(held);
    // Once the guard is gone the same access refills and succeeds.
    assert_eq!(mem.read_obj::<u32>(GuestAddress(RO_IOVA)).unwrap(), 0);
}

#[test]
fn unmap_is_visible_to_another_thread_at_once() {
    use std::sync::mpsc;
    use std::time::Duration;
    let (engine, mem) = setup();
    const X: u64 = 0x5000_0000;
    let timeout = Duration::from_secs(30);
    // Pages 0x20000 + i * 0x1000 hold marker i.
    for i in 0..4u64 {
        mem.get_backend()
            .write_obj(i, GuestAddress(0x2_0000 + i * 0x1000))
            .unwrap();
    }
    let (to_reader, from_main) = mpsc::channel::<u64>();
    let (to_main, from_reader) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let mem = &mem;
        s.spawn(move || {
            for r in 0..500u64 {
                assert_eq!(from_main.recv_timeout(timeout), Ok(r)); // mapped to page r % 4
                for _ in 0..3 {
                    assert_eq!(mem.read_obj::<u64>(GuestAddress(X)).unwrap(), r % 4);
                }
                to_main.send(()).unwrap();
                assert_eq!(from_main.recv_timeout(timeout), Ok(r)); // unmapped
                assert!(
                    mem.read_obj::<u64>(GuestAddress(X)).is_err(),
                    "round {r}: stale IOTLB"
                );
                to_main.send(()).unwrap();
            }
        });
        for r in 0..500u64 {
            let range = IovaRange::new(X, X + 0xfff);
            engine
                .map(D, range, 0x2_0000 + (r % 4) * 0x1000, Perms::READ)
                .unwrap();
            to_reader.send(r).unwrap();
            if from_reader.recv_timeout(timeout).is_err() {
                break;
            }
            engine.unmap(D, range).unwrap();
            to_reader.send(r).unwrap();
            if from_reader.recv_timeout(timeout).is_err() {
                break;
            }
        }
    });
}
