//! ELF64 executables: bare-metal guest programs and vmlinux.
//!
//! The image is checked completely before a byte is copied (the image is hostile input: a bad
//! header or segment is an error, never a panic or a write outside guest RAM); linux-loader then
//! copies the segments, and the `.bss` tails (`p_memsz > p_filesz`) are zeroed here because
//! linux-loader only copies `p_filesz` bytes.

use std::io::Cursor;
use std::mem::size_of;

use linux_loader::elf::{EM_X86_64, ET_EXEC, Elf64_Ehdr, Elf64_Phdr, PT_LOAD};
use linux_loader::loader::{Elf, KernelLoader};
use vm_memory::{ByteValued, Bytes, GuestAddress};

use super::{LoadError, LoadedKernel};
use crate::layout;
use crate::memory::GuestMemory;

/// "\x7fELF".
pub const ELF_MAGIC: [u8; 4] = *b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
/// More program headers than any real kernel or program has; bounds the work a hostile header
/// can cause.
const MAX_PHNUM: u16 = 128;

/// One PT_LOAD segment, as placed in guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Guest-physical address (`p_paddr`).
    pub paddr: u64,
    /// Bytes copied from the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zeroed).
    pub memsz: u64,
}

/// A checked ELF64 image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage {
    /// `e_entry`.
    pub entry: u64,
    /// The PT_LOAD segments.
    pub segments: Vec<Segment>,
}

fn read_struct<T: ByteValued + Default>(image: &[u8], offset: u64) -> Option<T> {
    let start = usize::try_from(offset).ok()?;
    let bytes = image.get(start..start.checked_add(size_of::<T>())?)?;
    let mut value = T::default();
    value.as_mut_slice().copy_from_slice(bytes);
    Some(value)
}

/// Checks `image` against the platform contract for a guest with `mem_size` bytes of RAM.
pub fn check(image: &[u8], mem_size: u64) -> Result<ElfImage, LoadError> {
    let ehdr: Elf64_Ehdr = read_struct(image, 0).ok_or(LoadError::Truncated("ELF header"))?;
    if ehdr.e_ident[..4] != ELF_MAGIC {
        return Err(LoadError::UnknownFormat);
    }
    if ehdr.e_ident[4] != ELFCLASS64 || ehdr.e_ident[5] != ELFDATA2LSB {
        return Err(LoadError::BadElf("not a little-endian ELF64 file"));
    }
    if ehdr.e_machine != EM_X86_64 {
        return Err(LoadError::BadElf("not an x86-64 executable"));
    }
    if ehdr.e_type != ET_EXEC {
        return Err(LoadError::BadElf(
            "not an executable (ET_EXEC); position-independent images are not supported",
        ));
    }
    if usize::from(ehdr.e_phentsize) != size_of::<Elf64_Phdr>() {
        return Err(LoadError::BadElf("unexpected program header size"));
    }
    if ehdr.e_phnum == 0 || ehdr.e_phnum > MAX_PHNUM {
        return Err(LoadError::BadElf("bad program header count"));
    }

    let low_end = layout::low_ram_end(mem_size);
    let mut segments = Vec::new();
    for i in 0..u64::from(ehdr.e_phnum) {
        let offset = ehdr
            .e_phoff
            .checked_add(i * size_of::<Elf64_Phdr>() as u64)
            .ok_or(LoadError::Truncated("program headers"))?;
        let phdr: Elf64_Phdr =
            read_struct(image, offset).ok_or(LoadError::Truncated("program headers"))?;
        if phdr.p_type != PT_LOAD || phdr.p_memsz == 0 {
            continue;
        }
        if phdr.p_filesz > phdr.p_memsz {
            return Err(LoadError::BadElf("segment with p_filesz > p_memsz"));
        }
        let file_end = phdr.p_offset.checked_add(phdr.p_filesz);
        if file_end.is_none_or(|end| end > image.len() as u64) {
            return Err(LoadError::Truncated("segment data"));
        }
        let seg = Segment {
            paddr: phdr.p_paddr,
            filesz: phdr.p_filesz,
            memsz: phdr.p_memsz,
        };
        check_placement(seg.paddr, seg.memsz, mem_size, low_end)?;
        segments.push(seg);
    }
    if segments.is_empty() {
        return Err(LoadError::BadElf("no PT_LOAD segment"));
    }
    if !segments
        .iter()
        .any(|s| (s.paddr..s.paddr + s.memsz).contains(&ehdr.e_entry))
    {
        return Err(LoadError::BadElf(
            "entry point outside every loaded segment",
        ));
    }
    Ok(ElfImage {
        entry: ehdr.e_entry,
        segments,
    })
}

/// A segment must lie in RAM at or above [`layout::HIGH_RAM_START`], in one RAM region.
fn check_placement(paddr: u64, memsz: u64, mem_size: u64, low_end: u64) -> Result<(), LoadError> {
    let end = paddr
        .checked_add(memsz)
        .ok_or(LoadError::SegmentOutsideRam { paddr, memsz })?;
    if paddr < layout::HIGH_RAM_START {
        return Err(LoadError::SegmentInReservedArea { paddr, memsz });
    }
    let in_low = end <= low_end;
    let high_end = layout::MMIO_GAP_END + mem_size.saturating_sub(layout::MMIO_GAP_START);
    let in_high =
        mem_size > layout::MMIO_GAP_START && paddr >= layout::MMIO_GAP_END && end <= high_end;
    if in_low || in_high {
        Ok(())
    } else if paddr < layout::MMIO_GAP_START && end <= layout::MMIO_GAP_START {
        Err(LoadError::TooLargeForMemory {
            needed_end: end,
            ram_end: low_end,
        })
    } else {
        Err(LoadError::SegmentOutsideRam { paddr, memsz })
    }
}

/// Copies a checked image into guest memory.
pub fn load(mem: &GuestMemory, image: &[u8], elf: &ElfImage) -> Result<LoadedKernel, LoadError> {
    let result = Elf::load(
        mem,
        None,
        &mut Cursor::new(image),
        Some(GuestAddress(layout::HIGH_RAM_START)),
    )
    .map_err(LoadError::Loader)?;
    for seg in &elf.segments {
        let bss_start = seg.paddr + seg.filesz;
        let bss_len = seg.memsz - seg.filesz;
        zero(mem, bss_start, bss_len)?;
    }
    let end = elf
        .segments
        .iter()
        .map(|s| s.paddr + s.memsz)
        .max()
        .unwrap_or(result.kernel_end);
    Ok(LoadedKernel {
        entry: elf.entry,
        load_addr: elf.segments.iter().map(|s| s.paddr).min().unwrap_or(0),
        end,
        setup_header: None,
    })
}

/// Zeroes `[addr, addr + len)` (already checked to be in RAM).
pub(super) fn zero(mem: &GuestMemory, addr: u64, len: u64) -> Result<(), LoadError> {
    const CHUNK: [u8; 4096] = [0; 4096];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK.len() as u64);
        mem.write_slice(&CHUNK[..n as usize], GuestAddress(addr + done))
            .map_err(|_| LoadError::SegmentOutsideRam {
                paddr: addr,
                memsz: len,
            })?;
        done += n;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::memory::create_guest_memory;

    /// A minimal ELF64 executable: one PT_LOAD of `code` at `paddr` with `bss` extra zero bytes,
    /// entered at `paddr`.
    pub(crate) fn tiny_elf(paddr: u64, code: &[u8], bss: u64) -> Vec<u8> {
        let mut ehdr = Elf64_Ehdr::default();
        ehdr.e_ident[..4].copy_from_slice(&ELF_MAGIC);
        ehdr.e_ident[4] = ELFCLASS64;
        ehdr.e_ident[5] = ELFDATA2LSB;
        ehdr.e_ident[6] = 1;
        ehdr.e_type = ET_EXEC;
        ehdr.e_machine = EM_X86_64;
        ehdr.e_version = 1;
        ehdr.e_entry = paddr;
        ehdr.e_phoff = size_of::<Elf64_Ehdr>() as u64;
        ehdr.e_ehsize = size_of::<Elf64_Ehdr>() as u16;
        ehdr.e_phentsize = size_of::<Elf64_Phdr>() as u16;
        ehdr.e_phnum = 1;
        let data_off = (size_of::<Elf64_Ehdr>() + size_of::<Elf64_Phdr>()) as u64;
        let phdr = Elf64_Phdr {
            p_type: PT_LOAD,
            p_flags: 7,
            p_offset: data_off,
            p_vaddr: paddr,
            p_paddr: paddr,
            p_filesz: code.len() as u64,
            p_memsz: code.len() as u64 + bss,
            p_align: 0x1000,
        };
        let mut out = Vec::new();
        out.extend_from_slice(ehdr.as_slice());
        out.extend_from_slice(phdr.as_slice());
        out.extend_from_slice(code);
        out
    }

    const MEM: u64 = 16 * layout::MIB;

    #[test]
    fn a_good_image_is_loaded_and_its_bss_zeroed() {
        let mem = create_guest_memory(16).unwrap();
        mem.write_slice(&[0xaa; 16], GuestAddress(0x20_0004))
            .unwrap();
        let image = tiny_elf(0x20_0000, &[0x90, 0x90, 0xf4, 0xcc], 16);

        let elf = check(&image, MEM).unwrap();
        let loaded = load(&mem, &image, &elf).unwrap();

        let mut buf = [0xffu8; 20];
        mem.read_slice(&mut buf, GuestAddress(0x20_0000)).unwrap();
        assert_eq!(&buf[..4], &[0x90, 0x90, 0xf4, 0xcc]);
        assert_eq!(&buf[4..], &[0u8; 16]);
        assert_eq!(loaded.entry, 0x20_0000);
        assert_eq!(loaded.end, 0x20_0014);
    }

    #[test]
    fn non_elf_bytes_are_an_unknown_format() {
        assert!(matches!(
            check(&[0u8; 128], MEM),
            Err(LoadError::UnknownFormat)
        ));
    }

    #[test]
    fn truncated_headers_and_data_are_rejected() {
        let image = tiny_elf(0x20_0000, &[0x90; 64], 0);
        assert!(matches!(
            check(&image[..40], MEM),
            Err(LoadError::Truncated(_))
        ));
        assert!(matches!(
            check(&image[..100], MEM),
            Err(LoadError::Truncated(_))
        ));
        assert!(matches!(
            check(&image[..image.len() - 1], MEM),
            Err(LoadError::Truncated(_))
        ));
    }

    #[test]
    fn segments_outside_ram_or_in_the_low_area_are_rejected() {
        let low = tiny_elf(0x8000, &[0x90], 0);
        let gap = tiny_elf(layout::MMIO_GAP_START + 0x1000, &[0x90], 0);
        let wrap = tiny_elf(u64::MAX - 1, &[0x90], 16);
        assert!(matches!(
            check(&low, MEM),
            Err(LoadError::SegmentInReservedArea { .. })
        ));
        assert!(matches!(
            check(&gap, MEM),
            Err(LoadError::SegmentOutsideRam { .. })
        ));
        assert!(matches!(
            check(&wrap, MEM),
            Err(LoadError::SegmentOutsideRam { .. })
        ));
    }

    #[test]
    fn a_segment_past_the_end_of_ram_is_too_large_for_memory() {
        let image = tiny_elf(0x10_0000, &[0x90], 32 * layout::MIB);
        assert!(matches!(
            check(&image, MEM),
            Err(LoadError::TooLargeForMemory { .. })
        ));
    }

    #[test]
    fn wrong_class_machine_or_type_is_rejected() {
        let good = tiny_elf(0x20_0000, &[0x90], 0);
        let mut class32 = good.clone();
        class32[4] = 1;
        let mut arm = good.clone();
        arm[18] = 183; // EM_AARCH64
        let mut dynamic = good.clone();
        dynamic[16] = 3; // ET_DYN
        for bad in [class32, arm, dynamic] {
            assert!(matches!(check(&bad, MEM), Err(LoadError::BadElf(_))));
        }
    }

    #[test]
    fn entry_outside_the_segments_is_rejected() {
        let mut image = tiny_elf(0x20_0000, &[0x90], 0);
        image[24..32].copy_from_slice(&0x30_0000u64.to_le_bytes());
        assert!(matches!(check(&image, MEM), Err(LoadError::BadElf(_))));
    }
}
