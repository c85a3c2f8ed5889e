//! Zircon's constants with Zircon's names and values: status codes, rights, object types, options,
//! topics, properties, signals and limits (zircon/types.h, errors.h, rights.h, syscalls/object.h,
//! syscalls/iommu.h, syscalls/resource.h).

use super::{Handle, Status};

// ---------------------------------------------------------------------------------------------
// Status codes (zircon/errors.h)
// ---------------------------------------------------------------------------------------------

/// Success.
pub const ZX_OK: Status = 0;
pub const ZX_ERR_INTERNAL: Status = -1;
pub const ZX_ERR_NOT_SUPPORTED: Status = -2;
pub const ZX_ERR_NO_RESOURCES: Status = -3;
pub const ZX_ERR_NO_MEMORY: Status = -4;
pub const ZX_ERR_INTERNAL_INTR_RETRY: Status = -6;
pub const ZX_ERR_INVALID_ARGS: Status = -10;
pub const ZX_ERR_BAD_HANDLE: Status = -11;
pub const ZX_ERR_WRONG_TYPE: Status = -12;
pub const ZX_ERR_BAD_SYSCALL: Status = -13;
pub const ZX_ERR_OUT_OF_RANGE: Status = -14;
pub const ZX_ERR_BUFFER_TOO_SMALL: Status = -15;
pub const ZX_ERR_BAD_STATE: Status = -20;
pub const ZX_ERR_TIMED_OUT: Status = -21;
pub const ZX_ERR_SHOULD_WAIT: Status = -22;
pub const ZX_ERR_CANCELED: Status = -23;
pub const ZX_ERR_PEER_CLOSED: Status = -24;
pub const ZX_ERR_NOT_FOUND: Status = -25;
pub const ZX_ERR_ALREADY_EXISTS: Status = -26;
pub const ZX_ERR_ALREADY_BOUND: Status = -27;
pub const ZX_ERR_UNAVAILABLE: Status = -28;
pub const ZX_ERR_ACCESS_DENIED: Status = -30;
pub const ZX_ERR_IO: Status = -40;
pub const ZX_ERR_IO_REFUSED: Status = -41;
pub const ZX_ERR_IO_DATA_INTEGRITY: Status = -42;
pub const ZX_ERR_IO_DATA_LOSS: Status = -43;
pub const ZX_ERR_IO_NOT_PRESENT: Status = -44;
pub const ZX_ERR_IO_OVERRUN: Status = -45;
pub const ZX_ERR_IO_MISSED_DEADLINE: Status = -46;
pub const ZX_ERR_IO_INVALID: Status = -47;
pub const ZX_ERR_BAD_PATH: Status = -50;
pub const ZX_ERR_NOT_DIR: Status = -51;
pub const ZX_ERR_NOT_FILE: Status = -52;
pub const ZX_ERR_FILE_BIG: Status = -53;
pub const ZX_ERR_NO_SPACE: Status = -54;
pub const ZX_ERR_NOT_EMPTY: Status = -55;
pub const ZX_ERR_STOP: Status = -60;
pub const ZX_ERR_NEXT: Status = -61;
pub const ZX_ERR_ASYNC: Status = -62;
pub const ZX_ERR_PROTOCOL_NOT_SUPPORTED: Status = -70;
pub const ZX_ERR_ADDRESS_UNREACHABLE: Status = -71;
pub const ZX_ERR_ADDRESS_IN_USE: Status = -72;
pub const ZX_ERR_NOT_CONNECTED: Status = -73;
pub const ZX_ERR_CONNECTION_REFUSED: Status = -74;
pub const ZX_ERR_CONNECTION_RESET: Status = -75;
pub const ZX_ERR_CONNECTION_ABORTED: Status = -76;
pub const ZX_ERR_INTERNAL_INTR_KILLED: Status = -502;

/// The name of a status code as Zircon spells it (`"ZX_ERR_BAD_STATE"`), for logs and demos.
pub fn status_name(status: Status) -> &'static str {
    match status {
        ZX_OK => "ZX_OK",
        ZX_ERR_INTERNAL => "ZX_ERR_INTERNAL",
        ZX_ERR_NOT_SUPPORTED => "ZX_ERR_NOT_SUPPORTED",
        ZX_ERR_NO_RESOURCES => "ZX_ERR_NO_RESOURCES",
        ZX_ERR_NO_MEMORY => "ZX_ERR_NO_MEMORY",
        ZX_ERR_INTERNAL_INTR_RETRY => "ZX_ERR_INTERNAL_INTR_RETRY",
        ZX_ERR_INVALID_ARGS => "ZX_ERR_INVALID_ARGS",
        ZX_ERR_BAD_HANDLE => "ZX_ERR_BAD_HANDLE",
        ZX_ERR_WRONG_TYPE => "ZX_ERR_WRONG_TYPE",
        ZX_ERR_BAD_SYSCALL => "ZX_ERR_BAD_SYSCALL",
        ZX_ERR_OUT_OF_RANGE => "ZX_ERR_OUT_OF_RANGE",
        ZX_ERR_BUFFER_TOO_SMALL => "ZX_ERR_BUFFER_TOO_SMALL",
        ZX_ERR_BAD_STATE => "ZX_ERR_BAD_STATE",
        ZX_ERR_TIMED_OUT => "ZX_ERR_TIMED_OUT",
        ZX_ERR_SHOULD_WAIT => "ZX_ERR_SHOULD_WAIT",
        ZX_ERR_CANCELED => "ZX_ERR_CANCELED",
        ZX_ERR_PEER_CLOSED => "ZX_ERR_PEER_CLOSED",
        ZX_ERR_NOT_FOUND => "ZX_ERR_NOT_FOUND",
        ZX_ERR_ALREADY_EXISTS => "ZX_ERR_ALREADY_EXISTS",
        ZX_ERR_ALREADY_BOUND => "ZX_ERR_ALREADY_BOUND",
        ZX_ERR_UNAVAILABLE => "ZX_ERR_UNAVAILABLE",
        ZX_ERR_ACCESS_DENIED => "ZX_ERR_ACCESS_DENIED",
        ZX_ERR_IO => "ZX_ERR_IO",
        ZX_ERR_IO_REFUSED => "ZX_ERR_IO_REFUSED",
        ZX_ERR_IO_DATA_INTEGRITY => "ZX_ERR_IO_DATA_INTEGRITY",
        ZX_ERR_IO_DATA_LOSS => "ZX_ERR_IO_DATA_LOSS",
        ZX_ERR_IO_NOT_PRESENT => "ZX_ERR_IO_NOT_PRESENT",
        ZX_ERR_IO_OVERRUN => "ZX_ERR_IO_OVERRUN",
        ZX_ERR_IO_MISSED_DEADLINE => "ZX_ERR_IO_MISSED_DEADLINE",
        ZX_ERR_IO_INVALID => "ZX_ERR_IO_INVALID",
        ZX_ERR_BAD_PATH => "ZX_ERR_BAD_PATH",
        ZX_ERR_NOT_DIR => "ZX_ERR_NOT_DIR",
        ZX_ERR_NOT_FILE => "ZX_ERR_NOT_FILE",
        ZX_ERR_FILE_BIG => "ZX_ERR_FILE_BIG",
        ZX_ERR_NO_SPACE => "ZX_ERR_NO_SPACE",
        ZX_ERR_NOT_EMPTY => "ZX_ERR_NOT_EMPTY",
        ZX_ERR_STOP => "ZX_ERR_STOP",
        ZX_ERR_NEXT => "ZX_ERR_NEXT",
        ZX_ERR_ASYNC => "ZX_ERR_ASYNC",
        ZX_ERR_PROTOCOL_NOT_SUPPORTED => "ZX_ERR_PROTOCOL_NOT_SUPPORTED",
        ZX_ERR_ADDRESS_UNREACHABLE => "ZX_ERR_ADDRESS_UNREACHABLE",
        ZX_ERR_ADDRESS_IN_USE => "ZX_ERR_ADDRESS_IN_USE",
        ZX_ERR_NOT_CONNECTED => "ZX_ERR_NOT_CONNECTED",
        ZX_ERR_CONNECTION_REFUSED => "ZX_ERR_CONNECTION_REFUSED",
        ZX_ERR_CONNECTION_RESET => "ZX_ERR_CONNECTION_RESET",
        ZX_ERR_CONNECTION_ABORTED => "ZX_ERR_CONNECTION_ABORTED",
        ZX_ERR_INTERNAL_INTR_KILLED => "ZX_ERR_INTERNAL_INTR_KILLED",
        _ => "(unknown status)",
    }
}

// ---------------------------------------------------------------------------------------------
// Handles and rights (zircon/types.h, zircon/rights.h)
// ---------------------------------------------------------------------------------------------

/// "The value 0 is always considered to be an invalid handle."
pub const ZX_HANDLE_INVALID: Handle = 0;
/// "the lowest two bits of a valid handle will _always_ be 1."
pub const ZX_HANDLE_FIXED_BITS_MASK: Handle = 0x3;

pub const ZX_RIGHT_NONE: u32 = 0;
pub const ZX_RIGHT_DUPLICATE: u32 = 1 << 0;
pub const ZX_RIGHT_TRANSFER: u32 = 1 << 1;
pub const ZX_RIGHT_READ: u32 = 1 << 2;
pub const ZX_RIGHT_WRITE: u32 = 1 << 3;
pub const ZX_RIGHT_EXECUTE: u32 = 1 << 4;
pub const ZX_RIGHT_MAP: u32 = 1 << 5;
pub const ZX_RIGHT_GET_PROPERTY: u32 = 1 << 6;
pub const ZX_RIGHT_SET_PROPERTY: u32 = 1 << 7;
pub const ZX_RIGHT_ENUMERATE: u32 = 1 << 8;
pub const ZX_RIGHT_DESTROY: u32 = 1 << 9;
pub const ZX_RIGHT_SET_POLICY: u32 = 1 << 10;
pub const ZX_RIGHT_GET_POLICY: u32 = 1 << 11;
pub const ZX_RIGHT_SIGNAL: u32 = 1 << 12;
pub const ZX_RIGHT_SIGNAL_PEER: u32 = 1 << 13;
pub const ZX_RIGHT_WAIT: u32 = 1 << 14;
pub const ZX_RIGHT_INSPECT: u32 = 1 << 15;
pub const ZX_RIGHT_MANAGE_JOB: u32 = 1 << 16;
pub const ZX_RIGHT_MANAGE_PROCESS: u32 = 1 << 17;
pub const ZX_RIGHT_MANAGE_THREAD: u32 = 1 << 18;
pub const ZX_RIGHT_APPLY_PROFILE: u32 = 1 << 19;
pub const ZX_RIGHT_MANAGE_SOCKET: u32 = 1 << 20;
pub const ZX_RIGHT_OP_CHILDREN: u32 = 1 << 21;
pub const ZX_RIGHT_RESIZE: u32 = 1 << 22;
pub const ZX_RIGHT_ATTACH_VMO: u32 = 1 << 23;
pub const ZX_RIGHT_MANAGE_VMO: u32 = 1 << 24;
pub const ZX_RIGHT_SAME_RIGHTS: u32 = 1 << 31;

/// TRANSFER | DUPLICATE | WAIT | INSPECT.
pub const ZX_RIGHTS_BASIC: u32 =
    ZX_RIGHT_TRANSFER | ZX_RIGHT_DUPLICATE | ZX_RIGHT_WAIT | ZX_RIGHT_INSPECT;
/// READ | WRITE.
pub const ZX_RIGHTS_IO: u32 = ZX_RIGHT_READ | ZX_RIGHT_WRITE;
/// GET_PROPERTY | SET_PROPERTY.
pub const ZX_RIGHTS_PROPERTY: u32 = ZX_RIGHT_GET_PROPERTY | ZX_RIGHT_SET_PROPERTY;

/// 0xD0EF: BASIC | IO | PROPERTY | MAP | SIGNAL (a resizable VMO also gets RESIZE).
pub const ZX_DEFAULT_VMO_RIGHTS: u32 =
    ZX_RIGHTS_BASIC | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_MAP | ZX_RIGHT_SIGNAL;
/// 0x80EF: (BASIC & ~WAIT) | IO | PROPERTY | MAP.
pub const ZX_DEFAULT_BTI_RIGHTS: u32 =
    (ZX_RIGHTS_BASIC & !ZX_RIGHT_WAIT) | ZX_RIGHTS_IO | ZX_RIGHTS_PROPERTY | ZX_RIGHT_MAP;
/// 0x8000: INSPECT only, so a PMT handle cannot be duplicated or transferred.
pub const ZX_DEFAULT_PMT_RIGHTS: u32 = ZX_RIGHT_INSPECT;
/// 0x8003: BASIC & ~WAIT.
pub const ZX_DEFAULT_IOMMU_RIGHTS: u32 = ZX_RIGHTS_BASIC & !ZX_RIGHT_WAIT;
/// 0x800B: TRANSFER | DUPLICATE | WRITE | INSPECT.
pub const ZX_DEFAULT_RESOURCE_RIGHTS: u32 =
    ZX_RIGHT_TRANSFER | ZX_RIGHT_DUPLICATE | ZX_RIGHT_WRITE | ZX_RIGHT_INSPECT;

// ---------------------------------------------------------------------------------------------
// Object types (zircon/types.h)
// ---------------------------------------------------------------------------------------------

pub const ZX_OBJ_TYPE_NONE: u32 = 0;
pub const ZX_OBJ_TYPE_PROCESS: u32 = 1;
pub const ZX_OBJ_TYPE_THREAD: u32 = 2;
pub const ZX_OBJ_TYPE_VMO: u32 = 3;
pub const ZX_OBJ_TYPE_CHANNEL: u32 = 4;
pub const ZX_OBJ_TYPE_EVENT: u32 = 5;
pub const ZX_OBJ_TYPE_PORT: u32 = 6;
pub const ZX_OBJ_TYPE_INTERRUPT: u32 = 9;
pub const ZX_OBJ_TYPE_PCI_DEVICE: u32 = 11;
pub const ZX_OBJ_TYPE_DEBUGLOG: u32 = 12;
pub const ZX_OBJ_TYPE_SOCKET: u32 = 14;
pub const ZX_OBJ_TYPE_RESOURCE: u32 = 15;
pub const ZX_OBJ_TYPE_EVENTPAIR: u32 = 16;
pub const ZX_OBJ_TYPE_JOB: u32 = 17;
pub const ZX_OBJ_TYPE_VMAR: u32 = 18;
pub const ZX_OBJ_TYPE_FIFO: u32 = 19;
pub const ZX_OBJ_TYPE_GUEST: u32 = 20;
pub const ZX_OBJ_TYPE_VCPU: u32 = 21;
pub const ZX_OBJ_TYPE_TIMER: u32 = 22;
pub const ZX_OBJ_TYPE_IOMMU: u32 = 23;
pub const ZX_OBJ_TYPE_BTI: u32 = 24;
pub const ZX_OBJ_TYPE_PROFILE: u32 = 25;
pub const ZX_OBJ_TYPE_PMT: u32 = 26;
pub const ZX_OBJ_TYPE_SUSPEND_TOKEN: u32 = 27;
pub const ZX_OBJ_TYPE_PAGER: u32 = 28;
pub const ZX_OBJ_TYPE_EXCEPTION: u32 = 29;
pub const ZX_OBJ_TYPE_CLOCK: u32 = 30;
pub const ZX_OBJ_TYPE_STREAM: u32 = 31;
pub const ZX_OBJ_TYPE_MSI: u32 = 32;
pub const ZX_OBJ_TYPE_IOB: u32 = 33;
pub const ZX_OBJ_TYPE_COUNTER: u32 = 34;

/// "The first non-reserved koid. The first 1024 are reserved."
pub const ZX_KOID_FIRST: u64 = 1024;
pub const ZX_KOID_INVALID: u64 = 0;

// ---------------------------------------------------------------------------------------------
// BTI options (zircon/types.h)
// ---------------------------------------------------------------------------------------------

pub const ZX_BTI_PERM_READ: u32 = 1 << 0;
pub const ZX_BTI_PERM_WRITE: u32 = 1 << 1;
pub const ZX_BTI_PERM_EXECUTE: u32 = 1 << 2;
pub const ZX_BTI_COMPRESS: u32 = 1 << 3;
pub const ZX_BTI_CONTIGUOUS: u32 = 1 << 4;

// ---------------------------------------------------------------------------------------------
// VMO options, child options, range ops, cache policies (zircon/types.h)
// ---------------------------------------------------------------------------------------------

pub const ZX_VMO_RESIZABLE: u32 = 1 << 1;
pub const ZX_VMO_DISCARDABLE: u32 = 1 << 2;
pub const ZX_VMO_TRAP_DIRTY: u32 = 1 << 3;
pub const ZX_VMO_UNBOUNDED: u32 = 1 << 4;

pub const ZX_VMO_CHILD_SNAPSHOT: u32 = 1 << 0;
pub const ZX_VMO_CHILD_RESIZABLE: u32 = 1 << 2;
pub const ZX_VMO_CHILD_SLICE: u32 = 1 << 3;
pub const ZX_VMO_CHILD_SNAPSHOT_AT_LEAST_ON_WRITE: u32 = 1 << 4;
pub const ZX_VMO_CHILD_NO_WRITE: u32 = 1 << 5;
pub const ZX_VMO_CHILD_REFERENCE: u32 = 1 << 6;
pub const ZX_VMO_CHILD_SNAPSHOT_MODIFIED: u32 = 1 << 7;

pub const ZX_VMO_OP_COMMIT: u32 = 1;
pub const ZX_VMO_OP_DECOMMIT: u32 = 2;
pub const ZX_VMO_OP_LOCK: u32 = 3;
pub const ZX_VMO_OP_UNLOCK: u32 = 4;
pub const ZX_VMO_OP_CACHE_SYNC: u32 = 6;
pub const ZX_VMO_OP_CACHE_INVALIDATE: u32 = 7;
pub const ZX_VMO_OP_CACHE_CLEAN: u32 = 8;
pub const ZX_VMO_OP_CACHE_CLEAN_INVALIDATE: u32 = 9;
pub const ZX_VMO_OP_ZERO: u32 = 10;
pub const ZX_VMO_OP_TRY_LOCK: u32 = 11;
pub const ZX_VMO_OP_DONT_NEED: u32 = 12;
pub const ZX_VMO_OP_ALWAYS_NEED: u32 = 13;
pub const ZX_VMO_OP_PREFETCH: u32 = 14;

pub const ZX_CACHE_POLICY_CACHED: u32 = 0;
pub const ZX_CACHE_POLICY_UNCACHED: u32 = 1;
pub const ZX_CACHE_POLICY_UNCACHED_DEVICE: u32 = 2;
pub const ZX_CACHE_POLICY_WRITE_COMBINING: u32 = 3;
pub const ZX_CACHE_POLICY_MASK: u32 = 3;

// ---------------------------------------------------------------------------------------------
// Signals (zircon/types.h)
// ---------------------------------------------------------------------------------------------

pub const ZX_SIGNAL_NONE: u32 = 0;
/// `__ZX_OBJECT_SIGNALED`.
pub const ZX_VMO_ZERO_CHILDREN: u32 = 1 << 3;
pub const ZX_USER_SIGNAL_0: u32 = 1 << 24;
pub const ZX_USER_SIGNAL_1: u32 = 1 << 25;
pub const ZX_USER_SIGNAL_2: u32 = 1 << 26;
pub const ZX_USER_SIGNAL_3: u32 = 1 << 27;
pub const ZX_USER_SIGNAL_4: u32 = 1 << 28;
pub const ZX_USER_SIGNAL_5: u32 = 1 << 29;
pub const ZX_USER_SIGNAL_6: u32 = 1 << 30;
pub const ZX_USER_SIGNAL_7: u32 = 1 << 31;
pub const ZX_USER_SIGNAL_ALL: u32 = 0xff00_0000;

// ---------------------------------------------------------------------------------------------
// Time (zircon/time.h)
// ---------------------------------------------------------------------------------------------

pub const ZX_TIME_INFINITE: i64 = i64::MAX;
pub const ZX_TIME_INFINITE_PAST: i64 = i64::MIN;

// ---------------------------------------------------------------------------------------------
// Object info topics and properties (zircon/syscalls/object.h)
// ---------------------------------------------------------------------------------------------

const fn info_topic(topic: u32, version: u32) -> u32 {
    topic | (version << 28)
}

pub const ZX_INFO_NONE: u32 = 0;
pub const ZX_INFO_HANDLE_VALID: u32 = 1;
pub const ZX_INFO_HANDLE_BASIC: u32 = 2;
pub const ZX_INFO_RESOURCE: u32 = 18;
pub const ZX_INFO_BTI: u32 = 20;
/// zx_info_vmo_v1_t (104 bytes).
pub const ZX_INFO_VMO_V1: u32 = info_topic(23, 0);
/// zx_info_vmo_v2_t (120 bytes).
pub const ZX_INFO_VMO_V2: u32 = info_topic(23, 1);
/// zx_info_vmo_v3_t (128 bytes).
pub const ZX_INFO_VMO_V3: u32 = info_topic(23, 2);
/// The current zx_info_vmo_t (176 bytes).
pub const ZX_INFO_VMO: u32 = info_topic(23, 3);

pub const ZX_PROP_NAME: u32 = 3;
pub const ZX_PROP_VMO_CONTENT_SIZE: u32 = 17;
/// Names are at most 31 bytes plus a terminating NUL.
pub const ZX_MAX_NAME_LEN: usize = 32;

/// `ZX_INFO_VMO` flags.
pub const ZX_INFO_VMO_TYPE_PHYSICAL: u32 = 0;
pub const ZX_INFO_VMO_TYPE_PAGED: u32 = 1 << 0;
pub const ZX_INFO_VMO_RESIZABLE: u32 = 1 << 1;
pub const ZX_INFO_VMO_IS_COW_CLONE: u32 = 1 << 2;
pub const ZX_INFO_VMO_VIA_HANDLE: u32 = 1 << 3;
pub const ZX_INFO_VMO_VIA_MAPPING: u32 = 1 << 4;
pub const ZX_INFO_VMO_PAGER_BACKED: u32 = 1 << 5;
pub const ZX_INFO_VMO_CONTIGUOUS: u32 = 1 << 6;
pub const ZX_INFO_VMO_DISCARDABLE: u32 = 1 << 7;
pub const ZX_INFO_VMO_IMMUTABLE: u32 = 1 << 8;

// ---------------------------------------------------------------------------------------------
// IOMMU (zircon/syscalls/iommu.h)
// ---------------------------------------------------------------------------------------------

pub const ZX_IOMMU_MAX_DESC_LEN: usize = 4096;
pub const ZX_IOMMU_TYPE_DUMMY: u32 = 0;
pub const ZX_IOMMU_TYPE_INTEL: u32 = 1;

// ---------------------------------------------------------------------------------------------
// Resources (zircon/syscalls/resource.h)
// ---------------------------------------------------------------------------------------------

pub const ZX_RSRC_KIND_MMIO: u32 = 0;
pub const ZX_RSRC_KIND_IRQ: u32 = 1;
pub const ZX_RSRC_KIND_IOPORT: u32 = 2;
pub const ZX_RSRC_KIND_ROOT: u32 = 3;
pub const ZX_RSRC_KIND_SMC: u32 = 4;
pub const ZX_RSRC_KIND_SYSTEM: u32 = 5;
pub const ZX_RSRC_KIND_COUNT: u32 = 6;
pub const ZX_RSRC_FLAG_EXCLUSIVE: u32 = 0x0001_0000;
pub const ZX_RSRC_FLAGS_MASK: u32 = ZX_RSRC_FLAG_EXCLUSIVE;

pub const ZX_RSRC_SYSTEM_HYPERVISOR_BASE: u64 = 0;
pub const ZX_RSRC_SYSTEM_VMEX_BASE: u64 = 1;
pub const ZX_RSRC_SYSTEM_DEBUG_BASE: u64 = 2;
pub const ZX_RSRC_SYSTEM_INFO_BASE: u64 = 3;
pub const ZX_RSRC_SYSTEM_CPU_BASE: u64 = 4;
pub const ZX_RSRC_SYSTEM_POWER_BASE: u64 = 5;
pub const ZX_RSRC_SYSTEM_MEXEC_BASE: u64 = 6;
pub const ZX_RSRC_SYSTEM_ENERGY_INFO_BASE: u64 = 7;
pub const ZX_RSRC_SYSTEM_IOMMU_BASE: u64 = 8;
pub const ZX_RSRC_SYSTEM_FRAMEBUFFER_BASE: u64 = 9;
pub const ZX_RSRC_SYSTEM_PROFILE_BASE: u64 = 10;
pub const ZX_RSRC_SYSTEM_MSI_BASE: u64 = 11;
pub const ZX_RSRC_SYSTEM_DEBUGLOG_BASE: u64 = 12;
pub const ZX_RSRC_SYSTEM_STALL_BASE: u64 = 13;
pub const ZX_RSRC_SYSTEM_COUNT: u64 = 14;

// ---------------------------------------------------------------------------------------------
// Kernel limits that are not in the public headers
// ---------------------------------------------------------------------------------------------

/// `VM_PAGE_OBJECT_MAX_PIN_COUNT` = (1 << 5) - 1: "A pin that would push any page past 31 fails
/// with ZX_ERR_UNAVAILABLE".
pub const MAX_PIN_COUNT: u64 = 31;

/// `kMaxAddrs` in bti_pin with 4 KiB pages: (PAGE_SIZE * 64) / sizeof(dev_vaddr_t) = 32768.
pub const BTI_PIN_MAX_ADDRS: usize = 32768;

/// `VmPageListNode::kPageFanOut`; the largest VMO is `ROUNDDOWN(UINT64_MAX, 2 * kPageFanOut *
/// PAGE_SIZE)` (`VmPageList::MAX_SIZE`).
pub(crate) const PAGE_LIST_FAN_OUT: u64 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rights_match_the_reference() {
        assert_eq!(ZX_DEFAULT_IOMMU_RIGHTS, 0x8003);
        assert_eq!(ZX_DEFAULT_BTI_RIGHTS, 0x80EF);
        assert_eq!(ZX_DEFAULT_PMT_RIGHTS, 0x8000);
        assert_eq!(ZX_DEFAULT_VMO_RIGHTS, 0xD0EF);
        assert_eq!(ZX_DEFAULT_VMO_RIGHTS | ZX_RIGHT_RESIZE, 0x40D0EF);
        assert_eq!(ZX_DEFAULT_RESOURCE_RIGHTS, 0x800B);
    }

    #[test]
    fn topics() {
        assert_eq!(ZX_INFO_VMO, 23 | (3 << 28));
        assert_eq!(ZX_INFO_VMO_V1, 23);
        assert_eq!(status_name(ZX_ERR_BAD_STATE), "ZX_ERR_BAD_STATE");
        assert_eq!(status_name(12345), "(unknown status)");
    }
}
