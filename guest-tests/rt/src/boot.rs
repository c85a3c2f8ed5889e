//! What the VMM (or a PVH loader) handed the program: the boot protocol, the entry state, the
//! command line, the e820 memory map and the ACPI RSDP address.
//!
//! Two protocols are understood:
//! - the Linux 64-bit boot protocol of docs/PLATFORM.md: RSI = a `boot_params` (zero page) with
//!   `e820_table`, `hdr.cmd_line_ptr` and `acpi_rsdp_addr`;
//! - PVH (QEMU `-kernel` with the runtime's `XEN_ELFNOTE_PHYS32_ENTRY` note): EBX = an
//!   `hvm_start_info` with `cmdline_paddr`, `memmap_paddr` and `rsdp_paddr`.

use core::fmt;

use crate::cpu::{self, EntryState};
use crate::phys::{self, read_u8, read_u32, read_u64};
use crate::sync::Global;

/// How the program was entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootProtocol {
    /// 64-bit entry at `e_entry`, RSI = `boot_params` (the project's platform contract).
    Linux64,
    /// 32-bit PVH entry through the ELF note, EBX = `hvm_start_info`.
    Pvh,
    /// `entry.s` recorded something else (cannot happen unless memory was corrupted).
    Unknown(u64),
}

impl fmt::Display for BootProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linux64 => f.write_str("Linux 64-bit boot protocol"),
            Self::Pvh => f.write_str("PVH"),
            Self::Unknown(raw) => write!(f, "unknown boot protocol {raw}"),
        }
    }
}

/// An e820 address-range type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum E820Kind {
    /// 1: usable RAM.
    Ram,
    /// 2: reserved.
    Reserved,
    /// 3: ACPI tables, reclaimable.
    Acpi,
    /// 4: ACPI NVS.
    Nvs,
    /// 5: unusable.
    Unusable,
    /// Any other value.
    Other(u32),
}

impl E820Kind {
    /// Decodes the e820 `type` field.
    pub fn from_raw(raw: u32) -> Self {
        match raw {
            1 => Self::Ram,
            2 => Self::Reserved,
            3 => Self::Acpi,
            4 => Self::Nvs,
            5 => Self::Unusable,
            other => Self::Other(other),
        }
    }
}

impl fmt::Display for E820Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ram => f.write_str("usable"),
            Self::Reserved => f.write_str("reserved"),
            Self::Acpi => f.write_str("ACPI data"),
            Self::Nvs => f.write_str("ACPI NVS"),
            Self::Unusable => f.write_str("unusable"),
            Self::Other(raw) => write!(f, "type {raw}"),
        }
    }
}

/// One e820 entry: `[addr, addr + size)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub size: u64,
    /// Range type.
    pub kind: E820Kind,
}

impl E820Entry {
    /// The exclusive end address (saturating).
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
    }
}

/// Maximum entries in `boot_params.e820_table` (E820_MAX_ENTRIES_ZEROPAGE).
pub const E820_MAX: usize = 128;

/// The e820 memory map.
#[derive(Debug, Clone)]
pub struct MemoryMap {
    entries: [E820Entry; E820_MAX],
    len: usize,
    /// The entry count the boot structure claimed (may exceed [`E820_MAX`] if it is corrupt).
    pub claimed: usize,
}

impl MemoryMap {
    /// An empty map.
    pub const fn empty() -> Self {
        Self {
            entries: [E820Entry {
                addr: 0,
                size: 0,
                kind: E820Kind::Ram,
            }; E820_MAX],
            len: 0,
            claimed: 0,
        }
    }

    fn push(&mut self, entry: E820Entry) {
        if let Some(slot) = self.entries.get_mut(self.len) {
            *slot = entry;
            self.len += 1;
        }
    }

    /// The entries, in the order given.
    pub fn entries(&self) -> &[E820Entry] {
        &self.entries[..self.len]
    }

    /// Total bytes of usable RAM.
    pub fn usable_bytes(&self) -> u64 {
        self.entries()
            .iter()
            .filter(|e| e.kind == E820Kind::Ram)
            .map(|e| e.size)
            .sum()
    }

    /// Whether `[addr, addr + len)` lies inside one entry of `kind`.
    pub fn covers(&self, addr: u64, len: u64, kind: E820Kind) -> bool {
        let end = addr.saturating_add(len);
        self.entries()
            .iter()
            .any(|e| e.kind == kind && e.addr <= addr && end <= e.end())
    }

    /// Whether no two non-empty entries overlap (the boot protocols do not require sorting).
    pub fn is_disjoint(&self) -> bool {
        let entries = self.entries();
        entries.iter().enumerate().all(|(i, a)| {
            entries[i + 1..]
                .iter()
                .all(|b| a.size == 0 || b.size == 0 || a.end() <= b.addr || b.end() <= a.addr)
        })
    }
}

/// Offsets in `struct boot_params` (Linux Documentation/arch/x86/zero-page.rst, boot.rst).
mod zero_page {
    pub const SIZE: usize = 4096;
    pub const ACPI_RSDP_ADDR: usize = 0x070;
    pub const EXT_CMD_LINE_PTR: usize = 0x0c8;
    pub const E820_ENTRIES: usize = 0x1e8;
    pub const HDR_VERSION: usize = 0x206;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const E820_TABLE: usize = 0x2d0;
    pub const E820_ENTRY_SIZE: usize = 20;
}

/// Offsets in `struct hvm_start_info` (Xen public/arch-x86/hvm/start_info.h).
mod pvh {
    pub const MAGIC: u32 = 0x336e_c578;
    pub const SIZE: usize = 56;
    pub const VERSION: usize = 4;
    pub const CMDLINE_PADDR: usize = 24;
    pub const RSDP_PADDR: usize = 32;
    pub const MEMMAP_PADDR: usize = 40;
    pub const MEMMAP_ENTRIES: usize = 48;
    pub const MEMMAP_ENTRY_SIZE: usize = 24;
}

/// Longest command line read when the boot structure gives no size.
pub const CMDLINE_MAX: usize = 4096;

/// The boot information, parsed once at startup and handed to the program's `main`.
#[derive(Debug, Clone)]
pub struct BootInfo {
    /// How the program was entered.
    pub protocol: BootProtocol,
    /// Physical address of `boot_params` / `hvm_start_info` (RSI / EBX at entry).
    pub info_addr: u64,
    /// CR0/CR4/EFER/RFLAGS at entry.
    pub entry: EntryState,
    /// The e820 map.
    pub memory_map: MemoryMap,
    /// The RSDP's physical address as the boot structure gives it (0 if none).
    pub rsdp_addr: u64,
    /// Physical address of the command line (0 if none).
    pub cmdline_addr: u64,
    cmdline: &'static str,
    /// Problems met while parsing (e.g. a command line that is not UTF-8).
    pub problems: Problems,
}

/// Anomalies found in the boot structures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Problems {
    /// The boot structure's address was null or outside the identity map.
    pub info_unreadable: bool,
    /// PVH start info without the right magic.
    pub bad_pvh_magic: bool,
    /// The command line pointer was outside the identity map.
    pub cmdline_unreadable: bool,
    /// The command line was not valid UTF-8 (it is treated as empty).
    pub cmdline_not_utf8: bool,
    /// The command line had no NUL within its size limit.
    pub cmdline_unterminated: bool,
    /// The memory map pointer was outside the identity map.
    pub memmap_unreadable: bool,
}

static CMDLINE: Global<&'static str> = Global::new("");

/// The command line as parsed at startup (empty before that).
pub fn cmdline_str() -> &'static str {
    CMDLINE.with(|c| *c)
}

impl BootInfo {
    /// Parses what `entry.s` recorded. Called once by the runtime before `main`.
    pub(crate) fn from_entry() -> Self {
        let raw = cpu::raw_entry();
        let entry = EntryState {
            cr0: raw.cr0,
            cr4: raw.cr4,
            efer: raw.efer,
            rflags: raw.rflags,
        };
        let protocol = match raw.protocol {
            1 => BootProtocol::Linux64,
            2 => BootProtocol::Pvh,
            other => BootProtocol::Unknown(other),
        };
        let mut info = Self {
            protocol,
            info_addr: raw.info,
            entry,
            memory_map: MemoryMap::empty(),
            rsdp_addr: 0,
            cmdline_addr: 0,
            cmdline: "",
            problems: Problems::default(),
        };
        match protocol {
            BootProtocol::Linux64 => match phys::bytes(raw.info, zero_page::SIZE) {
                Some(zp) => info.parse_zero_page(zp),
                None => info.problems.info_unreadable = true,
            },
            BootProtocol::Pvh => match phys::bytes(raw.info, pvh::SIZE) {
                Some(si) => info.parse_pvh(si),
                None => info.problems.info_unreadable = true,
            },
            BootProtocol::Unknown(_) => info.problems.info_unreadable = true,
        }
        let cmdline = info.cmdline;
        CMDLINE.with(|c| *c = cmdline);
        info
    }

    fn parse_zero_page(&mut self, zp: &[u8]) {
        self.rsdp_addr = read_u64(zp, zero_page::ACPI_RSDP_ADDR).unwrap_or(0);
        let (map, claimed) = parse_e820_table(zp);
        self.memory_map = map;
        self.memory_map.claimed = claimed;
        let low = u64::from(read_u32(zp, zero_page::CMD_LINE_PTR).unwrap_or(0));
        let high = u64::from(read_u32(zp, zero_page::EXT_CMD_LINE_PTR).unwrap_or(0));
        let version = phys::read_u16(zp, zero_page::HDR_VERSION).unwrap_or(0);
        // cmdline_size exists from boot protocol 2.06; it excludes the terminating NUL.
        let limit = match read_u32(zp, zero_page::CMDLINE_SIZE) {
            Some(size) if version >= 0x0206 && size > 0 => {
                usize::try_from(size)
                    .unwrap_or(CMDLINE_MAX)
                    .min(CMDLINE_MAX - 1)
                    + 1
            }
            _ => CMDLINE_MAX,
        };
        self.read_cmdline(low | (high << 32), limit);
    }

    fn parse_pvh(&mut self, si: &[u8]) {
        if read_u32(si, 0) != Some(pvh::MAGIC) {
            self.problems.bad_pvh_magic = true;
            return;
        }
        self.rsdp_addr = read_u64(si, pvh::RSDP_PADDR).unwrap_or(0);
        self.read_cmdline(read_u64(si, pvh::CMDLINE_PADDR).unwrap_or(0), CMDLINE_MAX);
        // The memory map exists from version 1.
        if read_u32(si, pvh::VERSION).unwrap_or(0) >= 1 {
            let addr = read_u64(si, pvh::MEMMAP_PADDR).unwrap_or(0);
            let claimed =
                usize::try_from(read_u32(si, pvh::MEMMAP_ENTRIES).unwrap_or(0)).unwrap_or(0);
            let count = claimed.min(E820_MAX);
            match phys::bytes(addr, count * pvh::MEMMAP_ENTRY_SIZE) {
                Some(table) => {
                    self.memory_map = parse_entries(table, count, pvh::MEMMAP_ENTRY_SIZE);
                    self.memory_map.claimed = claimed;
                }
                None if count > 0 => self.problems.memmap_unreadable = true,
                None => {}
            }
        }
    }

    fn read_cmdline(&mut self, addr: u64, limit: usize) {
        self.cmdline_addr = addr;
        if addr == 0 {
            return;
        }
        // Shrink the window until it fits below the end of the identity map.
        let window = phys::IDENTITY_MAP_END
            .saturating_sub(addr)
            .min(limit as u64) as usize;
        let Some(bytes) = phys::bytes(addr, window) else {
            self.problems.cmdline_unreadable = true;
            return;
        };
        let (text, terminated) = match bytes.iter().position(|&b| b == 0) {
            Some(nul) => (&bytes[..nul], true),
            None => (bytes, false),
        };
        self.problems.cmdline_unterminated = !terminated;
        match core::str::from_utf8(text) {
            Ok(s) => self.cmdline = s,
            Err(_) => self.problems.cmdline_not_utf8 = true,
        }
    }

    /// The command line ("" if there is none or it is unreadable).
    pub fn cmdline(&self) -> &'static str {
        self.cmdline
    }
}

/// Parses `boot_params.e820_entries` and `e820_table`; returns the map and the claimed count.
pub fn parse_e820_table(zero_page: &[u8]) -> (MemoryMap, usize) {
    let claimed = usize::from(read_u8(zero_page, zero_page::E820_ENTRIES).unwrap_or(0));
    let count = claimed.min(E820_MAX);
    let table = zero_page.get(zero_page::E820_TABLE..).unwrap_or(&[]);
    (
        parse_entries(table, count, zero_page::E820_ENTRY_SIZE),
        claimed,
    )
}

/// Parses `count` entries of `stride` bytes (addr u64, size u64, type u32, ...).
fn parse_entries(table: &[u8], count: usize, stride: usize) -> MemoryMap {
    let mut map = MemoryMap::empty();
    for index in 0..count {
        let base = index * stride;
        let (Some(addr), Some(size), Some(kind)) = (
            read_u64(table, base),
            read_u64(table, base + 8),
            read_u32(table, base + 16),
        ) else {
            break;
        };
        map.push(E820Entry {
            addr,
            size,
            kind: E820Kind::from_raw(kind),
        });
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zero_page_with(entries: &[(u64, u64, u32)]) -> [u8; 4096] {
        let mut zp = [0u8; 4096];
        zp[zero_page::E820_ENTRIES] = entries.len() as u8;
        for (i, (addr, size, kind)) in entries.iter().enumerate() {
            let base = zero_page::E820_TABLE + i * zero_page::E820_ENTRY_SIZE;
            zp[base..base + 8].copy_from_slice(&addr.to_le_bytes());
            zp[base + 8..base + 16].copy_from_slice(&size.to_le_bytes());
            zp[base + 16..base + 20].copy_from_slice(&kind.to_le_bytes());
        }
        zp
    }

    #[test]
    fn e820_table_is_parsed_in_order() {
        let zp = zero_page_with(&[
            (0, 0x9fc00, 1),
            (0xf0000, 0x10000, 2),
            (0x100000, 0x7f00000, 1),
        ]);
        let (map, claimed) = parse_e820_table(&zp);
        assert_eq!(claimed, 3);
        assert_eq!(map.entries().len(), 3);
        assert_eq!(
            map.entries()[1],
            E820Entry {
                addr: 0xf0000,
                size: 0x10000,
                kind: E820Kind::Reserved
            }
        );
        assert_eq!(map.usable_bytes(), 0x9fc00 + 0x7f00000);
        assert!(map.is_disjoint());
        assert!(map.covers(0x200000, 0x1000, E820Kind::Ram));
        assert!(!map.covers(0xa0000, 0x1000, E820Kind::Ram));
    }

    #[test]
    fn e820_count_beyond_table_is_clamped() {
        let mut zp = zero_page_with(&[(0, 0x1000, 1)]);
        zp[zero_page::E820_ENTRIES] = 255;
        let (map, claimed) = parse_e820_table(&zp);
        assert_eq!(claimed, 255);
        assert_eq!(map.entries().len(), E820_MAX);
    }

    #[test]
    fn unsorted_disjoint_entries_with_empty_ones_are_accepted() {
        let zp = zero_page_with(&[(0x100000, 0x1000, 1), (0, 0x1000, 1), (0, 0, 0)]);
        assert!(parse_e820_table(&zp).0.is_disjoint());
    }

    #[test]
    fn overlapping_entries_are_detected() {
        let zp = zero_page_with(&[(0, 0x2000, 1), (0x1000, 0x1000, 2)]);
        assert!(!parse_e820_table(&zp).0.is_disjoint());
    }
}
