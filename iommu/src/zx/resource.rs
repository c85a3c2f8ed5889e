//! Resources: the root resource, ranged resources (MMIO, IRQ, I/O ports, SMC) and system
//! resources, with the kernel's validation helpers.

use std::ops::Range;
use std::sync::Arc;

use parking_lot::Mutex;

use super::constants::*;
use super::object::ObjectHeader;
use super::{Koid, Status};

/// Live resources, for exclusive-range bookkeeping, plus the root resource filter's view of the
/// physical address space.
#[derive(Debug)]
pub(crate) struct ResourceRegistry {
    live: Mutex<Vec<LiveResource>>,
    /// Physical ranges MMIO resources may cover (`KernelConfig::mmio`).
    mmio: Vec<Range<u64>>,
    /// Physical RAM (`KernelConfig::ram`), never grantable as MMIO.
    ram: Vec<Range<u64>>,
    page_size: u64,
}

#[derive(Clone, Copy, Debug)]
struct LiveResource {
    koid: Koid,
    kind: u32,
    base: u64,
    size: u64,
    exclusive: bool,
}

/// `[base, base + size)` as u128 bounds (so 2^64 is representable).
fn span(base: u64, size: u64) -> (u128, u128) {
    (u128::from(base), u128::from(base) + u128::from(size))
}

fn intersects(a: (u128, u128), b: (u128, u128)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

impl ResourceRegistry {
    pub(crate) fn new(
        mmio: Vec<Range<u64>>,
        ram: Vec<Range<u64>>,
        page_size: u64,
    ) -> ResourceRegistry {
        ResourceRegistry {
            live: Mutex::new(Vec::new()),
            mmio,
            ram,
            page_size,
        }
    }

    /// `root_resource_filter_can_access_region`: "All of physical RAM is off limits"; in this
    /// kernel an MMIO region must also lie inside one of the configured MMIO ranges.
    fn root_can_access(&self, kind: u32, base: u64, size: u64) -> bool {
        if kind != ZX_RSRC_KIND_MMIO || size == 0 {
            return true;
        }
        let req = span(base, size);
        if self
            .ram
            .iter()
            .any(|r| intersects(req, (u128::from(r.start), u128::from(r.end))))
        {
            return false;
        }
        self.mmio
            .iter()
            .any(|r| u128::from(r.start) <= req.0 && req.1 <= u128::from(r.end))
    }

    /// The address space a kind's region allocator manages (`GetRegion` fails outside it).
    fn kind_space(&self, kind: u32) -> (u128, u128) {
        match kind {
            ZX_RSRC_KIND_IRQ => (0, 1 << 32),
            ZX_RSRC_KIND_IOPORT => (0, 1 << 16),
            ZX_RSRC_KIND_SYSTEM => (0, u128::from(ZX_RSRC_SYSTEM_COUNT)),
            _ => (0, 1 << 64),
        }
    }

    /// `ResourceDispatcher::Create`'s region checks: "It does not make sense for an abstract
    /// resource type to have a base/size tuple"; other kinds must get their region from the
    /// kind's allocator, which exclusive resources take theirs out of.
    fn reserve(
        &self,
        koid: Koid,
        kind: u32,
        base: u64,
        size: u64,
        flags: u32,
    ) -> Result<(), Status> {
        let exclusive = flags & ZX_RSRC_FLAG_EXCLUSIVE != 0;
        let mut live = self.live.lock();
        if kind == ZX_RSRC_KIND_ROOT {
            if base != 0 || size != 0 {
                return Err(ZX_ERR_INVALID_ARGS);
            }
        } else {
            if size == 0 {
                return Err(ZX_ERR_INVALID_ARGS);
            }
            let req = span(base, size);
            let space = self.kind_space(kind);
            if req.0 < space.0 || req.1 > space.1 {
                return Err(ZX_ERR_NOT_FOUND);
            }
            let clash = live.iter().any(|r| {
                r.kind == kind
                    && (r.exclusive || exclusive)
                    && intersects(req, span(r.base, r.size))
            });
            if clash {
                return Err(ZX_ERR_NOT_FOUND);
            }
        }
        live.push(LiveResource {
            koid,
            kind,
            base,
            size,
            exclusive,
        });
        Ok(())
    }

    fn forget(&self, koid: Koid) {
        self.live.lock().retain(|r| r.koid != koid);
    }
}

/// A resource kernel object.
#[derive(Debug)]
pub(crate) struct Resource {
    pub(crate) header: ObjectHeader,
    pub(crate) kind: u32,
    pub(crate) base: u64,
    pub(crate) size: u64,
    pub(crate) flags: u32,
    registry: Arc<ResourceRegistry>,
}

impl Resource {
    /// Creates a resource, reserving its region.
    pub(crate) fn create(
        header: ObjectHeader,
        kind: u32,
        base: u64,
        size: u64,
        flags: u32,
        registry: &Arc<ResourceRegistry>,
    ) -> Result<Resource, Status> {
        if kind >= ZX_RSRC_KIND_COUNT || flags & !ZX_RSRC_FLAGS_MASK != 0 {
            return Err(ZX_ERR_INVALID_ARGS);
        }
        registry.reserve(header.koid, kind, base, size, flags)?;
        Ok(Resource {
            header,
            kind,
            base,
            size,
            flags,
            registry: registry.clone(),
        })
    }

    /// The ROOT resource (kind ROOT, no range).
    pub(crate) fn root(header: ObjectHeader, registry: &Arc<ResourceRegistry>) -> Resource {
        registry.live.lock().push(LiveResource {
            koid: header.koid,
            kind: ZX_RSRC_KIND_ROOT,
            base: 0,
            size: 0,
            exclusive: false,
        });
        Resource {
            header,
            kind: ZX_RSRC_KIND_ROOT,
            base: 0,
            size: 0,
            flags: 0,
            registry: registry.clone(),
        }
    }

    /// `validate_ranged_resource(resource, kind, base, size)`.
    pub(crate) fn validate_ranged(&self, kind: u32, base: u64, size: u64) -> Result<(), Status> {
        // "Root gets access to almost everything, but there are still resource ranges it is not
        // permitted to mint."
        if self.kind == ZX_RSRC_KIND_ROOT {
            return if self.registry.root_can_access(kind, base, size) {
                Ok(())
            } else {
                Err(ZX_ERR_ACCESS_DENIED)
            };
        }
        if self.kind != kind {
            return Err(ZX_ERR_WRONG_TYPE);
        }
        let (mut rbase, mut rend) = span(self.base, self.size);
        // "In the specific case of MMIO, everything is rounded to PAGE_SIZE units".
        if self.kind == ZX_RSRC_KIND_MMIO {
            let ps = u128::from(self.registry.page_size);
            rbase -= rbase % ps;
            rend = rend.next_multiple_of(ps);
        }
        // "Check for intersection and make sure the requested base+size fits within the
        // resource's address space allocation." Zero-length ranges intersect nothing.
        let (qbase, qend) = span(base, size);
        if size == 0 || qend > 1 << 64 || qbase < rbase || qend > rend {
            return Err(ZX_ERR_OUT_OF_RANGE);
        }
        Ok(())
    }

    /// `validate_resource_kind_base`: "(res_kind == kind && res_base == base) || res_kind ==
    /// ZX_RSRC_KIND_ROOT", else WRONG_TYPE.
    pub(crate) fn validate_kind_base(&self, kind: u32, base: u64) -> Result<(), Status> {
        if (self.kind == kind && self.base == base) || self.kind == ZX_RSRC_KIND_ROOT {
            Ok(())
        } else {
            Err(ZX_ERR_WRONG_TYPE)
        }
    }
}

impl Drop for Resource {
    fn drop(&mut self) {
        self.registry.forget(self.header.koid);
    }
}
