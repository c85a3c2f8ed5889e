//! `zx_object_get_info` records in Zircon's C layout (little-endian, x86-64 alignment), from
//! zircon/system/public/zircon/syscalls/object.h.

use super::Status;
use super::constants::*;
use super::vmo::VmoInfo;

/// A fixed-size C record being filled in.
struct Record<const N: usize>([u8; N]);

impl<const N: usize> Record<N> {
    fn new() -> Self {
        Record([0; N])
    }
    fn u32(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, at: usize, v: u64) {
        self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, at: usize, v: &[u8]) {
        self.0[at..at + v.len()].copy_from_slice(v);
    }
}

/// `single_record_result`: "buffer_size < sizeof: BUFFER_TOO_SMALL, *actual=0, *avail=1 ...
/// Otherwise OK, *actual=1, *avail=1."
fn single_record(buffer: &mut [u8], record: &[u8]) -> Result<(usize, usize), Status> {
    if buffer.len() < record.len() {
        return Err(ZX_ERR_BUFFER_TOO_SMALL);
    }
    buffer[..record.len()].copy_from_slice(record);
    Ok((1, 1))
}

/// `zx_info_handle_basic_t` (32 bytes): koid @0, rights @8, type @12, related_koid @16,
/// reserved @24, padding @28.
pub(crate) const HANDLE_BASIC_SIZE: usize = 32;

pub(crate) fn write_handle_basic(
    buffer: &mut [u8],
    koid: u64,
    rights: u32,
    obj_type: u32,
    related_koid: u64,
) -> Result<(usize, usize), Status> {
    let mut r = Record::<HANDLE_BASIC_SIZE>::new();
    r.u64(0, koid);
    r.u32(8, rights);
    r.u32(12, obj_type);
    r.u64(16, related_koid);
    single_record(buffer, &r.0)
}

/// `zx_info_bti_t` (32 bytes): minimum_contiguity @0, aspace_size @8, pmo_count @16,
/// quarantine_count @24.
pub(crate) const BTI_SIZE: usize = 32;

pub(crate) fn write_bti(
    buffer: &mut [u8],
    minimum_contiguity: u64,
    aspace_size: u64,
    pmo_count: u64,
    quarantine_count: u64,
) -> Result<(usize, usize), Status> {
    let mut r = Record::<BTI_SIZE>::new();
    r.u64(0, minimum_contiguity);
    r.u64(8, aspace_size);
    r.u64(16, pmo_count);
    r.u64(24, quarantine_count);
    single_record(buffer, &r.0)
}

/// `zx_info_resource_t` (56 bytes): kind @0, flags @4, base @8, size @16, name[32] @24.
pub(crate) const RESOURCE_SIZE: usize = 56;

pub(crate) fn write_resource(
    buffer: &mut [u8],
    kind: u32,
    flags: u32,
    base: u64,
    size: u64,
    name: &[u8; ZX_MAX_NAME_LEN],
) -> Result<(usize, usize), Status> {
    let mut r = Record::<RESOURCE_SIZE>::new();
    r.u32(0, kind);
    r.u32(4, flags);
    r.u64(8, base);
    r.u64(16, size);
    r.bytes(24, name);
    single_record(buffer, &r.0)
}

/// Sizes of the `zx_info_vmo_t` versions: v1 104, v2 120, v3 128, current (v4) 176 bytes. Each
/// is a prefix of the next.
pub(crate) const VMO_V1_SIZE: usize = 104;
pub(crate) const VMO_V2_SIZE: usize = 120;
pub(crate) const VMO_V3_SIZE: usize = 128;
pub(crate) const VMO_SIZE: usize = 176;

/// The current `zx_info_vmo_t`:
///
/// | off | field | off | field |
/// |-----|-------|-----|-------|
/// | 0 | koid | 96 | handle_rights (u32) |
/// | 8 | name[32] | 100 | cache_policy (u32) |
/// | 40 | size_bytes | 104 | metadata_bytes |
/// | 48 | parent_koid | 112 | committed_change_events |
/// | 56 | num_children | 120 | populated_bytes |
/// | 64 | num_mappings | 128 | committed_private_bytes |
/// | 72 | share_count | 136 | populated_private_bytes |
/// | 80 | flags (u32) + 4 padding | 144 | committed_scaled_bytes |
/// | 88 | committed_bytes | 152 | populated_scaled_bytes |
/// |  |  | 160 | committed_fractional_scaled_bytes |
/// |  |  | 168 | populated_fractional_scaled_bytes |
pub(crate) fn vmo_record(info: &VmoInfo) -> [u8; VMO_SIZE] {
    let a = &info.attribution;
    let mut r = Record::<VMO_SIZE>::new();
    r.u64(0, info.koid);
    r.bytes(8, &info.name);
    r.u64(40, info.size_bytes);
    r.u64(48, info.parent_koid);
    r.u64(56, info.num_children);
    r.u64(64, 0); // num_mappings: this kernel has no address spaces.
    r.u64(72, 0); // share_count
    r.u32(80, info.flags);
    r.u64(88, a.committed_bytes);
    r.u32(96, info.handle_rights);
    r.u32(100, info.cache_policy);
    r.u64(104, info.metadata_bytes);
    r.u64(112, 0); // committed_change_events: nothing is ever reclaimed.
    r.u64(120, a.committed_bytes); // populated_bytes: no compression.
    r.u64(128, a.private_bytes);
    r.u64(136, a.private_bytes);
    r.u64(144, a.scaled_bytes);
    r.u64(152, a.scaled_bytes);
    r.u64(160, a.scaled_fraction);
    r.u64(168, a.scaled_fraction);
    r.0
}

/// Writes the version of `zx_info_vmo_t` that `topic` asks for (a prefix of the current one).
pub(crate) fn write_vmo(
    buffer: &mut [u8],
    topic: u32,
    info: &VmoInfo,
) -> Result<(usize, usize), Status> {
    let full = vmo_record(info);
    let len = match topic {
        ZX_INFO_VMO_V1 => VMO_V1_SIZE,
        ZX_INFO_VMO_V2 => VMO_V2_SIZE,
        ZX_INFO_VMO_V3 => VMO_V3_SIZE,
        _ => VMO_SIZE,
    };
    single_record(buffer, &full[..len])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_small_buffers() {
        let mut b = [0u8; 31];
        assert_eq!(write_bti(&mut b, 1, 2, 3, 4), Err(ZX_ERR_BUFFER_TOO_SMALL));
        let mut b = [0u8; 40];
        assert_eq!(write_bti(&mut b, 1, 2, 3, 4), Ok((1, 1)));
        assert_eq!(&b[24..32], &4u64.to_le_bytes());
        assert_eq!(&b[32..], &[0; 8]);
    }

    #[test]
    fn vmo_layout() {
        let info = VmoInfo {
            koid: 0x1111,
            size_bytes: 0x2222,
            flags: 0x49,
            handle_rights: 0xD0EF,
            cache_policy: 1,
            attribution: crate::zx::pages::Attribution {
                committed_bytes: 0x3000,
                private_bytes: 0x1000,
                scaled_bytes: 0x2000,
                scaled_fraction: 7,
            },
            ..VmoInfo::default()
        };
        let r = vmo_record(&info);
        assert_eq!(r.len(), 176);
        assert_eq!(&r[0..8], &0x1111u64.to_le_bytes());
        assert_eq!(&r[80..84], &0x49u32.to_le_bytes());
        assert_eq!(&r[88..96], &0x3000u64.to_le_bytes());
        assert_eq!(&r[96..100], &0xD0EFu32.to_le_bytes());
        assert_eq!(&r[100..104], &1u32.to_le_bytes());
        assert_eq!(&r[168..176], &7u64.to_le_bytes());
        let mut small = [0u8; VMO_V1_SIZE];
        assert_eq!(write_vmo(&mut small, ZX_INFO_VMO_V1, &info), Ok((1, 1)));
        assert_eq!(
            write_vmo(&mut small, ZX_INFO_VMO, &info),
            Err(ZX_ERR_BUFFER_TOO_SMALL)
        );
    }
}
