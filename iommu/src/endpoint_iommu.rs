//! vm-memory integration: [`EndpointIommu`] implements `vm_memory::Iommu` for one endpoint, so a
//! device handed `vm_memory::IommuMemory<GuestMemoryMmap, EndpointIommu>` gets translated,
//! permission-checked access to guest memory with no IOMMU code of its own.
//!
//! vm-memory serves every translation from an [`Iotlb`] (an IOVA range map) behind a guard the
//! returned iterator keeps. Each `EndpointIommu` keeps its own `Iotlb`, tagged with the engine
//! generation its contents were read at:
//!
//! - hit: under the `Iotlb` read lock, the tag equals the engine's current generation and the
//!   `Iotlb` covers the access with the needed permissions;
//! - miss, permission miss or stale tag: under the `Iotlb` write lock, the access is translated by
//!   [`Engine`] (which also reports the generation it translated at); if that differs from the
//!   tag (or the `Iotlb` grew large), the `Iotlb` is flushed and re-tagged; the whole blocks the
//!   access touched are inserted with their real permissions; the lock is downgraded and the
//!   lookup repeated.
//!
//! Because the tag only changes under the write lock and is compared to a fresh generation on
//! every translate, no access that starts after an UNMAP/DETACH/ATTACH/bypass change/reset has
//! returned is served from older contents. A fault becomes vm-memory's
//! `iommu::Error::CannotResolve` whose reason is the [`Fault`](crate::Fault)'s text.
//!
//! vm-memory describes IOVA ranges as `Range<u64>`, so an access touching the last byte of the
//! 64-bit IOVA space (`iova + len == 2^64`) cannot be expressed and is refused the same way.
//!
//! The iterator vm-memory returns holds the `Iotlb` read guard. Hits take it with
//! `read_recursive`, so nested accesses never deadlock; a miss needs the write lock and waits at
//! most one second for it (a thread that keeps a slice iterator alive across another access that
//! misses would otherwise wait for itself), then fails the access instead of hanging.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{MappedRwLockReadGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use vm_memory::iommu::{Error as IommuError, IotlbIterator, IovaRange as VmIovaRange};
use vm_memory::{GuestAddress, Iommu, Iotlb, Permissions};

use crate::engine::{BlockVisit, Engine};
use crate::types::{EndpointId, Perms};

/// Flush the `Iotlb` once this many blocks were inserted since the last flush, so a device that
/// touches many pages while nothing is ever unmapped cannot grow it without bound.
const MAX_IOTLB_INSERTS: usize = 4096;

/// Longest a miss waits for the IOTLB write lock (see `translate`).
const REFILL_LOCK_TIMEOUT: Duration = Duration::from_secs(1);

/// `impl vm_memory::Iommu` for one endpoint of an [`Engine`].
#[derive(Debug)]
pub struct EndpointIommu {
    engine: Arc<Engine>,
    endpoint: EndpointId,
    tlb: RwLock<TaggedIotlb>,
}

#[derive(Debug)]
struct TaggedIotlb {
    /// Engine generation the contents were translated at.
    generation: u64,
    inserts: usize,
    iotlb: Iotlb,
}

/// The access a vm-memory `Permissions` value asks for.
pub fn perms_from_permissions(p: Permissions) -> Perms {
    match p {
        Permissions::No => Perms::NONE,
        Permissions::Read => Perms::READ,
        Permissions::Write => Perms::WRITE,
        Permissions::ReadWrite => Perms::RW,
    }
}

/// The vm-memory `Permissions` of a mapping with `p` (EXEC has no vm-memory counterpart and is
/// dropped).
pub fn permissions_from_perms(p: Perms) -> Permissions {
    match (p.contains(Perms::READ), p.contains(Perms::WRITE)) {
        (false, false) => Permissions::No,
        (true, false) => Permissions::Read,
        (false, true) => Permissions::Write,
        (true, true) => Permissions::ReadWrite,
    }
}

fn cannot_resolve(iova: GuestAddress, length: usize, reason: String) -> IommuError {
    IommuError::CannotResolve {
        iova_range: VmIovaRange { base: iova, length },
        reason,
    }
}

impl EndpointIommu {
    /// The IOMMU as seen by endpoint `ep` of `engine`.
    pub fn new(engine: Arc<Engine>, ep: EndpointId) -> Self {
        EndpointIommu {
            engine,
            endpoint: ep,
            tlb: RwLock::new(TaggedIotlb {
                generation: 0,
                inserts: 0,
                iotlb: Iotlb::new(),
            }),
        }
    }

    /// The endpoint this IOMMU translates for.
    pub fn endpoint(&self) -> EndpointId {
        self.endpoint
    }

    /// The engine behind it.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
}

impl Iommu for EndpointIommu {
    type IotlbGuard<'a> = MappedRwLockReadGuard<'a, Iotlb>;

    fn translate(
        &self,
        iova: GuestAddress,
        length: usize,
        access: Permissions,
    ) -> Result<IotlbIterator<Self::IotlbGuard<'_>>, IommuError> {
        let Some(len) = u64::try_from(length)
            .ok()
            .filter(|&len| iova.0.checked_add(len).is_some())
        else {
            return Err(cannot_resolve(
                iova,
                length,
                "access reaches the end of the 64-bit IOVA space".into(),
            ));
        };

        // Hit: contents current and covering the access. `read_recursive`: a thread may still hold
        // the guard of an earlier translation (a live slice iterator); a plain `read` could then
        // queue behind a waiting writer that waits for that very guard.
        {
            let guard = self.tlb.read_recursive();
            if guard.generation == self.engine.generation()
                && let Ok(hit) = Iotlb::lookup(
                    RwLockReadGuard::map(guard, |t| &t.iotlb),
                    iova,
                    length,
                    access,
                )
            {
                return Ok(hit);
            }
        }
        if len == 0 {
            // Nothing to translate; serve the (empty) lookup from the IOTLB as it is.
            let guard = self.tlb.read_recursive();
            return Iotlb::lookup(RwLockReadGuard::map(guard, |t| &t.iotlb), iova, 0, access)
                .map_err(|_| cannot_resolve(iova, 0, "empty access".into()));
        }

        // Miss: translate through the engine and refill. If this thread itself still holds a guard
        // from an earlier translation, the write lock can never be had: give up after a while
        // rather than hang.
        let Some(mut tlb) = self.tlb.try_write_for(REFILL_LOCK_TIMEOUT) else {
            log::warn!(
                "EndpointIommu({}): IOTLB refill lock not available (a translation guard held \
                 across another access?)",
                self.endpoint.0
            );
            return Err(cannot_resolve(iova, length, "IOTLB busy".into()));
        };
        let mut blocks: Vec<BlockVisit> = Vec::new();
        let generation = self
            .engine
            .walk(
                self.endpoint,
                iova.0,
                len,
                perms_from_permissions(access),
                &mut |_, block| blocks.push(block),
            )
            .map_err(|fault| cannot_resolve(iova, length, fault.to_string()))?;
        if tlb.generation != generation || tlb.inserts >= MAX_IOTLB_INSERTS {
            tlb.iotlb.invalidate_all();
            tlb.generation = generation;
            tlb.inserts = 0;
        }
        for b in &blocks {
            // Range<u64> cannot end at 2^64: clip a block reaching the top (the access itself
            // ends below it, checked above).
            let end = b.block_last.saturating_add(1);
            let Ok(block_len) = usize::try_from(end - b.block_start) else {
                continue;
            };
            tlb.iotlb.set_mapping(
                GuestAddress(b.block_start),
                GuestAddress(b.block_paddr),
                block_len,
                permissions_from_perms(b.perms),
            )?;
            tlb.inserts += 1;
        }
        let guard = RwLockWriteGuard::downgrade(tlb);
        Iotlb::lookup(
            RwLockReadGuard::map(guard, |t| &t.iotlb),
            iova,
            length,
            access,
        )
        .map_err(|_| cannot_resolve(iova, length, "IOTLB refill did not cover the access".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_conversions_round_trip() {
        for p in [
            Permissions::No,
            Permissions::Read,
            Permissions::Write,
            Permissions::ReadWrite,
        ] {
            assert_eq!(permissions_from_perms(perms_from_permissions(p)), p);
        }
        assert_eq!(permissions_from_perms(Perms::EXEC), Permissions::No);
        assert_eq!(permissions_from_perms(Perms::ALL), Permissions::ReadWrite);
    }
}
