//! Handles, rights, signals and waiting.

use super::*;
use std::time::{Duration, Instant};

#[test]
fn duplicate_replace_close() {
    let k = kernel();
    let vmo = k.vmo_create(PS, 0).unwrap();
    assert_eq!(vmo & ZX_HANDLE_FIXED_BITS_MASK, ZX_HANDLE_FIXED_BITS_MASK);
    let ro = k
        .handle_duplicate(vmo, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE)
        .unwrap();
    assert_eq!(handle_rights(&k, ro), ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE);
    // More rights than the source: INVALID_ARGS.
    assert_eq!(
        k.handle_duplicate(ro, ZX_RIGHT_WRITE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let no_dup = k.handle_duplicate(ro, ZX_RIGHT_READ).unwrap();
    assert_eq!(
        k.handle_duplicate(no_dup, ZX_RIGHT_SAME_RIGHTS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // Replace needs no rights, and always invalidates the handle.
    let r = k.handle_replace(no_dup, ZX_RIGHT_SAME_RIGHTS).unwrap();
    assert_eq!(k.handle_close(no_dup), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(
        k.handle_replace(r, ZX_RIGHT_WRITE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(k.handle_close(r), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(k.handle_close(ZX_HANDLE_INVALID), Ok(()));
    assert_eq!(k.handle_close(0x1234_5677), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(
        k.handle_duplicate(0, ZX_RIGHT_SAME_RIGHTS),
        Err(ZX_ERR_BAD_HANDLE)
    );
    // "a port handle with zero rights passed to zx_vmo_read returns WRONG_TYPE".
    let bti = dummy_bti(&k);
    let bare = k.handle_duplicate(bti, ZX_RIGHT_NONE).unwrap();
    assert_eq!(k.vmo_read(bare, &mut [0], 0), Err(ZX_ERR_WRONG_TYPE));
}

#[test]
fn signals_and_waits() {
    let k = Arc::new(kernel());
    let vmo = k.vmo_create(PS, 0).unwrap();
    assert_eq!(
        k.object_signal(vmo, 0, ZX_VMO_ZERO_CHILDREN),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(k.object_signal(vmo, 1, 0), Err(ZX_ERR_INVALID_ARGS));
    let no_signal = k.handle_duplicate(vmo, ZX_RIGHT_WAIT).unwrap();
    assert_eq!(
        k.object_signal(no_signal, 0, ZX_USER_SIGNAL_0),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let no_wait = k.handle_duplicate(vmo, ZX_RIGHT_SIGNAL).unwrap();
    assert_eq!(
        k.object_wait_one(no_wait, ZX_USER_SIGNAL_0, 0),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // BTIs have neither SIGNAL nor WAIT.
    let bti = dummy_bti(&k);
    assert_eq!(
        k.object_signal(bti, 0, ZX_USER_SIGNAL_0),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.object_wait_one(bti, ZX_USER_SIGNAL_0, 0),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // Polling.
    assert_eq!(
        k.object_wait_one(vmo, ZX_USER_SIGNAL_0, ZX_TIME_INFINITE_PAST),
        Err(ZX_ERR_TIMED_OUT)
    );
    k.object_signal(vmo, 0, ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_7)
        .unwrap();
    assert_eq!(
        k.object_wait_one(vmo, ZX_USER_SIGNAL_0, ZX_TIME_INFINITE_PAST),
        Ok(ZX_USER_SIGNAL_0 | ZX_USER_SIGNAL_7 | ZX_VMO_ZERO_CHILDREN)
    );
    k.object_signal(vmo, ZX_USER_SIGNAL_ALL, 0).unwrap();
    // A deadline in the future times out.
    let start = Instant::now();
    let deadline = k.deadline_after(20_000_000);
    assert_eq!(
        k.object_wait_one(vmo, ZX_USER_SIGNAL_1, deadline),
        Err(ZX_ERR_TIMED_OUT)
    );
    assert!(start.elapsed() >= Duration::from_millis(20));
    // Another thread's signal wakes a waiter.
    let k2 = k.clone();
    let t = std::thread::spawn(move || k2.object_wait_one(vmo, ZX_USER_SIGNAL_2, ZX_TIME_INFINITE));
    std::thread::sleep(Duration::from_millis(20));
    k.object_signal(vmo, 0, ZX_USER_SIGNAL_2).unwrap();
    assert!(t.join().unwrap().unwrap() & ZX_USER_SIGNAL_2 != 0);
    // Closing the handle cancels the wait. (If the closing thread wins the race before the
    // waiter looked the handle up, the wait sees BAD_HANDLE instead; retry with a longer head
    // start until a real wait was cancelled.)
    let mut outcome = Err(ZX_ERR_BAD_HANDLE);
    for attempt in 1..=10u64 {
        let dup = k.handle_duplicate(vmo, ZX_RIGHT_SAME_RIGHTS).unwrap();
        let k3 = k.clone();
        let t =
            std::thread::spawn(move || k3.object_wait_one(dup, ZX_USER_SIGNAL_3, ZX_TIME_INFINITE));
        std::thread::sleep(Duration::from_millis(20 * attempt));
        k.handle_close(dup).unwrap();
        outcome = t.join().unwrap();
        if outcome != Err(ZX_ERR_BAD_HANDLE) {
            break;
        }
    }
    assert_eq!(outcome, Err(ZX_ERR_CANCELED));
}

#[test]
fn kernel_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Kernel>();
}

#[test]
fn bad_config_does_not_panic() {
    let k = Kernel::new(KernelConfig {
        page_size: 12345,
        ram: vec![
            std::ops::Range { start: 5, end: 3 },
            u64::MAX - 10..u64::MAX,
        ],
        mmio: vec![],
    });
    assert_eq!(k.page_size(), 4096);
    let vmo = k.vmo_create(PS, 0).unwrap();
    assert_eq!(k.vmo_write(vmo, &[1], 0), Err(ZX_ERR_NO_MEMORY));
    let mem: Arc<dyn PhysicalMemory> = Arc::new(LazyMemory::new(8192, &[0..1 << 20]).unwrap());
    assert_eq!(
        Kernel::with_memory(KernelConfig::default(), mem.clone()).err(),
        Some(ZX_ERR_INVALID_ARGS)
    );
    let k = Kernel::with_memory(
        KernelConfig {
            page_size: 8192,
            ram: vec![0..1 << 20],
            mmio: vec![],
        },
        mem,
    )
    .unwrap();
    assert_eq!(k.vmo_get_size(k.vmo_create(1, 0).unwrap()), Ok(8192));
}

#[test]
fn extreme_arguments_never_panic() {
    let k = small_kernel(64);
    let bti = dummy_bti(&k);
    let tiommu = translating_iommu(&k, PS, u64::MAX);
    let tbti = k.bti_create(tiommu, 0, 3).unwrap();
    let root = k.root_resource();
    let vmo = k.vmo_create(16 * PS, ZX_VMO_RESIZABLE).unwrap();
    let contig = k.vmo_create_contiguous(bti, 4 * PS, 0).unwrap();
    let phys = k.vmo_create_physical(root, 0xC000_0000, 4 * PS).unwrap();
    let values = [
        0,
        1,
        PS - 1,
        PS,
        16 * PS,
        1 << 52,
        u64::MAX - PS + 1,
        u64::MAX - 1,
        u64::MAX,
    ];
    let handles = [0, 1, 3, u32::MAX, bti, tbti, vmo, contig, phys, root];
    let opts = [0, 1, 0x7, 0x1f, 0xff, ZX_BTI_COMPRESS | 1, u32::MAX];
    let mut addrs = [0; 20];
    let mut buf = vec![0u8; 64];
    for &h in &handles {
        for &v in &values {
            for &w in &values {
                for &o in &opts {
                    for n in [0usize, 1, 4, 16, 20] {
                        if let Ok(p) = k.bti_pin(h, o, vmo, v, w, &mut addrs[..n]) {
                            k.pmt_unpin(p).unwrap();
                        }
                        if let Ok(p) = k.bti_pin(bti, o, h, v, w, &mut addrs[..n]) {
                            k.pmt_unpin(p).unwrap();
                        }
                    }
                    let _ = k.vmo_op_range(h, o, v, w);
                    if let Ok(c) = k.vmo_create_child(h, o, v, w) {
                        k.handle_close(c).unwrap();
                    }
                }
                let _ = k.vmo_read(h, &mut buf, v);
                let _ = k.vmo_write(h, &buf, w);
                if let Ok(r) = k.resource_create(h, (v as u32) & 0x1_0007, v, w, "x") {
                    k.handle_close(r).unwrap();
                }
                if let Ok(p) = k.vmo_create_physical(h, v, w) {
                    k.handle_close(p).unwrap();
                }
            }
            let _ = k.vmo_set_size(h, v);
            let _ = k.vmo_create(v, h);
            let _ = k.vmo_create_contiguous(h, v, (v % 70) as u32);
            let _ = k.object_set_property(h, ZX_PROP_VMO_CONTENT_SIZE, &v.to_le_bytes());
            let _ = k.object_wait_one(h, u32::MAX, v as i64);
            let _ = k.bti_create(h, 0, v);
        }
        let _ = k.object_get_info(h, ZX_INFO_VMO, &mut buf);
        let _ = k.vmo_set_cache_policy(h, 3);
        let _ = k.object_signal(h, 0, ZX_USER_SIGNAL_0);
        let _ = k
            .handle_duplicate(h, ZX_RIGHT_SAME_RIGHTS)
            .map(|d| k.handle_close(d));
    }
    // Everything pinned was unpinned; the quarantine is empty.
    assert_eq!(bti_info(&k, bti)[2..], [0, 0]);
    assert_eq!(bti_info(&k, tbti)[2..], [0, 0]);
}
