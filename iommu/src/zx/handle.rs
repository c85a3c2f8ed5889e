//! The handle table: handle values -> (object, rights), and the typed lookups every syscall starts
//! with ("Handle lookups in Zircon go (1) handle valid, else BAD_HANDLE; then (2) object type,
//! else WRONG_TYPE; then (3) required rights, else ACCESS_DENIED.").

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use super::bti::Bti;
use super::constants::*;
use super::iommu_obj::Iommu;
use super::object::ObjectHeader;
use super::pmt::Pmt;
use super::resource::Resource;
use super::vmo::Vmo;
use super::{Handle, Status};

/// Handles a kernel hands out at most at once (Zircon's handle arena holds 256 Ki handles; a
/// failed allocation is `ZX_ERR_NO_MEMORY`).
pub(crate) const MAX_HANDLES: usize = 256 * 1024;

/// A reference to a kernel object of any type.
#[derive(Clone, Debug)]
pub(crate) enum Object {
    Resource(Arc<Resource>),
    Iommu(Arc<Iommu>),
    Bti(Arc<Bti>),
    Pmt(Arc<Pmt>),
    Vmo(Arc<Vmo>),
}

impl Object {
    pub(crate) fn obj_type(&self) -> u32 {
        match self {
            Object::Resource(_) => ZX_OBJ_TYPE_RESOURCE,
            Object::Iommu(_) => ZX_OBJ_TYPE_IOMMU,
            Object::Bti(_) => ZX_OBJ_TYPE_BTI,
            Object::Pmt(_) => ZX_OBJ_TYPE_PMT,
            Object::Vmo(_) => ZX_OBJ_TYPE_VMO,
        }
    }

    pub(crate) fn header(&self) -> &ObjectHeader {
        match self {
            Object::Resource(o) => &o.header,
            Object::Iommu(o) => &o.header,
            Object::Bti(o) => &o.header,
            Object::Pmt(o) => &o.header,
            Object::Vmo(o) => &o.header,
        }
    }
}

/// One handle: an object and the rights this handle grants on it.
#[derive(Debug)]
pub(crate) struct HandleEntry {
    pub(crate) object: Object,
    pub(crate) rights: u32,
    /// Set when the handle is closed, so waiters on it return `ZX_ERR_CANCELED`.
    pub(crate) closed: AtomicBool,
}

#[derive(Debug, Default)]
struct Table {
    map: HashMap<Handle, Arc<HandleEntry>>,
    next: u32,
}

/// Maps handle values to handle entries. Handle values have their two low bits set (as
/// Zircon's do) and are not reused until 2^30 more handles were created.
#[derive(Debug, Default)]
pub(crate) struct HandleTable {
    table: RwLock<Table>,
}

/// Something a typed lookup can extract from an [`Object`].
pub(crate) trait FromObject: Sized {
    fn from_object(object: &Object) -> Option<Arc<Self>>;
}

macro_rules! from_object {
    ($ty:ty, $variant:ident) => {
        impl FromObject for $ty {
            fn from_object(object: &Object) -> Option<Arc<Self>> {
                match object {
                    Object::$variant(o) => Some(o.clone()),
                    _ => None,
                }
            }
        }
    };
}
from_object!(Resource, Resource);
from_object!(Iommu, Iommu);
from_object!(Bti, Bti);
from_object!(Pmt, Pmt);
from_object!(Vmo, Vmo);

impl HandleTable {
    /// Adds a handle to `object` with `rights`.
    pub(crate) fn add(&self, object: Object, rights: u32) -> Result<Handle, Status> {
        let mut t = self.table.write();
        if t.map.len() >= MAX_HANDLES {
            return Err(ZX_ERR_NO_MEMORY);
        }
        let value = loop {
            t.next = (t.next + 1) & 0x3fff_ffff;
            let v = (t.next << 2) | ZX_HANDLE_FIXED_BITS_MASK;
            if v != ZX_HANDLE_INVALID && !t.map.contains_key(&v) {
                break v;
            }
        };
        object.header().handle_count.fetch_add(1, Ordering::AcqRel);
        t.map.insert(
            value,
            Arc::new(HandleEntry {
                object,
                rights,
                closed: AtomicBool::new(false),
            }),
        );
        Ok(value)
    }

    /// The entry of a handle, or `ZX_ERR_BAD_HANDLE`.
    pub(crate) fn get(&self, handle: Handle) -> Result<Arc<HandleEntry>, Status> {
        self.table
            .read()
            .map
            .get(&handle)
            .cloned()
            .ok_or(ZX_ERR_BAD_HANDLE)
    }

    /// A typed lookup: BAD_HANDLE, then WRONG_TYPE, then ACCESS_DENIED unless the handle has every
    /// right in `required`. Returns the object and the handle's rights.
    pub(crate) fn lookup<T: FromObject>(
        &self,
        handle: Handle,
        required: u32,
    ) -> Result<(Arc<T>, u32), Status> {
        let entry = self.get(handle)?;
        let object = T::from_object(&entry.object).ok_or(ZX_ERR_WRONG_TYPE)?;
        if entry.rights & required != required {
            return Err(ZX_ERR_ACCESS_DENIED);
        }
        Ok((object, entry.rights))
    }

    /// Removes a handle from the table without running its object's zero-handles action; the
    /// caller must pass the entry to [`HandleTable::release`] once done with it.
    pub(crate) fn remove(&self, handle: Handle) -> Result<Arc<HandleEntry>, Status> {
        self.table
            .write()
            .map
            .remove(&handle)
            .ok_or(ZX_ERR_BAD_HANDLE)
    }

    /// Finishes closing a removed handle: wakes its waiters and, if it was the object's last
    /// handle, returns the object so the caller can run its `on_zero_handles` action.
    pub(crate) fn release(entry: &HandleEntry) -> Option<Object> {
        entry.closed.store(true, Ordering::Release);
        entry.object.header().signals.wake_all();
        let before = entry
            .object
            .header()
            .handle_count
            .fetch_sub(1, Ordering::AcqRel);
        (before == 1).then(|| entry.object.clone())
    }

    /// Removes every handle (kernel teardown), without zero-handles actions.
    pub(crate) fn drain(&self) -> Vec<Arc<HandleEntry>> {
        self.table.write().map.drain().map(|(_, e)| e).collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.table.read().map.len()
    }
}
