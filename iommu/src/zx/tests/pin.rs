//! zx_bti_pin: check order, pin counts, address lists.

use super::*;

#[test]
fn check_order_bti_then_alignment_then_vmo() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    let mut a = [0; 4];
    // 1. BTI handle first: a bad BTI wins over every other problem.
    assert_eq!(
        k.bti_pin(0, 0x1234, 0, 1, 3, &mut a),
        Err(ZX_ERR_BAD_HANDLE)
    );
    assert_eq!(
        k.bti_pin(vmo, RW, vmo, 0, 4 * PS, &mut a),
        Err(ZX_ERR_WRONG_TYPE)
    );
    let bti_no_map = k
        .handle_duplicate(bti, ZX_DEFAULT_BTI_RIGHTS & !ZX_RIGHT_MAP)
        .unwrap();
    assert_eq!(
        k.bti_pin(bti_no_map, RW, 0, 1, 3, &mut a),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // 2. Alignment and kMaxAddrs before the VMO lookup.
    assert_eq!(
        k.bti_pin(bti, RW, 0, 1, PS, &mut a),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.bti_pin(bti, RW, 0, 0, 3, &mut a),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let mut many = vec![0; BTI_PIN_MAX_ADDRS + 1];
    assert_eq!(
        k.bti_pin(bti, RW, 0, 0, PS, &mut many),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // 3. VMO handle.
    assert_eq!(
        k.bti_pin(bti, RW, 0, 0, 4 * PS, &mut a),
        Err(ZX_ERR_BAD_HANDLE)
    );
    assert_eq!(
        k.bti_pin(bti, RW, bti, 0, 4 * PS, &mut a),
        Err(ZX_ERR_WRONG_TYPE)
    );
    let vmo_no_map = k
        .handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_MAP)
        .unwrap();
    assert_eq!(
        k.bti_pin(bti, RW, vmo_no_map, 0, 4 * PS, &mut a),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

#[test]
fn check_order_rights_then_options_then_range() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    let ro = k
        .handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_WRITE)
        .unwrap();
    let wo = k
        .handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_READ)
        .unwrap();
    let mut a = [0; 4];
    // 4. Rights before unknown option bits: "READ|0x100 on a VMO without READ returns
    // ACCESS_DENIED".
    assert_eq!(
        k.bti_pin(bti, ZX_BTI_PERM_READ | 0x100, wo, 0, 4 * PS, &mut a),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.bti_pin(bti, ZX_BTI_PERM_WRITE, ro, 0, 4 * PS, &mut a),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // EXECUTE needs READ, not EXECUTE (VMO handles have no EXECUTE right by default).
    assert_eq!(
        k.bti_pin(bti, ZX_BTI_PERM_EXECUTE, wo, 0, 4 * PS, &mut a),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let (pmt, _) = pin(&k, bti, ZX_BTI_PERM_EXECUTE, ro, 0, 4 * PS).unwrap();
    k.pmt_unpin(pmt).unwrap();
    // 5/6. Options.
    assert_eq!(
        k.bti_pin(bti, RW | 0x100, vmo, 0, 4 * PS, &mut a),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.bti_pin(
            bti,
            RW | ZX_BTI_COMPRESS | ZX_BTI_CONTIGUOUS,
            vmo,
            0,
            4 * PS,
            &mut a
        ),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.bti_pin(bti, RW | ZX_BTI_CONTIGUOUS, vmo, 0, 4 * PS, &mut [0]),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // 8a. size 0.
    assert_eq!(
        k.bti_pin(bti, RW, vmo, 0, 0, &mut []),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // 8b. OUT_OF_RANGE comes before the address count check (VmoTestCase.PinTests).
    assert_eq!(
        k.bti_pin(bti, RW, vmo, PS, 4 * PS, &mut a[..3]),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.bti_pin(bti, RW, vmo, u64::MAX - PS + 1, 2 * PS, &mut a[..2]),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // 8d. perms == 0 fails in the IOMMU map, after the range check.
    assert_eq!(
        k.bti_pin(bti, ZX_BTI_COMPRESS, vmo, PS, 4 * PS, &mut a),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.bti_pin(bti, 0, vmo, 0, 4 * PS, &mut a),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.bti_pin(bti, ZX_BTI_COMPRESS, vmo, 0, 4 * PS, &mut a),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // 10. Address count mismatch; the PMT is unpinned and destroyed, never quarantined.
    assert_eq!(
        k.bti_pin(bti, RW, vmo, 0, 4 * PS, &mut a[..3]),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(bti_info(&k, bti), [PS, u64::MAX, 0, 0]);
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 4 * PS), Ok(()));
}

#[test]
fn thirty_one_pins_then_unavailable() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(2 * PS, 0).unwrap();
    let mut pmts = Vec::new();
    for _ in 0..MAX_PIN_COUNT {
        pmts.push(pin(&k, bti, ZX_BTI_PERM_READ, vmo, 0, 2 * PS).unwrap().0);
    }
    assert_eq!(
        pin(&k, bti, ZX_BTI_PERM_READ, vmo, PS, PS).unwrap_err(),
        ZX_ERR_UNAVAILABLE
    );
    assert_eq!(bti_info(&k, bti)[2], 31);
    k.pmt_unpin(pmts.pop().unwrap()).unwrap();
    let again = pin(&k, bti, ZX_BTI_PERM_READ, vmo, 0, PS).unwrap().0;
    k.pmt_unpin(again).unwrap();
    for p in pmts {
        k.pmt_unpin(p).unwrap();
    }
    assert_eq!(bti_info(&k, bti)[2], 0);
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 2 * PS), Ok(()));
}

#[test]
fn unavailable_rolls_back_partial_pins() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(2 * PS, 0).unwrap();
    let mut pmts = Vec::new();
    for _ in 0..31 {
        pmts.push(pin(&k, bti, ZX_BTI_PERM_READ, vmo, PS, PS).unwrap().0);
    }
    // Page 0 gets a pin before page 1 fails; it must be rolled back.
    assert_eq!(
        pin(&k, bti, ZX_BTI_PERM_READ, vmo, 0, 2 * PS).unwrap_err(),
        ZX_ERR_UNAVAILABLE
    );
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PS), Ok(()));
    for p in pmts {
        k.pmt_unpin(p).unwrap();
    }
}

#[test]
fn pin_commits_and_returns_physical_pages() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(8 * PS, 0).unwrap();
    assert_eq!(committed_bytes(&k, vmo), 0);
    let (pmt, addrs) = pin(&k, bti, RW, vmo, 2 * PS, 4 * PS).unwrap();
    assert_eq!(committed_bytes(&k, vmo), 4 * PS);
    for a in &addrs {
        assert_eq!(a % PS, 0);
        assert!((0x1_0000_0000..0x1_4000_0000).contains(a));
    }
    // Identity: what the device writes at the address is what the VMO reads.
    k.physical_memory().write(addrs[1] + 5, b"dma").unwrap();
    let mut buf = [0; 3];
    k.vmo_read(vmo, &mut buf, 3 * PS + 5).unwrap();
    assert_eq!(&buf, b"dma");
    // Pinned pages cannot be decommitted or resized away.
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 8 * PS),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 2 * PS), Ok(()));
    k.pmt_unpin(pmt).unwrap();
    // "Page contents and commitment are not changed."
    assert_eq!(committed_bytes(&k, vmo), 4 * PS);
}

#[test]
fn compress_and_contiguous_address_counts() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let contig = k.vmo_create_contiguous(bti, 4 * PS, 0).unwrap();
    let mut one = [0];
    let pmt = k
        .bti_pin(bti, RW | ZX_BTI_CONTIGUOUS, contig, PS, 3 * PS, &mut one)
        .unwrap();
    let (pmt2, pages) = pin(&k, bti, RW, contig, 0, 4 * PS).unwrap();
    assert_eq!(one[0], pages[1]);
    for w in pages.windows(2) {
        assert_eq!(w[1], w[0] + PS);
    }
    // Dummy IOMMU: minimum contiguity is one page, so COMPRESS gives one address per page.
    let (pmt3, compressed) = pin(&k, bti, RW | ZX_BTI_COMPRESS, contig, 0, 4 * PS).unwrap();
    assert_eq!(compressed, pages);
    for p in [pmt, pmt2, pmt3] {
        k.pmt_unpin(p).unwrap();
    }
}

#[test]
fn pmt_keeps_vmo_alive() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(PS, 0).unwrap();
    k.vmo_write(vmo, b"kept", 0).unwrap();
    let (pmt, addrs) = pin(&k, bti, RW, vmo, 0, PS).unwrap();
    k.handle_close(vmo).unwrap();
    let mut buf = [0; 4];
    k.physical_memory().read(addrs[0], &mut buf).unwrap();
    assert_eq!(&buf, b"kept");
    let free_before = k.physical_memory().free_pages();
    k.pmt_unpin(pmt).unwrap();
    // The last reference went away with the PMT: the page is freed.
    assert_eq!(k.physical_memory().free_pages(), free_before + 1);
}

#[test]
fn slice_pin_is_checked_against_the_slice() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(8 * PS, 0).unwrap();
    let slice = k
        .vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 2 * PS, 2 * PS)
        .unwrap();
    assert_eq!(
        pin(&k, bti, RW, slice, PS, 2 * PS).unwrap_err(),
        ZX_ERR_OUT_OF_RANGE
    );
    let (pmt, a) = pin(&k, bti, RW, slice, 0, 2 * PS).unwrap();
    let (pmt2, b) = pin(&k, bti, RW, vmo, 2 * PS, 2 * PS).unwrap();
    assert_eq!(a, b);
    // The parent's pages are pinned through the slice.
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 2 * PS, PS),
        Err(ZX_ERR_BAD_STATE)
    );
    k.pmt_unpin(pmt).unwrap();
    k.pmt_unpin(pmt2).unwrap();
}

#[test]
fn pin_no_memory_with_a_small_pool() {
    let k = small_kernel(4);
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(1 << 40, 0).unwrap();
    assert_eq!(
        pin(&k, bti, RW, vmo, 0, 8 * PS).unwrap_err(),
        ZX_ERR_NO_MEMORY
    );
    assert_eq!(bti_info(&k, bti)[2], 0);
    let (pmt, _) = pin(&k, bti, RW, vmo, 0, 4 * PS).unwrap();
    k.pmt_unpin(pmt).unwrap();
}

#[test]
fn pin_of_a_closed_bti_is_impossible_but_live_pmts_unpin() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(PS, 0).unwrap();
    let (pmt, _) = pin(&k, bti, RW, vmo, 0, PS).unwrap();
    k.handle_close(bti).unwrap();
    assert_eq!(k.pmt_unpin(pmt), Ok(()));
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PS), Ok(()));
}
