//! Memory that devices DMA to: RAM after the program image, identity-mapped by the runtime, so a
//! buffer's guest-physical address is also its virtual address.
//!
//! [`DmaArena`] hands out zeroed, aligned [`DmaBuf`]s and never frees them (programs are short).
//! A `DmaBuf` is a handle (address and length), not a Rust borrow: a device may write it while a
//! request is in flight, so every access goes through volatile reads and writes, and a driver
//! reads a buffer only after the device returned it (an acquire fence in the queue code orders
//! those reads after the used-ring index).

use crate::Error;

/// The last address (exclusive) of the runtime's identity map.
pub const IDENTITY_MAP_END: u64 = 1 << 32;
/// 4 KiB.
pub const PAGE: u64 = 4096;

/// `addr` rounded up to a multiple of `align` (a power of two); `None` on overflow.
pub fn align_up(addr: u64, align: u64) -> Option<u64> {
    Some(addr.checked_add(align - 1)? & !(align - 1))
}

/// A bump allocator over a range of RAM nobody else uses.
#[derive(Debug)]
pub struct DmaArena {
    next: u64,
    end: u64,
}

impl DmaArena {
    /// An arena over `[start, end)`. The caller vouches that the range is RAM inside the identity
    /// map that nothing else uses.
    pub const fn new(start: u64, end: u64) -> Self {
        DmaArena { next: start, end }
    }

    /// An arena from the first 2 MiB boundary after the program image to the end of the usable
    /// RAM range (`(start, end)` pairs, e.g. the e820 type-1 entries) that contains it, capped at
    /// the identity map.
    #[cfg(not(test))]
    pub fn after_image(ram: impl IntoIterator<Item = (u64, u64)>) -> Option<Self> {
        let start = align_up(image_end(), 2 << 20)?;
        ram.into_iter()
            .find(|&(s, e)| s <= start && start < e)
            .map(|(_, end)| Self::new(start, end.min(IDENTITY_MAP_END)))
    }

    /// Bytes left.
    pub fn remaining(&self) -> u64 {
        self.end.saturating_sub(self.next)
    }

    /// A zeroed buffer of `len` bytes aligned to `align` (a power of two).
    pub fn alloc(&mut self, len: usize, align: u64) -> Result<DmaBuf, Error> {
        let start = align_up(self.next, align.max(1)).ok_or(Error::OutOfMemory)?;
        let end = start
            .checked_add(len as u64)
            .filter(|&e| e <= self.end)
            .ok_or(Error::OutOfMemory)?;
        self.next = end;
        let buf = DmaBuf { addr: start, len };
        buf.fill(0);
        Ok(buf)
    }

    /// `pages` zeroed 4 KiB pages, 4 KiB-aligned.
    pub fn pages(&mut self, pages: usize) -> Result<DmaBuf, Error> {
        self.alloc(pages * PAGE as usize, PAGE)
    }
}

/// The end of the program image (`__image_end` of link.ld).
#[cfg(not(test))]
pub fn image_end() -> u64 {
    unsafe extern "C" {
        static __image_end: u8;
    }
    (&raw const __image_end) as u64
}

/// A buffer in guest RAM, by guest-physical (= virtual) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaBuf {
    addr: u64,
    len: usize,
}

impl DmaBuf {
    /// A handle on `[addr, addr + len)`. The caller vouches that the range is RAM inside the
    /// identity map that it owns.
    pub const fn from_raw(addr: u64, len: usize) -> Self {
        DmaBuf { addr, len }
    }

    /// Guest-physical address of the first byte.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Guest-physical address one past the last byte.
    pub fn end(&self) -> u64 {
        self.addr + self.len as u64
    }

    /// The `len` bytes at `offset`.
    ///
    /// # Panics
    /// If they are not inside this buffer (a bug in the program).
    pub fn sub(&self, offset: usize, len: usize) -> DmaBuf {
        assert!(
            offset.checked_add(len).is_some_and(|e| e <= self.len),
            "sub-buffer {offset:#x}+{len:#x} outside a buffer of {:#x} bytes",
            self.len
        );
        DmaBuf {
            addr: self.addr + offset as u64,
            len,
        }
    }

    fn ptr(&self, offset: usize, len: usize) -> *mut u8 {
        assert!(
            offset.checked_add(len).is_some_and(|e| e <= self.len),
            "access {offset:#x}+{len:#x} outside a buffer of {:#x} bytes",
            self.len
        );
        (self.addr as usize + offset) as *mut u8
    }

    /// Copies `data` to `offset`.
    pub fn write(&self, offset: usize, data: &[u8]) {
        let p = self.ptr(offset, data.len());
        for (i, &b) in data.iter().enumerate() {
            // SAFETY: inside the buffer (checked by `ptr`), which is identity-mapped RAM owned by
            // this program; volatile because a device may access it concurrently.
            unsafe { p.add(i).write_volatile(b) };
        }
    }

    /// Copies `out.len()` bytes at `offset` into `out`.
    pub fn read(&self, offset: usize, out: &mut [u8]) {
        let p = self.ptr(offset, out.len());
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: as for `write`.
            *b = unsafe { p.add(i).read_volatile() };
        }
    }

    /// Sets every byte to `value`.
    pub fn fill(&self, value: u8) {
        let p = self.ptr(0, self.len);
        // Quadword stores: arenas are megabytes and this runs at CPL3 natively.
        let word = u64::from_ne_bytes([value; 8]);
        let mut i = 0;
        while i < self.len {
            let at = self.addr as usize + i;
            if at.is_multiple_of(8) && i + 8 <= self.len {
                // SAFETY: 8 aligned bytes inside the buffer (checked above).
                unsafe { (at as *mut u64).write_volatile(word) };
                i += 8;
            } else {
                // SAFETY: inside the buffer.
                unsafe { p.add(i).write_volatile(value) };
                i += 1;
            }
        }
    }

    /// The byte at `offset`.
    pub fn read_u8(&self, offset: usize) -> u8 {
        let mut b = [0u8; 1];
        self.read(offset, &mut b);
        b[0]
    }

    /// The little-endian `u16` at `offset`.
    pub fn read_u16(&self, offset: usize) -> u16 {
        let mut b = [0u8; 2];
        self.read(offset, &mut b);
        u16::from_le_bytes(b)
    }

    /// The little-endian `u32` at `offset`.
    pub fn read_u32(&self, offset: usize) -> u32 {
        let mut b = [0u8; 4];
        self.read(offset, &mut b);
        u32::from_le_bytes(b)
    }

    /// The little-endian `u64` at `offset`.
    pub fn read_u64(&self, offset: usize) -> u64 {
        let mut b = [0u8; 8];
        self.read(offset, &mut b);
        u64::from_le_bytes(b)
    }

    /// An aligned `u16` store in one access (for ring indices the device reads concurrently).
    pub fn write_u16(&self, offset: usize, value: u16) {
        let p = self.ptr(offset, 2);
        if (p as usize).is_multiple_of(2) {
            // SAFETY: two aligned bytes inside the buffer.
            unsafe { (p as *mut u16).write_volatile(value.to_le()) };
        } else {
            self.write(offset, &value.to_le_bytes());
        }
    }

    /// An aligned `u16` load in one access.
    pub fn load_u16(&self, offset: usize) -> u16 {
        let p = self.ptr(offset, 2);
        if (p as usize).is_multiple_of(2) {
            // SAFETY: two aligned bytes inside the buffer.
            u16::from_le(unsafe { (p as *const u16).read_volatile() })
        } else {
            self.read_u16(offset)
        }
    }

    /// Writes a little-endian `u32` at `offset`.
    pub fn write_u32(&self, offset: usize, value: u32) {
        self.write(offset, &value.to_le_bytes());
    }

    /// Writes a little-endian `u64` at `offset`.
    pub fn write_u64(&self, offset: usize, value: u64) {
        self.write(offset, &value.to_le_bytes());
    }

    /// Whether every byte equals `value`; otherwise the offset of the first that does not.
    pub fn check_all(&self, value: u8) -> Result<(), usize> {
        match (0..self.len).find(|&i| self.read_u8(i) != value) {
            Some(i) => Err(i),
            None => Ok(()),
        }
    }

    /// Whether the buffer holds exactly `expected` (same length); otherwise the first differing
    /// offset.
    pub fn check_eq(&self, expected: &[u8]) -> Result<(), usize> {
        if expected.len() != self.len {
            return Err(expected.len().min(self.len));
        }
        match expected
            .iter()
            .enumerate()
            .find(|&(i, &b)| self.read_u8(i) != b)
        {
            Some((i, _)) => Err(i),
            None => Ok(()),
        }
    }
}

/// A buffer as one device sees it: where it is in guest RAM and the address the device is given
/// for it — an IOVA behind the IOMMU (which the program maps to `buf`), the guest-physical
/// address otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceBuf {
    /// The memory.
    pub buf: DmaBuf,
    /// The device's address of `buf`'s first byte.
    pub dev_addr: u64,
}

impl DeviceBuf {
    /// `buf` at the same device address as its guest-physical one (no IOMMU, identity mapping
    /// or bypass).
    pub fn identity(buf: DmaBuf) -> Self {
        DeviceBuf {
            buf,
            dev_addr: buf.addr(),
        }
    }

    /// `buf` at device address `dev_addr`.
    pub fn at(buf: DmaBuf, dev_addr: u64) -> Self {
        DeviceBuf { buf, dev_addr }
    }

    /// The device address of the byte at `offset`.
    pub fn dev(&self, offset: usize) -> u64 {
        self.dev_addr.wrapping_add(offset as u64)
    }

    /// The `len` bytes at `offset`, with their device address.
    pub fn sub(&self, offset: usize, len: usize) -> DeviceBuf {
        DeviceBuf {
            buf: self.buf.sub(offset, len),
            dev_addr: self.dev(offset),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_up_rounds_and_detects_overflow() {
        assert_eq!(align_up(0x1001, 0x1000), Some(0x2000));
        assert_eq!(align_up(0x2000, 0x1000), Some(0x2000));
        assert_eq!(align_up(u64::MAX - 2, 0x1000), None);
    }

    #[test]
    fn arena_allocations_are_aligned_disjoint_and_bounded() {
        let mut backing = vec![0xffu8; 0x4000];
        let base = backing.as_mut_ptr() as u64;
        let mut arena = DmaArena::new(base, base + 0x4000);
        let a = arena.alloc(10, 64).unwrap();
        let b = arena.alloc(100, 256).unwrap();
        assert!(a.addr().is_multiple_of(64) && b.addr().is_multiple_of(256));
        assert!(a.end() <= b.addr());
        assert_eq!(a.check_all(0), Ok(()), "allocations are zeroed");
        assert_eq!(arena.alloc(0x8000, 1), Err(Error::OutOfMemory));
        b.write_u32(4, 0xdead_beef);
        assert_eq!(b.read_u32(4), 0xdead_beef);
        assert_eq!(b.check_all(0), Err(4));
        let mut expected = [0u8; 100];
        expected[4..8].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        assert_eq!(b.check_eq(&expected), Ok(()));
    }
}
