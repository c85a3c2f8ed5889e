//! bzImage per the Linux x86 boot protocol (Documentation/arch/x86/boot.rst), entered through
//! its 64-bit entry point.
//!
//! linux-loader copies the protected-mode kernel; this module checks the setup header first and
//! works out where the kernel will run, so a kernel that cannot fit in guest RAM is a clear error
//! instead of a guest that dies early.

use std::io::Cursor;
use std::mem::size_of;

use linux_loader::bootparam::setup_header;
use linux_loader::loader::{BzImage, KernelLoader};
use vm_memory::{ByteValued, GuestAddress};

use super::{LoadError, LoadedKernel};
use crate::layout;
use crate::memory::GuestMemory;

/// Offset of the setup header in the image (and in the zero page).
pub const SETUP_HEADER_OFFSET: usize = 0x1f1;
/// "HdrS" at offset 0x202.
pub const HDRS_MAGIC: u32 = 0x5372_6448;
/// 0xAA55 at offset 0x1fe.
pub const BOOT_FLAG_MAGIC: u16 = 0xaa55;
/// Protocol 2.12 introduced `xloadflags`, which says whether the 64-bit entry point exists.
pub const MIN_PROTOCOL: u16 = 0x020c;
/// "LOADED_HIGH: If 1, the protected-mode code is loaded at 0x100000."
pub const LOADFLAG_LOADED_HIGH: u8 = 1 << 0;
/// "XLF_KERNEL_64: This kernel has the legacy 64-bit entry point at 0x200."
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// "the 64-bit entry point is at offset 0x200 from the start of the loaded 32-bit kernel".
pub const ENTRY_64_OFFSET: u64 = 0x200;
/// Where the protected-mode kernel is loaded (LOADED_HIGH).
pub const KERNEL_LOAD_ADDR: u64 = layout::HIGH_RAM_START;

/// Facts from a checked setup header.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BzImageInfo {
    /// The setup header as found in the image, trimmed to its declared length.
    pub header: setup_header,
    /// Size of the real-mode setup (`(setup_sects or 4) + 1` sectors).
    pub setup_size: u64,
    /// Size of the protected-mode kernel that is copied to [`KERNEL_LOAD_ADDR`].
    pub payload_size: u64,
    /// "The kernel runtime start address": where the kernel decompresses itself to.
    pub runtime_start: u64,
    /// `init_size`: memory the kernel needs from `runtime_start` before it reads the memory map.
    pub init_size: u64,
}

/// Whether `image` starts like a bzImage.
pub fn is_bzimage(image: &[u8]) -> bool {
    image
        .get(0x202..0x206)
        .is_some_and(|m| m == HDRS_MAGIC.to_le_bytes())
}

fn align_up(value: u64, align: u64) -> Option<u64> {
    if align <= 1 {
        return Some(value);
    }
    if !align.is_power_of_two() {
        return None;
    }
    value.checked_add(align - 1).map(|v| v & !(align - 1))
}

/// Checks the setup header of `image` for a guest with `mem_size` bytes of RAM.
pub fn check(image: &[u8], mem_size: u64) -> Result<BzImageInfo, LoadError> {
    let raw = image
        .get(SETUP_HEADER_OFFSET..SETUP_HEADER_OFFSET + size_of::<setup_header>())
        .ok_or(LoadError::Truncated("bzImage setup header"))?;
    // "The end of setup header can be calculated as follows: 0x0202 + byte value at offset
    // 0x0201". Bytes past it belong to the setup code, not the header.
    let declared_end = 0x202 + usize::from(image[0x201]);
    let header_len = declared_end
        .saturating_sub(SETUP_HEADER_OFFSET)
        .min(size_of::<setup_header>());
    let mut header = setup_header::default();
    header.as_mut_slice()[..header_len].copy_from_slice(&raw[..header_len]);

    if { header.header } != HDRS_MAGIC || { header.boot_flag } != BOOT_FLAG_MAGIC {
        return Err(LoadError::BadBzImage("missing HdrS / 0xAA55 signature"));
    }
    let version = header.version;
    if version < MIN_PROTOCOL {
        return Err(LoadError::BadBzImage(
            "boot protocol older than 2.12 (no 64-bit entry point information)",
        ));
    }
    if header.loadflags & LOADFLAG_LOADED_HIGH == 0 {
        return Err(LoadError::BadBzImage(
            "zImage (not loaded high) is not supported",
        ));
    }
    if { header.xloadflags } & XLF_KERNEL_64 == 0 {
        return Err(LoadError::BadBzImage("kernel has no 64-bit entry point"));
    }
    // "If this field is 0, the real value is 4."
    let setup_sects = match header.setup_sects {
        0 => 4,
        n => u64::from(n),
    };
    let setup_size = (setup_sects + 1) * 512;
    let payload_size = (image.len() as u64)
        .checked_sub(setup_size)
        .filter(|&n| n > ENTRY_64_OFFSET)
        .ok_or(LoadError::Truncated("bzImage protected-mode kernel"))?;

    // "if (relocatable_kernel) { if (load_address < pref_address) load_address = pref_address;
    //  runtime_start = align_up(load_address, kernel_alignment) } else runtime_start =
    //  pref_address"
    let pref_address = header.pref_address;
    let runtime_start = if header.relocatable_kernel != 0 {
        align_up(
            KERNEL_LOAD_ADDR.max(pref_address),
            u64::from(header.kernel_alignment),
        )
        .ok_or(LoadError::BadBzImage("bad kernel_alignment"))?
    } else {
        pref_address
    };
    let init_size = u64::from(header.init_size);
    let low_end = layout::low_ram_end(mem_size);
    let needed_end = runtime_start
        .checked_add(init_size)
        .ok_or(LoadError::BadBzImage("bad pref_address / init_size"))?
        .max(KERNEL_LOAD_ADDR + payload_size);
    if runtime_start < KERNEL_LOAD_ADDR {
        return Err(LoadError::BadBzImage("kernel runs below 1 MiB"));
    }
    if needed_end > low_end {
        return Err(LoadError::TooLargeForMemory {
            needed_end,
            ram_end: low_end,
        });
    }
    Ok(BzImageInfo {
        header,
        setup_size,
        payload_size,
        runtime_start,
        init_size,
    })
}

/// Copies the protected-mode kernel of a checked image to [`KERNEL_LOAD_ADDR`].
pub fn load(
    mem: &GuestMemory,
    image: &[u8],
    info: &BzImageInfo,
) -> Result<LoadedKernel, LoadError> {
    let result = BzImage::load(
        mem,
        Some(GuestAddress(KERNEL_LOAD_ADDR)),
        &mut Cursor::new(image),
        None,
    )
    .map_err(LoadError::Loader)?;
    let mut header = info.header;
    header.code32_start = result.kernel_load.0 as u32;
    Ok(LoadedKernel {
        entry: result.kernel_load.0 + ENTRY_64_OFFSET,
        load_addr: result.kernel_load.0,
        // The kernel owns everything up to the end of its decompression area.
        end: (info.runtime_start + info.init_size).max(result.kernel_end),
        setup_header: Some(header),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A synthetic bzImage: a valid setup header and `payload` bytes of protected-mode kernel.
    pub(crate) fn fake_bzimage(payload: usize, init_size: u32) -> Vec<u8> {
        let setup_sects = 4u8;
        let mut image = vec![0u8; (usize::from(setup_sects) + 1) * 512 + payload];
        let mut hdr = setup_header {
            setup_sects,
            boot_flag: BOOT_FLAG_MAGIC,
            header: HDRS_MAGIC,
            version: 0x020f,
            loadflags: LOADFLAG_LOADED_HIGH,
            code32_start: 0x10_0000,
            initrd_addr_max: 0x7fff_ffff,
            kernel_alignment: 0x20_0000,
            relocatable_kernel: 1,
            xloadflags: XLF_KERNEL_64,
            cmdline_size: 2047,
            pref_address: 0x100_0000,
            init_size,
            ..Default::default()
        };
        // jump instruction at 0x200: "EB xx", xx = header end - 0x202.
        hdr.jump = 0x6aeb;
        image[SETUP_HEADER_OFFSET..SETUP_HEADER_OFFSET + size_of::<setup_header>()]
            .copy_from_slice(hdr.as_slice());
        image
    }

    const MEM: u64 = 256 * layout::MIB;

    #[test]
    fn a_relocatable_kernel_runs_at_its_aligned_preferred_address() {
        let image = fake_bzimage(0x1000, 0x80_0000);
        let info = check(&image, MEM).unwrap();
        assert_eq!(info.runtime_start, 0x100_0000);
        assert_eq!(info.setup_size, 5 * 512);
        assert_eq!(info.payload_size, 0x1000);
    }

    #[test]
    fn header_bytes_past_the_declared_end_are_dropped() {
        let mut image = fake_bzimage(0x1000, 0x80_0000);
        image[0x201] = 0x60; // header ends at 0x262: init_size (0x260..0x264) half cut
        let info = check(&image, MEM).unwrap();
        assert_eq!({ info.header.init_size }, 0x0000);
        assert_eq!({ info.header.pref_address }, 0x100_0000);
    }

    #[test]
    fn missing_64_bit_entry_or_old_protocol_is_rejected() {
        let mut no64 = fake_bzimage(0x1000, 0x1000);
        no64[0x236] = 0;
        let mut old = fake_bzimage(0x1000, 0x1000);
        old[0x206..0x208].copy_from_slice(&0x0206u16.to_le_bytes());
        assert!(matches!(check(&no64, MEM), Err(LoadError::BadBzImage(_))));
        assert!(matches!(check(&old, MEM), Err(LoadError::BadBzImage(_))));
    }

    #[test]
    fn a_kernel_whose_init_size_exceeds_ram_is_too_large() {
        let image = fake_bzimage(0x1000, 0x1000_0000);
        assert!(matches!(
            check(&image, MEM),
            Err(LoadError::TooLargeForMemory { .. })
        ));
    }

    #[test]
    fn a_truncated_image_is_rejected() {
        let image = fake_bzimage(0x1000, 0x1000);
        assert!(matches!(
            check(&image[..0x300], MEM),
            Err(LoadError::Truncated(_))
        ));
        assert!(matches!(
            check(&image[..0x1f0], MEM),
            Err(LoadError::Truncated(_))
        ));
    }
}
