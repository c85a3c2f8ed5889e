//! Unit tests of the Zircon object model, through the [`Kernel`] facade: the tricky parts
//! (check order, quarantine lifecycle, pin counts, slices, snapshots, contiguous and physical
//! VMOs, content size, `ZX_VMO_ZERO_CHILDREN`), plus the translating IOMMU.

use super::*;
use std::sync::Arc;

mod children;
mod concurrency;
mod handles;
mod physical;
mod pin;
mod quarantine;
mod translating;
mod vmo_ops;

const PS: u64 = 4096;

fn kernel() -> Kernel {
    Kernel::new(KernelConfig::default())
}

/// A kernel whose RAM pool has `pages` pages.
fn small_kernel(pages: u64) -> Kernel {
    Kernel::new(KernelConfig {
        ram: vec![0x1_0000_0000..0x1_0000_0000 + pages * PS],
        ..KernelConfig::default()
    })
}

fn iommu_resource(k: &Kernel) -> Handle {
    let root = k.root_resource();
    let r = k
        .resource_create(
            root,
            ZX_RSRC_KIND_SYSTEM,
            ZX_RSRC_SYSTEM_IOMMU_BASE,
            1,
            "iommu",
        )
        .unwrap();
    k.handle_close(root).unwrap();
    r
}

fn dummy_iommu(k: &Kernel) -> Handle {
    let r = iommu_resource(k);
    let iommu = k.iommu_create(r, ZX_IOMMU_TYPE_DUMMY, &[0]).unwrap();
    k.handle_close(r).unwrap();
    iommu
}

fn translating_iommu(k: &Kernel, minimum_contiguity: u64, aspace_size: u64) -> Handle {
    let r = iommu_resource(k);
    let desc = TranslatingIommuDesc {
        minimum_contiguity,
        aspace_size,
    };
    let iommu = k
        .iommu_create(r, IOMMU_TYPE_TRANSLATING, &desc.to_bytes())
        .unwrap();
    k.handle_close(r).unwrap();
    iommu
}

fn dummy_bti(k: &Kernel) -> Handle {
    let iommu = dummy_iommu(k);
    let bti = k.bti_create(iommu, 0, 0xdead_beef).unwrap();
    k.handle_close(iommu).unwrap();
    bti
}

/// {minimum_contiguity, aspace_size, pmo_count, quarantine_count}.
fn bti_info(k: &Kernel, bti: Handle) -> [u64; 4] {
    let mut b = [0u8; 32];
    assert_eq!(k.object_get_info(bti, ZX_INFO_BTI, &mut b), Ok((1, 1)));
    let f = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
    [f(0), f(1), f(2), f(3)]
}

fn vmo_info(k: &Kernel, vmo: Handle) -> [u8; 176] {
    let mut b = [0u8; 176];
    assert_eq!(k.object_get_info(vmo, ZX_INFO_VMO, &mut b), Ok((1, 1)));
    b
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn committed_bytes(k: &Kernel, vmo: Handle) -> u64 {
    u64_at(&vmo_info(k, vmo), 88)
}

fn signals(k: &Kernel, h: Handle) -> u32 {
    match k.object_wait_one(h, u32::MAX, ZX_TIME_INFINITE_PAST) {
        Ok(s) => s,
        Err(ZX_ERR_TIMED_OUT) => 0,
        Err(e) => panic!("wait failed: {e}"),
    }
}

fn handle_rights(k: &Kernel, h: Handle) -> u32 {
    let mut b = [0u8; 32];
    k.object_get_info(h, ZX_INFO_HANDLE_BASIC, &mut b).unwrap();
    u32_at(&b, 8)
}

fn pin(
    k: &Kernel,
    bti: Handle,
    opts: u32,
    vmo: Handle,
    offset: u64,
    size: u64,
) -> Result<(Handle, Vec<Paddr>), Status> {
    let mut addrs = vec![0; (size / PS) as usize];
    k.bti_pin(bti, opts, vmo, offset, size, &mut addrs)
        .map(|h| (h, addrs))
}

const RW: u32 = ZX_BTI_PERM_READ | ZX_BTI_PERM_WRITE;
