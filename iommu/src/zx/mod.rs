//! The Zircon syscall surface: a host-side [`Kernel`] with Zircon's handles, rights, resources,
//! IOMMUs, BTIs, PMTs and VMOs, following the real kernel's semantics (check order, the error that
//! wins, pin counts, quarantine, slices, snapshots, content size, `ZX_VMO_ZERO_CHILDREN`).
//!
//! Method names are the syscalls' without `zx_`; out-parameters are return values. The
//! contract is the `zx_bti_pin` / `zx_vmo_create_physical` man pages and the kernel source as
//! summarized in `zircon-bti.md`; where the two disagree this follows the code (see
//! docs/DESIGN.md, "Zircon object model").
//!
//! Two IOMMU types exist: `ZX_IOMMU_TYPE_DUMMY` (identity, as Zircon's) and
//! [`IOMMU_TYPE_TRANSLATING`], whose BTIs each get an IOVA space backed by a private domain of
//! an [`Engine`](crate::Engine): a pin allocates IOVAs and maps them, unpin unmaps first, and a
//! device translates its DMA through [`Kernel::bti_endpoint`].
//!
//! Modules: `constants` (numbers), `handle` (handle table and rights), `object` (koids, names,
//! signals, clock), `resource`, `physmem` (pluggable physical memory), `pages` (page lists, pin
//! counts, copy-on-write sharing), `vmo`, `iova` (IOVA allocator), `iommu_obj`, `bti`, `pmt`,
//! `info` (C-layout records), `kernel` (the facade).

// Lists of physical ranges often hold a single range.
#![allow(clippy::single_range_in_vec_init)]

mod bti;
mod constants;
mod handle;
mod info;
mod iommu_obj;
mod iova;
mod kernel;
mod object;
mod pages;
mod physmem;
mod pmt;
mod resource;
mod vmo;

pub use constants::*;
pub use iommu_obj::{IOMMU_TYPE_TRANSLATING, TRANSLATING_DESC_LEN, TranslatingIommuDesc};
pub use kernel::{Kernel, KernelConfig};
pub use physmem::{LazyMemory, PhysicalMemory};

/// `zx_handle_t`; `ZX_HANDLE_INVALID` is 0.
pub type Handle = u32;
/// `zx_status_t`.
pub type Status = i32;
/// `zx_paddr_t`.
pub type Paddr = u64;
/// `zx_koid_t`.
pub type Koid = u64;

#[cfg(test)]
mod tests;
