//! The translating IOMMU: pins map IOVAs into the BTI's private domain of the engine.

use super::*;
use crate::{FaultReason, Perms};

#[test]
fn pin_maps_and_unpin_unmaps() {
    let k = kernel();
    let iommu = translating_iommu(&k, PS, 1 << 32);
    let bti = k.bti_create(iommu, 0, 7).unwrap();
    assert_eq!(bti_info(&k, bti), [PS, 1 << 32, 0, 0]);
    let (engine, ep) = k.bti_endpoint(bti).unwrap();
    assert_eq!(ep.0, 7);
    assert!(Arc::ptr_eq(&engine, &k.engine(iommu).unwrap()));
    let vmo = k.vmo_create(4 * PS, 0).unwrap();
    k.vmo_write(vmo, b"hello", PS).unwrap();
    let (pmt, iovas) = pin(&k, bti, ZX_BTI_PERM_READ, vmo, 0, 4 * PS).unwrap();
    // IOVAs are consecutive, page-aligned, never 0.
    assert_ne!(iovas[0], 0);
    for w in iovas.windows(2) {
        assert_eq!(w[1], w[0] + PS);
    }
    let t = engine.translate(ep, iovas[1], 5, Perms::READ).unwrap();
    assert_eq!(t.len(), 1);
    let mut buf = [0u8; 5];
    k.physical_memory().read(t[0].paddr, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    // The pin's permissions are enforced.
    let f = engine.translate(ep, iovas[1], 5, Perms::WRITE).unwrap_err();
    assert_eq!(f.reason, FaultReason::Permission);
    assert!(k.bti_iova_allocated(bti).unwrap() >= 4 * PS);
    k.pmt_unpin(pmt).unwrap();
    // Once pmt_unpin returns, no DMA reaches the pages.
    let f = engine.translate(ep, iovas[1], 5, Perms::READ).unwrap_err();
    assert_eq!(f.reason, FaultReason::Unmapped);
    assert_eq!(k.bti_iova_allocated(bti), Ok(0));
    // Address 0 always faults.
    assert!(engine.translate(ep, 0, 1, Perms::READ).is_err());
}

#[test]
fn quarantine_unmaps_at_once_and_keeps_pins() {
    let k = kernel();
    let iommu = translating_iommu(&k, PS, u64::MAX);
    let bti = k.bti_create(iommu, 0, 1).unwrap();
    let (engine, ep) = k.bti_endpoint(bti).unwrap();
    let vmo = k.vmo_create(2 * PS, 0).unwrap();
    let (pmt, iovas) = pin(&k, bti, RW, vmo, 0, 2 * PS).unwrap();
    assert!(engine.translate(ep, iovas[0], 2 * PS, Perms::RW).is_ok());
    k.handle_close(pmt).unwrap();
    assert!(engine.translate(ep, iovas[0], 1, Perms::READ).is_err());
    assert_eq!(
        k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, PS),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(pin(&k, bti, RW, vmo, 0, PS).unwrap_err(), ZX_ERR_BAD_STATE);
    k.bti_release_quarantine(bti).unwrap();
    assert_eq!(k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, 0, 2 * PS), Ok(()));
    assert_eq!(k.bti_iova_allocated(bti), Ok(0));
}

#[test]
fn compress_uses_minimum_contiguity() {
    let k = kernel();
    let min = 16 * PS;
    let iommu = translating_iommu(&k, min, 1 << 40);
    let bti = k.bti_create(iommu, 0, 3).unwrap();
    assert_eq!(bti_info(&k, bti)[0], min);
    let vmo = k.vmo_create(64 * PS, 0).unwrap();
    // 40 pages -> ceil(40 / 16) = 3 addresses, min-contiguity aligned.
    let mut addrs = [0; 3];
    assert_eq!(
        k.bti_pin(bti, RW | ZX_BTI_COMPRESS, vmo, 0, 40 * PS, &mut addrs[..2]),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let pmt = k
        .bti_pin(bti, RW | ZX_BTI_COMPRESS, vmo, 0, 40 * PS, &mut addrs)
        .unwrap();
    for (i, a) in addrs.iter().enumerate() {
        assert_eq!(a % min, 0);
        assert_eq!(*a, addrs[0] + i as u64 * min);
    }
    let (engine, ep) = k.bti_endpoint(bti).unwrap();
    let t = engine.translate(ep, addrs[0], 40 * PS, Perms::RW).unwrap();
    assert_eq!(t.total_len(), u128::from(40 * PS));
    // The tail of the last block is reserved but not mapped.
    assert!(
        engine
            .translate(ep, addrs[0] + 40 * PS, 1, Perms::READ)
            .is_err()
    );
    k.pmt_unpin(pmt).unwrap();
}

#[test]
fn bti_ids_and_iova_exhaustion() {
    let k = kernel();
    let iommu = translating_iommu(&k, PS, 4 * PS);
    // "bti_id must fit u32, else INVALID_ARGS".
    assert_eq!(k.bti_create(iommu, 0, 1 << 32), Err(ZX_ERR_INVALID_ARGS));
    let a = k.bti_create(iommu, 0, 5).unwrap();
    let b = k.bti_create(iommu, 0, 5).unwrap();
    let vmo = k.vmo_create(8 * PS, 0).unwrap();
    // Three usable pages (the first block is reserved), shared by both BTIs with id 5.
    let (p1, _) = pin(&k, a, RW, vmo, 0, 2 * PS).unwrap();
    assert_eq!(
        pin(&k, b, RW, vmo, 0, 2 * PS).unwrap_err(),
        ZX_ERR_NO_RESOURCES
    );
    assert_eq!(bti_info(&k, b)[2], 0);
    let (p2, _) = pin(&k, b, RW, vmo, 0, PS).unwrap();
    k.pmt_unpin(p1).unwrap();
    k.pmt_unpin(p2).unwrap();
    // Another id has its own space.
    let c = k.bti_create(iommu, 0, 6).unwrap();
    let (p3, _) = pin(&k, c, RW, vmo, 0, 3 * PS).unwrap();
    k.pmt_unpin(p3).unwrap();
    // Closing every BTI of an id detaches its endpoint.
    let engine = k.engine(iommu).unwrap();
    k.handle_close(a).unwrap();
    k.handle_close(b).unwrap();
    assert_eq!(engine.endpoint_domain(crate::EndpointId(5)), None);
    assert!(engine.endpoint_domain(crate::EndpointId(6)).is_some());
    let d = k.bti_create(iommu, 0, 5).unwrap();
    let (p4, _) = pin(&k, d, RW, vmo, 0, PS).unwrap();
    k.pmt_unpin(p4).unwrap();
}

#[test]
fn physical_and_contiguous_pins_translate() {
    let k = kernel();
    let iommu = translating_iommu(&k, PS, 1 << 32);
    let bti = k.bti_create(iommu, 0, 9).unwrap();
    let (engine, ep) = k.bti_endpoint(bti).unwrap();
    let root = k.root_resource();
    let phys = k.vmo_create_physical(root, 0xC000_0000, 2 * PS).unwrap();
    let mut one = [0];
    let pmt = k
        .bti_pin(bti, RW | ZX_BTI_CONTIGUOUS, phys, PS, PS, &mut one)
        .unwrap();
    let t = engine.translate(ep, one[0] + 8, 8, Perms::WRITE).unwrap();
    assert_eq!(t[0].paddr, 0xC000_0000 + PS + 8);
    k.pmt_unpin(pmt).unwrap();
    let contig = k.vmo_create_contiguous(bti, 8 * PS, 0).unwrap();
    let pmt = k
        .bti_pin(
            bti,
            ZX_BTI_PERM_EXECUTE | ZX_BTI_CONTIGUOUS,
            contig,
            0,
            8 * PS,
            &mut one,
        )
        .unwrap();
    let t = engine.translate(ep, one[0], 8 * PS, Perms::EXEC).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(
        engine
            .translate(ep, one[0], 1, Perms::READ)
            .unwrap_err()
            .reason,
        FaultReason::Permission
    );
    k.pmt_unpin(pmt).unwrap();
}

#[test]
fn descriptor_checks_through_iommu_create() {
    let k = kernel();
    let r = iommu_resource(&k);
    let bad = TranslatingIommuDesc {
        minimum_contiguity: 3 * PS,
        aspace_size: 1 << 32,
    };
    assert_eq!(
        k.iommu_create(r, IOMMU_TYPE_TRANSLATING, &bad.to_bytes()),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.iommu_create(r, IOMMU_TYPE_TRANSLATING, &[0; 8]),
        Err(ZX_ERR_INVALID_ARGS)
    );
}

#[test]
fn fragmented_pin_maps_every_page() {
    let k = kernel();
    let iommu = translating_iommu(&k, PS, 1 << 32);
    let bti = k.bti_create(iommu, 0, 2).unwrap();
    let (engine, ep) = k.bti_endpoint(bti).unwrap();
    let a = k.vmo_create(40 * PS, 0).unwrap();
    let b = k.vmo_create(40 * PS, 0).unwrap();
    // Interleaved commits: none of a's frames are adjacent.
    for i in 0..40 {
        k.vmo_write(a, &[i as u8 + 1], i * PS).unwrap();
        k.vmo_write(b, &[0xff], i * PS).unwrap();
    }
    let (pmt, iovas) = pin(&k, bti, ZX_BTI_PERM_READ, a, 0, 40 * PS).unwrap();
    let t = engine
        .translate(ep, iovas[0], 40 * PS, Perms::READ)
        .unwrap();
    assert_eq!(t.len(), 40);
    for (i, seg) in t.iter().enumerate() {
        let mut byte = [0u8];
        k.physical_memory().read(seg.paddr, &mut byte).unwrap();
        assert_eq!(byte[0], i as u8 + 1);
    }
    k.pmt_unpin(pmt).unwrap();
    assert!(engine.translate(ep, iovas[0], 1, Perms::READ).is_err());
    assert_eq!(
        engine
            .mappings(engine.endpoint_domain(ep).unwrap())
            .unwrap()
            .len(),
        0
    );
}
