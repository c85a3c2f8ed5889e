//! VMO sizes, content size, names, range ops, cache policy, info records.

use super::*;

#[test]
fn create_sizes_and_options() {
    let k = small_kernel(4);
    // Sizes are limited as Zircon's, not by the pool.
    let huge = k.vmo_create(1 << 50, 0).unwrap();
    assert_eq!(k.vmo_get_size(huge), Ok(1 << 50));
    let max = vmo::max_vmo_size(PS);
    assert!(k.vmo_create(max, 0).is_ok());
    assert_eq!(k.vmo_create(max + 1, 0), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(k.vmo_create(u64::MAX, 0), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(k.vmo_create(PS, 1 << 10), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(
        k.vmo_create(PS, ZX_VMO_TRAP_DIRTY),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create(PS, ZX_VMO_RESIZABLE | ZX_VMO_UNBOUNDED),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let unbounded = k.vmo_create(123, ZX_VMO_UNBOUNDED).unwrap();
    assert_eq!(k.vmo_get_size(unbounded), Ok(max));
    let zero = k.vmo_create(0, 0).unwrap();
    assert_eq!(k.vmo_get_size(zero), Ok(0));
    // Only committing more than the pool fails.
    assert_eq!(
        k.vmo_op_range(huge, ZX_VMO_OP_COMMIT, 0, 5 * PS),
        Err(ZX_ERR_NO_MEMORY)
    );
    assert_eq!(k.vmo_op_range(huge, ZX_VMO_OP_DECOMMIT, 0, 8 * PS), Ok(()));
    assert_eq!(
        k.vmo_op_range(huge, ZX_VMO_OP_COMMIT, (1 << 50) - 4 * PS, 4 * PS),
        Ok(())
    );
    assert_eq!(k.vmo_write(huge, &[1], 0), Err(ZX_ERR_NO_MEMORY));
    // Default rights.
    assert_eq!(handle_rights(&k, huge), ZX_DEFAULT_VMO_RIGHTS);
    let r = k.vmo_create(PS, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(
        handle_rights(&k, r),
        ZX_DEFAULT_VMO_RIGHTS | ZX_RIGHT_RESIZE
    );
}

#[test]
fn read_write_bounds() {
    let k = kernel();
    let vmo = k.vmo_create(2 * PS, 0).unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        k.vmo_read(vmo, &mut buf, 2 * PS - 8),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_read(vmo, &mut buf, u64::MAX - 4),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(k.vmo_read(vmo, &mut [], 2 * PS), Ok(()));
    assert_eq!(
        k.vmo_read(vmo, &mut [], 2 * PS + 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(k.vmo_write(vmo, &buf, u64::MAX), Err(ZX_ERR_OUT_OF_RANGE));
    // Uncommitted pages read as zero without being committed.
    buf.fill(9);
    k.vmo_read(vmo, &mut buf, 100).unwrap();
    assert_eq!(buf, [0; 16]);
    assert_eq!(committed_bytes(&k, vmo), 0);
    // A write across a page boundary.
    k.vmo_write(vmo, b"0123456789", PS - 5).unwrap();
    let mut out = [0u8; 10];
    k.vmo_read(vmo, &mut out, PS - 5).unwrap();
    assert_eq!(&out, b"0123456789");
    assert_eq!(committed_bytes(&k, vmo), 2 * PS);
    // Rights: read needs READ, write needs WRITE; wrong type before rights.
    let no_read = k.handle_duplicate(vmo, ZX_RIGHT_WRITE).unwrap();
    assert_eq!(k.vmo_read(no_read, &mut out, 0), Err(ZX_ERR_ACCESS_DENIED));
    let no_write = k.handle_duplicate(vmo, ZX_RIGHT_READ).unwrap();
    assert_eq!(k.vmo_write(no_write, &out, 0), Err(ZX_ERR_ACCESS_DENIED));
    let bti = dummy_bti(&k);
    assert_eq!(k.vmo_read(bti, &mut out, 0), Err(ZX_ERR_WRONG_TYPE));
}

#[test]
fn content_size_follows_the_kernel() {
    let k = kernel();
    let vmo = k.vmo_create(5000, ZX_VMO_RESIZABLE).unwrap();
    let content = |h| {
        let mut b = [0u8; 8];
        k.object_get_property(h, ZX_PROP_VMO_CONTENT_SIZE, &mut b)
            .unwrap();
        u64::from_le_bytes(b)
    };
    assert_eq!(content(vmo), 5000);
    assert_eq!(k.vmo_get_size(vmo), Ok(2 * PS));
    k.vmo_set_size(vmo, 5461).unwrap();
    assert_eq!(content(vmo), 5461);
    // set_size zeroes the tail of the last page.
    k.vmo_write(vmo, &[7u8; 100], 5461 - 100).unwrap();
    k.vmo_set_size(vmo, 5400).unwrap();
    let mut b = [1u8; 61];
    k.vmo_read(vmo, &mut b, 5400).unwrap();
    assert_eq!(b, [0; 61]);
    // The content size may exceed the VMO size; a smaller one zeroes the rest.
    k.object_set_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &(1u64 << 40).to_le_bytes())
        .unwrap();
    assert_eq!(content(vmo), 1 << 40);
    assert_eq!(k.vmo_get_size(vmo), Ok(2 * PS));
    k.vmo_write(vmo, &[5u8; 16], 0).unwrap();
    k.object_set_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &8u64.to_le_bytes())
        .unwrap();
    let mut b = [0u8; 16];
    k.vmo_read(vmo, &mut b, 0).unwrap();
    assert_eq!(b, [5, 5, 5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
    // Errors.
    assert_eq!(
        k.object_get_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &mut [0; 7]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    assert_eq!(
        k.object_set_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &[0; 7]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    let bti = dummy_bti(&k);
    assert_eq!(
        k.object_get_property(bti, ZX_PROP_VMO_CONTENT_SIZE, &mut [0; 8]),
        Err(ZX_ERR_WRONG_TYPE)
    );
    let no_get = k.handle_duplicate(vmo, ZX_RIGHT_READ).unwrap();
    assert_eq!(
        k.object_get_property(no_get, ZX_PROP_VMO_CONTENT_SIZE, &mut [0; 8]),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.object_get_property(vmo, 12345, &mut [0; 64]),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
}

#[test]
fn names() {
    let k = kernel();
    let vmo = k.vmo_create(PS, 0).unwrap();
    let mut name = [0xffu8; 32];
    k.object_get_property(vmo, ZX_PROP_NAME, &mut name).unwrap();
    assert_eq!(name, [0; 32]);
    k.object_set_property(vmo, ZX_PROP_NAME, &[b'n'; 40])
        .unwrap();
    k.object_get_property(vmo, ZX_PROP_NAME, &mut name).unwrap();
    assert_eq!(&name[..31], &[b'n'; 31]);
    assert_eq!(name[31], 0);
    assert_eq!(
        k.object_get_property(vmo, ZX_PROP_NAME, &mut [0; 31]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    // Children copy the name when the parent handle has GET_PROPERTY.
    let child = k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, PS).unwrap();
    let mut cname = [0u8; 32];
    k.object_get_property(child, ZX_PROP_NAME, &mut cname)
        .unwrap();
    assert_eq!(cname, name);
    assert_eq!(&vmo_info(&k, vmo)[8..40], &name);
    // BTIs are nameable (default rights include the property rights).
    let bti = dummy_bti(&k);
    k.object_set_property(bti, ZX_PROP_NAME, b"my-bti").unwrap();
    k.object_get_property(bti, ZX_PROP_NAME, &mut name).unwrap();
    assert_eq!(&name[..7], b"my-bti\0");
}

#[test]
fn resize_rules() {
    let k = kernel();
    let fixed = k.vmo_create(PS, 0).unwrap();
    assert_eq!(k.vmo_set_size(fixed, 2 * PS), Err(ZX_ERR_UNAVAILABLE));
    let r = k.vmo_create(PS, ZX_VMO_RESIZABLE).unwrap();
    let no_resize = k.handle_duplicate(r, ZX_DEFAULT_VMO_RIGHTS).unwrap();
    assert_eq!(k.vmo_set_size(no_resize, 2 * PS), Err(ZX_ERR_ACCESS_DENIED));
    let no_write = k.handle_duplicate(r, ZX_RIGHT_RESIZE).unwrap();
    assert_eq!(k.vmo_set_size(no_write, 2 * PS), Err(ZX_ERR_ACCESS_DENIED));
    assert_eq!(k.vmo_set_size(r, u64::MAX), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(
        k.vmo_set_size(r, vmo::max_vmo_size(PS) + 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(k.vmo_set_size(r, 1 << 45), Ok(()));
    assert_eq!(k.vmo_get_size(r), Ok(1 << 45));
    let bti = dummy_bti(&k);
    let (pmt, _) = pin(&k, bti, RW, r, 3 * PS, PS).unwrap();
    // "Shrinking across any pinned page: ZX_ERR_BAD_STATE (Bti.Resize)."
    assert_eq!(k.vmo_set_size(r, 2 * PS), Err(ZX_ERR_BAD_STATE));
    assert_eq!(k.vmo_set_size(r, 4 * PS), Ok(()));
    k.pmt_unpin(pmt).unwrap();
    assert_eq!(k.vmo_set_size(r, 0), Ok(()));
    assert_eq!(committed_bytes(&k, r), 0);
}

#[test]
fn decommit_check_order() {
    let k = kernel();
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    let ro = k.handle_duplicate(vmo, ZX_RIGHT_READ).unwrap();
    assert_eq!(
        k.vmo_op_range(ro, ZX_VMO_OP_DECOMMIT, 0, PS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, u64::MAX, 2),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 3 * PS, 2 * PS),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // Out of range wins over misalignment; length 0 in range is OK even unaligned.
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 3 * PS + 1, 2 * PS),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 5, 0), Ok(()));
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 1, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(k.vmo_op_range(vmo, 0xdead, 0, PS), Err(ZX_ERR_INVALID_ARGS));
    k.vmo_write(vmo, &[1; 16], PS).unwrap();
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 4 * PS), Ok(()));
    let mut b = [1u8; 16];
    k.vmo_read(vmo, &mut b, PS).unwrap();
    assert_eq!(b, [0; 16]);
    // Contiguous: NOT_SUPPORTED (no page loaning).
    let bti = dummy_bti(&k);
    let contig = k.vmo_create_contiguous(bti, PS, 0).unwrap();
    assert_eq!(
        k.vmo_op_range(contig, ZX_VMO_OP_DECOMMIT, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
}

#[test]
fn other_range_ops() {
    let k = kernel();
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    let wo = k.handle_duplicate(vmo, ZX_RIGHT_WRITE).unwrap();
    let ro = k.handle_duplicate(vmo, ZX_RIGHT_READ).unwrap();
    // COMMIT rounds out and range-checks.
    assert_eq!(
        k.vmo_op_range(ro, ZX_VMO_OP_COMMIT, 0, PS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, PS + 1, 10), Ok(()));
    assert_eq!(committed_bytes(&k, vmo), PS);
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 4 * PS - 1, 2),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, u64::MAX - 1, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // ZERO is unaligned-capable.
    k.vmo_write(vmo, &[3; 32], 0).unwrap();
    assert_eq!(
        k.vmo_op_range(ro, ZX_VMO_OP_ZERO, 0, 8),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    k.vmo_op_range(vmo, ZX_VMO_OP_ZERO, 4, 8).unwrap();
    let mut b = [0u8; 16];
    k.vmo_read(vmo, &mut b, 0).unwrap();
    assert_eq!(b, [3, 3, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 3, 3, 3, 3]);
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_ZERO, 4 * PS, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // Cache ops: READ right, non-zero length, in range.
    assert_eq!(
        k.vmo_op_range(wo, ZX_VMO_OP_CACHE_SYNC, 0, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_CACHE_CLEAN, 0, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, 0, 4 * PS + 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_CACHE_SYNC, 10, 100), Ok(()));
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_CACHE_INVALIDATE, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    // Locking needs a discardable VMO.
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_LOCK, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DONT_NEED, 0, u64::MAX),
        Ok(())
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_PREFETCH, 0, 5 * PS),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
}

#[test]
fn cache_policy_rules() {
    let k = kernel();
    let vmo = k.vmo_create(PS, 0).unwrap();
    assert_eq!(k.vmo_set_cache_policy(vmo, 4), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(k.vmo_set_cache_policy(0, 4), Err(ZX_ERR_INVALID_ARGS));
    let no_map = k.handle_duplicate(vmo, ZX_RIGHT_READ).unwrap();
    assert_eq!(
        k.vmo_set_cache_policy(no_map, ZX_CACHE_POLICY_UNCACHED),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    k.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_UNCACHED)
        .unwrap();
    assert_eq!(u32_at(&vmo_info(&k, vmo), 100), ZX_CACHE_POLICY_UNCACHED);
    // "VMO has been marked uncached and is not directly readable."
    assert_eq!(k.vmo_read(vmo, &mut [0; 4], 0), Err(ZX_ERR_BAD_STATE));
    assert_eq!(k.vmo_write(vmo, &[0; 4], 0), Err(ZX_ERR_BAD_STATE));
    // Uncached with no committed pages can go back.
    k.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_CACHED).unwrap();
    k.vmo_write(vmo, &[1], 0).unwrap();
    let child = k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, PS).unwrap();
    assert_eq!(
        k.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_UNCACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(
        k.vmo_set_cache_policy(child, ZX_CACHE_POLICY_UNCACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    k.handle_close(child).unwrap();
    let bti = dummy_bti(&k);
    let (pmt, _) = pin(&k, bti, RW, vmo, 0, PS).unwrap();
    assert_eq!(
        k.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_UNCACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    k.pmt_unpin(pmt).unwrap();
    k.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_WRITE_COMBINING)
        .unwrap();
    // Committed and not cached: no further change.
    assert_eq!(
        k.vmo_set_cache_policy(vmo, ZX_CACHE_POLICY_CACHED),
        Err(ZX_ERR_BAD_STATE)
    );
}

#[test]
fn info_records() {
    let k = kernel();
    let vmo = k.vmo_create(3 * PS, ZX_VMO_RESIZABLE).unwrap();
    k.vmo_write(vmo, &[1], 0).unwrap();
    let info = vmo_info(&k, vmo);
    assert_eq!(u64_at(&info, 0), k.object_koid(vmo).unwrap());
    assert_eq!(u64_at(&info, 40), 3 * PS);
    assert_eq!(u64_at(&info, 48), 0);
    assert_eq!(
        u32_at(&info, 80),
        ZX_INFO_VMO_TYPE_PAGED | ZX_INFO_VMO_RESIZABLE | ZX_INFO_VMO_VIA_HANDLE
    );
    assert_eq!(u64_at(&info, 88), PS);
    assert_eq!(u32_at(&info, 96), ZX_DEFAULT_VMO_RIGHTS | ZX_RIGHT_RESIZE);
    assert_eq!(u32_at(&info, 100), ZX_CACHE_POLICY_CACHED);
    // Short buffers and older versions.
    assert_eq!(
        k.object_get_info(vmo, ZX_INFO_VMO, &mut [0; 175]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    let mut v1 = [0u8; 104];
    assert_eq!(k.object_get_info(vmo, ZX_INFO_VMO_V1, &mut v1), Ok((1, 1)));
    assert_eq!(&v1[..], &info[..104]);
    // Handle basic.
    let mut b = [0u8; 32];
    assert_eq!(
        k.object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &mut b),
        Ok((1, 1))
    );
    assert_eq!(u32_at(&b, 12), ZX_OBJ_TYPE_VMO);
    assert_eq!(
        k.object_get_info(vmo, ZX_INFO_HANDLE_BASIC, &mut [0; 31]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    assert_eq!(
        k.object_get_info(vmo, ZX_INFO_HANDLE_VALID, &mut []),
        Ok((0, 0))
    );
    assert_eq!(
        k.object_get_info(0, ZX_INFO_HANDLE_VALID, &mut []),
        Err(ZX_ERR_BAD_HANDLE)
    );
    assert_eq!(
        k.object_get_info(vmo, ZX_INFO_BTI, &mut [0; 32]),
        Err(ZX_ERR_WRONG_TYPE)
    );
    assert_eq!(
        k.object_get_info(0, 9999, &mut [0; 32]),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    // BTI info needs INSPECT.
    let bti = dummy_bti(&k);
    let no_inspect = k.handle_duplicate(bti, ZX_RIGHT_MAP).unwrap();
    assert_eq!(
        k.object_get_info(no_inspect, ZX_INFO_BTI, &mut [0; 32]),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.object_get_info(bti, ZX_INFO_BTI, &mut [0; 31]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    // Contiguous VMOs.
    let contig = k.vmo_create_contiguous(bti, 2 * PS, 0).unwrap();
    let info = vmo_info(&k, contig);
    assert_eq!(
        u32_at(&info, 80),
        ZX_INFO_VMO_TYPE_PAGED | ZX_INFO_VMO_VIA_HANDLE | ZX_INFO_VMO_CONTIGUOUS
    );
    assert_eq!(u64_at(&info, 88), 2 * PS);
}

#[test]
fn contiguous_create_checks() {
    let k = small_kernel(64);
    let bti = dummy_bti(&k);
    assert_eq!(k.vmo_create_contiguous(bti, 0, 0), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(
        k.vmo_create_contiguous(bti, PS, 11),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_contiguous(bti, PS, 64),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(k.vmo_create_contiguous(0, PS, 0), Err(ZX_ERR_BAD_HANDLE));
    let no_map = k.handle_duplicate(bti, ZX_RIGHT_READ).unwrap();
    assert_eq!(
        k.vmo_create_contiguous(no_map, PS, 0),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.vmo_create_contiguous(bti, u64::MAX, 0),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_contiguous(bti, 65 * PS, 0),
        Err(ZX_ERR_NO_MEMORY)
    );
    let v = k.vmo_create_contiguous(bti, 3 * PS + 1, 14).unwrap();
    assert_eq!(k.vmo_get_size(v), Ok(4 * PS));
    let mut b = [0u8; 8];
    k.object_get_property(v, ZX_PROP_VMO_CONTENT_SIZE, &mut b)
        .unwrap();
    assert_eq!(u64::from_le_bytes(b), 3 * PS + 1);
    assert_eq!(handle_rights(&k, v), ZX_DEFAULT_VMO_RIGHTS);
    assert_eq!(k.vmo_set_size(v, PS), Err(ZX_ERR_UNAVAILABLE));
    let mut one = [0];
    let pmt = k
        .bti_pin(bti, RW | ZX_BTI_CONTIGUOUS, v, 0, 4 * PS, &mut one)
        .unwrap();
    assert_eq!(one[0] % (1 << 14), 0);
    k.pmt_unpin(pmt).unwrap();
    // A slice of a contiguous VMO is contiguous and keeps the pages after the parent closes.
    let slice = k.vmo_create_child(v, ZX_VMO_CHILD_SLICE, PS, PS).unwrap();
    k.handle_close(v).unwrap();
    let pmt = k
        .bti_pin(bti, RW | ZX_BTI_CONTIGUOUS, slice, 0, PS, &mut one)
        .unwrap();
    k.pmt_unpin(pmt).unwrap();
}
