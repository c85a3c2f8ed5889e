//! Putting a guest image and everything it is handed at entry into guest memory.
//!
//! [`load_kernel`] recognises the image (ELF64 or bzImage), checks it and copies it;
//! [`place_initramfs`], [`write_cmdline`], [`write_boot_structures`] lay out the rest of what
//! the platform contract (docs/PLATFORM.md) promises. Register state is set in [`crate::cpu`].

pub mod bzimage;
pub mod elf;
pub mod page_tables;
pub mod zero_page;

use linux_loader::bootparam::setup_header;
use vm_memory::{ByteValued, Bytes, GuestAddress};

use crate::cpu::gdt::BOOT_GDT;
use crate::layout::{self, E820Entry};
use crate::memory::GuestMemory;

/// Why an image could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Neither ELF nor bzImage.
    #[error("the image is neither an ELF64 executable nor a bzImage")]
    UnknownFormat,
    /// The image ends inside a structure.
    #[error("the image is truncated: {0} incomplete")]
    Truncated(&'static str),
    /// A malformed or unsupported ELF file.
    #[error("unsupported ELF image: {0}")]
    BadElf(&'static str),
    /// A malformed or unsupported bzImage.
    #[error("unsupported bzImage: {0}")]
    BadBzImage(&'static str),
    /// A segment would overwrite the VMM's boot structures below 1 MiB.
    #[error(
        "segment at {paddr:#x} ({memsz:#x} bytes) overlaps the area below 1 MiB reserved for boot structures"
    )]
    SegmentInReservedArea {
        /// Segment address.
        paddr: u64,
        /// Segment size.
        memsz: u64,
    },
    /// A segment lies (partly) outside guest RAM.
    #[error("segment at {paddr:#x} ({memsz:#x} bytes) lies outside guest RAM")]
    SegmentOutsideRam {
        /// Segment address.
        paddr: u64,
        /// Segment size.
        memsz: u64,
    },
    /// The image needs more RAM than the guest has.
    #[error(
        "the image needs RAM up to {needed_end:#x} but RAM below the MMIO gap ends at {ram_end:#x}: increase --memory"
    )]
    TooLargeForMemory {
        /// End of what the image needs.
        needed_end: u64,
        /// End of RAM.
        ram_end: u64,
    },
    /// The initramfs does not fit between the kernel and the end of RAM.
    #[error(
        "the initramfs ({size} bytes) does not fit between the kernel (ends at {kernel_end:#x}) and {limit:#x}: increase --memory"
    )]
    InitramfsTooLarge {
        /// Initramfs size.
        size: u64,
        /// End of the kernel's memory.
        kernel_end: u64,
        /// Highest address the initramfs may reach.
        limit: u64,
    },
    /// The command line is longer than the kernel or the VMM accepts.
    #[error("the command line is {len} bytes, longer than the {max} bytes allowed")]
    CmdlineTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: u64,
    },
    /// The command line contains a NUL byte.
    #[error("the command line contains a NUL byte")]
    CmdlineNul,
    /// More memory-map entries than the zero page holds.
    #[error("{0} e820 entries do not fit in the zero page")]
    TooManyE820Entries(usize),
    /// linux-loader failed.
    #[error("the kernel loader failed")]
    Loader(#[source] linux_loader::loader::Error),
    /// Writing a boot structure to guest memory failed.
    #[error("failed to write the {0} to guest memory")]
    Write(&'static str, #[source] vm_memory::GuestMemoryError),
}

/// The kind of image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageKind {
    /// ELF64 executable (bare-metal program or vmlinux).
    Elf,
    /// Linux bzImage.
    BzImage,
}

/// Where a loaded kernel is and how to enter it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoadedKernel {
    /// RIP at entry.
    pub entry: u64,
    /// Lowest address of the image.
    pub load_addr: u64,
    /// End (exclusive) of the memory the kernel owns (image, .bss, decompression area).
    pub end: u64,
    /// A bzImage's setup header, to be copied into the zero page.
    pub setup_header: Option<setup_header>,
}

/// Recognises an image.
pub fn image_kind(image: &[u8]) -> Result<ImageKind, LoadError> {
    if image.starts_with(&elf::ELF_MAGIC) {
        Ok(ImageKind::Elf)
    } else if bzimage::is_bzimage(image) {
        Ok(ImageKind::BzImage)
    } else if image.len() < 4 {
        Err(LoadError::Truncated("image header"))
    } else {
        Err(LoadError::UnknownFormat)
    }
}

/// Checks and loads `image` into `mem` (a guest with `mem_size` bytes of RAM).
pub fn load_kernel(
    mem: &GuestMemory,
    image: &[u8],
    mem_size: u64,
) -> Result<(ImageKind, LoadedKernel), LoadError> {
    let kind = image_kind(image)?;
    let loaded = match kind {
        ImageKind::Elf => {
            let checked = elf::check(image, mem_size)?;
            elf::load(mem, image, &checked)?
        }
        ImageKind::BzImage => {
            let checked = bzimage::check(image, mem_size)?;
            bzimage::load(mem, image, &checked)?
        }
    };
    Ok((kind, loaded))
}

/// Where an initramfs of `size` bytes goes: "as high as possible" below the kernel's
/// `initrd_addr_max` (inclusive) and the end of RAM below the gap, 4 KiB aligned, above the
/// kernel.
pub fn initramfs_address(
    size: u64,
    kernel: &LoadedKernel,
    mem_size: u64,
) -> Result<u64, LoadError> {
    let mut limit = layout::low_ram_end(mem_size);
    if let Some(hdr) = kernel.setup_header {
        limit = limit.min(u64::from(hdr.initrd_addr_max).saturating_add(1));
    }
    let too_large = LoadError::InitramfsTooLarge {
        size,
        kernel_end: kernel.end,
        limit,
    };
    let start = limit.checked_sub(size).ok_or(too_large)? & !0xfff;
    if start < kernel.end.max(layout::HIGH_RAM_START) {
        return Err(LoadError::InitramfsTooLarge {
            size,
            kernel_end: kernel.end,
            limit,
        });
    }
    Ok(start)
}

/// Copies an initramfs into guest memory; returns `(address, size)`.
pub fn place_initramfs(
    mem: &GuestMemory,
    initramfs: &[u8],
    kernel: &LoadedKernel,
    mem_size: u64,
) -> Result<(u64, u64), LoadError> {
    let size = initramfs.len() as u64;
    let addr = initramfs_address(size, kernel, mem_size)?;
    mem.write_slice(initramfs, GuestAddress(addr))
        .map_err(|e| LoadError::Write("initramfs", e))?;
    Ok((addr, size))
}

/// Writes the NUL-terminated command line at [`layout::CMDLINE_START`].
pub fn write_cmdline(mem: &GuestMemory, cmdline: &str) -> Result<(), LoadError> {
    if cmdline.as_bytes().contains(&0) {
        return Err(LoadError::CmdlineNul);
    }
    let max = layout::CMDLINE_MAX_SIZE - 1;
    if cmdline.len() as u64 > max {
        return Err(LoadError::CmdlineTooLong {
            len: cmdline.len(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(cmdline.len() + 1);
    bytes.extend_from_slice(cmdline.as_bytes());
    bytes.push(0);
    mem.write_slice(&bytes, GuestAddress(layout::CMDLINE_START))
        .map_err(|e| LoadError::Write("command line", e))
}

/// Everything the boot vCPU finds in memory at entry besides the image, initramfs, command
/// line and ACPI tables: the zero page, the identity map and the GDT.
pub fn write_boot_structures(
    mem: &GuestMemory,
    kernel: &LoadedKernel,
    cmdline_len: usize,
    initramfs: Option<(u64, u64)>,
    e820: &[E820Entry],
    rsdp_addr: u64,
) -> Result<(), LoadError> {
    let params = zero_page::build(&zero_page::ZeroPageSpec {
        setup_header: kernel.setup_header,
        cmdline_len,
        initramfs,
        e820,
        rsdp_addr,
    })?;
    mem.write_obj(params, GuestAddress(layout::ZERO_PAGE_START))
        .map_err(|e| LoadError::Write("zero page", e))?;
    page_tables::write_identity_map(mem).map_err(|e| LoadError::Write("page tables", e))?;
    let gdt: Vec<u8> = BOOT_GDT.iter().flat_map(|d| d.to_le_bytes()).collect();
    mem.write_slice(&gdt, GuestAddress(layout::BOOT_GDT_START))
        .map_err(|e| LoadError::Write("GDT", e))?;
    // The zero page is ByteValued; make sure it is the protocol's 4 KiB.
    debug_assert_eq!(params.as_slice().len(), 4096);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::create_guest_memory;

    fn kernel_ending_at(end: u64) -> LoadedKernel {
        LoadedKernel {
            entry: 0x10_0000,
            load_addr: 0x10_0000,
            end,
            setup_header: None,
        }
    }

    #[test]
    fn initramfs_goes_to_the_top_of_low_ram_page_aligned() {
        let addr = initramfs_address(0x1800, &kernel_ending_at(0x20_0000), 64 * layout::MIB);
        assert_eq!(addr.unwrap(), 64 * layout::MIB - 0x2000);
    }

    #[test]
    fn initramfs_respects_initrd_addr_max() {
        let mut kernel = kernel_ending_at(0x20_0000);
        kernel.setup_header = Some(setup_header {
            initrd_addr_max: 0x1ff_ffff,
            ..Default::default()
        });
        let addr = initramfs_address(0x1000, &kernel, 256 * layout::MIB).unwrap();
        assert_eq!(addr, 0x200_0000 - 0x1000);
    }

    #[test]
    fn initramfs_that_would_overlap_the_kernel_is_rejected() {
        let result = initramfs_address(
            60 * layout::MIB,
            &kernel_ending_at(8 * layout::MIB),
            64 * layout::MIB,
        );
        assert!(matches!(result, Err(LoadError::InitramfsTooLarge { .. })));
    }

    #[test]
    fn cmdline_is_nul_terminated_and_bounded() {
        let mem = create_guest_memory(4).unwrap();
        write_cmdline(&mem, "console=ttyS0").unwrap();
        let mut buf = [0xffu8; 14];
        mem.read_slice(&mut buf, GuestAddress(layout::CMDLINE_START))
            .unwrap();
        assert_eq!(&buf, b"console=ttyS0\0");

        let long = "x".repeat(layout::CMDLINE_MAX_SIZE as usize);
        assert!(matches!(
            write_cmdline(&mem, &long),
            Err(LoadError::CmdlineTooLong { .. })
        ));
        assert!(matches!(
            write_cmdline(&mem, "a\0b"),
            Err(LoadError::CmdlineNul)
        ));
    }

    #[test]
    fn unknown_bytes_are_not_an_image() {
        assert!(matches!(
            image_kind(b"#!/bin/sh\n"),
            Err(LoadError::UnknownFormat)
        ));
        assert!(matches!(image_kind(b""), Err(LoadError::Truncated(_))));
    }
}
