//! Shared helpers for the black-box `iommu::zx` tests (zx_errors, zx_behaviour, zx_stress, …).
//!
//! Everything here goes through the public syscall surface specified in issue 2 §2; records are
//! decoded from the raw little-endian bytes `object_get_info` writes, at the offsets of Zircon's C
//! headers (zircon/system/public/zircon/syscalls/object.h).
#![allow(dead_code)]

use iommu::zx::*;

pub const PAGE: u64 = 4096;
pub const BTI_ID: u64 = 0xdead_beef;

/// A kernel with the default configuration (4 KiB pages, 1 GiB lazily backed RAM pool at
/// 0x1_0000_0000, MMIO window [0xC000_0000, 0x1_0000_0000)).
pub fn kernel() -> Kernel {
    Kernel::new(KernelConfig::default())
}

/// Start of the default RAM pool and the default MMIO window (issue 2 §2 "Default:").
pub const RAM_BASE: u64 = 0x1_0000_0000;
pub const RAM_END: u64 = 0x1_4000_0000;
pub const MMIO_BASE: u64 = 0xC000_0000;
pub const MMIO_END: u64 = 0x1_0000_0000;

/// A kernel whose RAM pool holds only `pages` pages (to reach ZX_ERR_NO_MEMORY).
#[allow(clippy::single_range_in_vec_init)]
pub fn small_kernel(pages: u64) -> Kernel {
    Kernel::new(KernelConfig {
        page_size: PAGE,
        ram: vec![RAM_BASE..RAM_BASE + pages * PAGE],
        mmio: vec![MMIO_BASE..MMIO_END],
    })
}

/// "Tests create the IOMMU resource as a SYSTEM resource with base 8 and size 1." (reference §1.6)
pub fn iommu_resource(k: &Kernel) -> Handle {
    let root = k.root_resource();
    let r = k
        .resource_create(
            root,
            ZX_RSRC_KIND_SYSTEM,
            ZX_RSRC_SYSTEM_IOMMU_BASE,
            1,
            "iommu",
        )
        .expect("create SYSTEM/IOMMU_BASE resource from the root resource");
    k.handle_close(root).expect("close root");
    r
}

/// A dummy IOMMU created the way the upstream tests do (zx_iommu_desc_dummy_t, sizeof 1).
pub fn dummy_iommu(k: &Kernel) -> Handle {
    let res = iommu_resource(k);
    let iommu = k
        .iommu_create(res, ZX_IOMMU_TYPE_DUMMY, &[0u8])
        .expect("iommu_create(DUMMY)");
    k.handle_close(res).expect("close resource");
    iommu
}

/// A BTI (id 0xdeadbeef) on a fresh dummy IOMMU.
pub fn dummy_bti(k: &Kernel) -> Handle {
    let iommu = dummy_iommu(k);
    let bti = k.bti_create(iommu, 0, BTI_ID).expect("bti_create");
    k.handle_close(iommu).expect("close iommu");
    bti
}

/// An MMIO resource covering [base, base+size) made from the root resource.
pub fn mmio_resource(k: &Kernel, base: u64, size: u64) -> Handle {
    let root = k.root_resource();
    let r = k
        .resource_create(root, ZX_RSRC_KIND_MMIO, base, size, "mmio")
        .expect("create MMIO resource");
    k.handle_close(root).expect("close root");
    r
}

pub fn vmo(k: &Kernel, size: u64) -> Handle {
    k.vmo_create(size, 0).expect("vmo_create")
}

pub fn dup(k: &Kernel, h: Handle, rights: u32) -> Handle {
    k.handle_duplicate(h, rights).expect("handle_duplicate")
}

/// Duplicate `h` with every right of the original except `remove`.
pub fn dup_without(k: &Kernel, h: Handle, remove: u32) -> Handle {
    let rights = handle_basic(k, h).rights;
    dup(k, h, rights & !remove)
}

/// Pin `pages` pages at `offset_pages` with one address per page.
pub fn pin_pages(
    k: &Kernel,
    bti: Handle,
    options: u32,
    vmo: Handle,
    offset_pages: u64,
    pages: u64,
) -> Result<(Handle, Vec<Paddr>), Status> {
    let mut addrs = vec![0; pages as usize];
    let pmt = k.bti_pin(
        bti,
        options,
        vmo,
        offset_pages * PAGE,
        pages * PAGE,
        &mut addrs,
    )?;
    Ok((pmt, addrs))
}

pub fn le_u64(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

pub fn le_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

/// zx_info_bti_t (reference §1.7): 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedBtiInfo {
    pub minimum_contiguity: u64,
    pub aspace_size: u64,
    pub pmo_count: u64,
    pub quarantine_count: u64,
}

pub fn bti_info(k: &Kernel, bti: Handle) -> DecodedBtiInfo {
    let mut b = [0xAAu8; 32];
    let (actual, avail) = k
        .object_get_info(bti, ZX_INFO_BTI, &mut b)
        .expect("ZX_INFO_BTI");
    assert_eq!((actual, avail), (1, 1), "ZX_INFO_BTI actual/avail");
    DecodedBtiInfo {
        minimum_contiguity: le_u64(&b, 0),
        aspace_size: le_u64(&b, 8),
        pmo_count: le_u64(&b, 16),
        quarantine_count: le_u64(&b, 24),
    }
}

/// (pmo_count, quarantine_count)
pub fn bti_counts(k: &Kernel, bti: Handle) -> (u64, u64) {
    let i = bti_info(k, bti);
    (i.pmo_count, i.quarantine_count)
}

/// zx_info_handle_basic_t: koid u64 @0, rights u32 @8, type u32 @12, related_koid u64 @16,
/// reserved u32 @24, padding to 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedHandleBasic {
    pub koid: u64,
    pub rights: u32,
    pub obj_type: u32,
    pub related_koid: u64,
}

pub fn handle_basic(k: &Kernel, h: Handle) -> DecodedHandleBasic {
    let mut b = [0xAAu8; 32];
    let (actual, avail) = k
        .object_get_info(h, ZX_INFO_HANDLE_BASIC, &mut b)
        .expect("ZX_INFO_HANDLE_BASIC");
    assert_eq!((actual, avail), (1, 1), "ZX_INFO_HANDLE_BASIC actual/avail");
    DecodedHandleBasic {
        koid: le_u64(&b, 0),
        rights: le_u32(&b, 8),
        obj_type: le_u32(&b, 12),
        related_koid: le_u64(&b, 16),
    }
}

pub fn rights_of(k: &Kernel, h: Handle) -> u32 {
    handle_basic(k, h).rights
}

/// The 176-byte zx_info_vmo_t (issue 2 §2): koid @0, name[32] @8, size_bytes @40,
/// parent_koid @48, num_children @56, num_mappings @64, share_count @72, flags @80,
/// committed_bytes @88, handle_rights @96, cache_policy @100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedVmoInfo {
    pub koid: u64,
    pub name: Vec<u8>,
    pub size_bytes: u64,
    pub parent_koid: u64,
    pub num_children: u64,
    pub num_mappings: u64,
    pub share_count: u64,
    pub flags: u32,
    pub committed_bytes: u64,
    pub handle_rights: u32,
    pub cache_policy: u32,
}

pub const INFO_VMO_BYTES: usize = 176;
pub const INFO_VMO_TYPE_PAGED: u32 = 1 << 0;
pub const INFO_VMO_RESIZABLE: u32 = 1 << 1;
pub const INFO_VMO_IS_COW_CLONE: u32 = 1 << 2;
pub const INFO_VMO_VIA_HANDLE: u32 = 1 << 3;
pub const INFO_VMO_CONTIGUOUS: u32 = 1 << 6;

pub fn vmo_info(k: &Kernel, h: Handle) -> DecodedVmoInfo {
    let mut b = [0xAAu8; INFO_VMO_BYTES];
    let (actual, avail) = k
        .object_get_info(h, ZX_INFO_VMO, &mut b)
        .expect("ZX_INFO_VMO");
    assert_eq!((actual, avail), (1, 1), "ZX_INFO_VMO actual/avail");
    let name = b[8..40].to_vec();
    DecodedVmoInfo {
        koid: le_u64(&b, 0),
        name,
        size_bytes: le_u64(&b, 40),
        parent_koid: le_u64(&b, 48),
        num_children: le_u64(&b, 56),
        num_mappings: le_u64(&b, 64),
        share_count: le_u64(&b, 72),
        flags: le_u32(&b, 80),
        committed_bytes: le_u64(&b, 88),
        handle_rights: le_u32(&b, 96),
        cache_policy: le_u32(&b, 100),
    }
}

pub fn content_size(k: &Kernel, vmo: Handle) -> u64 {
    let mut b = [0u8; 8];
    k.object_get_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &mut b)
        .expect("get ZX_PROP_VMO_CONTENT_SIZE");
    u64::from_le_bytes(b)
}

pub fn set_content_size(k: &Kernel, vmo: Handle, size: u64) -> Result<(), Status> {
    k.object_set_property(vmo, ZX_PROP_VMO_CONTENT_SIZE, &size.to_le_bytes())
}

/// The NUL-terminated name read with ZX_PROP_NAME into a 32-byte buffer.
pub fn name_of(k: &Kernel, h: Handle) -> Vec<u8> {
    let mut b = [0xAAu8; ZX_MAX_NAME_LEN];
    k.object_get_property(h, ZX_PROP_NAME, &mut b)
        .expect("get ZX_PROP_NAME");
    let end = b.iter().position(|&c| c == 0).expect("name NUL-terminated");
    b[..end].to_vec()
}

/// Whether ZX_VMO_ZERO_CHILDREN is asserted right now (a poll with ZX_TIME_INFINITE_PAST).
pub fn zero_children(k: &Kernel, vmo: Handle) -> bool {
    match k.object_wait_one(vmo, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE_PAST) {
        Ok(observed) => {
            assert_ne!(observed & ZX_VMO_ZERO_CHILDREN, 0, "observed {observed:#x}");
            true
        }
        Err(s) => {
            assert_eq!(s, ZX_ERR_TIMED_OUT, "wait_one poll status");
            false
        }
    }
}

/// Whether a page-aligned range of a paged VMO is pinned, observed through the public surface:
/// DECOMMIT of a range with a pinned page fails with BAD_STATE (reference §2.13 step 10).
/// Note: decommits the range when it is not pinned.
pub fn decommit(k: &Kernel, vmo: Handle, offset: u64, size: u64) -> Result<(), Status> {
    k.vmo_op_range(vmo, ZX_VMO_OP_DECOMMIT, offset, size)
}

pub fn read_u8(k: &Kernel, vmo: Handle, offset: u64) -> u8 {
    let mut b = [0u8; 1];
    k.vmo_read(vmo, &mut b, offset).expect("vmo_read");
    b[0]
}

pub fn write_u8(k: &Kernel, vmo: Handle, offset: u64, v: u8) {
    k.vmo_write(vmo, &[v], offset).expect("vmo_write");
}

/// The translating IOMMU's 16-byte descriptor, as documented in iommu/src/zx/iommu_obj.rs:
/// minimum_contiguity u64 @0, aspace_size u64 @8 (little-endian).
pub fn translating_desc(minimum_contiguity: u64, aspace_size: u64) -> [u8; 16] {
    let mut d = [0u8; 16];
    d[..8].copy_from_slice(&minimum_contiguity.to_le_bytes());
    d[8..].copy_from_slice(&aspace_size.to_le_bytes());
    d
}

/// A translating IOMMU (type IOMMU_TYPE_TRANSLATING) made from the SYSTEM/IOMMU resource.
pub fn translating_iommu(k: &Kernel, minimum_contiguity: u64, aspace_size: u64) -> Handle {
    let res = iommu_resource(k);
    let iommu = k
        .iommu_create(
            res,
            IOMMU_TYPE_TRANSLATING,
            &translating_desc(minimum_contiguity, aspace_size),
        )
        .expect("iommu_create(TRANSLATING)");
    k.handle_close(res).expect("close resource");
    iommu
}
