//! The translation core against the virtio-iommu specification (ATTACH, DETACH, MAP, UNMAP,
//! bypass, reset) and the engine contract (limits, alignment, input range, translate).

use iommu::{
    DomainId, EndpointId, Engine, EngineConfig, Error, Fault, FaultReason, IovaRange, Mapping,
    Perms, Segment,
};

const PAGE: u64 = 4096;
const EP: EndpointId = EndpointId(1);
const EP2: EndpointId = EndpointId(2);
const D: DomainId = DomainId(1);
const D2: DomainId = DomainId(2);

/// Spec example unit `n` = page `n`; `r(a, b)` = pages a..=b as an inclusive byte range.
fn r(a: u64, b: u64) -> IovaRange {
    IovaRange::new(a * PAGE, (b + 1) * PAGE - 1)
}

fn engine_with(config: EngineConfig) -> Engine {
    let e = Engine::new(config);
    for ep in [EP, EP2] {
        e.add_endpoint(ep).unwrap();
    }
    e
}

fn attached() -> Engine {
    let e = engine_with(EngineConfig::default());
    e.attach(EP, D, false).unwrap();
    e
}

fn fault(iova: u64, access: Perms, reason: FaultReason) -> Fault {
    Fault {
        endpoint: EP,
        iova,
        access,
        reason,
    }
}

fn ranges(e: &Engine, d: DomainId) -> Vec<IovaRange> {
    e.mappings(d).unwrap().iter().map(|m| m.range).collect()
}

// --- UNMAP: the seven examples of the specification (virtio 1.2, 5.13.6.6) ---------------------

#[test]
fn spec_unmap_1_nothing_mapped() {
    let e = attached();
    assert_eq!(e.unmap(D, r(0, 4)), Ok(0));
}

#[test]
fn spec_unmap_2_exact_mapping() {
    let e = attached();
    e.map(D, r(0, 9), 0, Perms::RW).unwrap();
    assert_eq!(e.unmap(D, r(0, 9)), Ok(1));
    assert!(ranges(&e, D).is_empty());
}

#[test]
fn spec_unmap_3_two_mappings() {
    let e = attached();
    e.map(D, r(0, 4), 0, Perms::RW).unwrap();
    e.map(D, r(5, 9), 0x10_0000, Perms::RW).unwrap();
    assert_eq!(e.unmap(D, r(0, 9)), Ok(2));
    assert!(ranges(&e, D).is_empty());
}

#[test]
fn spec_unmap_4_split_fails_and_removes_nothing() {
    let e = attached();
    e.map(D, r(0, 9), 0, Perms::RW).unwrap();
    assert_eq!(e.unmap(D, r(0, 4)), Err(Error::WouldSplit));
    assert_eq!(ranges(&e, D), vec![r(0, 9)]);
    assert!(e.translate(EP, 0, 10 * PAGE, Perms::RW).is_ok());
}

#[test]
fn spec_unmap_5_first_of_two() {
    let e = attached();
    e.map(D, r(0, 4), 0, Perms::RW).unwrap();
    e.map(D, r(5, 9), 0x10_0000, Perms::RW).unwrap();
    assert_eq!(e.unmap(D, r(0, 4)), Ok(1));
    assert_eq!(ranges(&e, D), vec![r(5, 9)]);
}

#[test]
fn spec_unmap_6_range_spills_over_unmapped_space() {
    let e = attached();
    e.map(D, r(0, 4), 0, Perms::RW).unwrap();
    assert_eq!(e.unmap(D, r(0, 9)), Ok(1));
    assert!(ranges(&e, D).is_empty());
}

#[test]
fn spec_unmap_7_two_mappings_with_a_hole() {
    let e = attached();
    e.map(D, r(0, 4), 0, Perms::RW).unwrap();
    e.map(D, r(10, 14), 0x10_0000, Perms::RW).unwrap();
    assert_eq!(e.unmap(D, r(0, 14)), Ok(2));
    assert!(ranges(&e, D).is_empty());
}

#[test]
fn unmap_split_at_the_end_is_detected_and_atomic() {
    let e = attached();
    e.map(D, r(0, 4), 0, Perms::RW).unwrap();
    e.map(D, r(5, 9), 0x10_0000, Perms::RW).unwrap();
    // Covers a completely but ends inside b: nothing removed, a included.
    assert_eq!(e.unmap(D, r(0, 7)), Err(Error::WouldSplit));
    // Starts inside a.
    assert_eq!(e.unmap(D, r(3, 9)), Err(Error::WouldSplit));
    // Unaligned boundaries inside a mapped page split it too.
    assert_eq!(
        e.unmap(D, IovaRange::new(1, 10 * PAGE - 1)),
        Err(Error::WouldSplit)
    );
    assert_eq!(
        e.unmap(D, IovaRange::new(0, 5 * PAGE - 2)),
        Err(Error::WouldSplit)
    );
    assert_eq!(ranges(&e, D), vec![r(0, 4), r(5, 9)]);
    // Unaligned boundaries in unmapped pages are fine.
    assert_eq!(e.unmap(D, IovaRange::new(5 * PAGE, 11 * PAGE + 17)), Ok(1));
    assert_eq!(e.stats().mappings, 1);
}

#[test]
fn unmap_inside_a_huge_block_splits() {
    let e = attached();
    // A 1 GiB aligned mapping is one level-2 block (plus surrounding pages).
    e.map(
        D,
        IovaRange::new(0x4000_0000 - PAGE, 0x8000_0000 + PAGE - 1),
        0,
        Perms::READ,
    )
    .unwrap();
    for (start, last) in [
        (0x4000_0000, 0x8000_0000 + PAGE - 1),
        (0x4000_0000 - PAGE, 0x7fff_ffff),
        (0x5000_0000, 0x5000_0fff),
    ] {
        assert_eq!(
            e.unmap(D, IovaRange::new(start, last)),
            Err(Error::WouldSplit)
        );
    }
    assert_eq!(e.unmap(D, IovaRange::new(0, u64::MAX)), Ok(1));
    assert_eq!(e.stats().table_nodes, 1);
}

#[test]
fn unmap_whole_space_of_adjacent_mappings_counts_each() {
    let e = attached();
    for i in 0..100 {
        e.map(D, r(i, i), i * PAGE, Perms::RW).unwrap();
    }
    // Adjacent and physically contiguous, but still 100 mappings (one per MAP).
    assert_eq!(e.mappings(D).unwrap().len(), 100);
    assert_eq!(e.unmap(D, r(10, 10)), Ok(1));
    assert_eq!(e.unmap(D, IovaRange::new(0, u64::MAX)), Ok(99));
}

// --- MAP ----------------------------------------------------------------------------------------

#[test]
fn map_rejects_overlap_anywhere() {
    let e = attached();
    e.map(D, r(10, 19), 0, Perms::RW).unwrap();
    for (a, b) in [(0, 10), (19, 30), (12, 13), (0, 100), (19, 19)] {
        assert_eq!(
            e.map(D, r(a, b), 0, Perms::RW),
            Err(Error::Overlap),
            "{a}..{b}"
        );
    }
    assert_eq!(
        e.map(D, IovaRange::new(0, u64::MAX), 0, Perms::RW),
        Err(Error::Overlap)
    );
    e.map(D, r(0, 9), 0, Perms::RW).unwrap();
    e.map(D, r(20, 20), 0, Perms::RW).unwrap();
    assert_eq!(e.stats().mappings, 3);
}

#[test]
fn map_alignment_and_ranges() {
    let e = engine_with(EngineConfig {
        input_range: IovaRange::new(0, (1 << 48) - 1),
        ..Default::default()
    });
    e.attach(EP, D, false).unwrap();
    assert_eq!(
        e.map(D, IovaRange::new(1, PAGE), 0, Perms::RW),
        Err(Error::Unaligned)
    );
    assert_eq!(
        e.map(D, IovaRange::new(0, PAGE), 0, Perms::RW),
        Err(Error::Unaligned)
    );
    assert_eq!(e.map(D, r(0, 0), 1, Perms::RW), Err(Error::Unaligned));
    assert_eq!(
        e.map(D, IovaRange::new(PAGE, 0), 0, Perms::RW),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        e.map(
            D,
            IovaRange::new(1 << 48, (1 << 48) + PAGE - 1),
            0,
            Perms::RW
        ),
        Err(Error::OutOfInputRange)
    );
    assert_eq!(
        e.map(D, IovaRange::new((1 << 48) - PAGE, 1 << 48), 0, Perms::RW),
        Err(Error::Unaligned)
    );
    assert_eq!(
        e.map(
            D,
            IovaRange::new((1 << 48) - PAGE, (1 << 48) + PAGE - 1),
            0,
            Perms::RW
        ),
        Err(Error::OutOfInputRange)
    );
    // paddr + len past 2^64.
    assert_eq!(
        e.map(D, r(0, 1), u64::MAX - PAGE + 1, Perms::RW),
        Err(Error::InvalidArgument)
    );
    e.map(D, r(0, 0), u64::MAX - PAGE + 1, Perms::RW).unwrap();
    assert_eq!(
        e.map(DomainId(9), r(5, 5), 0, Perms::RW),
        Err(Error::NoSuchDomain)
    );
    e.map(
        D,
        IovaRange::new((1 << 48) - PAGE, (1 << 48) - 1),
        0,
        Perms::RW,
    )
    .unwrap();
    let t = e.translate(EP, (1 << 48) - 1, 1, Perms::WRITE).unwrap();
    assert_eq!(
        &*t,
        &[Segment {
            iova: (1 << 48) - 1,
            paddr: PAGE - 1,
            len: 1
        }]
    );
}

#[test]
fn map_at_the_top_of_the_address_space() {
    let e = attached();
    let top = IovaRange::new(u64::MAX - 2 * PAGE + 1, u64::MAX);
    e.map(D, top, 0x8000, Perms::READ).unwrap();
    assert_eq!(
        e.mappings(D).unwrap(),
        vec![Mapping {
            range: top,
            paddr: 0x8000,
            perms: Perms::READ
        }]
    );
    let t = e.translate(EP, u64::MAX, 1, Perms::READ).unwrap();
    assert_eq!(
        &*t,
        &[Segment {
            iova: u64::MAX,
            paddr: 0x9fff,
            len: 1
        }]
    );
    // A DMA wrapping past 2^64 faults at the wrapped address.
    assert_eq!(
        e.translate(EP, u64::MAX, 2, Perms::READ),
        Err(fault(0, Perms::READ, FaultReason::Unmapped))
    );
    assert_eq!(
        e.translate(EP, u64::MAX - 10, u64::MAX, Perms::READ),
        Err(fault(0, Perms::READ, FaultReason::Unmapped))
    );
    assert_eq!(
        e.unmap(D, IovaRange::new(u64::MAX - PAGE + 1, u64::MAX)),
        Err(Error::WouldSplit)
    );
    assert_eq!(
        e.unmap(D, IovaRange::new(u64::MAX - 2 * PAGE + 1, u64::MAX)),
        Ok(1)
    );
}

#[test]
fn map_the_whole_address_space() {
    let e = attached();
    e.map(D, IovaRange::new(0, u64::MAX), 0, Perms::RW).unwrap();
    let s = e.stats();
    assert_eq!(s.mappings, 1);
    assert_eq!(s.mapped_bytes, 1 << 64);
    assert_eq!(
        s.table_nodes, 1,
        "128 top-level blocks, no node below the root"
    );
    let t = e
        .translate(EP, 0x1234_5678_9abc, 1 << 40, Perms::RW)
        .unwrap();
    assert_eq!(
        &*t,
        &[Segment {
            iova: 0x1234_5678_9abc,
            paddr: 0x1234_5678_9abc,
            len: 1 << 40
        }]
    );
    // Crossing the boundary of two top-level blocks still merges into one segment.
    let t = e.translate(EP, (1 << 57) - 8, 16, Perms::RW).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(
        e.unmap(D, IovaRange::new(PAGE, u64::MAX)),
        Err(Error::WouldSplit)
    );
    assert_eq!(e.unmap(D, IovaRange::new(0, u64::MAX)), Ok(1));
    assert_eq!(e.stats().mapped_bytes, 0);
}

#[test]
fn map_and_unmap_on_bypass_domains_are_rejected() {
    let e = engine_with(EngineConfig::default());
    e.attach(EP, D, true).unwrap();
    assert_eq!(e.map(D, r(0, 0), 0, Perms::RW), Err(Error::InvalidArgument));
    assert_eq!(e.unmap(D, r(0, 0)), Err(Error::InvalidArgument));
    assert_eq!(e.unmap(D2, r(0, 0)), Err(Error::NoSuchDomain));
    assert_eq!(
        e.unmap(D, IovaRange::new(5, 4)),
        Err(Error::InvalidArgument)
    );
    assert!(e.mappings(D).unwrap().is_empty());
}

// --- ATTACH / DETACH ----------------------------------------------------------------------------

#[test]
fn attach_errors() {
    let e = engine_with(EngineConfig {
        domain_range: (1, 10),
        ..Default::default()
    });
    assert_eq!(
        e.attach(EndpointId(99), D, false),
        Err(Error::NoSuchEndpoint)
    );
    assert_eq!(
        e.attach(EP, DomainId(0), false),
        Err(Error::DomainOutOfRange)
    );
    assert_eq!(
        e.attach(EP, DomainId(11), false),
        Err(Error::DomainOutOfRange)
    );
    e.attach(EP, D, false).unwrap();
    assert_eq!(e.attach(EP2, D, true), Err(Error::InvalidArgument));
    e.attach(EP2, D, false).unwrap();
    // Re-attaching to the same domain is a no-op.
    e.attach(EP, D, false).unwrap();
    assert_eq!(e.stats().attached_endpoints, 2);
    assert!(e.has_endpoint(EP) && !e.has_endpoint(EndpointId(99)));
}

#[test]
fn attach_moves_and_destroys_the_left_domain() {
    let e = attached();
    e.map(D, r(0, 3), 0x10_0000, Perms::RW).unwrap();
    e.attach(EP, D2, false).unwrap();
    assert_eq!(e.endpoint_domain(EP), Some(D2));
    assert_eq!(e.mappings(D), Err(Error::NoSuchDomain));
    let s = e.stats();
    assert_eq!(
        (s.domains, s.mappings, s.mapped_bytes, s.table_nodes),
        (1, 0, 0, 1)
    );
    assert_eq!(
        e.translate(EP, 0, 1, Perms::READ),
        Err(fault(0, Perms::READ, FaultReason::Unmapped))
    );
    // The old ID can be reused and starts empty.
    e.attach(EP2, D, false).unwrap();
    assert!(e.mappings(D).unwrap().is_empty());
}

#[test]
fn domain_lives_while_any_endpoint_is_attached() {
    let e = attached();
    e.attach(EP2, D, false).unwrap();
    e.map(D, r(0, 0), 0x5000, Perms::READ).unwrap();
    e.detach(EP, D).unwrap();
    assert_eq!(e.endpoint_domain(EP), None);
    assert_eq!(e.mappings(D).unwrap().len(), 1);
    assert_eq!(
        e.translate(EP, 0, 1, Perms::READ),
        Err(fault(0, Perms::READ, FaultReason::NotAttached))
    );
    let t = e.translate(EP2, 0x10, 4, Perms::READ).unwrap();
    assert_eq!(t[0].paddr, 0x5010);
    e.attach(EP2, D2, false).unwrap();
    assert_eq!(e.mappings(D), Err(Error::NoSuchDomain));
    assert_eq!(e.stats().domains, 1);
}

#[test]
fn detach_errors_and_destruction() {
    let e = attached();
    assert_eq!(e.detach(EndpointId(99), D), Err(Error::NoSuchEndpoint));
    assert_eq!(e.detach(EP, D2), Err(Error::NoSuchDomain));
    e.attach(EP2, D2, false).unwrap();
    assert_eq!(e.detach(EP, D2), Err(Error::InvalidArgument));
    e.map(D, r(0, 0), 0, Perms::RW).unwrap();
    e.detach(EP, D).unwrap();
    assert_eq!(e.detach(EP, D), Err(Error::NoSuchDomain));
    assert_eq!(e.stats().mappings, 0);
    assert_eq!(e.stats().domains, 1);
}

#[test]
fn domain_limit_counts_the_domain_a_move_destroys() {
    let e = engine_with(EngineConfig {
        max_domains: 1,
        ..Default::default()
    });
    e.attach(EP, D, false).unwrap();
    assert_eq!(e.attach(EP2, D2, false), Err(Error::NoMemory));
    // Moving the only endpoint destroys D, so D2 fits.
    e.attach(EP, D2, false).unwrap();
    assert_eq!(e.stats().domains, 1);
    e.attach(EP2, D2, false).unwrap();
    assert_eq!(e.attach(EP, D, false), Err(Error::NoMemory));
    assert_eq!(
        e.endpoint_domain(EP),
        Some(D2),
        "a failed attach changes nothing"
    );
}

#[test]
fn mapping_limit() {
    let e = engine_with(EngineConfig {
        max_mappings: 3,
        ..Default::default()
    });
    e.attach(EP, D, false).unwrap();
    e.attach(EP2, D2, false).unwrap();
    e.map(D, r(0, 0), 0, Perms::RW).unwrap();
    e.map(D, r(1, 1), 0, Perms::RW).unwrap();
    e.map(D2, r(0, 0), 0, Perms::RW).unwrap();
    assert_eq!(e.map(D2, r(1, 1), 0, Perms::RW), Err(Error::NoMemory));
    assert_eq!(e.map_pages(D2, PAGE, &[0], Perms::RW), Err(Error::NoMemory));
    e.unmap(D, r(0, 0)).unwrap();
    e.map(D2, r(1, 1), 0, Perms::RW).unwrap();
}

#[test]
fn node_budget_bounds_sparse_mappings() {
    let e = attached();
    let budget = e.node_budget();
    let mut mapped = 0u64;
    // Each mapping 2^39 bytes apart needs its own chain of nodes.
    let err = loop {
        match e.map(D, r(mapped << 27, mapped << 27), 0, Perms::RW) {
            Ok(()) => mapped += 1,
            Err(err) => break err,
        }
        assert!(mapped < 1_000_000);
    };
    assert_eq!(err, Error::NoMemory);
    let s = e.stats();
    assert!(s.table_nodes - 1 <= budget, "{} > {budget}", s.table_nodes);
    assert!(
        mapped as usize >= budget / 4,
        "budget {budget}, only {mapped} mapped"
    );
    e.unmap(D, IovaRange::new(0, u64::MAX)).unwrap();
    assert_eq!(e.stats().table_nodes, 1);
}

// --- bypass -------------------------------------------------------------------------------------

#[test]
fn bypass_domain_is_identity_with_all_permissions() {
    let e = engine_with(EngineConfig::default());
    e.attach(EP, D, true).unwrap();
    assert_eq!(e.domain_is_bypass(D), Some(true));
    let t = e.translate(EP, 0xdead_b000, 0x3000, Perms::ALL).unwrap();
    assert_eq!(
        &*t,
        &[Segment {
            iova: 0xdead_b000,
            paddr: 0xdead_b000,
            len: 0x3000
        }]
    );
    assert_eq!(
        e.translate(EP, u64::MAX, 1, Perms::WRITE).unwrap()[0].paddr,
        u64::MAX
    );
    assert_eq!(
        e.translate(EP, u64::MAX, 2, Perms::WRITE),
        Err(fault(0, Perms::WRITE, FaultReason::Unmapped))
    );
    // Leaving the bypass domain for a translated one ends the identity at once.
    e.attach(EP, D2, false).unwrap();
    assert_eq!(
        e.translate(EP, 0xdead_b000, 1, Perms::READ),
        Err(fault(0xdead_b000, Perms::READ, FaultReason::Unmapped))
    );
}

#[test]
fn global_bypass_applies_to_unattached_registered_endpoints_only() {
    let e = engine_with(EngineConfig {
        bypass: true,
        ..Default::default()
    });
    assert!(e.bypass());
    assert_eq!(
        e.translate(EP, 0x1000, 8, Perms::READ).unwrap()[0].paddr,
        0x1000
    );
    assert_eq!(
        e.translate(EndpointId(77), 0x1000, 8, Perms::READ)
            .unwrap_err()
            .reason,
        FaultReason::NotAttached,
        "an unregistered endpoint is never bypassed"
    );
    e.attach(EP, D, false).unwrap();
    assert_eq!(
        e.translate(EP, 0x1000, 8, Perms::READ).unwrap_err().reason,
        FaultReason::Unmapped
    );
    e.detach(EP, D).unwrap();
    assert_eq!(
        e.translate(EP, 0x1000, 8, Perms::READ).unwrap()[0].paddr,
        0x1000
    );
    e.set_bypass(false);
    assert_eq!(
        e.translate(EP, 0x1000, 8, Perms::READ),
        Err(fault(0x1000, Perms::READ, FaultReason::NotAttached))
    );
}

#[test]
fn reset_keeps_bypass_and_endpoints() {
    let e = engine_with(EngineConfig::default());
    e.set_bypass(true);
    e.attach(EP, D, false).unwrap();
    e.attach(EP2, D2, true).unwrap();
    e.map(D, r(0, 9), 0, Perms::RW).unwrap();
    e.reset();
    assert!(e.bypass());
    let s = e.stats();
    assert_eq!(
        (
            s.endpoints,
            s.attached_endpoints,
            s.domains,
            s.mappings,
            s.table_nodes
        ),
        (2, 0, 0, 0, 0)
    );
    assert_eq!(
        e.translate(EP, 0x10, 1, Perms::READ).unwrap()[0].paddr,
        0x10
    );
    e.set_bypass(false);
    e.reset();
    assert!(!e.bypass());
    assert_eq!(
        e.translate(EP, 0x10, 1, Perms::READ).unwrap_err().reason,
        FaultReason::NotAttached
    );
    e.attach(EP, D, false).unwrap();
}

// --- translate ----------------------------------------------------------------------------------

#[test]
fn translate_merges_physically_contiguous_neighbours() {
    let e = attached();
    // Three mappings: two physically contiguous, then a jump.
    e.map(D, r(0, 1), 0x10_0000, Perms::RW).unwrap();
    e.map(D, r(2, 2), 0x10_2000, Perms::READ).unwrap();
    e.map(D, r(3, 3), 0x50_0000, Perms::RW).unwrap();
    let t = e.translate(EP, 0x800, 3 * PAGE, Perms::READ).unwrap();
    assert_eq!(
        &*t,
        &[
            Segment {
                iova: 0x800,
                paddr: 0x10_0800,
                len: 3 * PAGE - 0x800
            },
            Segment {
                iova: 3 * PAGE,
                paddr: 0x50_0000,
                len: 0x800
            },
        ]
    );
    assert_eq!(t.total_len(), u128::from(3 * PAGE));
    // Write faults at the first byte of the read-only page.
    assert_eq!(
        e.translate(EP, 0x800, 3 * PAGE, Perms::WRITE),
        Err(fault(2 * PAGE, Perms::WRITE, FaultReason::Permission))
    );
    // Running off the end faults at the first unmapped byte.
    assert_eq!(
        e.translate(EP, 3 * PAGE, PAGE + 1, Perms::READ),
        Err(fault(4 * PAGE, Perms::READ, FaultReason::Unmapped))
    );
    assert_eq!(e.translate(EP, 0, 0, Perms::ALL).map(|t| t.len()), Ok(0));
}

#[test]
fn translate_permissions() {
    let e = attached();
    e.map(D, r(0, 0), 0, Perms::READ).unwrap();
    e.map(D, r(1, 1), PAGE, Perms::WRITE).unwrap();
    e.map(D, r(2, 2), 2 * PAGE, Perms::NONE).unwrap();
    e.map(D, r(3, 3), 3 * PAGE, Perms::READ | Perms::EXEC)
        .unwrap();
    assert!(e.translate(EP, 0, 1, Perms::READ).is_ok());
    assert_eq!(
        e.translate(EP, 0, 1, Perms::WRITE).unwrap_err().reason,
        FaultReason::Permission
    );
    assert!(e.translate(EP, PAGE, 1, Perms::WRITE).is_ok());
    assert_eq!(
        e.translate(EP, PAGE, 1, Perms::READ).unwrap_err().reason,
        FaultReason::Permission
    );
    assert_eq!(
        e.translate(EP, 2 * PAGE, 1, Perms::READ)
            .unwrap_err()
            .reason,
        FaultReason::Permission
    );
    assert!(e.translate(EP, 2 * PAGE, 1, Perms::NONE).is_ok());
    assert!(e.translate(EP, 3 * PAGE, 1, Perms::EXEC).is_ok());
    assert!(e.translate(EP, 0, 1, Perms::EXEC).is_err());
    assert_eq!(
        e.translate(EP, 4 * PAGE, 1, Perms::NONE)
            .unwrap_err()
            .reason,
        FaultReason::Unmapped
    );
}

#[test]
fn cached_translations_die_with_unmap_detach_attach_bypass_and_reset() {
    let e = attached();
    let warm = |e: &Engine| {
        for _ in 0..3 {
            e.translate(EP, 0x10, 8, Perms::READ).unwrap();
        }
    };
    e.map(D, r(0, 0), 0x7000, Perms::RW).unwrap();
    warm(&e);
    assert!(e.stats().cache_hits >= 2);
    e.unmap(D, r(0, 0)).unwrap();
    assert_eq!(
        e.translate(EP, 0x10, 8, Perms::READ).unwrap_err().reason,
        FaultReason::Unmapped
    );

    e.map(D, r(0, 0), 0x7000, Perms::RW).unwrap();
    warm(&e);
    e.detach(EP, D).unwrap();
    assert_eq!(
        e.translate(EP, 0x10, 8, Perms::READ).unwrap_err().reason,
        FaultReason::NotAttached
    );

    e.attach(EP, D, false).unwrap();
    e.map(D, r(0, 0), 0x7000, Perms::RW).unwrap();
    warm(&e);
    e.attach(EP, D2, false).unwrap();
    assert_eq!(
        e.translate(EP, 0x10, 8, Perms::READ).unwrap_err().reason,
        FaultReason::Unmapped
    );

    e.detach(EP, D2).unwrap();
    e.set_bypass(true);
    warm(&e);
    e.set_bypass(false);
    assert_eq!(
        e.translate(EP, 0x10, 8, Perms::READ).unwrap_err().reason,
        FaultReason::NotAttached
    );

    e.attach(EP, D, false).unwrap();
    e.map(D, r(0, 0), 0x7000, Perms::RW).unwrap();
    warm(&e);
    e.reset();
    assert_eq!(
        e.translate(EP, 0x10, 8, Perms::READ).unwrap_err().reason,
        FaultReason::NotAttached
    );
}

#[test]
fn cache_never_mixes_engines_or_endpoints() {
    let a = attached();
    let b = attached();
    a.map(D, r(0, 0), 0x1000, Perms::RW).unwrap();
    b.map(D, r(0, 0), 0x2000, Perms::RW).unwrap();
    a.attach(EP2, D2, false).unwrap();
    a.map(D2, r(0, 0), 0x3000, Perms::READ).unwrap();
    for _ in 0..3 {
        assert_eq!(a.translate(EP, 0, 1, Perms::READ).unwrap()[0].paddr, 0x1000);
        assert_eq!(b.translate(EP, 0, 1, Perms::READ).unwrap()[0].paddr, 0x2000);
        assert_eq!(
            a.translate(EP2, 0, 1, Perms::READ).unwrap()[0].paddr,
            0x3000
        );
        assert_eq!(
            a.translate(EP2, 0, 1, Perms::WRITE).unwrap_err().reason,
            FaultReason::Permission
        );
    }
}

#[test]
fn stats_count_translations_hits_and_faults() {
    let e = attached();
    e.map(D, r(0, 0), 0, Perms::READ).unwrap();
    let before = e.stats();
    for _ in 0..10 {
        e.translate(EP, 0, 16, Perms::READ).unwrap();
    }
    e.translate(EP, PAGE, 16, Perms::READ).unwrap_err();
    let after = e.stats();
    assert_eq!(after.translations - before.translations, 11);
    assert_eq!(after.cache_hits - before.cache_hits, 9);
    assert_eq!(after.faults - before.faults, 1);
}

#[test]
fn granule_64k() {
    let e = engine_with(EngineConfig {
        granule: 1 << 16,
        ..Default::default()
    });
    e.attach(EP, D, false).unwrap();
    assert_eq!(
        e.map(D, IovaRange::new(0, PAGE - 1), 0, Perms::RW),
        Err(Error::Unaligned)
    );
    e.map(
        D,
        IovaRange::new(1 << 16, (3 << 16) - 1),
        1 << 20,
        Perms::RW,
    )
    .unwrap();
    let t = e.translate(EP, (2 << 16) - 8, 16, Perms::RW).unwrap();
    assert_eq!(
        &*t,
        &[Segment {
            iova: (2 << 16) - 8,
            paddr: (1 << 20) + (1 << 16) - 8,
            len: 16
        }]
    );
    assert_eq!(
        e.unmap(D, IovaRange::new(1 << 16, (2 << 16) - 1)),
        Err(Error::WouldSplit)
    );
    assert_eq!(e.unmap(D, IovaRange::new(0, u64::MAX)), Ok(1));
}
