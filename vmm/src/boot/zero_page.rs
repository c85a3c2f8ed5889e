//! The Linux zero page (`struct boot_params`) whose address is in RSI at entry.

use linux_loader::bootparam::{
    E820_MAX_ENTRIES_ZEROPAGE, boot_e820_entry, boot_params, setup_header,
};

use super::LoadError;
use super::bzimage::{BOOT_FLAG_MAGIC, HDRS_MAGIC};
use crate::layout::{self, E820Entry};

/// "type_of_loader: 0xFF: undefined" — the value for a boot loader without an assigned ID.
pub const LOADER_TYPE_UNDEFINED: u8 = 0xff;

/// What goes into the zero page.
#[derive(Clone, Debug)]
pub struct ZeroPageSpec<'a> {
    /// A bzImage's setup header (already updated by the loader), or `None` for an ELF image.
    pub setup_header: Option<setup_header>,
    /// Length of the command line without its NUL.
    pub cmdline_len: usize,
    /// Initramfs `(address, size)`.
    pub initramfs: Option<(u64, u64)>,
    /// The memory map.
    pub e820: &'a [E820Entry],
    /// Address of the RSDP.
    pub rsdp_addr: u64,
}

/// Builds the zero page.
pub fn build(spec: &ZeroPageSpec<'_>) -> Result<boot_params, LoadError> {
    let mut params = boot_params::default();
    match spec.setup_header {
        // "the setup header ... should be copied into the zero page"; the boot loader then
        // fills in the fields marked "write" in the protocol.
        Some(hdr) => {
            params.hdr = hdr;
            let max = u64::from(hdr.cmdline_size);
            if spec.cmdline_len as u64 > max {
                return Err(LoadError::CmdlineTooLong {
                    len: spec.cmdline_len,
                    max,
                });
            }
        }
        // An ELF image has no setup header: fill in the fields a kernel entered through the
        // 64-bit boot protocol reads, and mark the header present.
        None => {
            params.hdr.boot_flag = BOOT_FLAG_MAGIC;
            params.hdr.header = HDRS_MAGIC;
            params.hdr.cmdline_size = (layout::CMDLINE_MAX_SIZE - 1) as u32;
            params.hdr.kernel_alignment = 0x100_0000;
        }
    }
    params.hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
    params.hdr.cmd_line_ptr = layout::CMDLINE_START as u32;
    if let Some((addr, size)) = spec.initramfs {
        // Placed below the MMIO gap, so both fit in 32 bits.
        params.hdr.ramdisk_image = addr as u32;
        params.hdr.ramdisk_size = size as u32;
    }
    params.acpi_rsdp_addr = spec.rsdp_addr;

    if spec.e820.len() > E820_MAX_ENTRIES_ZEROPAGE {
        return Err(LoadError::TooManyE820Entries(spec.e820.len()));
    }
    for (slot, entry) in params.e820_table.iter_mut().zip(spec.e820) {
        *slot = boot_e820_entry {
            addr: entry.addr,
            size: entry.size,
            r#type: entry.kind as u32,
        };
    }
    params.e820_entries = spec.e820.len() as u8;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::ByteValued;

    fn u32_at(bytes: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap())
    }
    fn u64_at(bytes: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap())
    }

    #[test]
    fn fields_land_at_the_protocol_offsets() {
        let e820 = layout::e820_map(256 * layout::MIB);
        let params = build(&ZeroPageSpec {
            setup_header: None,
            cmdline_len: 5,
            initramfs: Some((0x0f00_0000, 0x1234)),
            e820: &e820,
            rsdp_addr: layout::ACPI_START,
        })
        .unwrap();
        let bytes = params.as_slice();

        assert_eq!(bytes.len(), 4096);
        assert_eq!(u64_at(bytes, 0x070), layout::ACPI_START); // acpi_rsdp_addr
        assert_eq!(bytes[0x1e8] as usize, e820.len()); // e820_entries
        assert_eq!(u32_at(bytes, 0x202), HDRS_MAGIC);
        assert_eq!(bytes[0x210], 0xff); // type_of_loader
        assert_eq!(u32_at(bytes, 0x218), 0x0f00_0000); // ramdisk_image
        assert_eq!(u32_at(bytes, 0x21c), 0x1234); // ramdisk_size
        assert_eq!(u32_at(bytes, 0x228), layout::CMDLINE_START as u32); // cmd_line_ptr
        // e820_table at 0x2d0, 20 bytes per entry.
        assert_eq!(u64_at(bytes, 0x2d0 + 20 * 2), layout::HIGH_RAM_START);
        assert_eq!(u32_at(bytes, 0x2d0 + 20 * 2 + 16), 1);
    }

    #[test]
    fn a_cmdline_longer_than_the_kernel_accepts_is_rejected() {
        let hdr = setup_header {
            cmdline_size: 10,
            ..Default::default()
        };
        let result = build(&ZeroPageSpec {
            setup_header: Some(hdr),
            cmdline_len: 11,
            initramfs: None,
            e820: &[],
            rsdp_addr: 0,
        });
        assert!(matches!(
            result,
            Err(LoadError::CmdlineTooLong { len: 11, max: 10 })
        ));
    }
}
