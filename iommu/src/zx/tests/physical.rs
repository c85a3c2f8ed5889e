//! Resources and physical VMOs.

use super::*;

const MMIO: u64 = 0xC000_0000;

#[test]
fn resource_create_checks() {
    let k = kernel();
    let root = k.root_resource();
    assert_eq!(handle_rights(&k, root), ZX_DEFAULT_RESOURCE_RIGHTS);
    assert_eq!(
        k.resource_create(0, ZX_RSRC_KIND_MMIO, MMIO, PS, "x"),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let ro = k.handle_duplicate(root, ZX_RIGHT_INSPECT).unwrap();
    assert_eq!(
        k.resource_create(ro, ZX_RSRC_KIND_MMIO, MMIO, PS, "x"),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.resource_create(root, ZX_RSRC_KIND_COUNT, 0, 1, "x"),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.resource_create(root, ZX_RSRC_KIND_MMIO | 1 << 20, MMIO, PS, "x"),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // The root filter: RAM and anything outside the MMIO ranges is off limits.
    assert_eq!(
        k.resource_create(root, ZX_RSRC_KIND_MMIO, 0x1_0000_0000, PS, "ram"),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.resource_create(root, ZX_RSRC_KIND_MMIO, 0x1000, PS, "low"),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.resource_create(root, ZX_RSRC_KIND_ROOT, 1, 0, "r"),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let mmio = k
        .resource_create(root, ZX_RSRC_KIND_MMIO, MMIO + 0x10, 0x20, "dev")
        .unwrap();
    // A child of a non-root resource must be of its kind and inside it.
    assert_eq!(
        k.resource_create(mmio, ZX_RSRC_KIND_IRQ, 5, 1, "irq"),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.resource_create(mmio, ZX_RSRC_KIND_MMIO, MMIO, 2 * PS, "big"),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let sub = k
        .resource_create(mmio, ZX_RSRC_KIND_MMIO, MMIO, PS, "sub")
        .unwrap();
    assert_eq!(
        k.resource_create(
            mmio,
            ZX_RSRC_KIND_MMIO | ZX_RSRC_FLAG_EXCLUSIVE,
            MMIO,
            PS,
            "ex"
        ),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // Exclusive ranges from the root.
    let ex = k
        .resource_create(
            root,
            ZX_RSRC_KIND_MMIO | ZX_RSRC_FLAG_EXCLUSIVE,
            MMIO + 4 * PS,
            PS,
            "ex",
        )
        .unwrap();
    assert_eq!(
        k.resource_create(root, ZX_RSRC_KIND_MMIO, MMIO + 4 * PS, 1, "clash"),
        Err(ZX_ERR_NOT_FOUND)
    );
    k.handle_close(ex).unwrap();
    assert!(
        k.resource_create(root, ZX_RSRC_KIND_MMIO, MMIO + 4 * PS, 1, "ok")
            .is_ok()
    );
    // ZX_INFO_RESOURCE.
    let mut b = [0u8; 56];
    assert_eq!(k.object_get_info(sub, ZX_INFO_RESOURCE, &mut b), Ok((1, 1)));
    assert_eq!(u32_at(&b, 0), ZX_RSRC_KIND_MMIO);
    assert_eq!(u64_at(&b, 8), MMIO);
    assert_eq!(&b[24..28], b"sub\0");
    // IOMMU resources: SYSTEM with base 8.
    let sys = k
        .resource_create(
            root,
            ZX_RSRC_KIND_SYSTEM,
            ZX_RSRC_SYSTEM_IOMMU_BASE,
            1,
            "iommu",
        )
        .unwrap();
    assert_eq!(
        k.resource_create(root, ZX_RSRC_KIND_SYSTEM, 14, 1, "bad"),
        Err(ZX_ERR_NOT_FOUND)
    );
    assert!(k.iommu_create(sys, ZX_IOMMU_TYPE_DUMMY, &[0]).is_ok());
    assert!(k.iommu_create(root, ZX_IOMMU_TYPE_DUMMY, &[0]).is_ok());
    // Any other resource is WRONG_TYPE (the doc's ACCESS_DENIED is not what the code does).
    assert_eq!(
        k.iommu_create(mmio, ZX_IOMMU_TYPE_DUMMY, &[0]),
        Err(ZX_ERR_WRONG_TYPE)
    );
    let info_rsrc = k
        .resource_create(
            root,
            ZX_RSRC_KIND_SYSTEM,
            ZX_RSRC_SYSTEM_INFO_BASE,
            1,
            "info",
        )
        .unwrap();
    assert_eq!(
        k.iommu_create(info_rsrc, ZX_IOMMU_TYPE_DUMMY, &[0]),
        Err(ZX_ERR_WRONG_TYPE)
    );
    assert_eq!(
        k.iommu_create(0, ZX_IOMMU_TYPE_DUMMY, &[0]),
        Err(ZX_ERR_BAD_HANDLE)
    );
}

#[test]
fn iommu_create_checks() {
    let k = kernel();
    let r = iommu_resource(&k);
    assert_eq!(
        k.iommu_create(r, ZX_IOMMU_TYPE_DUMMY, &[0; 4097]),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(k.iommu_create(r, 77, &[0; 4097]), Err(ZX_ERR_INVALID_ARGS));
    // The type is checked before the dummy descriptor length.
    assert_eq!(k.iommu_create(r, 77, &[]), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(
        k.iommu_create(r, ZX_IOMMU_TYPE_INTEL, &[0; 64]),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    assert_eq!(
        k.iommu_create(r, ZX_IOMMU_TYPE_DUMMY, &[]),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.iommu_create(r, ZX_IOMMU_TYPE_DUMMY, &[0, 0]),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let iommu = k.iommu_create(r, ZX_IOMMU_TYPE_DUMMY, &[0xff]).unwrap();
    assert_eq!(handle_rights(&k, iommu), ZX_DEFAULT_IOMMU_RIGHTS);
    // bti_create: options first, then the handle, every bti id is valid on the dummy IOMMU.
    assert_eq!(k.bti_create(0, 1, 0), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(k.bti_create(0, 0, 0), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(k.bti_create(r, 0, 0), Err(ZX_ERR_WRONG_TYPE));
    let no_rights = k.handle_duplicate(iommu, ZX_RIGHT_NONE).unwrap();
    let bti = k.bti_create(no_rights, 0, u64::MAX).unwrap();
    assert_eq!(handle_rights(&k, bti), ZX_DEFAULT_BTI_RIGHTS);
    assert_eq!(bti_info(&k, bti), [PS, u64::MAX, 0, 0]);
    assert_eq!(k.engine(iommu).err(), Some(ZX_ERR_NOT_SUPPORTED));
}

#[test]
fn physical_vmo_rules() {
    let k = kernel();
    let root = k.root_resource();
    let one_page = k
        .resource_create(root, ZX_RSRC_KIND_MMIO, MMIO + 0x10, 0x20, "dev")
        .unwrap();
    // Widened to the whole page; a two-page request is OUT_OF_RANGE.
    let v = k.vmo_create_physical(one_page, MMIO, PS).unwrap();
    assert_eq!(
        k.vmo_create_physical(one_page, MMIO, 2 * PS),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_physical(one_page, MMIO + PS, PS),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_physical(one_page, MMIO, 0),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(k.vmo_create_physical(0, MMIO, PS), Err(ZX_ERR_BAD_HANDLE));
    let vmo = k.vmo_create(PS, 0).unwrap();
    assert_eq!(k.vmo_create_physical(vmo, MMIO, PS), Err(ZX_ERR_WRONG_TYPE));
    let irq = k
        .resource_create(root, ZX_RSRC_KIND_IRQ, 5, 1, "irq")
        .unwrap();
    assert_eq!(k.vmo_create_physical(irq, MMIO, PS), Err(ZX_ERR_WRONG_TYPE));
    // From the root: RAM is denied, an unaligned size is rounded up, an unaligned paddr is not.
    assert_eq!(
        k.vmo_create_physical(root, 0x1_0000_0000, PS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.vmo_create_physical(root, MMIO + 1, PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_physical(root, MMIO, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_physical(root, u64::MAX - PS + 1, PS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let rounded = k.vmo_create_physical(root, MMIO, PS + 1).unwrap();
    assert_eq!(k.vmo_get_size(rounded), Ok(2 * PS));
    let mut b = [0u8; 8];
    k.object_get_property(rounded, ZX_PROP_VMO_CONTENT_SIZE, &mut b)
        .unwrap();
    assert_eq!(u64::from_le_bytes(b), 2 * PS);
    // Defaults.
    assert_eq!(handle_rights(&k, v), ZX_DEFAULT_VMO_RIGHTS);
    let info = vmo_info(&k, v);
    assert_eq!(
        u32_at(&info, 80),
        ZX_INFO_VMO_VIA_HANDLE | ZX_INFO_VMO_CONTIGUOUS
    );
    assert_eq!(u32_at(&info, 100), ZX_CACHE_POLICY_UNCACHED);
    // Data operations are not supported; rights are checked first.
    assert_eq!(k.vmo_read(v, &mut [0; 4], 0), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(k.vmo_write(v, &[0; 4], 0), Err(ZX_ERR_NOT_SUPPORTED));
    let ro = k.handle_duplicate(v, ZX_RIGHT_READ).unwrap();
    assert_eq!(k.vmo_write(ro, &[0; 4], 0), Err(ZX_ERR_ACCESS_DENIED));
    assert_eq!(k.vmo_set_size(v, 2 * PS), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(k.vmo_set_size(v, u64::MAX), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(
        k.vmo_op_range(v, ZX_VMO_OP_DECOMMIT, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    assert_eq!(
        k.vmo_op_range(v, ZX_VMO_OP_COMMIT, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    assert_eq!(k.vmo_op_range(v, ZX_VMO_OP_CACHE_CLEAN, 0, PS), Ok(()));
    assert_eq!(
        k.vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, PS),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    // Cache policy: the same policy is always fine, a change needs no children/parent.
    k.vmo_set_cache_policy(v, ZX_CACHE_POLICY_UNCACHED).unwrap();
    k.vmo_set_cache_policy(v, ZX_CACHE_POLICY_WRITE_COMBINING)
        .unwrap();
    let slice = k
        .vmo_create_child(rounded, ZX_VMO_CHILD_SLICE, PS, PS)
        .unwrap();
    assert_eq!(u32_at(&vmo_info(&k, slice), 100), ZX_CACHE_POLICY_UNCACHED);
    assert_eq!(
        k.vmo_set_cache_policy(rounded, ZX_CACHE_POLICY_CACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(
        k.vmo_set_cache_policy(rounded, ZX_CACHE_POLICY_UNCACHED),
        Ok(())
    );
    assert_eq!(
        k.vmo_set_cache_policy(slice, ZX_CACHE_POLICY_CACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(
        k.vmo_create_child(rounded, ZX_VMO_CHILD_SLICE, PS, 2 * PS),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // Pinning returns the physical addresses; CONTIGUOUS is allowed; unpin does nothing.
    let bti = dummy_bti(&k);
    let (pmt, addrs) = pin(&k, bti, RW, rounded, 0, 2 * PS).unwrap();
    assert_eq!(addrs, vec![MMIO, MMIO + PS]);
    let mut one = [0];
    let pmt2 = k
        .bti_pin(bti, RW | ZX_BTI_CONTIGUOUS, slice, 0, PS, &mut one)
        .unwrap();
    assert_eq!(one, [MMIO + PS]);
    assert_eq!(
        pin(&k, bti, RW, rounded, PS, 2 * PS).unwrap_err(),
        ZX_ERR_OUT_OF_RANGE
    );
    k.pmt_unpin(pmt).unwrap();
    k.handle_close(pmt2).unwrap();
    assert_eq!(bti_info(&k, bti)[2..], [1, 1]);
    k.bti_release_quarantine(bti).unwrap();
    assert_eq!(bti_info(&k, bti)[2..], [0, 0]);
}
