//! Threads pinning, unpinning, closing and decommitting at once (DecommitRace, NoDelayedUnpin).

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

#[test]
fn pin_unpin_decommit_race() {
    let k = Arc::new(kernel());
    let iommu = translating_iommu(&k, PS, 1 << 36);
    let bti = k.bti_create(iommu, 0, 1).unwrap();
    let dummy = dummy_bti(&k);
    let vmo = k.vmo_create(64 * PS, 0).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for t in 0..3u64 {
        let (k, stop) = (k.clone(), stop.clone());
        let b = if t == 0 { dummy } else { bti };
        threads.push(thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let off = ((n * 7 + t * 13) % 60) * PS;
                let (pmt, _) = pin(&k, b, RW, vmo, off, 4 * PS).unwrap();
                // While pinned, these pages can never be decommitted.
                assert_eq!(
                    k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, off, 4 * PS),
                    Err(ZX_ERR_BAD_STATE)
                );
                k.pmt_unpin(pmt).unwrap();
                n += 1;
            }
            n
        }));
    }
    {
        let (k, stop) = (k.clone(), stop.clone());
        threads.push(thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let off = (n % 64) * PS;
                match k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, off, PS) {
                    Ok(()) | Err(ZX_ERR_BAD_STATE) => {}
                    Err(e) => panic!("decommit: {e}"),
                }
                n += 1;
            }
            n
        }));
    }
    thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        assert!(t.join().unwrap() > 0);
    }
    assert_eq!(bti_info(&k, bti)[2], 0);
    assert_eq!(k.bti_iova_allocated(bti), Ok(0));
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 64 * PS), Ok(()));
}

#[test]
fn concurrent_close_and_quarantine_release() {
    let k = Arc::new(kernel());
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(8 * PS, 0).unwrap();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let k = k.clone();
            thread::spawn(move || {
                for _ in 0..500 {
                    match pin(&k, bti, RW, vmo, 0, PS) {
                        Ok((pmt, _)) => k.handle_close(pmt).unwrap(),
                        Err(e) => assert_eq!(e, ZX_ERR_BAD_STATE),
                    }
                    k.bti_release_quarantine(bti).unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    k.bti_release_quarantine(bti).unwrap();
    assert_eq!(bti_info(&k, bti)[2..], [0, 0]);
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 8 * PS), Ok(()));
}
