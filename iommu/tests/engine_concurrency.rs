//! Concurrency stress: threads translating while others map/unmap/attach/detach. Every
//! translation must have been valid at some point during the call, and a change must be visible
//! to every thread once the call that made it has returned (synchronous cache invalidation).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use iommu::{DomainId, EndpointId, Engine, EngineConfig, FaultReason, IovaRange, Perms};

const PAGE: u64 = 4096;
/// Longest a hand-shake waits before the test fails (instead of hanging).
const TIMEOUT: Duration = Duration::from_secs(30);
const WRITERS: u64 = 2;
const ROUNDS: u64 = 3000;
/// Physical address of writer `w`'s mapping in round `r`: unique per (writer, round).
fn paddr(w: u64, r: u64) -> u64 {
    (w << 44) | (r << 12)
}
fn decode(paddr: u64) -> (u64, u64) {
    (paddr >> 44, (paddr >> 12) & ((1 << 32) - 1))
}
/// Writer `w`'s IOVA page.
fn iova(w: u64) -> u64 {
    0x10_0000 + w * 0x20_0000
}

#[test]
fn translations_are_never_stale_under_map_unmap_churn() {
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let d = DomainId(1);
    for ep in 0..8 {
        engine.add_endpoint(EndpointId(ep)).unwrap();
        engine.attach(EndpointId(ep), d, false).unwrap();
    }
    // round[w] = the round writer w is in; it maps after publishing it, and publishes the next
    // only after its unmap returned.
    let rounds: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let done = Arc::new(AtomicBool::new(false));

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (engine, rounds) = (engine.clone(), rounds.clone());
            thread::spawn(move || {
                let ep = EndpointId(w as u32);
                let range = IovaRange::new(iova(w), iova(w) + PAGE - 1);
                for r in 1..=ROUNDS {
                    rounds[w as usize].store(r, Ordering::SeqCst);
                    engine.map(d, range, paddr(w, r), Perms::RW).unwrap();
                    for _ in 0..3 {
                        let t = engine.translate(ep, iova(w) + 8, 8, Perms::READ).unwrap();
                        assert_eq!(t[0].paddr, paddr(w, r) + 8);
                    }
                    assert_eq!(engine.unmap(d, range), Ok(1));
                    // The unmapping thread itself faults at once.
                    let f = engine
                        .translate(ep, iova(w) + 8, 8, Perms::READ)
                        .unwrap_err();
                    assert_eq!(f.reason, FaultReason::Unmapped);
                }
            })
        })
        .collect();

    let readers: Vec<_> = (0..2u64)
        .map(|i| {
            let (engine, rounds, done) = (engine.clone(), rounds.clone(), done.clone());
            thread::spawn(move || {
                let ep = EndpointId(4 + i as u32);
                let mut hits = 0u64;
                let mut n = 0u64;
                while !done.load(Ordering::SeqCst) || n < 1000 {
                    n += 1;
                    let w = n % WRITERS;
                    let before = rounds[w as usize].load(Ordering::SeqCst);
                    let result = engine.translate(ep, iova(w) + 0x100, 16, Perms::WRITE);
                    let after = rounds[w as usize].load(Ordering::SeqCst);
                    match result {
                        Ok(t) => {
                            assert_eq!(t.len(), 1);
                            let (tw, tr) = decode(t[0].paddr - 0x100);
                            assert_eq!(tw, w, "translation of another writer's page");
                            // Round `before - 1` was unmapped before `before` was published.
                            assert!(
                                before <= tr && tr <= after,
                                "stale: round {tr} not in {before}..={after}"
                            );
                            hits += 1;
                        }
                        Err(f) => assert_eq!(f.reason, FaultReason::Unmapped),
                    }
                }
                hits
            })
        })
        .collect();

    let writer_results: Vec<_> = writers.into_iter().map(|w| w.join()).collect();
    done.store(true, Ordering::SeqCst);
    let hits: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    for r in writer_results {
        r.unwrap();
    }
    assert!(hits > 0, "readers never saw a mapping");
    let s = engine.stats();
    assert_eq!((s.mappings, s.table_nodes), (0, 1));
}

#[test]
fn unmap_is_visible_to_a_synchronised_reader() {
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let d = DomainId(1);
    for ep in 0..2 {
        engine.add_endpoint(EndpointId(ep)).unwrap();
        engine.attach(EndpointId(ep), d, false).unwrap();
    }
    // Hand-shakes in both directions (a rendezvous like a barrier, but one that fails instead of
    // hanging when the other side has died).
    let (to_reader, from_main) = mpsc::channel::<u64>();
    let (to_main, from_reader) = mpsc::channel::<()>();
    let range = IovaRange::new(0x40_0000, 0x40_0fff);
    let reader = {
        let engine = engine.clone();
        thread::spawn(move || {
            for r in 1..=2000u64 {
                assert_eq!(from_main.recv_timeout(TIMEOUT), Ok(r)); // mapped
                for _ in 0..4 {
                    let t = engine
                        .translate(EndpointId(1), 0x40_0010, 4, Perms::READ)
                        .unwrap();
                    assert_eq!(t[0].paddr, (r << 12) | 0x10);
                }
                to_main.send(()).unwrap(); // the reader's cache is warm
                assert_eq!(from_main.recv_timeout(TIMEOUT), Ok(r)); // unmapped
                let f = engine
                    .translate(EndpointId(1), 0x40_0010, 4, Perms::READ)
                    .unwrap_err();
                assert_eq!(
                    f.reason,
                    FaultReason::Unmapped,
                    "round {r}: stale after unmap returned"
                );
                to_main.send(()).unwrap(); // checked
            }
        })
    };
    for r in 1..=2000u64 {
        engine.map(d, range, r << 12, Perms::READ).unwrap();
        to_reader.send(r).unwrap();
        if from_reader.recv_timeout(TIMEOUT).is_err() {
            break;
        }
        engine.unmap(d, range).unwrap();
        to_reader.send(r).unwrap();
        if from_reader.recv_timeout(TIMEOUT).is_err() {
            break;
        }
    }
    reader.join().unwrap();
}

#[test]
fn attach_and_detach_churn() {
    let engine = Arc::new(Engine::new(EngineConfig::default()));
    let (da, db) = (DomainId(10), DomainId(11));
    let (anchor_a, anchor_b, mover) = (EndpointId(100), EndpointId(101), EndpointId(102));
    for ep in [anchor_a, anchor_b, mover] {
        engine.add_endpoint(ep).unwrap();
    }
    // Anchors keep both domains (and their mappings) alive while the mover hops between them.
    engine.attach(anchor_a, da, false).unwrap();
    engine.attach(anchor_b, db, false).unwrap();
    let at = 0x7000_0000;
    let (pa, pb) = (0xaaa_0000_0000, 0xbbb_0000_0000);
    engine
        .map(da, IovaRange::new(at, at + PAGE - 1), pa, Perms::RW)
        .unwrap();
    engine
        .map(db, IovaRange::new(at, at + PAGE - 1), pb, Perms::READ)
        .unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let reader = {
        let (engine, done) = (engine.clone(), done.clone());
        thread::spawn(move || {
            let mut seen = [0u64; 3];
            while !done.load(Ordering::SeqCst) {
                match engine.translate(mover, at, 8, Perms::READ) {
                    Ok(t) if t[0].paddr == pa => seen[0] += 1,
                    Ok(t) if t[0].paddr == pb => seen[1] += 1,
                    Ok(t) => panic!("translation to {:#x}", t[0].paddr),
                    Err(f) => {
                        assert_eq!(f.reason, FaultReason::NotAttached);
                        seen[2] += 1;
                    }
                }
                // Writes are only allowed through domain A's mapping.
                if let Ok(t) = engine.translate(mover, at, 8, Perms::WRITE) {
                    assert_eq!(t[0].paddr, pa);
                }
            }
            seen
        })
    };
    let churn = {
        let engine = engine.clone();
        thread::spawn(move || {
            for _ in 0..3000 {
                engine.attach(mover, da, false).unwrap();
                assert_eq!(
                    engine.translate(mover, at, 8, Perms::WRITE).unwrap()[0].paddr,
                    pa
                );
                engine.attach(mover, db, false).unwrap();
                assert_eq!(
                    engine.translate(mover, at, 8, Perms::READ).unwrap()[0].paddr,
                    pb
                );
                assert_eq!(
                    engine
                        .translate(mover, at, 8, Perms::WRITE)
                        .unwrap_err()
                        .reason,
                    FaultReason::Permission
                );
                engine.detach(mover, db).unwrap();
                assert_eq!(
                    engine
                        .translate(mover, at, 8, Perms::READ)
                        .unwrap_err()
                        .reason,
                    FaultReason::NotAttached
                );
            }
        })
    };
    // Meanwhile a third domain is created and destroyed over and over, with mappings.
    let destroyer = {
        let engine = engine.clone();
        thread::spawn(move || {
            let ep = EndpointId(200);
            engine.add_endpoint(ep).unwrap();
            for i in 0..1000u64 {
                engine.attach(ep, DomainId(20), false).unwrap();
                engine
                    .map(
                        DomainId(20),
                        IovaRange::new(0, (1 << 30) - 1),
                        i << 30,
                        Perms::RW,
                    )
                    .unwrap();
                assert_eq!(
                    engine.translate(ep, 0x1234, 1, Perms::READ).unwrap()[0].paddr,
                    (i << 30) + 0x1234
                );
                engine.detach(ep, DomainId(20)).unwrap();
                assert_eq!(
                    engine
                        .translate(ep, 0x1234, 1, Perms::READ)
                        .unwrap_err()
                        .reason,
                    FaultReason::NotAttached
                );
            }
        })
    };
    let (churned, destroyed) = (churn.join(), destroyer.join());
    done.store(true, Ordering::SeqCst);
    let seen = reader.join().unwrap();
    churned.unwrap();
    destroyed.unwrap();
    assert!(seen.iter().sum::<u64>() > 0);
    let s = engine.stats();
    assert_eq!((s.domains, s.mappings), (2, 2));
}
