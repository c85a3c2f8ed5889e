//! Rust versions of what the upstream Zircon core tests check (zircon/system/utest/core/{bti,vmo,
//! resource}), written from shared/reference/zircon-bti.md and the seeds, against the
//! `iommu::zx` syscall surface of issue 2 §2. Test names follow the upstream test they restate.

mod common;

use common::*;
use iommu::zx::*;

fn in_ram(p: Paddr) -> bool {
    (RAM_BASE..RAM_END).contains(&p)
}

// =============================================================================================
// Bti.*
// =============================================================================================

// Bti.Create: "ASSERT_EQ(zx::bti::create(iommu, 0, 0xdeadbeef, &bti), ZX_OK)"; the IOMMU made
// from the SYSTEM/IOMMU_BASE resource with a 1-byte dummy descriptor.
#[test]
fn bti_create() {
    let k = kernel();
    let iommu = dummy_iommu(&k);
    let bti = k.bti_create(iommu, 0, BTI_ID).expect("bti_create");
    // "The BTI keeps a reference to the IOMMU." (§2.2) — closing the IOMMU handle is fine.
    k.handle_close(iommu).unwrap();
    let v = vmo(&k, PAGE);
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).expect("pin after IOMMU closed");
    k.pmt_unpin(pmt).unwrap();
}

// §1.9: "minimum_contiguity(bti_id) returns PAGE_SIZE (4096). aspace_size(bti_id) returns
// UINT64_MAX". §2.8: "With the dummy IOMMU that is {PAGE_SIZE, UINT64_MAX, …}."
#[test]
fn bti_info_of_dummy_iommu() {
    let k = kernel();
    let bti = dummy_bti(&k);
    assert_eq!(
        bti_info(&k, bti),
        DecodedBtiInfo {
            minimum_contiguity: PAGE,
            aspace_size: u64::MAX,
            pmo_count: 0,
            quarantine_count: 0
        }
    );
    // Bytes beyond the 32-byte record are left alone.
    let mut b = [0xEEu8; 40];
    assert_eq!(k.object_get_info(bti, ZX_INFO_BTI, &mut b), Ok((1, 1)));
    assert_eq!(&b[32..], &[0xEE; 8]);
}

// Bti.NameSupport: initially "", a normal name round-trips, a long name is truncated to 31 bytes
// + NUL, an empty name is OK. §2.9.
#[test]
fn bti_name_support() {
    let k = kernel();
    let bti = dummy_bti(&k);
    assert_eq!(name_of(&k, bti), b"");
    k.object_set_property(bti, ZX_PROP_NAME, b"Core Test BTI\0")
        .unwrap();
    assert_eq!(name_of(&k, bti), b"Core Test BTI");
    let long =
        b"01234567890123456789012345678901234567890123456789012345678901234567890123456789\0";
    k.object_set_property(bti, ZX_PROP_NAME, long).unwrap();
    let mut buf = [0xAAu8; 32];
    k.object_get_property(bti, ZX_PROP_NAME, &mut buf).unwrap();
    assert_eq!(buf[31], 0);
    assert_eq!(&buf[..31], &long[..31]);
    k.object_set_property(bti, ZX_PROP_NAME, b"\0").unwrap();
    assert_eq!(name_of(&k, bti), b"");
    // A name without a trailing NUL is fine too.
    k.object_set_property(bti, ZX_PROP_NAME, b"abc").unwrap();
    assert_eq!(name_of(&k, bti), b"abc");
    k.object_set_property(bti, ZX_PROP_NAME, b"").unwrap();
    assert_eq!(name_of(&k, bti), b"");
}

// Bti.Pin (non-contiguous, 256 pages): pin + unpin OK. Dummy IOMMU: "Device addresses equal
// physical addresses (identity mapping)" (§1.9): page-aligned, distinct, from the RAM pool.
#[test]
fn bti_pin() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 256 * PAGE);
    let (pmt, addrs) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 256).unwrap();
    let mut sorted = addrs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 256, "distinct pages");
    for a in &addrs {
        assert_eq!(a % PAGE, 0);
        assert!(in_ram(*a), "{a:#x} not in the RAM pool");
    }
    k.pmt_unpin(pmt).unwrap();
}

// Bti.PinContiguous: "ASSERT_EQ(paddrs[i], paddrs[0] + i * zx_system_get_page_size())".
#[test]
fn bti_pin_contiguous() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = k.vmo_create_contiguous(bti, 256 * PAGE, 0).unwrap();
    let (pmt, addrs) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 256).unwrap();
    k.pmt_unpin(pmt).unwrap();
    for (i, a) in addrs.iter().enumerate() {
        assert_eq!(*a, addrs[0] + i as u64 * PAGE);
    }
    assert!(in_ram(addrs[0]));
}

// Bti.PinContigFlag: "bti.pin(ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS, vmo, 0, kVmoSize, &paddr, 1,
// &pmt) == ZX_OK" — the single address is the start of the memory.
#[test]
fn bti_pin_contig_flag() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = k.vmo_create_contiguous(bti, 256 * PAGE, 0).unwrap();
    let mut one = [0u64; 1];
    let pmt = k
        .bti_pin(
            bti,
            ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS,
            v,
            0,
            256 * PAGE,
            &mut one,
        )
        .unwrap();
    let (pmt2, addrs) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 256).unwrap();
    assert_eq!(one[0], addrs[0]);
    // At an offset: the address of that page.
    let pmt3 = k
        .bti_pin(
            bti,
            ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS,
            v,
            10 * PAGE,
            4 * PAGE,
            &mut one,
        )
        .unwrap();
    assert_eq!(one[0], addrs[10]);
    for p in [pmt, pmt2, pmt3] {
        k.pmt_unpin(p).unwrap();
    }
}

// VmoTestCase.CompressedContiguous: num_addrs = round_up(size, min_contig) / min_contig; with
// more than one address expected, passing 1 is INVALID_ARGS. Seed: "It is guaranteed that all
// returned addresses will be minimum-contiguity-aligned."
#[test]
fn compressed_contiguous() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let min = bti_info(&k, bti).minimum_contiguity;
    let size = (128 * 1024 * 1024).min(min * 2);
    let c = k.vmo_create_contiguous(bti, size, 0).unwrap();
    let n = size.div_ceil(min) as usize;
    let mut addrs = vec![0; n];
    let pmt = k
        .bti_pin(
            bti,
            ZX_BTI_COMPRESS | ZX_BTI_PERM_READ,
            c,
            0,
            size,
            &mut addrs,
        )
        .unwrap();
    for a in &addrs {
        assert_eq!(a % min, 0);
    }
    k.pmt_unpin(pmt).unwrap();
    if n > 1 {
        let mut one = [0u64; 1];
        assert_eq!(
            k.bti_pin(
                bti,
                ZX_BTI_COMPRESS | ZX_BTI_PERM_READ,
                c,
                0,
                size,
                &mut one
            ),
            Err(ZX_ERR_INVALID_ARGS)
        );
    }
}

// Bti.Resize: a pinned page of a resizable VMO cannot be resized away.
#[test]
fn bti_resize() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
    assert_eq!(k.vmo_set_size(v, 0), Err(ZX_ERR_BAD_STATE));
    k.pmt_unpin(pmt).unwrap();
    assert_eq!(k.vmo_set_size(v, 0), Ok(()));
}

// Bti.Clone: "A PMT holding a ref to a child VMO (Bti.Clone) ... keeps the signal deasserted."
#[test]
fn bti_clone() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    let clone = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
        .unwrap();
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, clone, 0, 1).unwrap();
    k.handle_close(clone).unwrap();
    assert!(!zero_children(&k, v), "PMT keeps the child alive");
    k.pmt_unpin(pmt).unwrap();
    assert!(
        zero_children(&k, v),
        "unpin drops the last reference to the child"
    );
}

// Bti.GetInfoTest: pmo_count / quarantine_count through pin, close-without-unpin, release.
#[test]
fn bti_get_info_test() {
    let k = kernel();
    let bti = dummy_bti(&k);
    assert_eq!(bti_counts(&k, bti), (0, 0));
    let v = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
    assert_eq!(bti_counts(&k, bti), (1, 0));
    k.handle_close(pmt).unwrap();
    assert_eq!(bti_counts(&k, bti), (1, 1));
    k.bti_release_quarantine(bti).unwrap();
    assert_eq!(bti_counts(&k, bti), (0, 0));
}

// Bti.QuarantineDisallowsPin (the upstream `#if 0` test; §2.3 step 8c is enforced): a leaked
// pinned PMT makes new pins on that BTI fail with BAD_STATE until release_quarantine.
#[test]
fn bti_quarantine_disallows_pin() {
    let k = kernel();
    let bti = dummy_bti(&k);
    {
        let v = vmo(&k, 4 * PAGE);
        let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 4).unwrap();
        k.handle_close(pmt).unwrap();
        k.handle_close(v).unwrap();
    }
    let v = vmo(&k, 4 * PAGE);
    assert_eq!(
        pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 4).map(|_| ()),
        Err(ZX_ERR_BAD_STATE)
    );
    k.bti_release_quarantine(bti).unwrap();
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 4).expect("pin after release");
    k.pmt_unpin(pmt).unwrap();
}

// §2.5: closing a PMT handle without unpinning: "unmap from the IOMMU; **leave the pages
// pinned**; ... quarantine_count goes up by 1". §2.6: "Does not affect PMTs that are still live".
// Other BTIs are not affected.
#[test]
fn quarantine_lifecycle() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let other = dummy_bti(&k);
    let v = vmo(&k, 4 * PAGE);
    let (live, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
    let (leaked, _) = pin_pages(&k, bti, ZX_BTI_PERM_WRITE, v, 2, 2).unwrap();
    assert_eq!(bti_counts(&k, bti), (2, 0));
    k.handle_close(leaked).unwrap();
    assert_eq!(bti_counts(&k, bti), (2, 1));
    // Pages still pinned.
    assert_eq!(decommit(&k, v, 2 * PAGE, PAGE), Err(ZX_ERR_BAD_STATE));
    assert_eq!(decommit(&k, v, 3 * PAGE, PAGE), Err(ZX_ERR_BAD_STATE));
    assert_eq!(decommit(&k, v, PAGE, PAGE), Ok(()));
    // Closing the VMO handle does not release the pins either.
    let slice = k
        .vmo_create_child(v, ZX_VMO_CHILD_SLICE, 0, 4 * PAGE)
        .unwrap();
    k.handle_close(v).unwrap();
    assert_eq!(
        decommit(&k, slice, 2 * PAGE, 2 * PAGE),
        Err(ZX_ERR_BAD_STATE)
    );
    // Other BTIs can pin.
    let (o, _) = pin_pages(&k, other, ZX_BTI_PERM_READ, slice, 1, 1).expect("other BTI pins");
    k.pmt_unpin(o).unwrap();
    // This BTI cannot.
    assert_eq!(
        pin_pages(&k, bti, ZX_BTI_PERM_READ, slice, 1, 1).map(|_| ()),
        Err(ZX_ERR_BAD_STATE)
    );
    // Release: quarantined pins go away, the live one stays.
    k.bti_release_quarantine(bti).unwrap();
    assert_eq!(bti_counts(&k, bti), (1, 0));
    assert_eq!(decommit(&k, slice, 2 * PAGE, 2 * PAGE), Ok(()));
    assert_eq!(decommit(&k, slice, 0, PAGE), Err(ZX_ERR_BAD_STATE));
    k.pmt_unpin(live).unwrap();
    assert_eq!(bti_counts(&k, bti), (0, 0));
    assert_eq!(decommit(&k, slice, 0, 4 * PAGE), Ok(()));
}

// §3: "failure inside bti_pin after PMT creation -> PMT explicitly Unpin()'d, never quarantined";
// several quarantined PMTs are counted and released together.
#[test]
fn quarantine_counts_several_and_release_clears_all() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 4 * PAGE);
    // All pins first: once one is quarantined further pins fail.
    let pmts: Vec<_> = (0..3)
        .map(|i| pin_pages(&k, bti, ZX_BTI_PERM_READ, v, i, 1).unwrap().0)
        .collect();
    for p in &pmts {
        k.handle_close(*p).unwrap();
    }
    assert_eq!(bti_counts(&k, bti), (3, 3));
    k.bti_release_quarantine(bti).unwrap();
    assert_eq!(bti_counts(&k, bti), (0, 0));
    assert_eq!(decommit(&k, v, 0, 4 * PAGE), Ok(()));
}

// §2.7 "Live PMTs can still be unpinned normally." after the BTI handle is closed; "PMTs hold a
// RefPtr to the BTI".
#[test]
fn bti_closed_live_pmt_still_unpins() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, PAGE);
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
    k.handle_close(bti).unwrap();
    assert_eq!(decommit(&k, v, 0, PAGE), Err(ZX_ERR_BAD_STATE));
    assert_eq!(k.pmt_unpin(pmt), Ok(()));
    assert_eq!(decommit(&k, v, 0, PAGE), Ok(()));
}

// Bti.NoDelayedUnpin: "After unpinning we should be able to make a clone." — while another thread
// keeps the kernel busy with info queries and large writes to a chain of snapshot clones.
#[test]
fn bti_no_delayed_unpin() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 4 * PAGE);
    let running = std::sync::atomic::AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| {
            let big = vmo(&k, 256 * PAGE);
            let mut clones = vec![
                k.vmo_create_child(big, ZX_VMO_CHILD_SNAPSHOT, 0, 256 * PAGE)
                    .unwrap(),
            ];
            for i in 1..16 {
                let parent = clones[(i * 7) % i];
                clones.push(
                    k.vmo_create_child(parent, ZX_VMO_CHILD_SNAPSHOT, 0, 256 * PAGE)
                        .unwrap(),
                );
            }
            let buf = vec![0x5Au8; (256 * PAGE) as usize];
            let mut info = [0u8; INFO_VMO_BYTES];
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                k.vmo_write(big, &buf, 0).unwrap();
                for c in &clones {
                    k.object_get_info(*c, ZX_INFO_VMO, &mut info).unwrap();
                }
            }
        });
        for i in 0..3000 {
            let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 4).unwrap();
            k.pmt_unpin(pmt).unwrap();
            let clone = k
                .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PAGE)
                .unwrap_or_else(|s| panic!("iteration {i}: snapshot after unpin failed with {s}"));
            k.handle_close(clone).unwrap();
        }
        running.store(false, std::sync::atomic::Ordering::Relaxed);
    });
}

// Bti.PinTooManyAddresses: kPageCount = (page_size * 64) / sizeof(uint64_t) + 1 → INVALID_ARGS.
#[test]
fn bti_pin_too_many_addresses() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let pages = PAGE * 64 / 8 + 1;
    let v = vmo(&k, pages * PAGE);
    assert_eq!(
        pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, pages).map(|_| ()),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // The range was never committed (rejected in step 2).
    assert_eq!(vmo_info(&k, v).committed_bytes, 0);
}

// Seed: "If the range in vmo specified by offset and size contains non-committed pages, a
// successful invocation of this function will result in those pages having been committed."
// §2.4: "Page contents and commitment are **not** changed [by unpin]. The pages stay committed."
#[test]
fn pin_commits_and_unpin_keeps_pages_committed() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 8 * PAGE);
    write_u8(&k, v, 5 * PAGE + 7, 0x77);
    assert_eq!(vmo_info(&k, v).committed_bytes, PAGE);
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 2, 4).unwrap();
    assert_eq!(vmo_info(&k, v).committed_bytes, 4 * PAGE);
    k.pmt_unpin(pmt).unwrap();
    assert_eq!(vmo_info(&k, v).committed_bytes, 4 * PAGE);
    assert_eq!(read_u8(&k, v, 5 * PAGE + 7), 0x77);
    assert_eq!(read_u8(&k, v, 2 * PAGE), 0);
}

// §2.3: "Overlapping pins of the same pages, by several PMTs or BTIs, are allowed. Pin counts stack
// up to 31." Each unpin releases exactly one count.
#[test]
fn overlapping_pins_stack() {
    let k = kernel();
    let a = dummy_bti(&k);
    let b = dummy_bti(&k);
    let v = vmo(&k, 4 * PAGE);
    let (p1, x1) = pin_pages(&k, a, ZX_BTI_PERM_READ, v, 0, 3).unwrap();
    let (p2, x2) = pin_pages(&k, b, ZX_BTI_PERM_WRITE, v, 1, 3).unwrap();
    assert_eq!(x1[1..], x2[..2], "same pages, same physical addresses");
    k.pmt_unpin(p1).unwrap();
    assert_eq!(decommit(&k, v, 0, PAGE), Ok(()));
    assert_eq!(decommit(&k, v, PAGE, PAGE), Err(ZX_ERR_BAD_STATE));
    k.pmt_unpin(p2).unwrap();
    assert_eq!(decommit(&k, v, 0, 4 * PAGE), Ok(()));
}

// 31 pins OK, 32nd UNAVAILABLE (§1.8), for a page reached through different VMO handles (a slice).
#[test]
fn pin_count_limit_is_per_page() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 2 * PAGE);
    let slice = k
        .vmo_create_child(v, ZX_VMO_CHILD_SLICE, PAGE, PAGE)
        .unwrap();
    let mut pmts = Vec::new();
    for i in 0..31 {
        let h = if i % 2 == 0 { v } else { slice };
        let off = if i % 2 == 0 { 1 } else { 0 };
        pmts.push(
            pin_pages(&k, bti, ZX_BTI_PERM_READ, h, off, 1)
                .unwrap_or_else(|s| panic!("pin {i}: {s}"))
                .0,
        );
    }
    assert_eq!(
        pin_pages(&k, bti, ZX_BTI_PERM_READ, slice, 0, 1).map(|_| ()),
        Err(ZX_ERR_UNAVAILABLE)
    );
    assert_eq!(
        pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 2).map(|_| ()),
        Err(ZX_ERR_UNAVAILABLE)
    );
    // Page 0 is independent.
    let (p0, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
    pmts.push(p0);
    for p in pmts {
        k.pmt_unpin(p).unwrap();
    }
}

// §2.3: "Pins on a VMO keep it alive: the PMT holds a RefPtr to the VmObject. The VMO handle can be
// closed while pinned." Seed: "The PMT retains a reference to the associated VMO, so the
// underlying VMO won't be destroyed until the PMT is unpinned." Observed through the page pool:
// the pinned page is not handed out again until the unpin destroys the VMO.
#[test]
fn pmt_keeps_vmo_alive() {
    let k = small_kernel(4);
    let bti = dummy_bti(&k);
    let v1 = vmo(&k, PAGE);
    let (pmt, a1) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v1, 0, 1).unwrap();
    k.handle_close(v1).unwrap();
    let v2 = vmo(&k, 4 * PAGE);
    assert_eq!(
        pin_pages(&k, bti, ZX_BTI_PERM_READ, v2, 0, 4).map(|_| ()),
        Err(ZX_ERR_NO_MEMORY),
        "the closed-but-pinned VMO still holds its page"
    );
    let (p3, a3) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v2, 0, 3).unwrap();
    assert!(!a3.contains(&a1[0]), "pinned page handed out twice");
    k.pmt_unpin(p3).unwrap();
    k.pmt_unpin(pmt).unwrap();
    let (p4, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v2, 0, 4).expect("page freed by unpin");
    k.pmt_unpin(p4).unwrap();
}

// §2.5 + §2.6: a quarantined PMT also keeps its VMO's pages until release_quarantine.
#[test]
fn quarantined_pmt_keeps_pages_until_release() {
    let k = small_kernel(4);
    let bti = dummy_bti(&k);
    let other = dummy_bti(&k);
    let v1 = vmo(&k, PAGE);
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v1, 0, 1).unwrap();
    k.handle_close(pmt).unwrap();
    k.handle_close(v1).unwrap();
    let v2 = vmo(&k, 4 * PAGE);
    assert_eq!(
        pin_pages(&k, other, ZX_BTI_PERM_READ, v2, 0, 4).map(|_| ()),
        Err(ZX_ERR_NO_MEMORY)
    );
    k.bti_release_quarantine(bti).unwrap();
    let (p, _) = pin_pages(&k, other, ZX_BTI_PERM_READ, v2, 0, 4).expect("page freed by release");
    k.pmt_unpin(p).unwrap();
}

// VmoClone2TestCase.PinBeforeCreateFailure: "Fail to clone if pages are pinned" (BAD_STATE);
// "Clone successfully after pages are unpinned."
#[test]
fn snapshot_of_pinned_vmo_is_bad_state() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, PAGE);
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
    assert_eq!(
        k.vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE),
        Err(ZX_ERR_BAD_STATE)
    );
    // Slices are not copies: allowed while pinned.
    let slice = k
        .vmo_create_child(v, ZX_VMO_CHILD_SLICE, 0, PAGE)
        .expect("slice while pinned");
    k.handle_close(slice).unwrap();
    k.pmt_unpin(pmt).unwrap();
    let clone = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
        .expect("clone after unpin");
    k.handle_close(clone).unwrap();
}

// §2.3 8b: "On a COW clone, the pages are forked into the clone." The clone's pinned pages are its
// own: different physical pages from the parent's, with the parent's content at snapshot time.
#[test]
fn pin_of_snapshot_child_forks_pages() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 2 * PAGE);
    write_u8(&k, v, 0, 0xAB);
    let child = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE)
        .unwrap();
    let (pc, ac) = pin_pages(&k, bti, ZX_BTI_PERM_READ, child, 0, 2).unwrap();
    let (pp, ap) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 2).unwrap();
    assert_ne!(ac[0], ap[0]);
    assert_ne!(ac[1], ap[1]);
    assert_eq!(read_u8(&k, child, 0), 0xAB);
    write_u8(&k, v, 0, 0xCD);
    assert_eq!(read_u8(&k, child, 0), 0xAB);
    k.pmt_unpin(pc).unwrap();
    k.pmt_unpin(pp).unwrap();
}

// =============================================================================================
// VmoTestCase.*
// =============================================================================================

// VmoTestCase.SizeAlign: "should be the size rounded up to the nearest page boundary".
#[test]
fn vmo_size_align() {
    let k = kernel();
    for s in [
        0u64,
        1,
        100,
        PAGE - 1,
        PAGE,
        PAGE + 1,
        3 * PAGE + 17,
        4 * PAGE - 1,
    ] {
        let v = vmo(&k, s);
        assert_eq!(k.vmo_get_size(v), Ok(s.div_ceil(PAGE) * PAGE), "size {s}");
        k.handle_close(v).unwrap();
    }
}

// VmoTestCase.ResizeAlign.
#[test]
fn vmo_resize_align() {
    let k = kernel();
    let v = k.vmo_create(0, ZX_VMO_RESIZABLE).unwrap();
    for s in [
        0u64,
        1,
        PAGE - 1,
        PAGE,
        PAGE + 1,
        3 * PAGE + 5,
        4 * PAGE - 1,
        0,
    ] {
        k.vmo_set_size(v, s).unwrap();
        assert_eq!(k.vmo_get_size(v), Ok(s.div_ceil(PAGE) * PAGE), "size {s}");
    }
}

// Issue 2: "VMO sizes are limited as in Zircon, not by the RAM pool: a huge VMO can be created".
// VmoTestCase.Cache: "Create a large sparsely populated VMO" (size << 40) and write at 1 << 50.
#[test]
fn vmo_huge_sparse() {
    let k = kernel();
    let v = k.vmo_create(PAGE << 40, 0).expect("4 PiB VMO");
    k.vmo_write(v, &[42], 1 << 50).unwrap();
    assert_eq!(read_u8(&k, v, 1 << 50), 42);
    assert_eq!(vmo_info(&k, v).committed_bytes, PAGE);
    assert_eq!(k.vmo_set_cache_policy(v, ZX_CACHE_POLICY_UNCACHED), Ok(()));
    // VmoTestCase.CacheOpLargeVmo: UINT64_MAX - page*64 + 1 is creatable.
    let max = u64::MAX - PAGE * 64 + 1;
    let big = k.vmo_create(max, 0).expect("max-size VMO");
    assert_eq!(k.vmo_op_range(big, ZX_VMO_OP_CACHE_CLEAN, 0, max), Ok(()));
}

// VmoTestCase.ReadWriteRange / ReadWriteBadLen.
#[test]
fn vmo_read_write_range() {
    let k = kernel();
    let len = 4 * PAGE;
    let v = vmo(&k, len);
    let mut buf = vec![0u8; (2 * len) as usize];
    assert_eq!(k.vmo_read(v, &mut buf, 0), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(k.vmo_read(v, &mut [], len), Ok(()));
    assert_eq!(k.vmo_read(v, &mut [], len + 1), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(k.vmo_write(v, &buf, 0), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(k.vmo_write(v, &[], len), Ok(()));
    assert_eq!(k.vmo_write(v, &[], len + 1), Err(ZX_ERR_OUT_OF_RANGE));
    let mut b = vec![0u8; len as usize];
    assert_eq!(
        k.vmo_read(v, &mut b, u64::MAX - len / 2),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_write(v, &b, u64::MAX - len / 2),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // Fresh pages read as zero; writes read back.
    k.vmo_read(v, &mut b, 0).unwrap();
    assert!(b.iter().all(|&x| x == 0));
    b.fill(0x99);
    k.vmo_write(v, &b, 0).unwrap();
    let mut c = vec![0u8; len as usize];
    k.vmo_read(v, &mut c, 0).unwrap();
    assert_eq!(b, c);
}

// VmoTestCase.Resize.
#[test]
fn vmo_resize() {
    let k = kernel();
    let mut len = 4 * PAGE;
    let v = k.vmo_create(len, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(k.vmo_get_size(v), Ok(len));
    len += PAGE;
    k.vmo_set_size(v, len).unwrap();
    assert_eq!(k.vmo_get_size(v), Ok(len));
    assert_eq!(k.vmo_set_size(v, u64::MAX), Err(ZX_ERR_OUT_OF_RANGE));
    k.vmo_set_size(v, len + 1).unwrap();
    assert_eq!(k.vmo_get_size(v), Ok(len + PAGE));
}

// VmoTestCase.NoResize.
#[test]
fn vmo_no_resize() {
    let k = kernel();
    let len = 4 * PAGE;
    let v = vmo(&k, len);
    assert_eq!(k.vmo_set_size(v, len + PAGE), Err(ZX_ERR_UNAVAILABLE));
    assert_eq!(k.vmo_set_size(v, len - PAGE), Err(ZX_ERR_UNAVAILABLE));
    assert_eq!(k.vmo_get_size(v), Ok(len));
}

// VmoTestCase.ResizeRight / ChildResizeRight. §1.2: "A resizable VMO also gets RESIZE (0x400000),
// giving 0x40D0EF."
#[test]
fn vmo_resize_right() {
    let k = kernel();
    let len = 4 * PAGE;
    let v = vmo(&k, len);
    assert_eq!(rights_of(&k, v), 0xD0EF);
    let r = k.vmo_create(len, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(rights_of(&k, r), 0x40D0EF);
    k.vmo_set_size(r, len + PAGE).unwrap();
    let r_dup = dup_without(&k, r, ZX_RIGHT_RESIZE);
    assert_eq!(k.vmo_set_size(r_dup, PAGE), Err(ZX_ERR_ACCESS_DENIED));
    // Children: not resizable unless ZX_VMO_CHILD_RESIZABLE; resizable slices are invalid.
    for ty in [ZX_VMO_CHILD_SNAPSHOT, ZX_VMO_CHILD_SLICE] {
        let c = k.vmo_create_child(v, ty, 0, len).unwrap();
        assert_eq!(rights_of(&k, c) & ZX_RIGHT_RESIZE, 0);
        assert_eq!(k.vmo_set_size(c, len + PAGE), Err(ZX_ERR_UNAVAILABLE));
        k.handle_close(c).unwrap();
    }
    let c = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE, 0, len)
        .unwrap();
    assert_eq!(rights_of(&k, c) & ZX_RIGHT_RESIZE, ZX_RIGHT_RESIZE);
    k.vmo_set_size(c, len + PAGE).unwrap();
    let c_dup = dup_without(&k, c, ZX_RIGHT_RESIZE);
    assert_eq!(k.vmo_set_size(c_dup, PAGE), Err(ZX_ERR_ACCESS_DENIED));
}

// VmoTestCase.Rights / ChildPermsTestHelper: snapshot child rights =
// (parent | GET_PROPERTY | SET_PROPERTY | WRITE) & ~EXECUTE; slice = parent | GET/SET_PROPERTY.
#[test]
fn vmo_rights_and_child_rights() {
    let k = kernel();
    let v = vmo(&k, 4 * PAGE);
    let r_only = dup(&k, v, ZX_RIGHT_READ);
    assert_eq!(k.vmo_read(r_only, &mut [], 0), Ok(()));
    assert_eq!(k.vmo_write(r_only, &[], 0), Err(ZX_ERR_ACCESS_DENIED));
    let w_only = dup(&k, v, ZX_RIGHT_WRITE);
    assert_eq!(k.vmo_read(w_only, &mut [], 0), Err(ZX_ERR_ACCESS_DENIED));
    assert_eq!(k.vmo_write(w_only, &[], 0), Ok(()));
    let none = dup(&k, v, 0);
    assert_eq!(k.vmo_read(none, &mut [], 0), Err(ZX_ERR_ACCESS_DENIED));
    assert_eq!(k.vmo_write(none, &[], 0), Err(ZX_ERR_ACCESS_DENIED));
    for parent_rights in [
        ZX_RIGHT_SAME_RIGHTS,
        ZX_RIGHT_READ | ZX_RIGHT_WRITE | ZX_RIGHT_DUPLICATE,
        ZX_RIGHT_READ | ZX_RIGHT_MAP | ZX_RIGHT_DUPLICATE,
        ZX_RIGHT_READ | ZX_RIGHT_WRITE | ZX_RIGHT_MAP | ZX_RIGHT_DUPLICATE,
    ] {
        let p = dup(&k, v, parent_rights);
        let pr = rights_of(&k, p);
        let snap = k
            .vmo_create_child(p, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
            .unwrap();
        assert_eq!(
            rights_of(&k, snap),
            (pr | ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY | ZX_RIGHT_WRITE)
                & !ZX_RIGHT_EXECUTE,
            "snapshot of a handle with {pr:#x}"
        );
        let slice = k.vmo_create_child(p, ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
        assert_eq!(
            rights_of(&k, slice),
            pr | ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY,
            "slice of a handle with {pr:#x}"
        );
    }
    // Names on VMOs: VmoTestCase.Rights sets and gets "test vmo".
    k.object_set_property(v, ZX_PROP_NAME, b"test vmo\0")
        .unwrap();
    assert_eq!(name_of(&k, v), b"test vmo");
}

// VmoTestCase.Info: ZX_INFO_VMO decoded at the offsets of issue 2 §2 (flags @80, committed_bytes
// @88, handle_rights @96, cache_policy @100); "EXPECT_EQ(info.handle_rights, basic_info.rights)".
#[test]
fn vmo_info_records() {
    let k = kernel();
    let len = 4 * PAGE;
    let v = vmo(&k, len);
    let i = vmo_info(&k, v);
    assert_eq!(i.size_bytes, len);
    assert_eq!(i.flags, INFO_VMO_TYPE_PAGED | INFO_VMO_VIA_HANDLE);
    assert_eq!(i.cache_policy, ZX_CACHE_POLICY_CACHED);
    assert_eq!(i.handle_rights, 0xD0EF);
    assert_eq!(i.committed_bytes, 0);
    assert_eq!(i.parent_koid, 0);
    assert_eq!(i.num_children, 0);
    let basic = handle_basic(&k, v);
    assert_eq!(i.koid, basic.koid);
    assert_ne!(i.koid, 0);
    assert_eq!(basic.obj_type, ZX_OBJ_TYPE_VMO);

    let r = k.vmo_create(8 * PAGE, ZX_VMO_RESIZABLE).unwrap();
    k.vmo_set_cache_policy(r, ZX_CACHE_POLICY_UNCACHED).unwrap();
    let i = vmo_info(&k, r);
    assert_eq!(i.size_bytes, 8 * PAGE);
    assert_eq!(
        i.flags,
        INFO_VMO_TYPE_PAGED | INFO_VMO_VIA_HANDLE | INFO_VMO_RESIZABLE
    );
    assert_eq!(i.cache_policy, ZX_CACHE_POLICY_UNCACHED);
    assert_eq!(i.handle_rights, rights_of(&k, r));
    // handle_rights is per handle.
    let rd = dup(&k, r, ZX_RIGHT_READ | ZX_RIGHT_INSPECT);
    assert_eq!(
        vmo_info(&k, rd).handle_rights,
        ZX_RIGHT_READ | ZX_RIGHT_INSPECT
    );

    let bti = dummy_bti(&k);
    let c = k.vmo_create_contiguous(bti, 12 * PAGE, 0).unwrap();
    let i = vmo_info(&k, c);
    assert_eq!(i.size_bytes, 12 * PAGE);
    assert_eq!(
        i.flags,
        INFO_VMO_TYPE_PAGED | INFO_VMO_VIA_HANDLE | INFO_VMO_CONTIGUOUS
    );
    assert_eq!(i.cache_policy, ZX_CACHE_POLICY_CACHED);
    assert_eq!(
        i.committed_bytes,
        12 * PAGE,
        "contiguous VMOs are committed"
    );

    // Children: parent_koid, num_children, COW flag; names at offset 8.
    let snap = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
        .unwrap();
    let si = vmo_info(&k, snap);
    assert_eq!(si.parent_koid, handle_basic(&k, v).koid);
    assert_ne!(si.flags & INFO_VMO_IS_COW_CLONE, 0);
    assert_eq!(vmo_info(&k, v).num_children, 1);
    k.object_set_property(v, ZX_PROP_NAME, b"named\0").unwrap();
    assert_eq!(&vmo_info(&k, v).name[..6], b"named\0");
}

// ZX_INFO_HANDLE_BASIC is 32 bytes (issue 2 §2) with rights @8 and type @12; koids are shared by
// duplicates and differ between objects.
#[test]
fn handle_basic_records() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    let w = vmo(&k, PAGE);
    let d = dup(&k, v, ZX_RIGHT_READ);
    let (bv, bw, bd) = (
        handle_basic(&k, v),
        handle_basic(&k, w),
        handle_basic(&k, d),
    );
    assert_eq!(bv.koid, bd.koid);
    assert_ne!(bv.koid, bw.koid);
    assert_eq!(bd.rights, ZX_RIGHT_READ);
    let mut b = [0xEEu8; 40];
    assert_eq!(
        k.object_get_info(v, ZX_INFO_HANDLE_BASIC, &mut b),
        Ok((1, 1))
    );
    assert_eq!(&b[32..], &[0xEE; 8], "only 32 bytes written");
    let root = k.root_resource();
    let rb = handle_basic(&k, root);
    assert_eq!(rb.obj_type, ZX_OBJ_TYPE_RESOURCE);
}

// VmoTestCase.ContentSize (incl. set_size(5461)); §2.14 "The value may exceed the VMO size."
#[test]
fn vmo_content_size() {
    let k = kernel();
    let len = 4 * PAGE;
    let v = k.vmo_create(len, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(content_size(&k, v), len);
    set_content_size(&k, v, len / 3).unwrap();
    assert_eq!(content_size(&k, v), len / 3);
    set_content_size(&k, v, len + 15643).unwrap();
    assert_eq!(content_size(&k, v), len + 15643);
    assert_eq!(k.vmo_get_size(v), Ok(len), "the VMO is not resized");
    k.vmo_set_size(v, 5461).unwrap();
    assert_eq!(content_size(&k, v), 5461);
    assert_eq!(k.vmo_get_size(v), Ok(2 * PAGE));
}

// §2.14 "Initial value is the size passed at creation (unrounded for zx_vmo_create and
// create_contiguous)." §2.11 "The content size is set to the *rounded* size" for physical VMOs.
#[test]
fn vmo_initial_content_size() {
    let k = kernel();
    let v = vmo(&k, 5000);
    assert_eq!(content_size(&k, v), 5000);
    let bti = dummy_bti(&k);
    let c = k.vmo_create_contiguous(bti, 5000, 0).unwrap();
    assert_eq!(content_size(&k, c), 5000);
    assert_eq!(k.vmo_get_size(c), Ok(2 * PAGE));
    let mmio = mmio_resource(&k, MMIO_BASE, 4 * PAGE);
    let p = k.vmo_create_physical(mmio, MMIO_BASE, 100).unwrap();
    assert_eq!(content_size(&k, p), PAGE);
}

// §2.14 "If it is below the VMO size, `[content, vmo_size)` is zeroed." §2.12 step 5 "On success
// the tail bytes `[size, aligned)` are zeroed."
#[test]
fn vmo_content_size_and_set_size_zero_the_tail() {
    let k = kernel();
    let v = k.vmo_create(2 * PAGE, ZX_VMO_RESIZABLE).unwrap();
    let ones = vec![0xFFu8; (2 * PAGE) as usize];
    k.vmo_write(v, &ones, 0).unwrap();
    set_content_size(&k, v, PAGE + 10).unwrap();
    let mut b = vec![0u8; (2 * PAGE) as usize];
    k.vmo_read(v, &mut b, 0).unwrap();
    assert!(b[..(PAGE + 10) as usize].iter().all(|&x| x == 0xFF));
    assert!(
        b[(PAGE + 10) as usize..].iter().all(|&x| x == 0),
        "[content, size) zeroed"
    );

    k.vmo_write(v, &ones, 0).unwrap();
    k.vmo_set_size(v, 100).unwrap();
    let mut b = vec![0u8; PAGE as usize];
    k.vmo_read(v, &mut b, 0).unwrap();
    assert!(b[..100].iter().all(|&x| x == 0xFF));
    assert!(b[100..].iter().all(|&x| x == 0), "tail [100, 4096) zeroed");
    // Growing again shows zero pages.
    k.vmo_set_size(v, 2 * PAGE).unwrap();
    assert_eq!(read_u8(&k, v, PAGE + 1), 0);
}

// VmoTestCase.Commit: commit/decommit; decommitted pages read as zero (§2.13 step 11); commit of
// an overflowing range is OUT_OF_RANGE.
#[test]
fn vmo_commit_decommit() {
    let k = kernel();
    let size = 4 * PAGE;
    let v = vmo(&k, size);
    k.vmo_op_range(v, ZX_VMO_OP_COMMIT, 0, size).unwrap();
    assert_eq!(vmo_info(&k, v).committed_bytes, size);
    k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, 0, size).unwrap();
    assert_eq!(vmo_info(&k, v).committed_bytes, 0);
    k.vmo_write(v, &[99], PAGE).unwrap();
    k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, 0, PAGE).unwrap();
    assert_eq!(read_u8(&k, v, PAGE), 99);
    k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, PAGE, PAGE).unwrap();
    assert_eq!(read_u8(&k, v, PAGE), 0);
    assert_eq!(
        k.vmo_op_range(v, ZX_VMO_OP_COMMIT, PAGE, u64::MAX - PAGE + 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
}

// VmoTestCase.CacheOp on a normal VMO of 0x8000 bytes.
#[test]
fn vmo_cache_ops() {
    let k = kernel();
    let size = 0x8000u64;
    let v = vmo(&k, size);
    for op in [
        ZX_VMO_OP_CACHE_SYNC,
        ZX_VMO_OP_CACHE_CLEAN,
        ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ] {
        for (off, len) in [
            (0, 1),
            (1, 1),
            (0, size),
            (1, size - 1),
            (0x5200, 1),
            (0x5200, 0x800),
            (0x5200, 0x1000),
            (0x5200, 0x1200),
        ] {
            assert_eq!(
                k.vmo_op_range(v, op, off, len),
                Ok(()),
                "op {op} {off:#x}+{len:#x}"
            );
        }
        assert_eq!(
            k.vmo_op_range(v, op, 0, 0),
            Err(ZX_ERR_INVALID_ARGS),
            "op {op} 0 0"
        );
        for (off, len) in [
            (1, size),
            (size, 1),
            (size + 1, 1),
            (u64::MAX - 1, 1),
            (u64::MAX, 1),
            (u64::MAX, u64::MAX),
        ] {
            assert_eq!(
                k.vmo_op_range(v, op, off, len),
                Err(ZX_ERR_OUT_OF_RANGE),
                "op {op} {off:#x}+{len:#x}"
            );
        }
    }
    // The current kernel (vm_object_dispatcher.cc RangeOp): "case ZX_VMO_OP_CACHE_INVALIDATE: if
    // (!gBootOptions->enable_debugging_syscalls) return ZX_ERR_NOT_SUPPORTED;" — the upstream
    // core tests run with debugging syscalls on; this kernel boots with them off.
    assert_eq!(
        k.vmo_op_range(v, ZX_VMO_OP_CACHE_INVALIDATE, 0, PAGE),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    // VmoTestCase.CacheOpOutOfRange.
    let v2 = vmo(&k, 2 * PAGE);
    k.vmo_write(v2, b"A", PAGE).unwrap();
    assert_eq!(
        k.vmo_op_range(v2, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, PAGE, u64::MAX),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_op_range(v2, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, u64::MAX - PAGE + 1, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
}

// VmoTestCase.OpOutOfBounds: every op over [0, 2*size) of a one-page VMO is OUT_OF_RANGE
// (CACHE_INVALIDATE aside: NOT_SUPPORTED without debugging syscalls, see vmo_cache_ops).
#[test]
fn vmo_op_out_of_bounds() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    for op in [
        ZX_VMO_OP_COMMIT,
        ZX_VMO_OP_DECOMMIT,
        ZX_VMO_OP_ZERO,
        ZX_VMO_OP_CACHE_SYNC,
        ZX_VMO_OP_CACHE_CLEAN,
        ZX_VMO_OP_CACHE_CLEAN_INVALIDATE,
    ] {
        assert_eq!(
            k.vmo_op_range(v, op, 0, 2 * PAGE),
            Err(ZX_ERR_OUT_OF_RANGE),
            "op {op}"
        );
    }
}

// ZX_VMO_OP_ZERO zeroes the range (used by ParentContiguousVmoStaysPinnedWithoutHandle).
#[test]
fn vmo_op_zero() {
    let k = kernel();
    let v = vmo(&k, 2 * PAGE);
    k.vmo_write(v, &vec![7u8; (2 * PAGE) as usize], 0).unwrap();
    k.vmo_op_range(v, ZX_VMO_OP_ZERO, PAGE, PAGE).unwrap();
    assert_eq!(read_u8(&k, v, PAGE - 1), 7);
    assert_eq!(read_u8(&k, v, PAGE), 0);
    assert_eq!(read_u8(&k, v, 2 * PAGE - 1), 0);
}

// VmoTestCase.Cache: valid policies on a clean VMO; MASK+1 invalid; children block changes;
// uncached VMOs refuse read/write and snapshots (BAD_STATE).
#[test]
fn vmo_cache_policy() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    for p in [
        ZX_CACHE_POLICY_CACHED,
        ZX_CACHE_POLICY_UNCACHED,
        ZX_CACHE_POLICY_UNCACHED_DEVICE,
        ZX_CACHE_POLICY_WRITE_COMBINING,
    ] {
        assert_eq!(k.vmo_set_cache_policy(v, p), Ok(()), "policy {p}");
    }
    assert_eq!(
        k.vmo_set_cache_policy(v, ZX_CACHE_POLICY_MASK + 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    k.vmo_set_cache_policy(v, ZX_CACHE_POLICY_CACHED).unwrap();
    let clone = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
        .unwrap();
    assert_eq!(
        k.vmo_set_cache_policy(v, ZX_CACHE_POLICY_UNCACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(
        k.vmo_set_cache_policy(clone, ZX_CACHE_POLICY_UNCACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    k.handle_close(clone).unwrap();
    k.vmo_set_cache_policy(v, ZX_CACHE_POLICY_UNCACHED).unwrap();
    assert_eq!(
        k.vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE),
        Err(ZX_ERR_BAD_STATE)
    );
    let mut c = [0u8; 1];
    assert_eq!(k.vmo_read(v, &mut c, 0), Err(ZX_ERR_BAD_STATE));
    assert_eq!(k.vmo_write(v, &c, 0), Err(ZX_ERR_BAD_STATE));
    k.vmo_set_cache_policy(v, ZX_CACHE_POLICY_CACHED).unwrap();
    assert_eq!(k.vmo_read(v, &mut c, 0), Ok(()));
    assert_eq!(k.vmo_write(v, &c, 0), Ok(()));
}

// VmoTestCase.UncachedContiguous.
#[test]
fn vmo_uncached_contiguous() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let c = k.vmo_create_contiguous(bti, 4 * PAGE, 0).unwrap();
    k.vmo_set_cache_policy(c, ZX_CACHE_POLICY_UNCACHED).unwrap();
    assert_eq!(
        k.vmo_write(c, &42u64.to_le_bytes(), 0),
        Err(ZX_ERR_BAD_STATE)
    );
    let mut one = [0u64; 1];
    let pmt = k
        .bti_pin(
            bti,
            ZX_BTI_COMPRESS | ZX_BTI_PERM_READ,
            c,
            0,
            PAGE,
            &mut one,
        )
        .unwrap();
    assert_eq!(
        k.vmo_set_cache_policy(c, ZX_CACHE_POLICY_CACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    k.pmt_unpin(pmt).unwrap();
    // "validate that we cannot move committed pages from uncached->cached"
    assert_eq!(
        k.vmo_set_cache_policy(c, ZX_CACHE_POLICY_CACHED),
        Err(ZX_ERR_BAD_STATE)
    );
}

// VmoTestCase.DecommitMisaligned.
#[test]
fn vmo_decommit_misaligned() {
    let k = kernel();
    let v = vmo(&k, 2 * PAGE);
    assert_eq!(decommit(&k, v, 0x10, 0x100), Err(ZX_ERR_INVALID_ARGS));
    k.vmo_op_range(v, ZX_VMO_OP_COMMIT, 0x10, 0x100).unwrap();
    assert_eq!(decommit(&k, v, 0x10, 0x100), Err(ZX_ERR_INVALID_ARGS));
}

enum Flavor {
    Normal,
    Contig,
    Physical,
}

/// A VMO of `pages` pages of the given flavor, and two nested slices (offset 1, size-2 and
/// offset 1, size-4 pages) as in VmoTestCase.PinTests. Returns (vmo, size, size_past_end).
fn slice_levels(k: &Kernel, bti: Handle, flavor: Flavor, pages: u64) -> Vec<(Handle, u64, u64)> {
    let root = match flavor {
        Flavor::Normal => vmo(k, pages * PAGE),
        Flavor::Contig => k.vmo_create_contiguous(bti, pages * PAGE, 0).unwrap(),
        Flavor::Physical => {
            let res = mmio_resource(k, MMIO_BASE + 0x40_0000, pages * PAGE);
            k.vmo_create_physical(res, MMIO_BASE + 0x40_0000, pages * PAGE)
                .unwrap()
        }
    };
    let mut levels = vec![(root, pages * PAGE, 0u64)];
    for (off, size) in [(1, pages - 2), (1, pages - 4)] {
        let (parent, psize, pspe) = *levels.last().unwrap();
        let child = k
            .vmo_create_child(parent, ZX_VMO_CHILD_SLICE, off * PAGE, size * PAGE)
            .unwrap();
        let spe = pspe + (psize - (size * PAGE + off * PAGE));
        levels.push((child, size * PAGE, spe));
    }
    levels
}

// VmoTestCase.PinTests: for Normal, Contig and Physical VMOs and two levels of slices, every range
// starting and ending inside the level, past its end inside the root, and past the root:
// "expected_status = ((start >= level.size) || (end > level.size)) ? ZX_ERR_OUT_OF_RANGE : ZX_OK"
// with addrs_count = min(size / PAGE, 6).
#[test]
fn vmo_pin_tests() {
    const TEST_PAGES: u64 = 6;
    let k = kernel();
    let bti = dummy_bti(&k);
    for flavor in [Flavor::Normal, Flavor::Contig, Flavor::Physical] {
        for (level_vmo, size, spe) in slice_levels(&k, bti, flavor, TEST_PAGES) {
            let root_end = size + spe;
            let mut start = 0;
            while start <= root_end {
                let mut end = start + PAGE;
                while end <= root_end + PAGE {
                    let len = end - start;
                    let n = (len / PAGE).min(TEST_PAGES) as usize;
                    let mut addrs = vec![0; n];
                    let expected = if start >= size || end > size {
                        Err(ZX_ERR_OUT_OF_RANGE)
                    } else {
                        Ok(())
                    };
                    let got = k.bti_pin(bti, ZX_BTI_PERM_READ, level_vmo, start, len, &mut addrs);
                    assert_eq!(
                        got.map(|_| ()),
                        expected,
                        "pin offset {start:#x} size {len:#x} in VMO of size {size:#x} (spe {spe:#x})"
                    );
                    if let Ok(pmt) = got {
                        k.pmt_unpin(pmt).unwrap();
                    }
                    end += PAGE;
                }
                start += PAGE;
            }
        }
    }
    assert_eq!(bti_counts(&k, bti), (0, 0));
}

// VmoTestCase.DecommitChildSliceTests: "We expect failure if our [start, start + size) is out of
// range for our child VMO, not the parent."
#[test]
fn vmo_decommit_child_slice_tests() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let levels = slice_levels(&k, bti, Flavor::Normal, 6);
    let root = levels[0].0;
    for &(level_vmo, size, spe) in &levels {
        let root_end = size + spe;
        let (mut saw_oor, mut saw_ok) = (false, false);
        let mut start = 0;
        while start <= root_end + PAGE {
            let mut end = start + PAGE;
            while end <= root_end + 2 * PAGE {
                k.vmo_op_range(root, ZX_VMO_OP_COMMIT, 0, 6 * PAGE).unwrap();
                let len = end - start;
                let expected = if start + len > size {
                    saw_oor = true;
                    Err(ZX_ERR_OUT_OF_RANGE)
                } else {
                    saw_ok = true;
                    Ok(())
                };
                assert_eq!(
                    decommit(&k, level_vmo, start, len),
                    expected,
                    "decommit {start:#x}+{len:#x} in slice of size {size:#x}"
                );
                end += PAGE;
            }
            start += PAGE;
        }
        assert!(saw_oor && saw_ok);
    }
}

// §2.15 ZX_VMO_ZERO_CHILDREN: asserted on creation, cleared synchronously on child creation,
// re-asserted when the child object is destroyed (VmoSliceTestCase.ZeroChildren).
#[test]
fn vmo_zero_children() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert!(zero_children(&k, v));
    assert_eq!(
        k.object_wait_one(v, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE)
            .map(|s| s & ZX_VMO_ZERO_CHILDREN),
        Ok(ZX_VMO_ZERO_CHILDREN)
    );
    let child = k.vmo_create_child(v, ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
    assert!(!zero_children(&k, v));
    // A second handle to the child keeps the child object alive.
    let child2 = dup(&k, child, ZX_RIGHT_SAME_RIGHTS);
    k.handle_close(child).unwrap();
    assert!(
        !zero_children(&k, v),
        "child object still alive via another handle"
    );
    k.handle_close(child2).unwrap();
    assert!(zero_children(&k, v));
    // Snapshot children too.
    let snap = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
        .unwrap();
    assert!(!zero_children(&k, v));
    k.handle_close(snap).unwrap();
    assert!(zero_children(&k, v));
    // "Asserted on every newly created VMO" — including children themselves.
    let c = k.vmo_create_child(v, ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
    assert!(zero_children(&k, c));
}

// VmoSliceTestCase.ZeroChildrenGrandchildClosedLast.
#[test]
fn vmo_zero_children_grandchild_closed_last() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    let child = k.vmo_create_child(v, ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
    let grandchild = k
        .vmo_create_child(child, ZX_VMO_CHILD_SLICE, 0, PAGE)
        .unwrap();
    assert!(!zero_children(&k, v));
    k.handle_close(child).unwrap();
    assert!(!zero_children(&k, v), "grandchild still alive");
    k.handle_close(grandchild).unwrap();
    assert!(zero_children(&k, v));
}

// §2.15: "A PMT holding a ref to a child VMO (Bti.Clone) ... keeps the signal deasserted." With a
// slice child and a quarantined PMT (released by release_quarantine).
#[test]
fn vmo_zero_children_pmt_held_child() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 2 * PAGE);
    let slice = k
        .vmo_create_child(v, ZX_VMO_CHILD_SLICE, PAGE, PAGE)
        .unwrap();
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, slice, 0, 1).unwrap();
    k.handle_close(slice).unwrap();
    assert!(!zero_children(&k, v));
    k.handle_close(pmt).unwrap(); // quarantined: still holds the slice
    assert!(!zero_children(&k, v));
    k.bti_release_quarantine(bti).unwrap();
    assert!(zero_children(&k, v));
}

// object_signal / object_wait_one with a user signal (issue 2 §2 signatures).
#[test]
fn vmo_user_signal() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.object_wait_one(v, ZX_USER_SIGNAL_0, ZX_TIME_INFINITE_PAST),
        Err(ZX_ERR_TIMED_OUT)
    );
    k.object_signal(v, 0, ZX_USER_SIGNAL_0).unwrap();
    let got = k
        .object_wait_one(v, ZX_USER_SIGNAL_0, ZX_TIME_INFINITE_PAST)
        .unwrap();
    assert_eq!(got & ZX_USER_SIGNAL_0, ZX_USER_SIGNAL_0);
    assert_eq!(
        got & ZX_VMO_ZERO_CHILDREN,
        ZX_VMO_ZERO_CHILDREN,
        "observed = all asserted signals"
    );
    k.object_signal(v, ZX_USER_SIGNAL_0, 0).unwrap();
    assert_eq!(
        k.object_wait_one(v, ZX_USER_SIGNAL_0, ZX_TIME_INFINITE_PAST),
        Err(ZX_ERR_TIMED_OUT)
    );
    // A short finite deadline also times out.
    assert_eq!(
        k.object_wait_one(v, ZX_USER_SIGNAL_0, 0),
        Err(ZX_ERR_TIMED_OUT)
    );
}

// =============================================================================================
// VmoSliceTestCase.*
// =============================================================================================

// VmoSliceTestCase.WriteThrough / Nested / CommitChild.
#[test]
fn slice_write_through_and_nested() {
    let k = kernel();
    let v = vmo(&k, 4 * PAGE);
    k.vmo_write(v, &42u32.to_le_bytes(), 0).unwrap();
    k.vmo_write(v, &42u32.to_le_bytes(), PAGE).unwrap();
    let s = k
        .vmo_create_child(v, ZX_VMO_CHILD_SLICE, PAGE, 2 * PAGE)
        .unwrap();
    assert_eq!(read_u8(&k, s, 0), 42);
    k.vmo_write(s, &84u32.to_le_bytes(), 0).unwrap();
    k.vmo_write(s, &84u32.to_le_bytes(), PAGE).unwrap();
    assert_eq!(read_u8(&k, v, 0), 42);
    assert_eq!(read_u8(&k, v, PAGE), 84);
    assert_eq!(read_u8(&k, v, 2 * PAGE), 84);
    assert_eq!(read_u8(&k, v, 3 * PAGE), 0);
    let ss = k
        .vmo_create_child(s, ZX_VMO_CHILD_SLICE, PAGE, PAGE)
        .unwrap();
    assert_eq!(read_u8(&k, ss, 0), 84);
    write_u8(&k, ss, 1, 5);
    assert_eq!(read_u8(&k, v, 2 * PAGE + 1), 5);
}

// VmoSliceTestCase.DecommitParent / DecommitChild.
#[test]
fn slice_decommit_parent_and_child() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    write_u8(&k, v, 0, 42);
    let s = k.vmo_create_child(v, ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
    assert_eq!(read_u8(&k, s, 0), 42);
    decommit(&k, v, 0, PAGE).unwrap();
    assert_eq!(read_u8(&k, s, 0), 0);
    write_u8(&k, v, 0, 42);
    decommit(&k, s, 0, PAGE).unwrap();
    assert_eq!(read_u8(&k, v, 0), 0);
}

// VmoSliceTestCase.NonSlice.
#[test]
fn slice_non_slice_ranges() {
    let k = kernel();
    let v = vmo(&k, 2 * PAGE);
    let c = |off, size| {
        k.vmo_create_child(v, ZX_VMO_CHILD_SLICE, off, size)
            .map(|_| ())
    };
    assert_eq!(c(0, 3 * PAGE), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(c(PAGE, 2 * PAGE), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(c(2 * PAGE, PAGE), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(c(0, u64::MAX), Err(ZX_ERR_OUT_OF_RANGE));
    let nearly = u64::MAX - PAGE + 1;
    assert_eq!(c(0, nearly), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(c(nearly, PAGE), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(c(nearly, nearly), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(c(nearly, u64::MAX), Err(ZX_ERR_OUT_OF_RANGE));
}

// VmoSliceTestCase.NonResizable: slices of resizable parents are NOT_SUPPORTED; resizable slices
// are INVALID_ARGS.
#[test]
fn slice_non_resizable() {
    let k = kernel();
    let r = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(
        k.vmo_create_child(r, ZX_VMO_CHILD_SLICE, 0, PAGE),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    assert_eq!(
        k.vmo_create_child(r, ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_RESIZABLE, 0, PAGE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.vmo_create_child(v, ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_RESIZABLE, 0, PAGE),
        Err(ZX_ERR_INVALID_ARGS)
    );
}

// VmoSliceTestCase.ZeroSized.
#[test]
fn slice_zero_sized() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    let s1 = k.vmo_create_child(v, ZX_VMO_CHILD_SLICE, 0, 0).unwrap();
    let s2 = k.vmo_create_child(v, ZX_VMO_CHILD_SLICE, PAGE, 0).unwrap();
    let mut b = [0u8; 1];
    for s in [s1, s2] {
        assert_eq!(k.vmo_read(s, &mut b, 0), Err(ZX_ERR_OUT_OF_RANGE));
        assert_eq!(k.vmo_write(s, &b, 0), Err(ZX_ERR_OUT_OF_RANGE));
    }
}

// VmoSliceTestCase.ChildSliceOfContiguousParentIsContiguous.
#[test]
fn slice_of_contiguous_is_contiguous() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let c = k.vmo_create_contiguous(bti, 2 * PAGE, 0).unwrap();
    let s = k
        .vmo_create_child(c, ZX_VMO_CHILD_SLICE, PAGE, PAGE)
        .unwrap();
    assert_eq!(
        vmo_info(&k, s).flags & INFO_VMO_CONTIGUOUS,
        INFO_VMO_CONTIGUOUS
    );
    let mut one = [0u64; 1];
    let pmt = k
        .bti_pin(
            bti,
            ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS,
            s,
            0,
            PAGE,
            &mut one,
        )
        .unwrap();
    k.pmt_unpin(pmt).unwrap();
}

// VmoSliceTestCase.ParentContiguousVmoStaysPinnedWithoutHandle.
#[test]
fn slice_parent_contiguous_vmo_stays_pinned_without_handle() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let pages = 32u64;
    let size = pages * PAGE;
    let parent = k.vmo_create_contiguous(bti, size, 0).unwrap();
    let (pmt, paddr) = pin_pages(&k, bti, ZX_BTI_PERM_READ, parent, 0, pages).unwrap();
    k.pmt_unpin(pmt).unwrap();
    let child = k
        .vmo_create_child(parent, ZX_VMO_CHILD_SLICE, 0, size)
        .unwrap();
    k.handle_close(parent).unwrap();
    k.vmo_op_range(child, ZX_VMO_OP_ZERO, 0, size).unwrap();
    let unrelated = vmo(&k, size);
    k.vmo_op_range(unrelated, ZX_VMO_OP_COMMIT, 0, size)
        .unwrap();
    let (pmt, paddr_slice) = pin_pages(&k, bti, ZX_BTI_PERM_READ, child, 0, pages).unwrap();
    k.pmt_unpin(pmt).unwrap();
    assert_eq!(paddr, paddr_slice);
}

// §2.10 step 2: alignment_log2 is honoured; contiguous VMOs are physically contiguous.
#[test]
fn contiguous_alignment_is_honoured() {
    let k = kernel();
    let bti = dummy_bti(&k);
    for align in [12u32, 16, 20] {
        let c = k.vmo_create_contiguous(bti, 3 * PAGE, align).unwrap();
        let (pmt, a) = pin_pages(&k, bti, ZX_BTI_PERM_READ, c, 0, 3).unwrap();
        assert_eq!(a[0] % (1u64 << align), 0, "alignment 2^{align}");
        assert_eq!(a[2], a[0] + 2 * PAGE);
        k.pmt_unpin(pmt).unwrap();
    }
    // Rights 0xD0EF, not resizable.
    let c = k.vmo_create_contiguous(bti, PAGE, 0).unwrap();
    assert_eq!(rights_of(&k, c), 0xD0EF);
}

// Snapshot children: copy-on-write content.
#[test]
fn snapshot_child_is_copy_on_write() {
    let k = kernel();
    let v = vmo(&k, 2 * PAGE);
    write_u8(&k, v, 0, 1);
    let c = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE)
        .unwrap();
    assert_eq!(read_u8(&k, c, 0), 1);
    write_u8(&k, c, 0, 2);
    write_u8(&k, v, PAGE, 3);
    assert_eq!(read_u8(&k, v, 0), 1);
    assert_eq!(read_u8(&k, c, 0), 2);
    assert_eq!(read_u8(&k, c, PAGE), 0, "snapshot taken before the write");
}

// =============================================================================================
// Physical VMOs (seed 002, reference §2.11)
// =============================================================================================

// §2.11 step 5: "Defaults: cache policy **UNCACHED**; is_contiguous = true. ZX_INFO_VMO flags are
// TYPE_PHYSICAL(0)|VIA_HANDLE|CONTIGUOUS. Rights 0xD0EF." Seed: "The ZX_VMO_ZERO_CHILDREN signal
// is active on a newly created VMO."
#[test]
fn physical_vmo_defaults() {
    let k = kernel();
    let base = MMIO_BASE + 0x1000_0000;
    let res = mmio_resource(&k, base, 16 * PAGE);
    let p = k
        .vmo_create_physical(res, base + 2 * PAGE, 3 * PAGE)
        .unwrap();
    let i = vmo_info(&k, p);
    assert_eq!(i.size_bytes, 3 * PAGE);
    assert_eq!(i.cache_policy, ZX_CACHE_POLICY_UNCACHED);
    assert_eq!(i.flags, INFO_VMO_VIA_HANDLE | INFO_VMO_CONTIGUOUS);
    assert_eq!(rights_of(&k, p), 0xD0EF);
    assert_eq!(
        rights_of(&k, p) & ZX_RIGHT_EXECUTE,
        0,
        "§7: the code does not grant EXECUTE"
    );
    assert!(zero_children(&k, p));
    assert_eq!(k.vmo_get_size(p), Ok(3 * PAGE));
}

// Pinning a physical VMO: identity addresses on the dummy IOMMU; "Pinning checks only the range.
// Unpin does nothing." — so the 31-pin limit does not apply ("physical VMOs are always pinned").
#[test]
fn physical_vmo_pin() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let base = MMIO_BASE + 0x1100_0000;
    let res = mmio_resource(&k, base, 4 * PAGE);
    let p = k.vmo_create_physical(res, base, 4 * PAGE).unwrap();
    let (pmt, a) = pin_pages(&k, bti, ZX_BTI_PERM_READ | ZX_BTI_PERM_WRITE, p, 1, 2).unwrap();
    assert_eq!(a, vec![base + PAGE, base + 2 * PAGE]);
    k.pmt_unpin(pmt).unwrap();
    let mut one = [0u64; 1];
    let pmt = k
        .bti_pin(
            bti,
            ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS,
            p,
            0,
            4 * PAGE,
            &mut one,
        )
        .unwrap();
    assert_eq!(one[0], base);
    k.pmt_unpin(pmt).unwrap();
    let pmts: Vec<_> = (0..40)
        .map(|i| {
            pin_pages(&k, bti, ZX_BTI_PERM_READ, p, 0, 1)
                .unwrap_or_else(|s| panic!("pin {i}: {s}"))
                .0
        })
        .collect();
    assert_eq!(bti_counts(&k, bti), (40, 0));
    for pmt in pmts {
        k.pmt_unpin(pmt).unwrap();
    }
    assert_eq!(
        pin_pages(&k, bti, ZX_BTI_PERM_READ, p, 4, 1).map(|_| ()),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
}

// §2.11: "Slices are allowed. They inherit the cache policy and are contiguous."
#[test]
fn physical_vmo_slices() {
    let k = kernel();
    let base = MMIO_BASE + 0x1200_0000;
    let res = mmio_resource(&k, base, 2 * PAGE);
    let p = k.vmo_create_physical(res, base, 2 * PAGE).unwrap();
    k.vmo_set_cache_policy(p, ZX_CACHE_POLICY_WRITE_COMBINING)
        .unwrap();
    let s = k
        .vmo_create_child(p, ZX_VMO_CHILD_SLICE, PAGE, PAGE)
        .unwrap();
    let i = vmo_info(&k, s);
    assert_eq!(i.cache_policy, ZX_CACHE_POLICY_WRITE_COMBINING);
    assert_eq!(i.flags & INFO_VMO_CONTIGUOUS, INFO_VMO_CONTIGUOUS);
    assert_eq!(i.parent_koid, vmo_info(&k, p).koid);
    assert!(!zero_children(&k, p));
    let bti = dummy_bti(&k);
    let (pmt, a) = pin_pages(&k, bti, ZX_BTI_PERM_READ, s, 0, 1).unwrap();
    assert_eq!(a[0], base + PAGE);
    k.pmt_unpin(pmt).unwrap();
}

// =============================================================================================
// Resource.*
// =============================================================================================

// Resource.CreateResourceSlice (mist-os): slices of an MMIO resource; a VMO larger than the
// smaller slice is OUT_OF_RANGE (§2.11), one that fits succeeds.
#[test]
fn resource_create_resource_slice() {
    let k = kernel();
    let base = MMIO_BASE + 0x2000_0000;
    let mmio = mmio_resource(&k, base, PAGE);
    let mk = |parent, kind, b, s| k.resource_create(parent, kind, b, s, "slice").map(|_| ());
    assert_eq!(
        mk(mmio, ZX_RSRC_KIND_IRQ, base, PAGE),
        Err(ZX_ERR_ACCESS_DENIED),
        "wrong kind"
    );
    assert_eq!(
        mk(mmio, ZX_RSRC_KIND_MMIO, base + PAGE, PAGE),
        Err(ZX_ERR_ACCESS_DENIED),
        "other base"
    );
    assert_eq!(
        mk(mmio, ZX_RSRC_KIND_MMIO, base, PAGE + 34),
        Err(ZX_ERR_ACCESS_DENIED),
        "bigger"
    );
    assert_eq!(mk(mmio, ZX_RSRC_KIND_MMIO, base, PAGE), Ok(()), "identical");

    let mmio2 = mmio_resource(&k, base + 0x10_0000, 2 * PAGE);
    let smaller = k
        .resource_create(mmio2, ZX_RSRC_KIND_MMIO, base + 0x10_0000, PAGE, "s")
        .unwrap();
    assert_eq!(
        k.vmo_create_physical(smaller, base + 0x10_0000, 2 * PAGE)
            .map(|_| ()),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert!(
        k.vmo_create_physical(smaller, base + 0x10_0000, PAGE)
            .is_ok()
    );
}

// Resource rights (§1.2: "Resource rights: 0x800B (TRANSFER|DUPLICATE|WRITE|INSPECT)"); creating a
// child needs WRITE on the parent (Resource.CreateParentMissingWriteRightsReturnsAccessDenied);
// an invalid parent is BAD_HANDLE (Resource.CreateInvalidParentReturnsBadHandle).
#[test]
fn resource_rights_and_create_errors() {
    let k = kernel();
    let base = MMIO_BASE + 0x2100_0000;
    let mmio = mmio_resource(&k, base, PAGE);
    let b = handle_basic(&k, mmio);
    assert_eq!(b.rights, 0x800B);
    assert_eq!(b.obj_type, ZX_OBJ_TYPE_RESOURCE);
    let no_write = dup_without(&k, mmio, ZX_RIGHT_WRITE);
    assert_eq!(
        k.resource_create(no_write, ZX_RSRC_KIND_MMIO, base, PAGE, "x")
            .map(|_| ()),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.resource_create(0x7fff_fff1, ZX_RSRC_KIND_MMIO, base, PAGE, "x")
            .map(|_| ()),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let root = k.root_resource();
    // kind >= ZX_RSRC_KIND_COUNT (6): INVALID_ARGS (sys_resource_create).
    assert_eq!(
        k.resource_create(root, 6, base, PAGE, "x").map(|_| ()),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.resource_create(v, ZX_RSRC_KIND_MMIO, base, PAGE, "x")
            .map(|_| ()),
        Err(ZX_ERR_WRONG_TYPE)
    );
}

// =============================================================================================
// The translating IOMMU (issue 2 §2 "IOMMU types", §3; type and descriptor documented in
// iommu/src/zx/iommu_obj.rs: IOMMU_TYPE_TRANSLATING = 0x5654_0001, 16-byte descriptor)
// =============================================================================================

mod translating {
    use super::*;
    use iommu::{EndpointId, Engine, FaultReason, Perms};
    use std::sync::Arc;

    const ID: u64 = 0x42;

    struct T {
        k: Kernel,
        iommu: Handle,
        bti: Handle,
        dummy: Handle,
        engine: Arc<Engine>,
    }

    fn setup(min_contig: u64, aspace: u64) -> T {
        let k = kernel();
        let iommu = translating_iommu(&k, min_contig, aspace);
        let bti = k.bti_create(iommu, 0, ID).unwrap();
        let dummy = dummy_bti(&k);
        let engine = k.engine(iommu).expect("engine of a translating IOMMU");
        T {
            k,
            iommu,
            bti,
            dummy,
            engine,
        }
    }

    fn ep() -> EndpointId {
        EndpointId(ID as u32)
    }

    /// The physical page behind `iova` for a one-byte access.
    fn tr(t: &T, iova: u64, access: Perms) -> Result<u64, FaultReason> {
        t.engine
            .translate(ep(), iova, 1, access)
            .map(|s| s[0].paddr)
            .map_err(|f| f.reason)
    }

    // Issue 2: "Zircon's own IOMMU type numbers keep their meaning ... a translating type of ours
    // (a number far from Zircon's, documented)".
    #[test]
    fn type_number_and_descriptor() {
        let k = kernel();
        assert_eq!(IOMMU_TYPE_TRANSLATING, 0x5654_0001);
        let res = iommu_resource(&k);
        let ok = k.iommu_create(
            res,
            IOMMU_TYPE_TRANSLATING,
            &translating_desc(PAGE, u64::MAX),
        );
        assert!(ok.is_ok());
        assert_eq!(rights_of(&k, ok.unwrap()), 0x8003);
        for bad in [
            &translating_desc(PAGE, u64::MAX)[..15],
            &[0u8; 17][..],
            &[][..],
            &translating_desc(3 * PAGE, u64::MAX)[..],
            &translating_desc(PAGE / 2, u64::MAX)[..],
            &translating_desc(PAGE, PAGE)[..],
        ] {
            assert_eq!(
                k.iommu_create(res, IOMMU_TYPE_TRANSLATING, bad).map(|_| ()),
                Err(ZX_ERR_INVALID_ARGS),
                "desc {bad:x?}"
            );
        }
        // The dummy's engine does not exist.
        let d = dummy_iommu(&k);
        assert_eq!(k.engine(d).map(|_| ()), Err(ZX_ERR_NOT_SUPPORTED));
    }

    // ZX_INFO_BTI reports the descriptor's minimum contiguity and aspace size.
    #[test]
    fn bti_info_reports_descriptor() {
        let t = setup(4 * PAGE, 1 << 32);
        let i = bti_info(&t.k, t.bti);
        assert_eq!((i.minimum_contiguity, i.aspace_size), (4 * PAGE, 1 << 32));
        let (engine, endpoint) = t.k.bti_endpoint(t.bti).unwrap();
        assert!(Arc::ptr_eq(&engine, &t.engine));
        assert_eq!(endpoint, ep());
        // "bti_id must fit u32, else INVALID_ARGS" (IsValidBusTxnId of this IOMMU).
        assert_eq!(
            t.k.bti_create(t.iommu, 0, 1 << 32),
            Err(ZX_ERR_INVALID_ARGS)
        );
    }

    // "pins return IOVAs; Engine translate of those IOVAs by EndpointId(bti_id) gives the VMO's
    // physical pages" (the physical pages learned through a dummy-IOMMU pin of the same VMO).
    #[test]
    fn pin_returns_iovas_that_translate_to_the_vmo_pages() {
        let t = setup(PAGE, u64::MAX);
        let v = vmo(&t.k, 8 * PAGE);
        let (p_dummy, phys) = pin_pages(&t.k, t.dummy, ZX_BTI_PERM_READ, v, 0, 8).unwrap();
        let (pmt, iovas) =
            pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ | ZX_BTI_PERM_WRITE, v, 0, 8).unwrap();
        for (i, (&iova, &pa)) in iovas.iter().zip(&phys).enumerate() {
            assert_eq!(iova % PAGE, 0);
            assert_ne!(iova, 0, "device address 0 always faults");
            assert_eq!(tr(&t, iova, Perms::READ), Ok(pa), "page {i}");
            assert_eq!(tr(&t, iova + 123, Perms::WRITE), Ok(pa + 123), "page {i}");
            assert_eq!(
                tr(&t, iova, Perms::EXEC),
                Err(FaultReason::Permission),
                "page {i}"
            );
        }
        // A DMA spanning all pages translates to the pages in order.
        let whole = t.engine.translate(ep(), iovas[0], 8 * PAGE, Perms::READ);
        if iovas.windows(2).all(|w| w[1] == w[0] + PAGE) {
            let segs = whole.expect("contiguous IOVA run");
            let mut off = 0;
            for s in segs.iter() {
                for b in (0..s.len).step_by(PAGE as usize) {
                    assert_eq!(s.paddr + b, phys[((off + b) / PAGE) as usize]);
                }
                off += s.len;
            }
            assert_eq!(off, 8 * PAGE);
        }
        assert_eq!(tr(&t, 0, Perms::READ), Err(FaultReason::Unmapped));
        t.k.pmt_unpin(p_dummy).unwrap();
        // "Unpin unmaps before it unpins: once pmt_unpin returns, no DMA can reach those pages."
        t.k.pmt_unpin(pmt).unwrap();
        for &iova in &iovas {
            assert_eq!(tr(&t, iova, Perms::READ), Err(FaultReason::Unmapped));
        }
        assert_eq!(t.k.bti_iova_allocated(t.bti), Ok(0));
        assert_eq!(t.engine.stats().mappings, 0);
    }

    // Pin permissions become mapping permissions: READ-only pins refuse device writes; EXECUTE
    // pins allow instruction fetches.
    #[test]
    fn pin_permissions_are_enforced() {
        let t = setup(PAGE, u64::MAX);
        let v = vmo(&t.k, 2 * PAGE);
        let (r, ri) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
        let (w, wi) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_WRITE, v, 1, 1).unwrap();
        let (x, xi) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_EXECUTE, v, 0, 1).unwrap();
        assert!(tr(&t, ri[0], Perms::READ).is_ok());
        assert_eq!(tr(&t, ri[0], Perms::WRITE), Err(FaultReason::Permission));
        assert!(tr(&t, wi[0], Perms::WRITE).is_ok());
        assert_eq!(tr(&t, wi[0], Perms::READ), Err(FaultReason::Permission));
        assert!(tr(&t, xi[0], Perms::EXEC).is_ok());
        assert_eq!(tr(&t, xi[0], Perms::WRITE), Err(FaultReason::Permission));
        for p in [r, w, x] {
            t.k.pmt_unpin(p).unwrap();
        }
    }

    // §2.5: closing a PMT handle without unpinning: "unmap from the IOMMU; **leave the pages
    // pinned**" — quarantine unmaps immediately; release_quarantine frees the IOVAs and pins.
    #[test]
    fn quarantine_unmaps_immediately() {
        let t = setup(PAGE, u64::MAX);
        let v = vmo(&t.k, 4 * PAGE);
        let (pmt, iovas) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 0, 4).unwrap();
        assert!(tr(&t, iovas[2], Perms::READ).is_ok());
        t.k.handle_close(pmt).unwrap();
        for &iova in &iovas {
            assert_eq!(tr(&t, iova, Perms::READ), Err(FaultReason::Unmapped));
        }
        assert_eq!(bti_counts(&t.k, t.bti), (1, 1));
        assert_eq!(
            decommit(&t.k, v, 0, 4 * PAGE),
            Err(ZX_ERR_BAD_STATE),
            "still pinned"
        );
        assert_eq!(
            pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 0, 1).map(|_| ()),
            Err(ZX_ERR_BAD_STATE)
        );
        t.k.bti_release_quarantine(t.bti).unwrap();
        assert_eq!(bti_counts(&t.k, t.bti), (0, 0));
        assert_eq!(t.k.bti_iova_allocated(t.bti), Ok(0));
        assert_eq!(decommit(&t.k, v, 0, 4 * PAGE), Ok(()));
        assert_eq!(t.engine.stats().mappings, 0);
    }

    // COMPRESS uses the IOMMU's minimum contiguity: ceil(size / min) addresses, each
    // min-aligned, each covering min bytes of the VMO in order (the last possibly short).
    #[test]
    fn compress_uses_minimum_contiguity() {
        let min = 4 * PAGE;
        let t = setup(min, u64::MAX);
        let v = vmo(&t.k, 10 * PAGE);
        let (pd, phys) = pin_pages(&t.k, t.dummy, ZX_BTI_PERM_READ, v, 0, 10).unwrap();
        let mut wrong = vec![0u64; 10];
        assert_eq!(
            t.k.bti_pin(
                t.bti,
                ZX_BTI_PERM_READ | ZX_BTI_COMPRESS,
                v,
                0,
                10 * PAGE,
                &mut wrong
            )
            .map(|_| ()),
            Err(ZX_ERR_INVALID_ARGS)
        );
        let mut addrs = vec![0u64; 3];
        let pmt =
            t.k.bti_pin(
                t.bti,
                ZX_BTI_PERM_READ | ZX_BTI_COMPRESS,
                v,
                0,
                10 * PAGE,
                &mut addrs,
            )
            .unwrap();
        for (b, &a) in addrs.iter().enumerate() {
            assert_eq!(a % min, 0, "block {b} at {a:#x} not min-aligned");
            for j in 0..4u64 {
                let page = b as u64 * 4 + j;
                if page < 10 {
                    assert_eq!(tr(&t, a + j * PAGE, Perms::READ), Ok(phys[page as usize]));
                }
            }
        }
        // Without COMPRESS: one address per page still.
        let (p2, per_page) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 0, 10).unwrap();
        for (i, &a) in per_page.iter().enumerate() {
            assert_eq!(tr(&t, a, Perms::READ), Ok(phys[i]));
        }
        for p in [pmt, p2, pd] {
            t.k.pmt_unpin(p).unwrap();
        }
        assert_eq!(t.k.bti_iova_allocated(t.bti), Ok(0));
    }

    // CONTIGUOUS on a contiguous VMO: one address, one physically contiguous translation.
    #[test]
    fn contiguous_pin_translates_to_one_run() {
        let t = setup(PAGE, u64::MAX);
        let c = t.k.vmo_create_contiguous(t.bti, 8 * PAGE, 0).unwrap();
        let (pd, phys) = pin_pages(&t.k, t.dummy, ZX_BTI_PERM_READ, c, 0, 8).unwrap();
        let mut one = [0u64; 1];
        let pmt =
            t.k.bti_pin(
                t.bti,
                ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS,
                c,
                0,
                8 * PAGE,
                &mut one,
            )
            .unwrap();
        let segs = t
            .engine
            .translate(ep(), one[0], 8 * PAGE, Perms::READ)
            .unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].paddr, phys[0]);
        assert_eq!(segs[0].len, 8 * PAGE);
        t.k.pmt_unpin(pmt).unwrap();
        t.k.pmt_unpin(pd).unwrap();
    }

    // Each BTI (bus transaction ID) has its own IOVA space: another ID's endpoint cannot reach
    // these IOVAs.
    #[test]
    fn btis_have_separate_iova_spaces() {
        let t = setup(PAGE, u64::MAX);
        let other = t.k.bti_create(t.iommu, 0, ID + 1).unwrap();
        let v = vmo(&t.k, PAGE);
        let (pmt, iovas) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
        let f = t
            .engine
            .translate(EndpointId(ID as u32 + 1), iovas[0], 1, Perms::READ)
            .unwrap_err();
        assert_eq!(f.reason, FaultReason::Unmapped);
        assert_eq!(f.endpoint, EndpointId(ID as u32 + 1));
        t.k.pmt_unpin(pmt).unwrap();
        t.k.handle_close(other).unwrap();
    }

    // A pin on a snapshot child maps the child's forked pages, not the parent's.
    #[test]
    fn snapshot_child_pin_maps_forked_pages() {
        let t = setup(PAGE, u64::MAX);
        let v = vmo(&t.k, PAGE);
        write_u8(&t.k, v, 0, 9);
        let child =
            t.k.vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE)
                .unwrap();
        let (pc, ic) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, child, 0, 1).unwrap();
        let (pp, pa) = pin_pages(&t.k, t.dummy, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
        assert_ne!(tr(&t, ic[0], Perms::READ), Ok(pa[0]));
        t.k.pmt_unpin(pc).unwrap();
        t.k.pmt_unpin(pp).unwrap();
    }

    // Physical VMOs map their MMIO addresses.
    #[test]
    fn physical_vmo_pin_maps_mmio_addresses() {
        let t = setup(PAGE, u64::MAX);
        let base = MMIO_BASE + 0x3000_0000;
        let res = mmio_resource(&t.k, base, 2 * PAGE);
        let p = t.k.vmo_create_physical(res, base, 2 * PAGE).unwrap();
        let (pmt, iovas) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, p, 0, 2).unwrap();
        assert_eq!(tr(&t, iovas[1] + 5, Perms::READ), Ok(base + PAGE + 5));
        t.k.pmt_unpin(pmt).unwrap();
        assert_eq!(tr(&t, iovas[1], Perms::READ), Err(FaultReason::Unmapped));
    }

    // An exhausted IOVA space refuses the pin and leaves nothing behind (the first block is
    // reserved, so a 4-block space holds 3 blocks).
    #[test]
    fn exhausted_iova_space_refuses_pin_cleanly() {
        let t = setup(PAGE, 4 * PAGE);
        let v = vmo(&t.k, 4 * PAGE);
        let (pmt, iovas) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 0, 3).unwrap();
        assert!(iovas.iter().all(|&a| (PAGE..4 * PAGE).contains(&a)));
        let r = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 3, 1).map(|_| ());
        assert!(r.is_err(), "a full IOVA space cannot take another page");
        assert_eq!(bti_counts(&t.k, t.bti), (1, 0));
        assert_eq!(
            decommit(&t.k, v, 3 * PAGE, PAGE),
            Ok(()),
            "failed pin rolled back"
        );
        t.k.pmt_unpin(pmt).unwrap();
        let (pmt, _) =
            pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 0, 3).expect("IOVAs freed by unpin");
        t.k.pmt_unpin(pmt).unwrap();
    }

    // Closing every handle releases the BTI's IOVA space: its endpoint leaves its domain and the
    // engine ends up with no domains and no mappings.
    #[test]
    fn closing_everything_leaves_engine_empty() {
        let t = setup(PAGE, u64::MAX);
        let v = vmo(&t.k, 2 * PAGE);
        let (live, _) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
        let (leak, _) = pin_pages(&t.k, t.bti, ZX_BTI_PERM_READ, v, 1, 1).unwrap();
        t.k.handle_close(leak).unwrap();
        t.k.bti_release_quarantine(t.bti).unwrap();
        t.k.pmt_unpin(live).unwrap();
        for h in [t.bti, t.iommu, v] {
            t.k.handle_close(h).unwrap();
        }
        let st = t.engine.stats();
        assert_eq!(
            (st.domains, st.mappings, st.mapped_bytes),
            (0, 0, 0),
            "{st:?}"
        );
        assert_eq!(t.engine.endpoint_domain(ep()), None);
    }
}

// §2.5: "If the BTI has already reached zero handles when this happens, the kernel prints a
// "leaked N pages" OOPS. The PMT, its pins, and the BTI then leak forever." §2.7: "The quarantine
// is **not** cleared."
#[test]
fn pmt_closed_after_its_bti_leaks_its_pins() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 2 * PAGE);
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 0, 1).unwrap();
    let (unpinned, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 1, 1).unwrap();
    k.handle_close(bti).unwrap();
    k.pmt_unpin(unpinned).unwrap();
    k.handle_close(pmt).unwrap();
    assert_eq!(
        decommit(&k, v, 0, PAGE),
        Err(ZX_ERR_BAD_STATE),
        "leaked pin stays"
    );
    assert_eq!(decommit(&k, v, PAGE, PAGE), Ok(()));
}

// A snapshot child may be larger than its parent; the part past the parent reads as zero.
#[test]
fn snapshot_child_larger_than_parent() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    write_u8(&k, v, 0, 3);
    let c = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, 3 * PAGE)
        .unwrap();
    assert_eq!(k.vmo_get_size(c), Ok(3 * PAGE));
    assert_eq!(read_u8(&k, c, 0), 3);
    assert_eq!(read_u8(&k, c, 2 * PAGE), 0);
    write_u8(&k, c, 2 * PAGE, 4);
    assert_eq!(read_u8(&k, c, 2 * PAGE), 4);
}

// VmoSliceTestCase.NonResizable meets NonSlice: for a resizable parent the containment check
// (INVALID_ARGS) comes before the resizable refusal (NOT_SUPPORTED) — VmObjectPaged::
// CreateChildSlice checks "Slice must be wholly contained" first.
#[test]
fn slice_containment_checked_before_resizable() {
    let k = kernel();
    let r = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(
        k.vmo_create_child(r, ZX_VMO_CHILD_SLICE, 0, 2 * PAGE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(r, ZX_VMO_CHILD_SLICE, 0, PAGE),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
}
