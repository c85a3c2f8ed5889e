//! Every error case of the reference's check-order lists (shared/reference/zircon-bti.md §2.1–2.15)
//! and of the seeds' ERRORS sections (zx_bti_pin, zx_vmo_create_physical), including which error
//! wins when several apply. Each test quotes the reference (or seed) line it checks.
//!
//! Black-box: only the `iommu::zx` syscall surface of issue 2 §2 is used.

mod common;

use common::*;
use iommu::zx::*;

const BOGUS: Handle = 0x7fff_fff1;

// ---------------------------------------------------------------------------------------------
// Constants (reference §1)
// ---------------------------------------------------------------------------------------------

// "| ZX_OK | 0 | ... ZX_ERR_ACCESS_DENIED | -30 |" (§1.1)
#[test]
fn status_codes_have_zircon_values() {
    assert_eq!(ZX_OK, 0);
    assert_eq!(ZX_ERR_INTERNAL, -1);
    assert_eq!(ZX_ERR_NOT_SUPPORTED, -2);
    assert_eq!(ZX_ERR_NO_RESOURCES, -3);
    assert_eq!(ZX_ERR_NO_MEMORY, -4);
    assert_eq!(ZX_ERR_INVALID_ARGS, -10);
    assert_eq!(ZX_ERR_BAD_HANDLE, -11);
    assert_eq!(ZX_ERR_WRONG_TYPE, -12);
    assert_eq!(ZX_ERR_BAD_SYSCALL, -13);
    assert_eq!(ZX_ERR_OUT_OF_RANGE, -14);
    assert_eq!(ZX_ERR_BUFFER_TOO_SMALL, -15);
    assert_eq!(ZX_ERR_BAD_STATE, -20);
    assert_eq!(ZX_ERR_TIMED_OUT, -21);
    assert_eq!(ZX_ERR_SHOULD_WAIT, -22);
    assert_eq!(ZX_ERR_CANCELED, -23);
    assert_eq!(ZX_ERR_PEER_CLOSED, -24);
    assert_eq!(ZX_ERR_NOT_FOUND, -25);
    assert_eq!(ZX_ERR_ALREADY_EXISTS, -26);
    assert_eq!(ZX_ERR_ALREADY_BOUND, -27);
    assert_eq!(ZX_ERR_UNAVAILABLE, -28);
    assert_eq!(ZX_ERR_ACCESS_DENIED, -30);
    assert_eq!(ZX_ERR_IO, -40);
}

// "Rights (zircon/system/public/zircon/rights.h)" table and "Default rights (current)" (§1.2)
#[test]
fn rights_and_default_rights_have_zircon_values() {
    assert_eq!(ZX_RIGHT_NONE, 0);
    assert_eq!(ZX_RIGHT_DUPLICATE, 0x1);
    assert_eq!(ZX_RIGHT_TRANSFER, 0x2);
    assert_eq!(ZX_RIGHT_READ, 0x4);
    assert_eq!(ZX_RIGHT_WRITE, 0x8);
    assert_eq!(ZX_RIGHT_EXECUTE, 0x10);
    assert_eq!(ZX_RIGHT_MAP, 0x20);
    assert_eq!(ZX_RIGHT_GET_PROPERTY, 0x40);
    assert_eq!(ZX_RIGHT_SET_PROPERTY, 0x80);
    assert_eq!(ZX_RIGHT_SIGNAL, 0x1000);
    assert_eq!(ZX_RIGHT_WAIT, 0x4000);
    assert_eq!(ZX_RIGHT_INSPECT, 0x8000);
    assert_eq!(ZX_RIGHT_RESIZE, 0x40_0000);
    assert_eq!(ZX_RIGHT_SAME_RIGHTS, 0x8000_0000);
    assert_eq!(ZX_DEFAULT_IOMMU_RIGHTS, 0x8003);
    assert_eq!(ZX_DEFAULT_BTI_RIGHTS, 0x80EF);
    assert_eq!(ZX_DEFAULT_PMT_RIGHTS, 0x8000);
    assert_eq!(ZX_DEFAULT_VMO_RIGHTS, 0xD0EF);
}

// §1.3–§1.6 option/type/topic/property/signal constants.
#[test]
fn option_and_topic_constants_have_zircon_values() {
    assert_eq!(ZX_BTI_PERM_READ, 0x1);
    assert_eq!(ZX_BTI_PERM_WRITE, 0x2);
    assert_eq!(ZX_BTI_PERM_EXECUTE, 0x4);
    assert_eq!(ZX_BTI_COMPRESS, 0x8);
    assert_eq!(ZX_BTI_CONTIGUOUS, 0x10);
    assert_eq!(ZX_OBJ_TYPE_VMO, 3);
    assert_eq!(ZX_OBJ_TYPE_RESOURCE, 15);
    assert_eq!(ZX_OBJ_TYPE_IOMMU, 23);
    assert_eq!(ZX_OBJ_TYPE_BTI, 24);
    assert_eq!(ZX_OBJ_TYPE_PMT, 26);
    assert_eq!(ZX_INFO_HANDLE_BASIC, 2);
    assert_eq!(ZX_INFO_BTI, 20);
    // issue 2 §2: "ZX_INFO_VMO is topic 23 | 3 << 28"
    assert_eq!(ZX_INFO_VMO, 23 | (3 << 28));
    assert_eq!(ZX_PROP_NAME, 3);
    assert_eq!(ZX_PROP_VMO_CONTENT_SIZE, 17);
    assert_eq!(ZX_MAX_NAME_LEN, 32);
    assert_eq!(ZX_VMO_ZERO_CHILDREN, 0x8);
    assert_eq!(ZX_USER_SIGNAL_0, 1 << 24);
    assert_eq!(ZX_VMO_RESIZABLE, 1 << 1);
    assert_eq!(ZX_VMO_OP_COMMIT, 1);
    assert_eq!(ZX_VMO_OP_DECOMMIT, 2);
    assert_eq!(ZX_VMO_OP_CACHE_SYNC, 6);
    assert_eq!(ZX_VMO_OP_CACHE_INVALIDATE, 7);
    assert_eq!(ZX_VMO_OP_CACHE_CLEAN, 8);
    assert_eq!(ZX_VMO_OP_CACHE_CLEAN_INVALIDATE, 9);
    assert_eq!(ZX_VMO_OP_ZERO, 10);
    assert_eq!(ZX_VMO_CHILD_SNAPSHOT, 1 << 0);
    assert_eq!(ZX_VMO_CHILD_RESIZABLE, 1 << 2);
    assert_eq!(ZX_VMO_CHILD_SLICE, 1 << 3);
    assert_eq!(ZX_CACHE_POLICY_CACHED, 0);
    assert_eq!(ZX_CACHE_POLICY_UNCACHED, 1);
    assert_eq!(ZX_CACHE_POLICY_UNCACHED_DEVICE, 2);
    assert_eq!(ZX_CACHE_POLICY_WRITE_COMBINING, 3);
    assert_eq!(ZX_CACHE_POLICY_MASK, 3);
    assert_eq!(ZX_IOMMU_TYPE_DUMMY, 0);
    assert_eq!(ZX_RSRC_KIND_MMIO, 0);
    assert_eq!(ZX_RSRC_KIND_IRQ, 1);
    assert_eq!(ZX_RSRC_KIND_IOPORT, 2);
    assert_eq!(ZX_RSRC_KIND_ROOT, 3);
    assert_eq!(ZX_RSRC_KIND_SYSTEM, 5);
    assert_eq!(ZX_RSRC_SYSTEM_IOMMU_BASE, 8);
    assert_eq!(ZX_HANDLE_INVALID, 0);
    assert_eq!(ZX_TIME_INFINITE, i64::MAX);
    assert_eq!(ZX_TIME_INFINITE_PAST, i64::MIN);
}

// ---------------------------------------------------------------------------------------------
// §2 generic handle lookup order
// ---------------------------------------------------------------------------------------------

// "Handle lookups in Zircon go (1) handle valid, else BAD_HANDLE; then (2) object type, else
// WRONG_TYPE; then (3) required rights, else ACCESS_DENIED. VmoTestCase.Rights pins this order: a
// port handle with zero rights passed to zx_vmo_read returns WRONG_TYPE, not ACCESS_DENIED."
#[test]
fn lookup_wrong_type_beats_missing_rights() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let no_rights = dup(&k, bti, ZX_RIGHT_NONE);
    let mut buf = [0u8; 0];
    assert_eq!(k.vmo_read(no_rights, &mut buf, 0), Err(ZX_ERR_WRONG_TYPE));
    assert_eq!(k.vmo_read(BOGUS, &mut buf, 0), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(
        k.vmo_read(ZX_HANDLE_INVALID, &mut buf, 0),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let v = vmo(&k, PAGE);
    let v0 = dup(&k, v, ZX_RIGHT_NONE);
    assert_eq!(k.vmo_read(v0, &mut buf, 0), Err(ZX_ERR_ACCESS_DENIED));
}

// ---------------------------------------------------------------------------------------------
// §2.1 zx_iommu_create
// ---------------------------------------------------------------------------------------------

// "1. validate_resource_kind_base(...) ... Invalid handle: BAD_HANDLE. Not a resource: WRONG_TYPE."
#[test]
fn iommu_create_bad_handle_and_wrong_type() {
    let k = kernel();
    assert_eq!(
        k.iommu_create(BOGUS, ZX_IOMMU_TYPE_DUMMY, &[0]),
        Err(ZX_ERR_BAD_HANDLE)
    );
    assert_eq!(
        k.iommu_create(ZX_HANDLE_INVALID, ZX_IOMMU_TYPE_DUMMY, &[0]),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.iommu_create(v, ZX_IOMMU_TYPE_DUMMY, &[0]),
        Err(ZX_ERR_WRONG_TYPE)
    );
}

// "A resource that is neither ROOT-kind nor (SYSTEM kind with base == 8) returns
// **ZX_ERR_WRONG_TYPE** in code. The doc says ACCESS_DENIED for "insufficient privileges"."
#[test]
fn iommu_create_wrong_resource_kind_or_base_is_wrong_type() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, PAGE);
    assert_eq!(
        k.iommu_create(mmio, ZX_IOMMU_TYPE_DUMMY, &[0]),
        Err(ZX_ERR_WRONG_TYPE)
    );
    let root = k.root_resource();
    // SYSTEM resource with base VMEX (1), not IOMMU (8).
    let vmex = k
        .resource_create(root, ZX_RSRC_KIND_SYSTEM, 1, 1, "vmex")
        .expect("system/vmex resource");
    assert_eq!(
        k.iommu_create(vmex, ZX_IOMMU_TYPE_DUMMY, &[0]),
        Err(ZX_ERR_WRONG_TYPE)
    );
    // Both the SYSTEM/IOMMU resource and ROOT are accepted.
    let sys = iommu_resource(&k);
    assert!(k.iommu_create(sys, ZX_IOMMU_TYPE_DUMMY, &[0]).is_ok());
    assert!(k.iommu_create(root, ZX_IOMMU_TYPE_DUMMY, &[0]).is_ok());
}

// "No handle rights are checked."
#[test]
fn iommu_create_checks_no_resource_rights() {
    let k = kernel();
    let sys = iommu_resource(&k);
    let bare = dup(&k, sys, ZX_RIGHT_NONE);
    assert!(k.iommu_create(bare, ZX_IOMMU_TYPE_DUMMY, &[0]).is_ok());
}

// "2. desc_size > 4096: INVALID_ARGS." (step 2 before the type switch of step 4)
#[test]
fn iommu_create_desc_too_long_is_invalid_args_before_type() {
    let k = kernel();
    let sys = iommu_resource(&k);
    let long = vec![0u8; 4097];
    assert_eq!(
        k.iommu_create(sys, ZX_IOMMU_TYPE_DUMMY, &long),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // An unknown type with an over-long descriptor: step 2 wins over NOT_SUPPORTED.
    assert_eq!(k.iommu_create(sys, 0x7777, &long), Err(ZX_ERR_INVALID_ARGS));
    // Exactly 4096 passes step 2; the dummy then rejects the length (!= 1).
    let max = vec![0u8; 4096];
    assert_eq!(
        k.iommu_create(sys, ZX_IOMMU_TYPE_DUMMY, &max),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(k.iommu_create(sys, 0x7777, &max), Err(ZX_ERR_NOT_SUPPORTED));
}

// Step 1 before step 2: the handle decides before the descriptor length.
#[test]
fn iommu_create_bad_handle_beats_long_desc() {
    let k = kernel();
    let long = vec![0u8; 5000];
    assert_eq!(
        k.iommu_create(BOGUS, ZX_IOMMU_TYPE_DUMMY, &long),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let mmio = mmio_resource(&k, MMIO_BASE, PAGE);
    assert_eq!(
        k.iommu_create(mmio, ZX_IOMMU_TYPE_DUMMY, &long),
        Err(ZX_ERR_WRONG_TYPE)
    );
}

// "DummyIommu::Create(desc, desc_len) returns ZX_ERR_INVALID_ARGS if desc_len !=
// sizeof(zx_iommu_desc_dummy_t) (1). The descriptor's contents are ignored." (§1.9, §2.1 step 4)
#[test]
fn iommu_create_dummy_desc_must_be_one_byte() {
    let k = kernel();
    let sys = iommu_resource(&k);
    assert_eq!(
        k.iommu_create(sys, ZX_IOMMU_TYPE_DUMMY, &[]),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.iommu_create(sys, ZX_IOMMU_TYPE_DUMMY, &[0, 0]),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert!(k.iommu_create(sys, ZX_IOMMU_TYPE_DUMMY, &[0xff]).is_ok());
}

// "**Any other type returns ZX_ERR_NOT_SUPPORTED.** The type is checked before the dummy
// descriptor length."
#[test]
fn iommu_create_unknown_type_is_not_supported_before_desc_len() {
    let k = kernel();
    let sys = iommu_resource(&k);
    for ty in [2u32, 3, 0x100, 0x7fff_0000, u32::MAX - 1] {
        assert_ne!(ty, IOMMU_TYPE_TRANSLATING, "test types must not collide");
        assert_eq!(
            k.iommu_create(sys, ty, &[0]),
            Err(ZX_ERR_NOT_SUPPORTED),
            "type {ty:#x}"
        );
        // A wrong dummy-sized descriptor does not change that: type first.
        assert_eq!(
            k.iommu_create(sys, ty, &[]),
            Err(ZX_ERR_NOT_SUPPORTED),
            "type {ty:#x}"
        );
    }
}

// "5. The returned handle has rights 0x8003."
#[test]
fn iommu_create_rights() {
    let k = kernel();
    let iommu = dummy_iommu(&k);
    let b = handle_basic(&k, iommu);
    assert_eq!(b.rights, 0x8003);
    assert_eq!(b.obj_type, ZX_OBJ_TYPE_IOMMU);
}

// ---------------------------------------------------------------------------------------------
// §2.2 zx_bti_create
// ---------------------------------------------------------------------------------------------

// "1. **`options != 0`: INVALID_ARGS. This is checked before the handle lookup.**"
#[test]
fn bti_create_options_checked_before_handle() {
    let k = kernel();
    assert_eq!(k.bti_create(BOGUS, 1, 0), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(
        k.bti_create(ZX_HANDLE_INVALID, 0x8000_0000, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let v = vmo(&k, PAGE);
    assert_eq!(k.bti_create(v, 2, 0), Err(ZX_ERR_INVALID_ARGS));
    let iommu = dummy_iommu(&k);
    assert_eq!(k.bti_create(iommu, 1, 0), Err(ZX_ERR_INVALID_ARGS));
}

// "2. iommu handle with ZX_RIGHT_NONE required: BAD_HANDLE or WRONG_TYPE."
#[test]
fn bti_create_bad_handle_wrong_type_and_no_rights_needed() {
    let k = kernel();
    assert_eq!(k.bti_create(BOGUS, 0, 0), Err(ZX_ERR_BAD_HANDLE));
    let v = vmo(&k, PAGE);
    assert_eq!(k.bti_create(v, 0, 0), Err(ZX_ERR_WRONG_TYPE));
    let root = k.root_resource();
    assert_eq!(k.bti_create(root, 0, 0), Err(ZX_ERR_WRONG_TYPE));
    let iommu = dummy_iommu(&k);
    let bare = dup(&k, iommu, ZX_RIGHT_NONE);
    assert!(k.bti_create(bare, 0, 1).is_ok());
}

// "3. !iommu.IsValidBusTxnId(bti_id): INVALID_ARGS. The dummy IOMMU never rejects."
#[test]
fn bti_create_dummy_accepts_any_bti_id() {
    let k = kernel();
    let iommu = dummy_iommu(&k);
    for id in [0u64, 1, 0xdead_beef, u32::MAX as u64, u64::MAX] {
        assert!(k.bti_create(iommu, 0, id).is_ok(), "bti_id {id:#x}");
    }
}

// "4. ... On success the handle has rights 0x80EF."
#[test]
fn bti_create_rights() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let b = handle_basic(&k, bti);
    assert_eq!(b.rights, 0x80EF);
    assert_eq!(b.obj_type, ZX_OBJ_TYPE_BTI);
}

// ---------------------------------------------------------------------------------------------
// §2.3 zx_bti_pin
// ---------------------------------------------------------------------------------------------

struct PinEnv {
    k: Kernel,
    bti: Handle,
    vmo: Handle,
}

fn pin_env(pages: u64) -> PinEnv {
    let k = kernel();
    let bti = dummy_bti(&k);
    let vmo = vmo(&k, pages * PAGE);
    PinEnv { k, bti, vmo }
}

fn pin(
    e: &PinEnv,
    bti: Handle,
    options: u32,
    vmo: Handle,
    off: u64,
    size: u64,
    n: usize,
) -> Result<Handle, Status> {
    let mut addrs = vec![0; n];
    e.k.bti_pin(bti, options, vmo, off, size, &mut addrs)
}

// "1. BTI handle, requires **ZX_RIGHT_MAP**: BAD_HANDLE, WRONG_TYPE, or ACCESS_DENIED."
// Seed: "ZX_ERR_BAD_HANDLE handle or vmo is not a valid handle." / "ZX_ERR_WRONG_TYPE handle is
// not a BTI handle" / "ZX_ERR_ACCESS_DENIED handle or vmo does not have the ZX_RIGHT_MAP"
#[test]
fn pin_bti_handle_checks() {
    let e = pin_env(1);
    let r = ZX_BTI_PERM_READ;
    assert_eq!(pin(&e, BOGUS, r, e.vmo, 0, PAGE, 1), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(
        pin(&e, ZX_HANDLE_INVALID, r, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_BAD_HANDLE)
    );
    assert_eq!(pin(&e, e.vmo, r, e.vmo, 0, PAGE, 1), Err(ZX_ERR_WRONG_TYPE));
    let no_map = dup_without(&e.k, e.bti, ZX_RIGHT_MAP);
    assert_eq!(
        pin(&e, no_map, r, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // A BTI with only MAP is enough for step 1.
    let only_map = dup(&e.k, e.bti, ZX_RIGHT_MAP);
    let pmt = pin(&e, only_map, r, e.vmo, 0, PAGE, 1).expect("pin with MAP-only BTI");
    e.k.pmt_unpin(pmt).unwrap();
}

// Step 1 before step 2: the BTI handle decides before alignment and addrs_count.
#[test]
fn pin_bti_checks_beat_argument_checks() {
    let e = pin_env(1);
    let r = ZX_BTI_PERM_READ;
    assert_eq!(pin(&e, BOGUS, r, e.vmo, 1, PAGE, 1), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(pin(&e, e.vmo, r, e.vmo, 0, 3, 1), Err(ZX_ERR_WRONG_TYPE));
    let no_map = dup_without(&e.k, e.bti, ZX_RIGHT_MAP);
    assert_eq!(
        pin(&e, no_map, r, BOGUS, 1, 3, 40000),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

// "2. `offset` not page-aligned, `size` not page-aligned, or `addrs_count > kMaxAddrs (32768)`:
// **INVALID_ARGS**. size==0 passes this step." Seed: "ZX_ERR_INVALID_ARGS ... offset or size is
// not page-aligned." Step 2 runs before the VMO lookup (step 3).
#[test]
fn pin_alignment_checked_before_vmo_lookup() {
    let e = pin_env(2);
    let r = ZX_BTI_PERM_READ;
    assert_eq!(
        pin(&e, e.bti, r, BOGUS, 1, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        pin(&e, e.bti, r, BOGUS, 0, PAGE + 1, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        pin(&e, e.bti, r, e.bti, PAGE / 2, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // With a valid VMO too.
    assert_eq!(
        pin(&e, e.bti, r, e.vmo, 0x10, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        pin(&e, e.bti, r, e.vmo, 0, 0x100, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // size == 0 passes step 2, so the bad VMO handle decides.
    assert_eq!(pin(&e, e.bti, r, BOGUS, 0, 0, 0), Err(ZX_ERR_BAD_HANDLE));
}

// "* addrs_count > 32768 is rejected before the VMO is even looked up (Bti.PinTooManyAddresses)."
#[test]
fn pin_too_many_addrs_rejected_before_vmo_lookup() {
    let e = pin_env(1);
    let r = ZX_BTI_PERM_READ;
    assert_eq!(
        pin(&e, e.bti, r, BOGUS, 0, PAGE, 32769),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        pin(&e, e.bti, r, e.bti, 0, PAGE, 32769),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let no_map = dup_without(&e.k, e.vmo, ZX_RIGHT_MAP);
    assert_eq!(
        pin(&e, e.bti, r, no_map, 0, PAGE, 32769),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // Exactly 32768 is allowed by step 2: a 32768-page pin succeeds (Bti.PinTooManyAddresses
    // pins kMaxAddrs + 1 pages and expects INVALID_ARGS; kMaxAddrs itself is fine).
    let big = vmo(&e.k, 32768 * PAGE);
    let pmt = pin(&e, e.bti, r, big, 0, 32768 * PAGE, 32768).expect("pin 32768 pages");
    e.k.pmt_unpin(pmt).unwrap();
    let bigger = vmo(&e.k, 32769 * PAGE);
    assert_eq!(
        pin(&e, e.bti, r, bigger, 0, 32769 * PAGE, 32769),
        Err(ZX_ERR_INVALID_ARGS)
    );
}

// "3. VMO handle: BAD_HANDLE or WRONG_TYPE. VMO handle without **ZX_RIGHT_MAP**: ACCESS_DENIED."
// Seed: "ZX_ERR_WRONG_TYPE ... vmo is not a VMO handle."
#[test]
fn pin_vmo_handle_checks() {
    let e = pin_env(1);
    let r = ZX_BTI_PERM_READ;
    assert_eq!(pin(&e, e.bti, r, BOGUS, 0, PAGE, 1), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(
        pin(&e, e.bti, r, ZX_HANDLE_INVALID, 0, PAGE, 1),
        Err(ZX_ERR_BAD_HANDLE)
    );
    assert_eq!(pin(&e, e.bti, r, e.bti, 0, PAGE, 1), Err(ZX_ERR_WRONG_TYPE));
    let no_map = dup_without(&e.k, e.vmo, ZX_RIGHT_MAP);
    assert_eq!(
        pin(&e, e.bti, r, no_map, 0, PAGE, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

// Step 3 before steps 4–6: a VMO without MAP is ACCESS_DENIED even with bad options.
#[test]
fn pin_vmo_map_right_beats_option_checks() {
    let e = pin_env(1);
    let no_map = dup_without(&e.k, e.vmo, ZX_RIGHT_MAP);
    assert_eq!(
        pin(&e, e.bti, 0x8000_0000, no_map, 0, PAGE, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        pin(
            &e,
            e.bti,
            ZX_BTI_COMPRESS | ZX_BTI_CONTIGUOUS,
            no_map,
            0,
            PAGE,
            1
        ),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        pin(&e, e.bti, 0, no_map, 0, PAGE, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

// "4. ... PERM_READ requires ZX_RIGHT_READ, else ACCESS_DENIED. PERM_WRITE requires
// ZX_RIGHT_WRITE, else ACCESS_DENIED. PERM_EXECUTE requires **ZX_RIGHT_READ** (not EXECUTE), else
// ACCESS_DENIED." Seed: "options contained a permissions flag corresponding to a right that vmo
// does not have." / "(Note: ZX_BTI_PERM_EXECUTE requires ZX_RIGHT_READ, not ZX_RIGHT_EXECUTE.)"
#[test]
fn pin_perm_flags_require_vmo_rights() {
    let e = pin_env(1);
    let no_read = dup_without(&e.k, e.vmo, ZX_RIGHT_READ);
    let no_write = dup_without(&e.k, e.vmo, ZX_RIGHT_WRITE);
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, no_read, 0, PAGE, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_WRITE, no_write, 0, PAGE, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_EXECUTE, no_read, 0, PAGE, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // WRITE without READ is fine for PERM_WRITE; READ without WRITE fine for PERM_READ.
    let p = pin(&e, e.bti, ZX_BTI_PERM_WRITE, no_read, 0, PAGE, 1).expect("write pin w/o READ");
    e.k.pmt_unpin(p).unwrap();
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, no_write, 0, PAGE, 1).expect("read pin w/o WRITE");
    e.k.pmt_unpin(p).unwrap();
}

// "PERM_EXECUTE requires **ZX_RIGHT_READ** (not EXECUTE)" and "Physical and contiguous VMOs get
// exactly 0xD0EF" — the default VMO rights have no EXECUTE, yet an EXECUTE pin succeeds.
#[test]
fn pin_perm_execute_needs_read_not_execute() {
    let e = pin_env(1);
    assert_eq!(rights_of(&e.k, e.vmo) & ZX_RIGHT_EXECUTE, 0);
    let p = pin(&e, e.bti, ZX_BTI_PERM_EXECUTE, e.vmo, 0, PAGE, 1).expect("EXECUTE pin");
    e.k.pmt_unpin(p).unwrap();
    let read_map_only = dup(&e.k, e.vmo, ZX_RIGHT_READ | ZX_RIGHT_MAP);
    let p = pin(&e, e.bti, ZX_BTI_PERM_EXECUTE, read_map_only, 0, PAGE, 1).expect("EXECUTE pin");
    e.k.pmt_unpin(p).unwrap();
}

// "Note that the rights checks in step 4 come first. For example, `READ|0x100` on a VMO without
// READ returns ACCESS_DENIED."
#[test]
fn pin_rights_checked_before_unknown_option_bits() {
    let e = pin_env(1);
    let no_read = dup_without(&e.k, e.vmo, ZX_RIGHT_READ);
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ | 0x100, no_read, 0, PAGE, 1),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let no_write = dup_without(&e.k, e.vmo, ZX_RIGHT_WRITE);
    assert_eq!(
        pin(
            &e,
            e.bti,
            ZX_BTI_PERM_WRITE | ZX_BTI_COMPRESS | ZX_BTI_CONTIGUOUS,
            no_write,
            0,
            PAGE,
            1
        ),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

// "5. If **both** are set, neither is cleared, so step 6 returns INVALID_ARGS. They are mutually
// exclusive." Seed: "ZX_BTI_COMPRESS and ZX_BTI_CONTIGUOUS are mutually exclusive."
#[test]
fn pin_compress_and_contiguous_are_exclusive() {
    let e = pin_env(1);
    let opts = ZX_BTI_PERM_READ | ZX_BTI_COMPRESS | ZX_BTI_CONTIGUOUS;
    assert_eq!(
        pin(&e, e.bti, opts, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // Also on a contiguous VMO, where CONTIGUOUS alone would be accepted.
    let c = e.k.vmo_create_contiguous(e.bti, PAGE, 0).unwrap();
    assert_eq!(
        pin(&e, e.bti, opts, c, 0, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let p = pin(
        &e,
        e.bti,
        ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS,
        c,
        0,
        PAGE,
        1,
    )
    .unwrap();
    e.k.pmt_unpin(p).unwrap();
}

// "CONTIGUOUS is cleared only if `vmo->is_contiguous()` ... On any other VMO the bit stays set."
// "6. Any remaining option bit (unknown bits, CONTIGUOUS on a non-contiguous VMO, or
// COMPRESS|CONTIGUOUS): **INVALID_ARGS**." Seed: "ZX_BTI_CONTIGUOUS is only allowed if vmo was
// allocated via zx_vmo_create_contiguous() or zx_vmo_create_physical()."
#[test]
fn pin_contiguous_flag_on_paged_vmo_is_invalid_args() {
    let e = pin_env(1);
    assert_eq!(
        pin(
            &e,
            e.bti,
            ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS,
            e.vmo,
            0,
            PAGE,
            1
        ),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // Nothing stays pinned: decommit works.
    assert_eq!(decommit(&e.k, e.vmo, 0, PAGE), Ok(()));
    assert_eq!(bti_counts(&e.k, e.bti), (0, 0));
}

// Seed: "ZX_ERR_INVALID_ARGS options ... contains an undefined flag"
#[test]
fn pin_unknown_option_bits_are_invalid_args() {
    let e = pin_env(1);
    for bit in [0x20u32, 0x40, 0x100, 0x1000, 0x8000_0000] {
        assert_eq!(
            pin(&e, e.bti, ZX_BTI_PERM_READ | bit, e.vmo, 0, PAGE, 1),
            Err(ZX_ERR_INVALID_ARGS),
            "bit {bit:#x}"
        );
    }
    assert_eq!(bti_counts(&e.k, e.bti), (0, 0));
}

// Step 6 (unknown bits) runs before step 8b (range): INVALID_ARGS, not OUT_OF_RANGE.
#[test]
fn pin_unknown_bits_beat_out_of_range() {
    let e = pin_env(1);
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ | 0x20, e.vmo, 4 * PAGE, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        pin(
            &e,
            e.bti,
            ZX_BTI_PERM_READ | ZX_BTI_CONTIGUOUS,
            e.vmo,
            4 * PAGE,
            PAGE,
            1
        ),
        Err(ZX_ERR_INVALID_ARGS)
    );
}

// "8. a. `size == 0`: **INVALID_ARGS**."
#[test]
fn pin_zero_size_is_invalid_args() {
    let e = pin_env(1);
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, 0, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // Even past the end of the VMO (8a before 8b).
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 16 * PAGE, 0, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(bti_counts(&e.k, e.bti), (0, 0));
}

// "b. ... Paged VMO: offset+size overflow, or range not inside the VMO's current size:
// **OUT_OF_RANGE**." Seed: "ZX_ERR_OUT_OF_RANGE offset + size is out of the bounds of vmo."
#[test]
fn pin_out_of_range() {
    let e = pin_env(4);
    let r = ZX_BTI_PERM_READ;
    assert_eq!(
        pin(&e, e.bti, r, e.vmo, 0, 5 * PAGE, 5),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        pin(&e, e.bti, r, e.vmo, 4 * PAGE, PAGE, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        pin(&e, e.bti, r, e.vmo, 3 * PAGE, 2 * PAGE, 2),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // offset + size overflows u64.
    let top = u64::MAX - PAGE + 1;
    assert_eq!(
        pin(&e, e.bti, r, e.vmo, top, PAGE, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        pin(&e, e.bti, r, e.vmo, PAGE, top, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        pin(&e, e.bti, r, e.vmo, top, top, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(bti_counts(&e.k, e.bti), (0, 0));
}

// "* OUT_OF_RANGE (step 8b) comes **before** the addrs_count mismatch check (step 10).
// VmoTestCase.PinTests passes `addrs_count = min(size/PAGE, 6)` for 7-page out-of-range requests
// and expects OUT_OF_RANGE."
#[test]
fn pin_out_of_range_beats_addrs_count_mismatch() {
    let e = pin_env(6);
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, 7 * PAGE, 6),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 5 * PAGE, 2 * PAGE, 0),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
}

// "For a slice, the range is checked against the *slice* size, not the parent
// (VmoTestCase.PinTests)."
#[test]
fn pin_slice_range_checked_against_slice_size() {
    let e = pin_env(6);
    let slice =
        e.k.vmo_create_child(e.vmo, ZX_VMO_CHILD_SLICE, PAGE, 4 * PAGE)
            .unwrap();
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, slice, 0, 5 * PAGE, 5),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, slice, 4 * PAGE, PAGE, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, slice, 0, 4 * PAGE, 4).unwrap();
    e.k.pmt_unpin(p).unwrap();
}

// "Saturation (31) gives UNAVAILABLE." §1.8: "A pin that would push any page past 31 fails with
// **ZX_ERR_UNAVAILABLE**". Seed: "ZX_ERR_UNAVAILABLE (Temporary) At least one page in the
// requested range could not be pinned at this time."
#[test]
fn pin_32nd_pin_of_a_page_is_unavailable() {
    let e = pin_env(1);
    let mut pmts = Vec::new();
    for i in 0..31 {
        pmts.push(
            pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1)
                .unwrap_or_else(|s| panic!("pin #{} failed: {s}", i + 1)),
        );
    }
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_UNAVAILABLE)
    );
    assert_eq!(bti_counts(&e.k, e.bti), (31, 0));
    // Another BTI counts against the same page.
    let bti2 = dummy_bti(&e.k);
    assert_eq!(
        pin(&e, bti2, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_UNAVAILABLE)
    );
    e.k.pmt_unpin(pmts.pop().unwrap()).unwrap();
    let p = pin(&e, bti2, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).expect("pin after one unpin");
    e.k.pmt_unpin(p).unwrap();
    for p in pmts {
        e.k.pmt_unpin(p).unwrap();
    }
}

// "Any partial pin is rolled back on error." (8b) — the pages pinned before the saturated page
// are released.
#[test]
fn pin_unavailable_rolls_back_partial_pins() {
    let e = pin_env(2);
    let mut pmts = Vec::new();
    for _ in 0..30 {
        pmts.push(pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap());
    }
    pmts.push(pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, PAGE, PAGE, 1).unwrap());
    for _ in 0..30 {
        pmts.push(pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, PAGE, PAGE, 1).unwrap());
    }
    // page 0: 30 pins, page 1: 31 pins. A two-page pin fails on page 1 ...
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, 2 * PAGE, 2),
        Err(ZX_ERR_UNAVAILABLE)
    );
    // ... and leaves page 0 at 30: exactly one more pin of page 0 fits.
    pmts.push(pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).expect("31st pin of page 0"));
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_UNAVAILABLE)
    );
    for p in pmts {
        e.k.pmt_unpin(p).unwrap();
    }
    assert_eq!(decommit(&e.k, e.vmo, 0, 2 * PAGE), Ok(()));
}

// UNAVAILABLE (8b) is decided before the addrs_count mismatch (step 10).
#[test]
fn pin_unavailable_beats_addrs_count_mismatch() {
    let e = pin_env(1);
    let pmts: Vec<_> = (0..31)
        .map(|_| pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap())
        .collect();
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 7),
        Err(ZX_ERR_UNAVAILABLE)
    );
    for p in pmts {
        e.k.pmt_unpin(p).unwrap();
    }
}

// "Out of memory gives NO_MEMORY." Seed: "ZX_ERR_NO_MEMORY Failure due to lack of memory."
// Issue 2: "only committing more pages than the pool holds fails (ZX_ERR_NO_MEMORY)".
#[test]
fn pin_committing_more_than_the_pool_is_no_memory() {
    let k = small_kernel(8);
    let bti = dummy_bti(&k);
    let v = vmo(&k, 16 * PAGE);
    let mut addrs = vec![0; 16];
    assert_eq!(
        k.bti_pin(bti, ZX_BTI_PERM_READ, v, 0, 16 * PAGE, &mut addrs),
        Err(ZX_ERR_NO_MEMORY)
    );
    assert_eq!(bti_counts(&k, bti), (0, 0));
    // Rolled back: the pages that were committed are not pinned.
    assert_eq!(decommit(&k, v, 0, 16 * PAGE), Ok(()));
    // After the decommit the pool has room again.
    let mut addrs = vec![0; 8];
    let p = k
        .bti_pin(bti, ZX_BTI_PERM_READ, v, 0, 8 * PAGE, &mut addrs)
        .expect("8 pages fit");
    k.pmt_unpin(p).unwrap();
}

// "c. Take the BTI lock. **If the BTI has reached zero handles, or its quarantine list is
// non-empty: ZX_ERR_BAD_STATE.** The pins taken in (b) are released."
#[test]
fn pin_on_quarantined_bti_is_bad_state_and_releases_pins() {
    let e = pin_env(4);
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap();
    e.k.handle_close(p).unwrap(); // quarantined
    assert_eq!(bti_counts(&e.k, e.bti), (1, 1));
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 2 * PAGE, 2 * PAGE, 2),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(bti_counts(&e.k, e.bti), (1, 1));
    // The pins taken in (b) for pages 2..4 were released: they can be decommitted.
    assert_eq!(decommit(&e.k, e.vmo, 2 * PAGE, 2 * PAGE), Ok(()));
    // Page 0 is still pinned by the quarantined PMT.
    assert_eq!(decommit(&e.k, e.vmo, 0, PAGE), Err(ZX_ERR_BAD_STATE));
}

// 8b before 8c: a range error wins over the quarantine's BAD_STATE.
#[test]
fn pin_out_of_range_beats_quarantine_bad_state() {
    let e = pin_env(1);
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap();
    e.k.handle_close(p).unwrap();
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, PAGE, PAGE, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // 8a before 8c: size 0.
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, 0, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
}

// 8c before 8d (perms==0) and before step 10 (addrs_count).
#[test]
fn pin_quarantine_bad_state_beats_perms_zero_and_addrs_count() {
    let e = pin_env(2);
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap();
    e.k.handle_close(p).unwrap();
    assert_eq!(
        pin(&e, e.bti, 0, e.vmo, PAGE, PAGE, 1),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_COMPRESS, e.vmo, PAGE, PAGE, 1),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, PAGE, PAGE, 5),
        Err(ZX_ERR_BAD_STATE)
    );
}

// "d. ... The dummy Map returns **INVALID_ARGS if perms == 0**, so `options` with no PERM bit
// (including COMPRESS-only or CONTIGUOUS-only) fails here, *after* the range and quarantine
// checks." Seed: "ZX_ERR_INVALID_ARGS options is 0"; §7: "In code that error comes from the
// dummy/real IOMMU Map (perms==0), after the range and quarantine checks."
#[test]
fn pin_without_perm_bits_is_invalid_args_after_range_check() {
    let e = pin_env(1);
    assert_eq!(
        pin(&e, e.bti, 0, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_COMPRESS, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let c = e.k.vmo_create_contiguous(e.bti, PAGE, 0).unwrap();
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_CONTIGUOUS, c, 0, PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // The range check comes first.
    assert_eq!(
        pin(&e, e.bti, 0, e.vmo, PAGE, PAGE, 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        pin(&e, e.bti, ZX_BTI_COMPRESS, e.vmo, 0, 2 * PAGE, 2),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // UNAVAILABLE (8b) also comes first.
    let pmts: Vec<_> = (0..31)
        .map(|_| pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap())
        .collect();
    assert_eq!(
        pin(&e, e.bti, 0, e.vmo, 0, PAGE, 1),
        Err(ZX_ERR_UNAVAILABLE)
    );
    for p in pmts {
        e.k.pmt_unpin(p).unwrap();
    }
    // Nothing leaked: no PMT, and the page is not pinned.
    assert_eq!(bti_counts(&e.k, e.bti), (0, 0));
    assert_eq!(decommit(&e.k, e.vmo, 0, PAGE), Ok(()));
}

// "10. ... `addrs_count != expected`: **INVALID_ARGS**. The PMT is unpinned." "9. Install a
// cleanup guard: any failure after this point calls `pmt->Unpin()`. Such a PMT is never
// quarantined, and pmo_count returns to its earlier value once the PMT is destroyed."
// Seed: "num_addrs is not the same as the number of entries that would be returned"
#[test]
fn pin_addrs_count_mismatch_is_invalid_args_and_unpins() {
    let e = pin_env(4);
    for n in [0usize, 1, 3, 5, 100] {
        assert_eq!(
            pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, 4 * PAGE, n),
            Err(ZX_ERR_INVALID_ARGS),
            "addrs_count {n}"
        );
    }
    assert_eq!(
        bti_counts(&e.k, e.bti),
        (0, 0),
        "never quarantined, pmo_count restored"
    );
    assert_eq!(decommit(&e.k, e.vmo, 0, 4 * PAGE), Ok(()), "pages unpinned");
    // The BTI is not in a fault state afterwards.
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, 4 * PAGE, 4).unwrap();
    e.k.pmt_unpin(p).unwrap();
}

// "COMPRESS: `ceil(size / minimum_contiguity)` ... With the dummy IOMMU this is size/PAGE_SIZE."
// "CONTIGUOUS (accepted, so the VMO is contiguous): **1**, the start address."
// "Neither: `size / PAGE_SIZE`, one address per page. This holds for contiguous VMOs too".
#[test]
fn pin_expected_addrs_counts() {
    let e = pin_env(4);
    let r = ZX_BTI_PERM_READ;
    // COMPRESS on the dummy IOMMU (minimum contiguity = PAGE_SIZE): one per page.
    assert_eq!(
        pin(&e, e.bti, r | ZX_BTI_COMPRESS, e.vmo, 0, 4 * PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let p = pin(&e, e.bti, r | ZX_BTI_COMPRESS, e.vmo, 0, 4 * PAGE, 4).unwrap();
    e.k.pmt_unpin(p).unwrap();
    let c = e.k.vmo_create_contiguous(e.bti, 4 * PAGE, 0).unwrap();
    assert_eq!(
        pin(&e, e.bti, r | ZX_BTI_CONTIGUOUS, c, 0, 4 * PAGE, 4),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        pin(&e, e.bti, r | ZX_BTI_CONTIGUOUS, c, 0, 4 * PAGE, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let p = pin(&e, e.bti, r | ZX_BTI_CONTIGUOUS, c, 0, 4 * PAGE, 1).unwrap();
    e.k.pmt_unpin(p).unwrap();
    assert_eq!(
        pin(&e, e.bti, r, c, 0, 4 * PAGE, 1),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let p = pin(&e, e.bti, r, c, 0, 4 * PAGE, 4).unwrap();
    e.k.pmt_unpin(p).unwrap();
    assert_eq!(bti_counts(&e.k, e.bti), (0, 0));
}

// "12. The PMT handle is created with rights 0x8000."
#[test]
fn pin_pmt_rights_and_type() {
    let e = pin_env(1);
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap();
    let b = handle_basic(&e.k, p);
    assert_eq!(b.rights, 0x8000);
    assert_eq!(b.obj_type, ZX_OBJ_TYPE_PMT);
    // "A PMT handle therefore cannot be duplicated (that needs DUPLICATE) or transferred." (§1.2)
    assert_eq!(
        e.k.handle_duplicate(p, ZX_RIGHT_SAME_RIGHTS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    e.k.pmt_unpin(p).unwrap();
}

// ---------------------------------------------------------------------------------------------
// §2.4 zx_pmt_unpin
// ---------------------------------------------------------------------------------------------

// "1. RemoveHandle(handle). **The handle is consumed before its type is checked.** An invalid
// handle gives BAD_HANDLE. No rights are required."
#[test]
fn unpin_bad_handle() {
    let k = kernel();
    assert_eq!(k.pmt_unpin(BOGUS), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(k.pmt_unpin(ZX_HANDLE_INVALID), Err(ZX_ERR_BAD_HANDLE));
}

// "2. Not a PMT: **WRONG_TYPE, and the non-PMT handle has still been closed.**"
#[test]
fn unpin_non_pmt_is_wrong_type_and_closes_the_handle() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert_eq!(k.pmt_unpin(v), Err(ZX_ERR_WRONG_TYPE));
    assert_eq!(k.vmo_get_size(v), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(k.handle_close(v), Err(ZX_ERR_BAD_HANDLE));
    let bti = dummy_bti(&k);
    let bti2 = dup(&k, bti, ZX_RIGHT_SAME_RIGHTS);
    assert_eq!(k.pmt_unpin(bti2), Err(ZX_ERR_WRONG_TYPE));
    assert_eq!(
        k.object_get_info(bti2, ZX_INFO_BTI, &mut [0u8; 32]),
        Err(ZX_ERR_BAD_HANDLE)
    );
    // The other handle to the same BTI is untouched.
    assert_eq!(bti_counts(&k, bti), (0, 0));
}

// "No rights are required." — a PMT handle replaced down to no rights still unpins.
#[test]
fn unpin_needs_no_rights() {
    let e = pin_env(1);
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap();
    let bare =
        e.k.handle_replace(p, ZX_RIGHT_NONE)
            .expect("replace PMT handle");
    assert_eq!(e.k.pmt_unpin(bare), Ok(()));
    assert_eq!(bti_counts(&e.k, e.bti), (0, 0));
    assert_eq!(decommit(&e.k, e.vmo, 0, PAGE), Ok(()));
}

// "The doc says: "Always consumes handle. It is invalid to use handle afterwards"".
#[test]
fn unpin_consumes_the_handle() {
    let e = pin_env(1);
    let p = pin(&e, e.bti, ZX_BTI_PERM_READ, e.vmo, 0, PAGE, 1).unwrap();
    assert_eq!(e.k.pmt_unpin(p), Ok(()));
    assert_eq!(e.k.pmt_unpin(p), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(e.k.handle_close(p), Err(ZX_ERR_BAD_HANDLE));
    // And closing it after the unpin did not quarantine anything.
    assert_eq!(bti_counts(&e.k, e.bti), (0, 0));
}

// ---------------------------------------------------------------------------------------------
// §2.6 zx_bti_release_quarantine
// ---------------------------------------------------------------------------------------------

// "BTI handle requires **ZX_RIGHT_WRITE**: BAD_HANDLE, WRONG_TYPE, or ACCESS_DENIED."
#[test]
fn release_quarantine_handle_checks() {
    let k = kernel();
    let bti = dummy_bti(&k);
    assert_eq!(k.bti_release_quarantine(BOGUS), Err(ZX_ERR_BAD_HANDLE));
    let v = vmo(&k, PAGE);
    assert_eq!(k.bti_release_quarantine(v), Err(ZX_ERR_WRONG_TYPE));
    let no_write = dup_without(&k, bti, ZX_RIGHT_WRITE);
    assert_eq!(
        k.bti_release_quarantine(no_write),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let only_write = dup(&k, bti, ZX_RIGHT_WRITE);
    assert_eq!(k.bti_release_quarantine(only_write), Ok(()));
}

// "Always returns ZX_OK, including when the quarantine was already empty."
#[test]
fn release_quarantine_of_empty_quarantine_is_ok() {
    let k = kernel();
    let bti = dummy_bti(&k);
    assert_eq!(k.bti_release_quarantine(bti), Ok(()));
    assert_eq!(k.bti_release_quarantine(bti), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// §2.8 ZX_INFO_BTI
// ---------------------------------------------------------------------------------------------

// "BTI handle requires **ZX_RIGHT_INSPECT**. Older kernels required ZX_RIGHT_READ. Not a BTI:
// WRONG_TYPE."
#[test]
fn info_bti_requires_inspect_and_a_bti() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let mut b = [0u8; 32];
    let no_inspect = dup_without(&k, bti, ZX_RIGHT_INSPECT);
    assert_eq!(
        k.object_get_info(no_inspect, ZX_INFO_BTI, &mut b),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let inspect_only = dup(&k, bti, ZX_RIGHT_INSPECT);
    assert_eq!(
        k.object_get_info(inspect_only, ZX_INFO_BTI, &mut b),
        Ok((1, 1))
    );
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.object_get_info(v, ZX_INFO_BTI, &mut b),
        Err(ZX_ERR_WRONG_TYPE)
    );
    assert_eq!(
        k.object_get_info(BOGUS, ZX_INFO_BTI, &mut b),
        Err(ZX_ERR_BAD_HANDLE)
    );
}

// "buffer_size < 32: **BUFFER_TOO_SMALL**, *actual=0, *avail=1 (if non-null). Otherwise OK,
// *actual=1, *avail=1."
#[test]
fn info_bti_buffer_sizes() {
    let k = kernel();
    let bti = dummy_bti(&k);
    for n in [0usize, 1, 16, 31] {
        let mut b = vec![0u8; n];
        assert_eq!(
            k.object_get_info(bti, ZX_INFO_BTI, &mut b),
            Err(ZX_ERR_BUFFER_TOO_SMALL),
            "{n}"
        );
    }
    for n in [32usize, 33, 64, 4096] {
        let mut b = vec![0u8; n];
        assert_eq!(
            k.object_get_info(bti, ZX_INFO_BTI, &mut b),
            Ok((1, 1)),
            "{n}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// §2.9 ZX_PROP_NAME
// ---------------------------------------------------------------------------------------------

// "get_property requires GET_PROPERTY. The buffer must be at least 32 bytes, else
// BUFFER_TOO_SMALL." "set_property requires SET_PROPERTY."
#[test]
fn name_property_errors() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let mut b = [0u8; 32];
    let no_get = dup_without(&k, bti, ZX_RIGHT_GET_PROPERTY);
    assert_eq!(
        k.object_get_property(no_get, ZX_PROP_NAME, &mut b),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let no_set = dup_without(&k, bti, ZX_RIGHT_SET_PROPERTY);
    assert_eq!(
        k.object_set_property(no_set, ZX_PROP_NAME, b"x"),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let mut small = [0u8; 31];
    assert_eq!(
        k.object_get_property(bti, ZX_PROP_NAME, &mut small),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    assert_eq!(
        k.object_get_property(BOGUS, ZX_PROP_NAME, &mut b),
        Err(ZX_ERR_BAD_HANDLE)
    );
    // VMOs carry names too (VmoTestCase.Rights sets "test vmo").
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.object_get_property(v, ZX_PROP_NAME, &mut small),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
}

// ---------------------------------------------------------------------------------------------
// §2.10 zx_vmo_create_contiguous
// ---------------------------------------------------------------------------------------------

// "1. `size == 0`: INVALID_ARGS." — before the BTI lookup (step 4).
#[test]
fn contiguous_zero_size_before_handle() {
    let k = kernel();
    assert_eq!(
        k.vmo_create_contiguous(BOGUS, 0, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let bti = dummy_bti(&k);
    assert_eq!(k.vmo_create_contiguous(bti, 0, 0), Err(ZX_ERR_INVALID_ARGS));
}

// "2. `alignment_log2 == 0` is treated as PAGE_SIZE_SHIFT (12). Below 12, or 64 and above:
// INVALID_ARGS." — also before the BTI lookup.
#[test]
fn contiguous_alignment_checks() {
    let k = kernel();
    let bti = dummy_bti(&k);
    for a in [1u32, 2, 11, 64, 65, 200, u32::MAX] {
        assert_eq!(
            k.vmo_create_contiguous(bti, PAGE, a),
            Err(ZX_ERR_INVALID_ARGS),
            "align {a}"
        );
        assert_eq!(
            k.vmo_create_contiguous(BOGUS, PAGE, a),
            Err(ZX_ERR_INVALID_ARGS),
            "align {a}"
        );
    }
    for a in [0u32, 12, 13, 20] {
        let v = k
            .vmo_create_contiguous(bti, PAGE, a)
            .unwrap_or_else(|s| panic!("align {a}: {s}"));
        k.handle_close(v).unwrap();
    }
}

// "4. BTI handle requires **ZX_RIGHT_MAP**: BAD_HANDLE, WRONG_TYPE, or ACCESS_DENIED."
#[test]
fn contiguous_bti_handle_checks() {
    let k = kernel();
    let bti = dummy_bti(&k);
    assert_eq!(
        k.vmo_create_contiguous(BOGUS, PAGE, 0),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let v = vmo(&k, PAGE);
    assert_eq!(k.vmo_create_contiguous(v, PAGE, 0), Err(ZX_ERR_WRONG_TYPE));
    let no_map = dup_without(&k, bti, ZX_RIGHT_MAP);
    assert_eq!(
        k.vmo_create_contiguous(no_map, PAGE, 0),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

// "5. `RoundSize(size)`: overflow or too large gives OUT_OF_RANGE." (after the BTI lookup)
#[test]
fn contiguous_size_overflow_is_out_of_range() {
    let k = kernel();
    let bti = dummy_bti(&k);
    assert_eq!(
        k.vmo_create_contiguous(bti, u64::MAX, 0),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_contiguous(bti, u64::MAX - PAGE + 2, 0),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // Step 4 before 5.
    assert_eq!(
        k.vmo_create_contiguous(BOGUS, u64::MAX, 0),
        Err(ZX_ERR_BAD_HANDLE)
    );
}

// "6. VmObjectPaged::CreateContiguous: NO_MEMORY if no contiguous run is available."
#[test]
fn contiguous_larger_than_pool_is_no_memory() {
    let k = small_kernel(16);
    let bti = dummy_bti(&k);
    assert_eq!(
        k.vmo_create_contiguous(bti, 32 * PAGE, 0),
        Err(ZX_ERR_NO_MEMORY)
    );
    let v = k
        .vmo_create_contiguous(bti, 16 * PAGE, 0)
        .expect("16 pages fit");
    assert_eq!(k.vmo_create_contiguous(bti, PAGE, 0), Err(ZX_ERR_NO_MEMORY));
    k.handle_close(v).unwrap();
    let v = k
        .vmo_create_contiguous(bti, 16 * PAGE, 0)
        .expect("pages returned on close");
    k.handle_close(v).unwrap();
}

// "* set_size returns UNAVAILABLE. * DECOMMIT returns NOT_SUPPORTED ... * COW snapshot children
// return INVALID_ARGS."
#[test]
fn contiguous_vmo_operation_errors() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let c = k.vmo_create_contiguous(bti, 4 * PAGE, 0).unwrap();
    assert_eq!(k.vmo_set_size(c, 8 * PAGE), Err(ZX_ERR_UNAVAILABLE));
    assert_eq!(k.vmo_set_size(c, PAGE), Err(ZX_ERR_UNAVAILABLE));
    assert_eq!(decommit(&k, c, 0, PAGE), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(
        k.vmo_create_child(c, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE),
        Err(ZX_ERR_INVALID_ARGS)
    );
}

// ---------------------------------------------------------------------------------------------
// §2.11 zx_vmo_create_physical (seed 002: zx_vmo_create_physical ERRORS)
// ---------------------------------------------------------------------------------------------

// "Invalid handle: BAD_HANDLE. Not a resource: WRONG_TYPE." Seed: "ZER_ERR_WRONG_TYPE resource is
// not a handle to a Resource object."
#[test]
fn physical_bad_handle_and_wrong_type() {
    let k = kernel();
    assert_eq!(
        k.vmo_create_physical(BOGUS, MMIO_BASE, PAGE),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.vmo_create_physical(v, MMIO_BASE, PAGE),
        Err(ZX_ERR_WRONG_TYPE)
    );
    let bti = dummy_bti(&k);
    assert_eq!(
        k.vmo_create_physical(bti, MMIO_BASE, PAGE),
        Err(ZX_ERR_WRONG_TYPE)
    );
}

// "* Resource kind is not MMIO: WRONG_TYPE." Seed Rights: "resource must have resource kind
// ZX_RSRC_KIND_MMIO."
#[test]
fn physical_non_mmio_resource_kind_is_wrong_type() {
    let k = kernel();
    let sys = iommu_resource(&k);
    assert_eq!(
        k.vmo_create_physical(sys, MMIO_BASE, PAGE),
        Err(ZX_ERR_WRONG_TYPE)
    );
    let root = k.root_resource();
    let irq = k
        .resource_create(root, ZX_RSRC_KIND_IRQ, 0, 16, "irq")
        .unwrap();
    assert_eq!(k.vmo_create_physical(irq, 0, PAGE), Err(ZX_ERR_WRONG_TYPE));
}

// "2. validate_ranged_resource(resource, MMIO, paddr, size) (no handle rights needed)"
#[test]
fn physical_needs_no_resource_rights() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, 4 * PAGE);
    let bare = dup(&k, mmio, ZX_RIGHT_NONE);
    assert!(k.vmo_create_physical(bare, MMIO_BASE, PAGE).is_ok());
}

// "**The request `[paddr, paddr+size)` must lie entirely inside that widened range, else
// ZX_ERR_OUT_OF_RANGE.** Resource.CreateResourceSlice: a 1-page resource with a 2-page request
// returns OUT_OF_RANGE." §7: "says ACCESS_DENIED for out of range, but the code returns
// OUT_OF_RANGE". Seed: "ZER_ERR_ACCESS_DENIED resource does not grant access to the requested
// range of memory."
#[test]
fn physical_request_outside_resource_is_out_of_range() {
    let k = kernel();
    let base = MMIO_BASE + 0x10_0000;
    let mmio = mmio_resource(&k, base, PAGE);
    assert_eq!(
        k.vmo_create_physical(mmio, base, 2 * PAGE),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_physical(mmio, base + PAGE, PAGE),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_physical(mmio, base - PAGE, PAGE),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_physical(mmio, base - PAGE, 2 * PAGE),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert!(k.vmo_create_physical(mmio, base, PAGE).is_ok());
}

// "For an MMIO resource, its range is widened to page boundaries ([ROUNDDOWN(base),
// ROUNDUP(base+size)))."
#[test]
fn physical_resource_range_is_widened_to_pages() {
    let k = kernel();
    let base = MMIO_BASE + 0x20_0000;
    let mmio = mmio_resource(&k, base + 0x100, 0x10);
    assert!(k.vmo_create_physical(mmio, base, PAGE).is_ok());
    assert_eq!(
        k.vmo_create_physical(mmio, base, 2 * PAGE),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    // Spanning a page boundary widens to two pages.
    let mmio2 = mmio_resource(&k, base + 2 * PAGE - 8, 16);
    assert!(k.vmo_create_physical(mmio2, base + PAGE, 2 * PAGE).is_ok());
}

// "3. RoundSize(size): OUT_OF_RANGE if too large. **An unaligned size is rounded up, not
// rejected.** The doc claims INVALID_ARGS for an unaligned size." Seed: "ZX_ERR_INVALID_ARGS ...
// paddr or size are not page-aligned." (code wins, §7)
#[test]
fn physical_unaligned_size_is_rounded_up() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, 4 * PAGE);
    let v = k
        .vmo_create_physical(mmio, MMIO_BASE, 100)
        .expect("unaligned size accepted");
    assert_eq!(k.vmo_get_size(v), Ok(PAGE));
    let v = k
        .vmo_create_physical(mmio, MMIO_BASE, PAGE + 1)
        .expect("unaligned size accepted");
    assert_eq!(k.vmo_get_size(v), Ok(2 * PAGE));
}

// "4. VmObjectPhysical::Create: * **paddr not page-aligned**, or size == 0: INVALID_ARGS."
// Seed: "ZX_ERR_INVALID_ARGS ... paddr or size are not page-aligned."
#[test]
fn physical_unaligned_paddr_or_zero_size_is_invalid_args() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, 4 * PAGE);
    assert_eq!(
        k.vmo_create_physical(mmio, MMIO_BASE + 1, PAGE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_physical(mmio, MMIO_BASE + 0x800, 0x100),
        Err(ZX_ERR_INVALID_ARGS)
    );
    // size == 0 reaches step 4 only through ROOT: for an MMIO resource, step 2's
    // `GetIntersect(base, size, rbase, rsize, ...)` finds no intersection for an empty request
    // (kernel/range_check.h: a zero length never intersects), so it is OUT_OF_RANGE there.
    let root = k.root_resource();
    assert_eq!(
        k.vmo_create_physical(root, MMIO_BASE, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_physical(root, MMIO_BASE + 1, PAGE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_physical(mmio, MMIO_BASE, 0),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
}

// Step 2 (range) before step 4 (alignment): an unaligned paddr outside the resource is
// OUT_OF_RANGE; a non-MMIO kind is WRONG_TYPE even with unaligned arguments.
#[test]
fn physical_range_and_kind_checked_before_alignment() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, PAGE);
    assert_eq!(
        k.vmo_create_physical(mmio, MMIO_BASE + 8 * PAGE + 1, PAGE),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    let sys = iommu_resource(&k);
    assert_eq!(k.vmo_create_physical(sys, 1, 0), Err(ZX_ERR_WRONG_TYPE));
    assert_eq!(k.vmo_create_physical(BOGUS, 1, 0), Err(ZX_ERR_BAD_HANDLE));
}

// Seed: "ZX_ERR_OUT_OF_RANGE Requested size is too large." (step 2/3)
#[test]
fn physical_huge_size_is_out_of_range() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, 4 * PAGE);
    assert_eq!(
        k.vmo_create_physical(mmio, MMIO_BASE, u64::MAX),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        k.vmo_create_physical(mmio, MMIO_BASE, u64::MAX - PAGE + 2),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
}

// "ROOT, or a ranged root of MMIO: ACCESS_DENIED if the region touches denied ranges (physical
// RAM, interrupt controller, IOMMU registers)."
#[test]
fn physical_from_root_over_ram_is_access_denied() {
    let k = kernel();
    let root = k.root_resource();
    assert_eq!(
        k.vmo_create_physical(root, RAM_BASE, PAGE),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.vmo_create_physical(root, RAM_BASE - PAGE, 2 * PAGE),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert!(k.vmo_create_physical(root, MMIO_BASE, PAGE).is_ok());
}

// "6. * zx_vmo_read / zx_vmo_write: **ZX_ERR_NOT_SUPPORTED**. The READ/WRITE right is checked
// first". Seed Notes: "The VMOs created by this syscall are not usable with zx_vmo_read() and
// zx_vmo_write()."
#[test]
fn physical_read_write_not_supported_after_rights() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, PAGE);
    let p = k.vmo_create_physical(mmio, MMIO_BASE, PAGE).unwrap();
    let mut b = [0u8; 4];
    assert_eq!(k.vmo_read(p, &mut b, 0), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(k.vmo_write(p, &b, 0), Err(ZX_ERR_NOT_SUPPORTED));
    let no_read = dup_without(&k, p, ZX_RIGHT_READ);
    assert_eq!(k.vmo_read(no_read, &mut b, 0), Err(ZX_ERR_ACCESS_DENIED));
    let no_write = dup_without(&k, p, ZX_RIGHT_WRITE);
    assert_eq!(k.vmo_write(no_write, &b, 0), Err(ZX_ERR_ACCESS_DENIED));
}

// "* DECOMMIT: NOT_SUPPORTED (after the WRITE right check). * COMMIT: NOT_SUPPORTED."
#[test]
fn physical_commit_decommit_not_supported() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, PAGE);
    let p = k.vmo_create_physical(mmio, MMIO_BASE, PAGE).unwrap();
    assert_eq!(
        k.vmo_op_range(p, ZX_VMO_OP_DECOMMIT, 0, PAGE),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    assert_eq!(
        k.vmo_op_range(p, ZX_VMO_OP_COMMIT, 0, PAGE),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
    let no_write = dup_without(&k, p, ZX_RIGHT_WRITE);
    assert_eq!(
        k.vmo_op_range(no_write, ZX_VMO_OP_DECOMMIT, 0, PAGE),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // §2.13 step 2 comes before step 4/5: out-of-range decommit is still NOT_SUPPORTED.
    assert_eq!(
        k.vmo_op_range(p, ZX_VMO_OP_DECOMMIT, 0, 8 * PAGE),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
}

// "* set_size: needs WRITE. The VMO is not resizable, so the RESIZE right is not checked. The call
// ends in VmObject::Resize, whose default returns **NOT_SUPPORTED** (not UNAVAILABLE)."
#[test]
fn physical_set_size_not_supported() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, 4 * PAGE);
    let p = k.vmo_create_physical(mmio, MMIO_BASE, PAGE).unwrap();
    assert_eq!(rights_of(&k, p) & ZX_RIGHT_RESIZE, 0);
    assert_eq!(k.vmo_set_size(p, 2 * PAGE), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(k.vmo_set_size(p, 0), Err(ZX_ERR_NOT_SUPPORTED));
    let no_write = dup_without(&k, p, ZX_RIGHT_WRITE);
    assert_eq!(
        k.vmo_set_size(no_write, 2 * PAGE),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

// "* Snapshot clone: NOT_SUPPORTED (VmoClone2TestCase.NoPhysical)."
#[test]
fn physical_snapshot_not_supported() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, PAGE);
    let p = k.vmo_create_physical(mmio, MMIO_BASE, PAGE).unwrap();
    assert_eq!(
        k.vmo_create_child(p, ZX_VMO_CHILD_SNAPSHOT, 0, PAGE),
        Err(ZX_ERR_NOT_SUPPORTED)
    );
}

// "* The cache policy can only change while the VMO has no mappings, children or parent;
// otherwise BAD_STATE. Setting the same policy again is always OK."
#[test]
fn physical_cache_policy_bad_state_with_children_or_parent() {
    let k = kernel();
    let mmio = mmio_resource(&k, MMIO_BASE, 2 * PAGE);
    let p = k.vmo_create_physical(mmio, MMIO_BASE, 2 * PAGE).unwrap();
    let slice = k.vmo_create_child(p, ZX_VMO_CHILD_SLICE, 0, PAGE).unwrap();
    assert_eq!(
        k.vmo_set_cache_policy(p, ZX_CACHE_POLICY_CACHED),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(
        k.vmo_set_cache_policy(p, ZX_CACHE_POLICY_UNCACHED),
        Ok(()),
        "same policy"
    );
    assert_eq!(
        k.vmo_set_cache_policy(slice, ZX_CACHE_POLICY_WRITE_COMBINING),
        Err(ZX_ERR_BAD_STATE)
    );
    assert_eq!(
        k.vmo_set_cache_policy(slice, ZX_CACHE_POLICY_UNCACHED),
        Ok(()),
        "same policy"
    );
    k.handle_close(slice).unwrap();
    assert_eq!(k.vmo_set_cache_policy(p, ZX_CACHE_POLICY_CACHED), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// §2.12 zx_vmo_set_size
// ---------------------------------------------------------------------------------------------

// "1. VMO handle requires **ZX_RIGHT_WRITE**: BAD_HANDLE, WRONG_TYPE, or ACCESS_DENIED."
#[test]
fn set_size_handle_checks() {
    let k = kernel();
    let v = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(k.vmo_set_size(BOGUS, PAGE), Err(ZX_ERR_BAD_HANDLE));
    let bti = dummy_bti(&k);
    assert_eq!(k.vmo_set_size(bti, PAGE), Err(ZX_ERR_WRONG_TYPE));
    let no_write = dup_without(&k, v, ZX_RIGHT_WRITE);
    assert_eq!(
        k.vmo_set_size(no_write, 2 * PAGE),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // Non-resizable without WRITE: still ACCESS_DENIED (step 1 before UNAVAILABLE).
    let nr = vmo(&k, PAGE);
    let nr_no_write = dup_without(&k, nr, ZX_RIGHT_WRITE);
    assert_eq!(
        k.vmo_set_size(nr_no_write, 2 * PAGE),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

// "2. Only if the VMO is resizable: the handle must also have RESIZE, else ACCESS_DENIED.
// Non-resizable VMOs skip this check so they keep returning UNAVAILABLE."
#[test]
fn set_size_resize_right_only_for_resizable() {
    let k = kernel();
    let v = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    let no_resize = dup_without(&k, v, ZX_RIGHT_RESIZE);
    assert_eq!(
        k.vmo_set_size(no_resize, 2 * PAGE),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let nr = vmo(&k, PAGE);
    assert_eq!(rights_of(&k, nr) & ZX_RIGHT_RESIZE, 0);
    assert_eq!(k.vmo_set_size(nr, 2 * PAGE), Err(ZX_ERR_UNAVAILABLE));
    assert_eq!(k.vmo_set_size(nr, 0), Err(ZX_ERR_UNAVAILABLE));
}

// "3. Dispatcher SetSize: `ROUNDUP(size, PAGE)` overflows gives OUT_OF_RANGE." — before Resize
// (step 4), so even a non-resizable VMO says OUT_OF_RANGE.
#[test]
fn set_size_roundup_overflow_is_out_of_range() {
    let k = kernel();
    let v = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    assert_eq!(k.vmo_set_size(v, u64::MAX), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(
        k.vmo_set_size(v, u64::MAX - PAGE + 2),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    let nr = vmo(&k, PAGE);
    assert_eq!(k.vmo_set_size(nr, u64::MAX), Err(ZX_ERR_OUT_OF_RANGE));
}

// "4. * Larger than MAX_SIZE: OUT_OF_RANGE."
#[test]
fn set_size_larger_than_max_is_out_of_range() {
    let k = kernel();
    let v = k.vmo_create(PAGE, ZX_VMO_RESIZABLE).unwrap();
    // Page aligned, so ROUNDUP does not overflow, but beyond any VMO's maximum size.
    assert_eq!(
        k.vmo_set_size(v, u64::MAX - PAGE + 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(k.vmo_get_size(v), Ok(PAGE));
}

// "* Shrinking across any pinned page: **ZX_ERR_BAD_STATE** (Bti.Resize)." Seed: "If a call to
// zx_vmo_set_size() would discard pinned pages, that call will fail."
#[test]
fn set_size_shrinking_across_pinned_page_is_bad_state() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = k.vmo_create(4 * PAGE, ZX_VMO_RESIZABLE).unwrap();
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 2, 1).unwrap();
    assert_eq!(k.vmo_set_size(v, 0), Err(ZX_ERR_BAD_STATE));
    assert_eq!(k.vmo_set_size(v, 2 * PAGE), Err(ZX_ERR_BAD_STATE));
    assert_eq!(k.vmo_set_size(v, 2 * PAGE + 1), Ok(()), "page 2 kept");
    assert_eq!(k.vmo_set_size(v, 3 * PAGE), Ok(()));
    assert_eq!(k.vmo_set_size(v, 16 * PAGE), Ok(()), "growing is fine");
    assert_eq!(k.vmo_get_size(v), Ok(16 * PAGE));
    k.pmt_unpin(pmt).unwrap();
    assert_eq!(k.vmo_set_size(v, 0), Ok(()));
}

// ---------------------------------------------------------------------------------------------
// §2.13 DECOMMIT
// ---------------------------------------------------------------------------------------------

// "1. No rights check at lookup. RangeOp then requires ZX_RIGHT_WRITE, else ACCESS_DENIED."
#[test]
fn decommit_requires_write() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    let no_write = dup_without(&k, v, ZX_RIGHT_WRITE);
    assert_eq!(decommit(&k, no_write, 0, PAGE), Err(ZX_ERR_ACCESS_DENIED));
    assert_eq!(decommit(&k, BOGUS, 0, PAGE), Err(ZX_ERR_BAD_HANDLE));
    let bti = dummy_bti(&k);
    assert_eq!(decommit(&k, bti, 0, PAGE), Err(ZX_ERR_WRONG_TYPE));
    // The WRITE check comes before the range checks.
    assert_eq!(
        decommit(&k, no_write, 0x10, 0x100),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        decommit(&k, no_write, 8 * PAGE, PAGE),
        Err(ZX_ERR_ACCESS_DENIED)
    );
}

// "3. Contiguous paged VMO: **NOT_SUPPORTED** when physical page loaning is disabled" — before
// the range (4, 5) and alignment (9) checks.
#[test]
fn decommit_contiguous_not_supported_before_range() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let c = k.vmo_create_contiguous(bti, 2 * PAGE, 0).unwrap();
    assert_eq!(decommit(&k, c, 0, 2 * PAGE), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(decommit(&k, c, 0, 8 * PAGE), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(decommit(&k, c, 1, 1), Err(ZX_ERR_NOT_SUPPORTED));
}

// "4. offset+size overflows: OUT_OF_RANGE." "5. ... the range must be entirely inside the VMO,
// else **OUT_OF_RANGE** (VmoTestCase.OpOutOfBounds, VmoTestCase.DecommitChildSliceTests)."
#[test]
fn decommit_out_of_range() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert_eq!(decommit(&k, v, 0, 2 * PAGE), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(decommit(&k, v, PAGE, PAGE), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(decommit(&k, v, 2 * PAGE, 0), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(
        decommit(&k, v, u64::MAX - PAGE + 1, PAGE),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
    assert_eq!(
        decommit(&k, v, PAGE, u64::MAX - PAGE + 1),
        Err(ZX_ERR_OUT_OF_RANGE)
    );
}

// Steps 4/5 before step 9: a misaligned out-of-range decommit is OUT_OF_RANGE.
#[test]
fn decommit_out_of_range_beats_misalignment() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert_eq!(decommit(&k, v, 0x10, 2 * PAGE), Err(ZX_ERR_OUT_OF_RANGE));
    assert_eq!(decommit(&k, v, u64::MAX, 1), Err(ZX_ERR_OUT_OF_RANGE));
}

// "6. Length 0 (in range): OK."
#[test]
fn decommit_zero_length_in_range_is_ok() {
    let k = kernel();
    let v = vmo(&k, 2 * PAGE);
    assert_eq!(decommit(&k, v, 0, 0), Ok(()));
    assert_eq!(decommit(&k, v, PAGE, 0), Ok(()));
    assert_eq!(decommit(&k, v, 2 * PAGE, 0), Ok(()));
}

// "8. VMO has a COW parent, or is pager-backed: NOT_SUPPORTED." — before alignment (step 9).
#[test]
fn decommit_snapshot_child_not_supported() {
    let k = kernel();
    let v = vmo(&k, 2 * PAGE);
    let child = k
        .vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT, 0, 2 * PAGE)
        .unwrap();
    assert_eq!(decommit(&k, child, 0, PAGE), Err(ZX_ERR_NOT_SUPPORTED));
    assert_eq!(decommit(&k, child, 0x10, 0x100), Err(ZX_ERR_NOT_SUPPORTED));
}

// "9. offset or size not page-aligned: **INVALID_ARGS**. This applies even when nothing is
// committed (VmoTestCase.DecommitMisaligned)."
#[test]
fn decommit_misaligned_is_invalid_args() {
    let k = kernel();
    let v = vmo(&k, 2 * PAGE);
    assert_eq!(decommit(&k, v, 0x10, 0x100), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(decommit(&k, v, 0, 0x100), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(decommit(&k, v, 0x800, PAGE), Err(ZX_ERR_INVALID_ARGS));
    k.vmo_op_range(v, ZX_VMO_OP_COMMIT, 0x10, 0x100).unwrap();
    assert_eq!(decommit(&k, v, 0x10, 0x100), Err(ZX_ERR_INVALID_ARGS));
}

// "10. **Any pinned page in the range: ZX_ERR_BAD_STATE.** ... The whole call fails with no
// partial decommit."
#[test]
fn decommit_pinned_is_bad_state_without_partial_decommit() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 3 * PAGE);
    write_u8(&k, v, 0, 0x11);
    write_u8(&k, v, 2 * PAGE, 0x33);
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 1, 1).unwrap();
    let committed = vmo_info(&k, v).committed_bytes;
    assert_eq!(committed, 3 * PAGE);
    assert_eq!(decommit(&k, v, 0, 3 * PAGE), Err(ZX_ERR_BAD_STATE));
    assert_eq!(decommit(&k, v, PAGE, PAGE), Err(ZX_ERR_BAD_STATE));
    assert_eq!(read_u8(&k, v, 0), 0x11, "page 0 not decommitted");
    assert_eq!(read_u8(&k, v, 2 * PAGE), 0x33, "page 2 not decommitted");
    assert_eq!(vmo_info(&k, v).committed_bytes, committed);
    // Unpinned neighbours can be decommitted alone.
    assert_eq!(decommit(&k, v, 0, PAGE), Ok(()));
    assert_eq!(read_u8(&k, v, 0), 0);
    k.pmt_unpin(pmt).unwrap();
    assert_eq!(decommit(&k, v, 0, 3 * PAGE), Ok(()));
}

// "7. Slices forward to the non-slice ancestor, with the offset translated." + step 10 through a
// slice: a page pinned via the parent is BAD_STATE through the slice.
#[test]
fn decommit_through_slice_sees_parent_pins() {
    let k = kernel();
    let bti = dummy_bti(&k);
    let v = vmo(&k, 4 * PAGE);
    let slice = k
        .vmo_create_child(v, ZX_VMO_CHILD_SLICE, PAGE, 2 * PAGE)
        .unwrap();
    let (pmt, _) = pin_pages(&k, bti, ZX_BTI_PERM_READ, v, 2, 1).unwrap();
    assert_eq!(decommit(&k, slice, 0, 2 * PAGE), Err(ZX_ERR_BAD_STATE));
    assert_eq!(decommit(&k, slice, PAGE, PAGE), Err(ZX_ERR_BAD_STATE));
    assert_eq!(decommit(&k, slice, 0, PAGE), Ok(()));
    // Range checked against the slice: 3 pages from 0 is out of range for the slice.
    assert_eq!(decommit(&k, slice, 0, 3 * PAGE), Err(ZX_ERR_OUT_OF_RANGE));
    k.pmt_unpin(pmt).unwrap();
}

// ---------------------------------------------------------------------------------------------
// §2.14 ZX_PROP_VMO_CONTENT_SIZE
// ---------------------------------------------------------------------------------------------

// "* get: requires GET_PROPERTY. size < 8 gives BUFFER_TOO_SMALL. Not a VMO gives WRONG_TYPE."
#[test]
fn content_size_get_errors() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    let mut b8 = [0u8; 8];
    let mut b7 = [0u8; 7];
    assert_eq!(
        k.object_get_property(v, ZX_PROP_VMO_CONTENT_SIZE, &mut b7),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    let no_get = dup_without(&k, v, ZX_RIGHT_GET_PROPERTY);
    assert_eq!(
        k.object_get_property(no_get, ZX_PROP_VMO_CONTENT_SIZE, &mut b8),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let bti = dummy_bti(&k); // BTIs have GET_PROPERTY, so the type check decides
    assert_eq!(
        k.object_get_property(bti, ZX_PROP_VMO_CONTENT_SIZE, &mut b8),
        Err(ZX_ERR_WRONG_TYPE)
    );
    assert_eq!(
        k.object_get_property(BOGUS, ZX_PROP_VMO_CONTENT_SIZE, &mut b8),
        Err(ZX_ERR_BAD_HANDLE)
    );
}

// "* set: requires SET_PROPERTY. size < 8 gives BUFFER_TOO_SMALL. Not a VMO gives WRONG_TYPE."
#[test]
fn content_size_set_errors() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.object_set_property(v, ZX_PROP_VMO_CONTENT_SIZE, &[0u8; 7]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    let no_set = dup_without(&k, v, ZX_RIGHT_SET_PROPERTY);
    assert_eq!(set_content_size(&k, no_set, 10), Err(ZX_ERR_ACCESS_DENIED));
    let bti = dummy_bti(&k);
    assert_eq!(set_content_size(&k, bti, 10), Err(ZX_ERR_WRONG_TYPE));
    assert_eq!(set_content_size(&k, BOGUS, 10), Err(ZX_ERR_BAD_HANDLE));
    assert_eq!(content_size(&k, v), PAGE);
}

// ---------------------------------------------------------------------------------------------
// Handles (used throughout the reference: duplicate needs DUPLICATE, §1.2 "A PMT handle therefore
// cannot be duplicated")
// ---------------------------------------------------------------------------------------------

#[test]
fn handle_ops_errors() {
    let k = kernel();
    assert_eq!(k.handle_close(BOGUS), Err(ZX_ERR_BAD_HANDLE));
    // "Closing ZX_HANDLE_INVALID is not an error." (VmoTestCase.CacheOp)
    assert_eq!(k.handle_close(ZX_HANDLE_INVALID), Ok(()));
    assert_eq!(
        k.handle_duplicate(BOGUS, ZX_RIGHT_SAME_RIGHTS),
        Err(ZX_ERR_BAD_HANDLE)
    );
    assert_eq!(
        k.handle_replace(BOGUS, ZX_RIGHT_SAME_RIGHTS),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let v = vmo(&k, PAGE);
    let no_dup = dup_without(&k, v, ZX_RIGHT_DUPLICATE);
    assert_eq!(
        k.handle_duplicate(no_dup, ZX_RIGHT_SAME_RIGHTS),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    // Rights can only be reduced.
    let r = dup(&k, v, ZX_RIGHT_READ | ZX_RIGHT_DUPLICATE);
    assert_eq!(
        k.handle_duplicate(r, ZX_RIGHT_READ | ZX_RIGHT_WRITE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let same = k.handle_duplicate(v, ZX_RIGHT_SAME_RIGHTS).unwrap();
    assert_eq!(rights_of(&k, same), 0xD0EF);
    assert_eq!(handle_basic(&k, same).koid, handle_basic(&k, v).koid);
    let replaced = k.handle_replace(same, ZX_RIGHT_READ).unwrap();
    assert_eq!(rights_of(&k, replaced), ZX_RIGHT_READ);
    assert_eq!(
        k.handle_close(same),
        Err(ZX_ERR_BAD_HANDLE),
        "replace consumes the original"
    );
}

// ZX_INFO_HANDLE_BASIC / ZX_INFO_VMO single-record buffer rules, as §2.8 ("single_record_result").
#[test]
fn info_records_buffer_too_small() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.object_get_info(v, ZX_INFO_HANDLE_BASIC, &mut [0u8; 31]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    assert_eq!(
        k.object_get_info(v, ZX_INFO_HANDLE_BASIC, &mut [0u8; 32]),
        Ok((1, 1))
    );
    assert_eq!(
        k.object_get_info(v, ZX_INFO_VMO, &mut [0u8; 175]),
        Err(ZX_ERR_BUFFER_TOO_SMALL)
    );
    assert_eq!(
        k.object_get_info(v, ZX_INFO_VMO, &mut [0u8; 176]),
        Ok((1, 1))
    );
    let bti = dummy_bti(&k);
    assert_eq!(
        k.object_get_info(bti, ZX_INFO_VMO, &mut [0u8; 176]),
        Err(ZX_ERR_WRONG_TYPE)
    );
}

// sys_vmo_create: options other than the defined VMO creation flags are INVALID_ARGS.
#[test]
fn vmo_create_unknown_options_are_invalid_args() {
    let k = kernel();
    assert_eq!(k.vmo_create(PAGE, 1 << 20), Err(ZX_ERR_INVALID_ARGS));
    assert_eq!(
        k.vmo_create(PAGE, ZX_VMO_RESIZABLE | (1 << 30)),
        Err(ZX_ERR_INVALID_ARGS)
    );
}

// sys_vmo_create_child: unknown option bits, or both SNAPSHOT and SLICE, are INVALID_ARGS.
#[test]
fn vmo_create_child_bad_options_are_invalid_args() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT | (1 << 20), 0, PAGE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(v, ZX_VMO_CHILD_SNAPSHOT | ZX_VMO_CHILD_SLICE, 0, PAGE),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.vmo_create_child(BOGUS, ZX_VMO_CHILD_SLICE, 0, PAGE),
        Err(ZX_ERR_BAD_HANDLE)
    );
    let bti = dummy_bti(&k);
    assert_eq!(
        k.vmo_create_child(bti, ZX_VMO_CHILD_SLICE, 0, PAGE),
        Err(ZX_ERR_WRONG_TYPE)
    );
}

// sys_object_signal: the handle needs ZX_RIGHT_SIGNAL; only user signals may be set or cleared
// (INVALID_ARGS otherwise). sys_object_wait_one: the handle needs ZX_RIGHT_WAIT.
#[test]
fn signal_and_wait_errors() {
    let k = kernel();
    let v = vmo(&k, PAGE);
    assert_eq!(
        k.object_signal(v, 0, ZX_VMO_ZERO_CHILDREN),
        Err(ZX_ERR_INVALID_ARGS)
    );
    assert_eq!(
        k.object_signal(v, ZX_VMO_ZERO_CHILDREN, 0),
        Err(ZX_ERR_INVALID_ARGS)
    );
    let no_signal = dup_without(&k, v, ZX_RIGHT_SIGNAL);
    assert_eq!(
        k.object_signal(no_signal, 0, ZX_USER_SIGNAL_0),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    let no_wait = dup_without(&k, v, ZX_RIGHT_WAIT);
    assert_eq!(
        k.object_wait_one(no_wait, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE_PAST),
        Err(ZX_ERR_ACCESS_DENIED)
    );
    assert_eq!(
        k.object_wait_one(BOGUS, ZX_VMO_ZERO_CHILDREN, ZX_TIME_INFINITE_PAST),
        Err(ZX_ERR_BAD_HANDLE)
    );
    // The ZERO_CHILDREN signal itself is untouched by the refused calls.
    assert!(zero_children(&k, v));
}
