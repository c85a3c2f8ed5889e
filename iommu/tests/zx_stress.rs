//! Concurrency stress (issue 2 §4; Zircon's Bti.DecommitRace and Bti.NoDelayedUnpin): threads
//! pinning and unpinning while others decommit, translate and map/unmap. No wrong result, no
//! deadlock: every test runs under a watchdog that fails the whole test binary after 60 s.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use iommu::zx::*;
use iommu::{DomainId, EndpointId, Engine, EngineConfig, FaultReason, IovaRange, Perms};

const WATCHDOG: Duration = Duration::from_secs(60);

/// Runs `f`; if it has not returned after [`WATCHDOG`], prints `name` and exits the process with
/// a failure (a deadlock cannot be unwound, so the binary is stopped).
fn with_watchdog<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let (done, wait) = mpsc::channel::<()>();
    let label = name.to_string();
    let dog = std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(WATCHDOG) {
            eprintln!("watchdog: {label} did not finish within {WATCHDOG:?} (deadlock?)");
            std::process::exit(101);
        }
    });
    let r = f();
    let _ = done.send(());
    let _ = dog.join();
    r
}

/// Joins the workers, then tells the background threads to stop (also when a worker panicked, so
/// the scope can end), then propagates the first worker panic.
fn join_then_stop<T>(workers: Vec<std::thread::ScopedJoinHandle<'_, T>>, running: &AtomicBool) {
    let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
    running.store(false, Ordering::Relaxed);
    for r in results {
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
    }
}

// Bti.DecommitRace: one thread decommits the whole VMO in a loop while others pin + unpin it.
// Every pin succeeds; while a PMT is held its pages keep their content and their physical
// addresses (a decommit cannot take them away); decommit only ever says OK or BAD_STATE.
#[test]
fn decommit_race() {
    with_watchdog("decommit_race", || {
        let k = kernel();
        let bti = dummy_bti(&k);
        let pages = 64u64;
        let v = vmo(&k, pages * PAGE);
        let running = AtomicBool::new(true);
        let decommits = AtomicU64::new(0);
        let refused = AtomicU64::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                while running.load(Ordering::Relaxed) {
                    match k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, 0, pages * PAGE) {
                        Ok(()) => decommits.fetch_add(1, Ordering::Relaxed),
                        Err(ZX_ERR_BAD_STATE) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(s) => panic!("decommit returned {s}"),
                    };
                }
            });
            let pinners: Vec<_> = (0..2u8)
                .map(|t| {
                    let k = &k;
                    s.spawn(move || {
                        for i in 0..1500u32 {
                            let (pmt, addrs) = pin_pages(
                                k,
                                bti,
                                ZX_BTI_PERM_READ | ZX_BTI_PERM_WRITE,
                                v,
                                0,
                                pages,
                            )
                            .unwrap_or_else(|s| panic!("thread {t} iteration {i}: pin failed {s}"));
                            // Content written now survives concurrent decommits while pinned.
                            let marker = [t, (i & 0xff) as u8];
                            let off = (i as u64 % pages) * PAGE + 16 * t as u64;
                            k.vmo_write(v, &marker, off).unwrap();
                            let (pmt2, addrs2) =
                                pin_pages(k, bti, ZX_BTI_PERM_READ, v, 0, pages).unwrap();
                            assert_eq!(addrs, addrs2, "pinned pages moved");
                            let mut back = [0u8; 2];
                            k.vmo_read(v, &mut back, off).unwrap();
                            assert_eq!(back, marker, "pinned page lost its content");
                            k.pmt_unpin(pmt2).unwrap();
                            k.pmt_unpin(pmt).unwrap();
                        }
                    })
                })
                .collect();
            join_then_stop(pinners, &running);
        });
        assert_eq!(bti_counts(&k, bti), (0, 0));
        assert_eq!(
            k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, 0, pages * PAGE),
            Ok(())
        );
        eprintln!(
            "decommit_race: {} decommits succeeded, {} refused (pinned)",
            decommits.load(Ordering::Relaxed),
            refused.load(Ordering::Relaxed)
        );
    });
}

// Bti.NoDelayedUnpin, several threads at once: after pmt_unpin returns, a snapshot of the VMO can
// be created immediately (the unpin is synchronous), while other threads keep the kernel busy with
// info queries, writes and quarantine cycles on other BTIs.
#[test]
fn no_delayed_unpin_concurrent() {
    with_watchdog("no_delayed_unpin_concurrent", || {
        let k = kernel();
        let running = AtomicBool::new(true);
        std::thread::scope(|s| {
            // Background: quarantine + release cycles on its own BTI and VMO.
            s.spawn(|| {
                let bti = dummy_bti(&k);
                let v = vmo(&k, 8 * PAGE);
                while running.load(Ordering::Relaxed) {
                    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 8).unwrap();
                    k.handle_close(pmt).unwrap();
                    assert_eq!(
                        pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).map(|_| ()),
                        Err(ZX_ERR_BAD_STATE)
                    );
                    k.bti_release_quarantine(bti).unwrap();
                    assert_eq!(bti_counts(&k, bti), (0, 0));
                }
            });
            // Background: info queries and large writes.
            s.spawn(|| {
                let big = vmo(&k, 128 * PAGE);
                let buf = vec![7u8; (128 * PAGE) as usize];
                let mut info = [0u8; INFO_VMO_BYTES];
                while running.load(Ordering::Relaxed) {
                    k.vmo_write(big, &buf, 0).unwrap();
                    k.object_get_info(big, ZX_INFO_VMO, &mut info).unwrap();
                }
            });
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let k = &k;
                    s.spawn(move || {
                        let bti = dummy_bti(k);
                        let v = vmo(k, 4 * PAGE);
                        for i in 0..3000 {
                            let (pmt, _) = pin_pages(k, bti, ZX_BTI_PERM_READ, v, 0, 4).unwrap();
                            k.pmt_unpin(pmt).unwrap();
                            let c = k
                                .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PAGE)
                                .unwrap_or_else(|s| {
                                    panic!("iteration {i}: snapshot after unpin: {s}")
                                });
                            k.handle_close(c).unwrap();
                        }
                    })
                })
                .collect();
            join_then_stop(workers, &running);
        });
    });
}

// Pin counts under contention: several threads pin and unpin the same page through different
// BTIs; the count never exceeds 31 (UNAVAILABLE is the only refusal) and returns to 0.
#[test]
fn concurrent_pins_of_one_page() {
    with_watchdog("concurrent_pins_of_one_page", || {
        let k = kernel();
        let v = vmo(&k, PAGE);
        let unavailable = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let bti = dummy_bti(&k);
                    let mut held = Vec::new();
                    for i in 0..4000u32 {
                        if i % 3 == 2 || held.len() >= 12 {
                            if let Some(p) = held.pop() {
                                k.pmt_unpin(p).unwrap();
                            }
                        } else {
                            match pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1) {
                                Ok((p, _)) => held.push(p),
                                Err(ZX_ERR_UNAVAILABLE) => {
                                    unavailable.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(s) => panic!("pin: {s}"),
                            }
                        }
                    }
                    for p in held {
                        k.pmt_unpin(p).unwrap();
                    }
                });
            }
        });
        // All released: exactly 31 pins fit again.
        let bti = dummy_bti(&k);
        let pmts: Vec<_> = (0..31)
            .map(|_| pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap().0)
            .collect();
        assert_eq!(
            pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).map(|_| ()),
            Err(ZX_ERR_UNAVAILABLE)
        );
        for p in pmts {
            k.pmt_unpin(p).unwrap();
        }
        assert_eq!(k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, 0, PAGE), Ok(()));
    });
}

// Engine: mappers map and unmap fixed IOVA -> paddr pairs while translators hammer the same
// IOVAs. A translation is either exactly the one paddr ever mapped there or an Unmapped fault;
// right after unmap returns, the unmapping thread's own translate faults (synchronous
// invalidation); right after map returns, it succeeds.
#[test]
fn translate_during_map_unmap() {
    with_watchdog("translate_during_map_unmap", || {
        let engine = Engine::new(EngineConfig::default());
        let dom = DomainId(7);
        let eps: Vec<_> = (0..4).map(|i| EndpointId(100 + i)).collect();
        for ep in &eps {
            engine.add_endpoint(*ep).unwrap();
            engine.attach(*ep, dom, false).unwrap();
        }
        let slots = 16u64;
        let paddr_of = |slot: u64| 0x2_0000_0000 + slot * 0x10_0000;
        let iova_of = |slot: u64| 0x1000_0000 + slot * 2 * PAGE;
        let running = AtomicBool::new(true);
        let seen_ok = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 2..4usize {
                let (engine, eps, running, seen_ok) = (&engine, &eps, &running, &seen_ok);
                s.spawn(move || {
                    let mut i = 0u64;
                    while running.load(Ordering::Relaxed) {
                        let slot = i % slots;
                        let off = (i * 64) % (2 * PAGE - 64);
                        match engine.translate(eps[t], iova_of(slot) + off, 64, Perms::READ) {
                            Ok(tr) => {
                                let total: u64 = tr.iter().map(|s| s.len).sum();
                                assert_eq!(total, 64);
                                assert_eq!(tr[0].iova, iova_of(slot) + off);
                                assert_eq!(tr[0].paddr, paddr_of(slot) + off, "wrong translation");
                                seen_ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(f) => assert_eq!(f.reason, FaultReason::Unmapped, "{f:?}"),
                        }
                        i += 1;
                    }
                });
            }
            let mappers: Vec<_> = (0..2u64)
                .map(|m| {
                    let (engine, eps) = (&engine, &eps);
                    s.spawn(move || {
                        for i in 0..20_000u64 {
                            let slot = (i * 2 + m) % slots;
                            let range = IovaRange {
                                start: iova_of(slot),
                                last: iova_of(slot) + 2 * PAGE - 1,
                            };
                            engine.map(dom, range, paddr_of(slot), Perms::RW).unwrap();
                            let t = engine
                                .translate(eps[m as usize], iova_of(slot) + 8, 16, Perms::WRITE)
                                .unwrap();
                            assert_eq!(t[0].paddr, paddr_of(slot) + 8);
                            assert_eq!(engine.unmap(dom, range), Ok(1));
                            let f = engine
                                .translate(eps[m as usize], iova_of(slot) + 8, 16, Perms::READ)
                                .unwrap_err();
                            assert_eq!(f.reason, FaultReason::Unmapped);
                        }
                    })
                })
                .collect();
            join_then_stop(mappers, &running);
        });
        let _ = seen_ok.load(Ordering::Relaxed);
        assert_eq!(engine.stats().mappings, 0);
    });
}

// Translating IOMMU under contention: pinners pin and unpin through a translating BTI while
// decommitters hit the same VMO, translators DMA at every IOVA ever handed out, and a mapper
// maps/unmaps an explicit domain in the same engine. A DMA succeeds only onto the VMO's own pages
// (learned through a dummy-IOMMU pin that holds them for the whole test); a pinner's own DMA
// succeeds right after its pin and faults right after its unpin.
#[test]
fn translating_pins_under_translation_decommit_and_map() {
    with_watchdog(
        "translating_pins_under_translation_decommit_and_map",
        || {
            let k = kernel();
            let iommu = translating_iommu(&k, PAGE, u64::MAX);
            let pages = 16u64;
            let v = vmo(&k, pages * PAGE);
            // Hold the first half pinned through the dummy IOMMU so its physical pages are known and
            // stay put; the second half is free for the decommitter to churn.
            let dummy = dummy_bti(&k);
            let (hold, phys) = pin_pages(&k, dummy, ZX_BTI_PERM_READ, v, 0, pages / 2).unwrap();
            let engine = k.engine(iommu).unwrap();
            let running = AtomicBool::new(true);
            let seen = parking_lot::Mutex::new(Vec::<u64>::new());
            // Workers still holding their BTI (its IOVA space stays attached while any is alive).
            let live_btis = AtomicU64::new(2);
            std::thread::scope(|s| {
                s.spawn(|| {
                    while running.load(Ordering::Relaxed) {
                        match k.vmo_op_range(
                            v,
                            ZX_VMO_OP_DECOMMIT,
                            (pages / 2) * PAGE,
                            (pages / 2) * PAGE,
                        ) {
                            Ok(()) | Err(ZX_ERR_BAD_STATE) => {}
                            Err(s) => panic!("decommit: {s}"),
                        }
                        // The dummy-held half never decommits.
                        assert_eq!(
                            k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, 0, PAGE),
                            Err(ZX_ERR_BAD_STATE)
                        );
                    }
                });
                s.spawn(|| {
                    let mut i = 0usize;
                    while running.load(Ordering::Relaxed) {
                        let iova = {
                            let seen = seen.lock();
                            if seen.is_empty() {
                                None
                            } else {
                                Some(seen[i % seen.len()])
                            }
                        };
                        if let Some(iova) = iova {
                            match engine.translate(EndpointId(1), iova, 8, Perms::READ) {
                                Ok(t) => {
                                    let pa = t[0].paddr;
                                    assert!(phys.contains(&pa), "DMA at {iova:#x} reached {pa:#x}");
                                }
                                Err(f) if f.reason == FaultReason::NotAttached => assert_eq!(
                                    live_btis.load(Ordering::SeqCst),
                                    0,
                                    "space detached while a BTI is alive"
                                ),
                                Err(f) => assert_eq!(f.reason, FaultReason::Unmapped, "{f:?}"),
                            }
                            // Another bus id never reaches these IOVAs.
                            let f = engine
                                .translate(EndpointId(2), iova, 8, Perms::READ)
                                .unwrap_err();
                            assert_eq!(f.reason, FaultReason::NotAttached);
                        }
                        i += 1;
                    }
                });
                s.spawn(|| {
                    let ep = EndpointId(0x7000);
                    let dom = DomainId(0x7000);
                    engine.add_endpoint(ep).unwrap();
                    engine.attach(ep, dom, false).unwrap();
                    let range = IovaRange {
                        start: 0x10_0000,
                        last: 0x10_0000 + 4 * PAGE - 1,
                    };
                    while running.load(Ordering::Relaxed) {
                        engine.map(dom, range, 0x5_0000_0000, Perms::RW).unwrap();
                        assert_eq!(
                            engine.translate(ep, 0x10_0008, 8, Perms::READ).unwrap()[0].paddr,
                            0x5_0000_0008
                        );
                        assert_eq!(engine.unmap(dom, range), Ok(1));
                    }
                    engine.detach(ep, dom).unwrap();
                });
                let workers: Vec<_> = (0..2u64)
                    .map(|w| {
                        let (k, seen, phys, live_btis) = (&k, &seen, &phys, &live_btis);
                        s.spawn(move || {
                            let bti = k.bti_create(iommu, 0, 1).unwrap();
                            let (engine, ep) = k.bti_endpoint(bti).unwrap();
                            for i in 0..1500u64 {
                                let first = (i + w) % (pages / 2 - 2);
                                let (pmt, iovas) = pin_pages(k, bti, ZX_BTI_PERM_READ, v, first, 2)
                                    .unwrap_or_else(|s| {
                                        panic!("worker {w} iteration {i}: pin {s}")
                                    });
                                for (j, &iova) in iovas.iter().enumerate() {
                                    let t = engine.translate(ep, iova, PAGE, Perms::READ).unwrap();
                                    assert_eq!(t[0].paddr, phys[(first as usize) + j]);
                                }
                                {
                                    let mut seen = seen.lock();
                                    if seen.len() < 256 {
                                        seen.extend(iovas.iter().copied());
                                    }
                                }
                                k.pmt_unpin(pmt).unwrap();
                                for &iova in &iovas {
                                    // Another worker's pin may reuse the IOVA at once; it then maps
                                    // one of the held pages, never anything else.
                                    if let Ok(t) = engine.translate(ep, iova, 1, Perms::READ) {
                                        assert!(phys.contains(&t[0].paddr));
                                    }
                                }
                            }
                            live_btis.fetch_sub(1, Ordering::SeqCst);
                            k.handle_close(bti).unwrap();
                        })
                    })
                    .collect();
                join_then_stop(workers, &running);
            });
            k.pmt_unpin(hold).unwrap();
            assert_eq!(engine.stats().mappings, 0);
            assert_eq!(
                k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, 0, pages * PAGE),
                Ok(())
            );
        },
    );
}
