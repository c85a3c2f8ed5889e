//! PMT handle closed without unpin: quarantine, BAD_STATE, release.

use super::*;

#[test]
fn quarantine_lifecycle() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    let (pmt, _) = pin(&k, bti, RW, vmo, 0, 2 * PS).unwrap();
    let (live, _) = pin(&k, bti, RW, vmo, 2 * PS, PS).unwrap();
    assert_eq!(bti_info(&k, bti), [PS, u64::MAX, 2, 0]);
    k.handle_close(pmt).unwrap();
    // "pmo_count does not change, and quarantine_count goes up by 1".
    assert_eq!(bti_info(&k, bti), [PS, u64::MAX, 2, 1]);
    // The pages stay pinned.
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PS),
        Err(ZX_ERR_BAD_STATE)
    );
    // New pins fail with BAD_STATE, after the range check.
    assert_eq!(
        pin(&k, bti, RW, vmo, 3 * PS, PS).unwrap_err(),
        ZX_ERR_BAD_STATE
    );
    assert_eq!(
        pin(&k, bti, RW, vmo, 4 * PS, PS).unwrap_err(),
        ZX_ERR_OUT_OF_RANGE
    );
    // ... and before the perms == 0 check.
    assert_eq!(
        k.bti_pin(bti, 0, vmo, 3 * PS, PS, &mut [0]),
        Err(ZX_ERR_BAD_STATE)
    );
    // Other BTIs are not affected.
    let other = dummy_bti(&k);
    let (p2, _) = pin(&k, other, RW, vmo, 3 * PS, PS).unwrap();
    k.pmt_unpin(p2).unwrap();
    // Release needs WRITE.
    let ro = k
        .handle_duplicate(bti, ZX_DEFAULT_BTI_RIGHTS & !ZX_RIGHT_WRITE)
        .unwrap();
    assert_eq!(k.bti_release_quarantine(ro), Err(ZX_ERR_ACCESS_DENIED));
    assert_eq!(k.bti_release_quarantine(vmo), Err(ZX_ERR_WRONG_TYPE));
    assert_eq!(k.bti_release_quarantine(bti), Ok(()));
    assert_eq!(bti_info(&k, bti), [PS, u64::MAX, 1, 0]);
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 2 * PS), Ok(()));
    // The live PMT is untouched; pins work again.
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 2 * PS, PS),
        Err(ZX_ERR_BAD_STATE)
    );
    let (p3, _) = pin(&k, bti, RW, vmo, 3 * PS, PS).unwrap();
    k.pmt_unpin(p3).unwrap();
    k.pmt_unpin(live).unwrap();
    // Releasing an empty quarantine is fine.
    assert_eq!(k.bti_release_quarantine(bti), Ok(()));
    assert_eq!(bti_info(&k, bti)[2..], [0, 0]);
}

#[test]
fn pmt_unpin_consumes_any_handle() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(PS, 0).unwrap();
    assert_eq!(k.pmt_unpin(vmo), Err(ZX_ERR_WRONG_TYPE));
    // "the non-PMT handle has still been closed".
    assert_eq!(k.vmo_get_size(vmo), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(k.pmt_unpin(0), Err(ZX_ERR_BAD_HANDLE));
    let vmo = k.vmo_create(PS, 0).unwrap();
    let (pmt, _) = pin(&k, bti, RW, vmo, 0, PS).unwrap();
    // PMT handles have only INSPECT: no duplicate.
    assert_eq!(handle_rights(&k, pmt), ZX_DEFAULT_PMT_RIGHTS);
    assert_eq!(
        k.handle_duplicate(pmt, ZX_RIGHT_SAME_RIGHTS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(k.pmt_unpin(pmt), Ok(()));
    assert_eq!(k.pmt_unpin(pmt), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(bti_info(&k, bti)[2..], [0, 0]);
}

#[test]
fn replaced_pmt_handle_still_quarantines_on_close() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(PS, 0).unwrap();
    let (pmt, _) = pin(&k, bti, RW, vmo, 0, PS).unwrap();
    let pmt = k.handle_replace(pmt, ZX_RIGHT_SAME_RIGHTS).unwrap();
    assert_eq!(bti_info(&k, bti)[3], 0);
    k.handle_close(pmt).unwrap();
    assert_eq!(bti_info(&k, bti)[3], 1);
    k.bti_release_quarantine(bti).unwrap();
}

#[test]
fn closed_bti_with_quarantine_leaks_until_kernel_drop() {
    let k = small_kernel(8);
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(PS, 0).unwrap();
    let (pmt, _) = pin(&k, bti, RW, vmo, 0, PS).unwrap();
    k.handle_close(pmt).unwrap();
    k.handle_close(bti).unwrap();
    k.handle_close(vmo).unwrap();
    // The page stays pinned and allocated: nobody can release the quarantine any more.
    assert_eq!(k.physical_memory().free_pages(), 7);
    let mem = k.physical_memory();
    drop(k);
    assert_eq!(mem.free_pages(), 8);
}

#[test]
fn unpinned_page_is_free_to_decommit_right_away() {
    // Bti.NoDelayedUnpin: unpin is synchronous.
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(PS, 0).unwrap();
    for _ in 0..100 {
        let (pmt, _) = pin(&k, bti, RW, vmo, 0, PS).unwrap();
        k.pmt_unpin(pmt).unwrap();
        let child = k
            .vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PS)
            .unwrap();
        k.handle_close(child).unwrap();
        assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PS), Ok(()));
    }
}
