//! Access to guest-physical memory through the runtime's identity map of the low 4 GiB.

/// End of the runtime's identity map: physical addresses below it are mapped at the same virtual
/// address, user-accessible.
pub const IDENTITY_MAP_END: u64 = 1 << 32;

/// The `len` bytes at physical address `addr`, if the range is non-null and inside the identity
/// map. Nothing checks that RAM backs it: the caller takes the address from the VMM's boot
/// structures (boot_params, ACPI tables), which the VMM wrote and does not change afterwards.
pub fn bytes(addr: u64, len: usize) -> Option<&'static [u8]> {
    let end = addr.checked_add(u64::try_from(len).ok()?)?;
    if addr == 0 || end > IDENTITY_MAP_END {
        return None;
    }
    let ptr = usize::try_from(addr).ok()? as *const u8;
    // SAFETY: [addr, end) is inside the identity map (checked above), so it is mapped and
    // readable at CPL3; the boot structures there are written by the VMM before entry and not
    // modified while the program runs (see above), so a shared 'static borrow is sound.
    Some(unsafe { core::slice::from_raw_parts(ptr, len) })
}

/// Reads a little-endian integer at `offset` of `bytes`, `None` if out of range.
pub fn read_u8(bytes: &[u8], offset: usize) -> Option<u8> {
    bytes.get(offset).copied()
}

/// Reads a little-endian `u16` at `offset` of `bytes`, `None` if out of range.
pub fn read_u16(bytes: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        bytes.get(offset..offset.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// Reads a little-endian `u32` at `offset` of `bytes`, `None` if out of range.
pub fn read_u32(bytes: &[u8], offset: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        bytes.get(offset..offset.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Reads a little-endian `u64` at `offset` of `bytes`, `None` if out of range.
pub fn read_u64(bytes: &[u8], offset: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        bytes.get(offset..offset.checked_add(8)?)?.try_into().ok()?,
    ))
}
