//! Slices, snapshots and ZX_VMO_ZERO_CHILDREN.

use super::*;

#[test]
fn zero_children_signal() {
    let k = kernel();
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    assert_eq!(
        signals(&k, vmo) & ZX_VMO_ZERO_CHILDREN,
        ZX_VMO_ZERO_CHILDREN
    );
    let child = k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, PS).unwrap();
    assert_eq!(signals(&k, vmo) & ZX_VMO_ZERO_CHILDREN, 0);
    assert_eq!(u64_at(&vmo_info(&k, vmo), 56), 1);
    assert_eq!(
        u64_at(&vmo_info(&k, child), 48),
        k.object_koid(vmo).unwrap()
    );
    // A duplicate handle keeps the child alive.
    let dup = k.handle_duplicate(child, ZX_RIGHT_SAME_RIGHTS).unwrap();
    k.handle_close(child).unwrap();
    assert_eq!(signals(&k, vmo) & ZX_VMO_ZERO_CHILDREN, 0);
    k.handle_close(dup).unwrap();
    assert_eq!(
        signals(&k, vmo) & ZX_VMO_ZERO_CHILDREN,
        ZX_VMO_ZERO_CHILDREN
    );
    assert_eq!(u64_at(&vmo_info(&k, vmo), 56), 0);
}

#[test]
fn zero_children_with_grandchild_closed_last() {
    let k = kernel();
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    let child = k
        .vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PS)
        .unwrap();
    let grandchild = k
        .vmo_create_child(child, ZX_VMO_CHILD_SLICE, 0, PS)
        .unwrap();
    k.handle_close(child).unwrap();
    // The grandchild was re-homed to vmo.
    assert_eq!(signals(&k, vmo) & ZX_VMO_ZERO_CHILDREN, 0);
    assert_eq!(
        u64_at(&vmo_info(&k, grandchild), 48),
        k.object_koid(vmo).unwrap()
    );
    k.handle_close(grandchild).unwrap();
    assert_eq!(
        signals(&k, vmo) & ZX_VMO_ZERO_CHILDREN,
        ZX_VMO_ZERO_CHILDREN
    );
}

#[test]
fn zero_children_held_by_a_pmt() {
    // Bti.Clone: a PMT holding a ref to a child VMO keeps the signal deasserted.
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    let child = k
        .vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 4 * PS)
        .unwrap();
    let (pmt, _) = pin(&k, bti, RW, child, 0, PS).unwrap();
    k.handle_close(child).unwrap();
    assert_eq!(signals(&k, vmo) & ZX_VMO_ZERO_CHILDREN, 0);
    k.pmt_unpin(pmt).unwrap();
    assert_eq!(
        signals(&k, vmo) & ZX_VMO_ZERO_CHILDREN,
        ZX_VMO_ZERO_CHILDREN
    );
}

#[test]
fn wait_for_zero_children_from_another_thread() {
    let k = Arc::new(kernel());
    let vmo = k.vmo_create(PS, 0).unwrap();
    let child = k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, PS).unwrap();
    let k2 = k.clone();
    let t =
        std::thread::spawn(move || k2.object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE));
    std::thread::sleep(std::time::Duration::from_millis(20));
    k.handle_close(child).unwrap();
    assert_eq!(
        t.join().unwrap().map(|s| s & ZX_VMO_ZERO_CHILDREN),
        Ok(ZX_VMO_ZERO_CHILDREN)
    );
}

#[test]
fn slice_checks_and_sharing() {
    let k = kernel();
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    // "Slice must be wholly contained" -> INVALID_ARGS.
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 2 * PS, 3 * PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, u64::MAX - PS + 1, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 1, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE | ZX_VMO_CHILD_RESIZABLE, 0, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, u64::MAX),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    let resizable = k.vmo_create(PS, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(
        k.vmo_create_child(resizable, ZX_VMO_CHILD_SLICE, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    // An unaligned size is rounded up; content size stays unrounded.
    let slice = k
        .vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, PS, PS + 1)
        .unwrap();
    assert_eq!(k.vmo_get_size(slice), Ok(2 * PS));
    let mut cs = [0u8; 8];
    k.object_get_property(slice, ZX_PROP_VMO_CONTENT_SIZE, &mut cs)
        .unwrap();
    assert_eq!(u64::from_le_bytes(cs), PS + 1);
    k.vmo_write(slice, b"via slice", 10).unwrap();
    let mut buf = [0u8; 9];
    k.vmo_read(vmo, &mut buf, PS + 10).unwrap();
    assert_eq!(&buf, b"via slice");
    assert_eq!(
        k.vmo_read(slice, &mut buf, 2 * PS - 8),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // Slices are not resizable and report no committed memory of their own.
    assert_eq!(k.vmo_set_size(slice, PS), Err(ZX_ERR_UNAVAILABLE));
    assert_eq!(committed_bytes(&k, slice), 0);
    assert_eq!(committed_bytes(&k, vmo), PS);
    // Decommit through a slice reaches the parent's pages.
    k.vmo_op_range(slice, ZX_VMO_OP_DECOMMIT, 0, PS).unwrap();
    assert_eq!(committed_bytes(&k, vmo), 0);
    // Slice rights: no RESIZE, GET/SET_PROPERTY always.
    assert_eq!(handle_rights(&k, slice), ZX_DEFAULT_VMO_RIGHTS);
}

#[test]
fn snapshot_isolation_and_rights() {
    let k = kernel();
    let vmo = k.vmo_create(2 * PS, 0).unwrap();
    k.vmo_write(vmo, b"before", 0).unwrap();
    let ro = k
        .handle_duplicate(vmo, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE | ZX_RIGHT_MAP)
        .unwrap();
    let snap = k
        .vmo_create_child(ro, ZX_VMO_CHILD_SNAPSHOT, 0, 3 * PS)
        .unwrap();
    // Snapshots gain WRITE and the property rights.
    let rights = handle_rights(&k, snap);
    assert_eq!(
        rights,
        ZX_RIGHT_READ
            | ZX_RIGHT_DUPLICATE
            | ZX_RIGHT_MAP
            | ZX_RIGHT_WRITE
            | ZX_RIGHT_GET_PROPERTY
            | ZX_RIGHT_SET_PROPERTY
    );
    k.vmo_write(vmo, b"AFTER!", 0).unwrap();
    let mut buf = [0u8; 6];
    k.vmo_read(snap, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"before");
    k.vmo_write(snap, b"child", 0).unwrap();
    k.vmo_read(vmo, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"AFTER!");
    // The part past the parent's end reads as zero.
    k.vmo_read(snap, &mut buf, 2 * PS).unwrap();
    assert_eq!(buf, [0; 6]);
    let info = vmo_info(&k, snap);
    assert_eq!(
        u32_at(&info, 80) & ZX_INFO_VMO_IS_COW_CLONE,
        ZX_INFO_VMO_IS_COW_CLONE
    );
    // A VMO with a COW relative cannot be decommitted.
    assert_eq!(
        k.vmo_op_range(snap, ZX_VMO_OP_DECOMMIT, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    k.handle_close(snap).unwrap();
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PS), Ok(()));
}

#[test]
fn snapshot_option_checks() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(2 * PS, 0).unwrap();
    assert_eq!(k.vmo_create_child(vmo, 0, 0, PS), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_RESIZABLE, 0, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(
            vmo,
            ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_NO_WRITE | ZX_VMO_CHILD_RESIZABLE,
            0,
            PS
        ),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | 1 << 12, 0, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 1, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, u64::MAX - PS + 1, 2 * PS),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, u64::MAX),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    let no_dup = k
        .handle_duplicate(vmo, ZX_DEFAULT_VMO_RIGHTS & !ZX_RIGHT_DUPLICATE)
        .unwrap();
    assert_eq!(
        k.vmo_create_child(no_dup, ZX_VMO_CHILD_SNAPSHOT, 0, PS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // Of a slice: NOT_SUPPORTED; of a contiguous VMO: INVALID_ARGS.
    let slice = k.vmo_create_child(vmo, ZX_VMO_CHILD_SLICE, 0, PS).unwrap();
    assert_eq!(
        k.vmo_create_child(slice, ZX_VMO_CHILD_SNAPSHOT, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    let contig = k.vmo_create_contiguous(bti, PS, 0).unwrap();
    assert_eq!(
        k.vmo_create_child(contig, ZX_VMO_CHILD_SNAPSHOT, 0, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // Resizable snapshot gets RESIZE; NO_WRITE snapshot is immutable and has no WRITE.
    let rs = k
        .vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_RESIZABLE, 0, PS)
        .unwrap();
    assert_ne!(handle_rights(&k, rs) & ZX_RIGHT_RESIZE, 0);
    k.vmo_set_size(rs, 3 * PS).unwrap();
    let nw = k
        .vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_NO_WRITE, 0, PS)
        .unwrap();
    assert_eq!(handle_rights(&k, nw) & ZX_RIGHT_WRITE, 0);
    assert_ne!(u32_at(&vmo_info(&k, nw), 80) & ZX_INFO_VMO_IMMUTABLE, 0);
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_REFERENCE, 0, 0),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    // Uncached parents cannot be snapshotted.
    let plain = k.vmo_create(PS, 0).unwrap();
    k.vmo_set_cache_policy(plain, ZX_CACHE_POLICY_UNCACHED)
        .unwrap();
    assert_eq!(
        k.vmo_create_child(plain, ZX_VMO_CHILD_SNAPSHOT, 0, PS),
        Err(ZX_ERR_BAD_STATE)
    );
}

#[test]
fn snapshot_of_pinned_vmo_is_bad_state_and_pin_forks() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = k.vmo_create(2 * PS, 0).unwrap();
    k.vmo_write(vmo, b"shared", 0).unwrap();
    let (pmt, _) = pin(&k, bti, RW, vmo, PS, PS).unwrap();
    // Any pinned page of the VMO, even outside the requested range.
    assert_eq!(
        k.vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, PS),
        Err(ZX_ERR_BAD_STATE)
    );
    k.pmt_unpin(pmt).unwrap();
    let snap = k
        .vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PS)
        .unwrap();
    // Pinning the child forks its page: a device writing through the child's address does not
    // change the parent.
    let (pmt, addrs) = pin(&k, bti, RW, snap, 0, PS).unwrap();
    k.physical_memory().write(addrs[0], b"DEVICE").unwrap();
    let mut buf = [0u8; 6];
    k.vmo_read(vmo, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"shared");
    k.vmo_read(snap, &mut buf, 0).unwrap();
    assert_eq!(&buf, b"DEVICE");
    // The child has pins now: it cannot be snapshotted either.
    assert_eq!(
        k.vmo_create_child(snap, ZX_VMO_CHILD_SNAPSHOT, 0, PS),
        Err(ZX_ERR_BAD_STATE)
    );
    k.pmt_unpin(pmt).unwrap();
}

#[test]
fn snapshot_does_not_copy_until_written() {
    let k = small_kernel(16);
    let vmo = k.vmo_create(8 * PS, 0).unwrap();
    k.vmo_op_range(vmo, ZX_VMO_OP_COMMIT, 0, 8 * PS).unwrap();
    let free = k.physical_memory().free_pages();
    let snap = k
        .vmo_create_child(vmo, ZX_VMO_CHILD_SNAPSHOT, 0, 8 * PS)
        .unwrap();
    assert_eq!(k.physical_memory().free_pages(), free);
    let info = vmo_info(&k, snap);
    assert_eq!(u64_at(&info, 88), 8 * PS); // committed (RSS)
    assert_eq!(u64_at(&info, 128), 0); // private (USS)
    assert_eq!(u64_at(&info, 144), 4 * PS); // scaled (PSS)
    k.vmo_write(snap, &[1], 0).unwrap();
    assert_eq!(k.physical_memory().free_pages(), free - 1);
    k.handle_close(vmo).unwrap();
    k.handle_close(snap).unwrap();
    assert_eq!(k.physical_memory().free_pages(), 16);
}
