//! ACPI table discovery: RSDP → XSDT → tables, with checksum validation (ACPI 6.5 §5.2).
//!
//! Parsing works on byte slices ([`Rsdp::parse`], [`SdtHeader::parse`], [`MadtSummary::parse`])
//! so it is testable on the host; [`Acpi::new`] ties it to guest-physical memory.

use core::fmt;

use crate::phys::{self, read_u8, read_u32, read_u64};

/// Why an ACPI structure was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcpiError {
    /// No RSDP address was provided, or none was found by scanning.
    NoRsdp,
    /// The address (and length) is null or outside the identity map.
    Unreadable(u64),
    /// The signature is not the expected one.
    BadSignature([u8; 8]),
    /// The checksum does not sum to zero.
    BadChecksum,
    /// A length field is smaller than the structure's header or implausibly large.
    BadLength(u32),
    /// The RSDP is ACPI 1.0 (revision 0): it has no XSDT.
    NoXsdt,
    /// The table is not listed.
    NotFound([u8; 4]),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRsdp => f.write_str("no RSDP"),
            Self::Unreadable(addr) => write!(f, "unreadable address {addr:#x}"),
            Self::BadSignature(sig) => write!(f, "bad signature {}", Ascii(sig)),
            Self::BadChecksum => f.write_str("bad checksum"),
            Self::BadLength(len) => write!(f, "bad length {len}"),
            Self::NoXsdt => f.write_str("ACPI 1.0 RSDP without XSDT"),
            Self::NotFound(sig) => write!(f, "{} not found", Ascii(sig)),
        }
    }
}

/// Displays a signature, with `?` for non-printable bytes.
#[derive(Debug, Clone, Copy)]
pub struct Ascii<'a>(pub &'a [u8]);

impl fmt::Display for Ascii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in self.0 {
            let c = if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            };
            fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

/// Whether the bytes sum to zero modulo 256.
pub fn checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |sum, &b| sum.wrapping_add(b)) == 0
}

/// "RSD PTR ".
pub const RSDP_SIGNATURE: [u8; 8] = *b"RSD PTR ";
const RSDP_V1_LEN: usize = 20;
const RSDP_V2_LEN: usize = 36;
/// Largest table accepted (guards against garbage lengths).
pub const MAX_TABLE_LEN: u32 = 1 << 20;

/// The Root System Description Pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rsdp {
    /// 0 for ACPI 1.0, 2 for ACPI 2.0+.
    pub revision: u8,
    /// OEM id.
    pub oem_id: [u8; 6],
    /// RSDT address (32-bit).
    pub rsdt_addr: u32,
    /// XSDT address (revision ≥ 2).
    pub xsdt_addr: u64,
    /// Length of the structure (revision ≥ 2).
    pub length: u32,
}

impl Rsdp {
    /// Validates signature, the ACPI 1.0 checksum (first 20 bytes) and, for revision ≥ 2, the
    /// extended checksum over `length` bytes. `bytes` must hold at least 36 bytes when the
    /// revision is ≥ 2.
    pub fn parse(bytes: &[u8]) -> Result<Self, AcpiError> {
        let head = bytes
            .get(..RSDP_V1_LEN)
            .ok_or(AcpiError::BadLength(bytes.len() as u32))?;
        let mut sig = [0u8; 8];
        sig.copy_from_slice(&head[..8]);
        if sig != RSDP_SIGNATURE {
            return Err(AcpiError::BadSignature(sig));
        }
        // "This is the checksum of the fields defined in the ACPI 1.0 specification."
        if !checksum_ok(head) {
            return Err(AcpiError::BadChecksum);
        }
        let mut oem_id = [0u8; 6];
        oem_id.copy_from_slice(&head[9..15]);
        let revision = head[15];
        let rsdt_addr = read_u32(head, 16).unwrap_or(0);
        if revision < 2 {
            return Ok(Self {
                revision,
                oem_id,
                rsdt_addr,
                xsdt_addr: 0,
                length: RSDP_V1_LEN as u32,
            });
        }
        let length = read_u32(bytes, 20).ok_or(AcpiError::BadLength(0))?;
        if (length as usize) < RSDP_V2_LEN {
            return Err(AcpiError::BadLength(length));
        }
        let full = bytes
            .get(..length as usize)
            .ok_or(AcpiError::BadLength(length))?;
        // "This is a checksum of the entire table, including both checksum fields."
        if !checksum_ok(full) {
            return Err(AcpiError::BadChecksum);
        }
        let xsdt_addr = read_u64(full, 24).unwrap_or(0);
        Ok(Self {
            revision,
            oem_id,
            rsdt_addr,
            xsdt_addr,
            length,
        })
    }
}

/// Length of the common System Description Table header.
pub const SDT_HEADER_LEN: usize = 36;

/// The header every table after the RSDP starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdtHeader {
    /// Table signature, e.g. `*b"APIC"`.
    pub signature: [u8; 4],
    /// Length of the whole table in bytes, header included.
    pub length: u32,
    /// Table revision.
    pub revision: u8,
    /// OEM id.
    pub oem_id: [u8; 6],
    /// OEM table id.
    pub oem_table_id: [u8; 8],
}

impl SdtHeader {
    /// Parses the header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, AcpiError> {
        let head = bytes
            .get(..SDT_HEADER_LEN)
            .ok_or(AcpiError::BadLength(bytes.len() as u32))?;
        let mut signature = [0u8; 4];
        signature.copy_from_slice(&head[..4]);
        let length = read_u32(head, 4).unwrap_or(0);
        let mut oem_id = [0u8; 6];
        oem_id.copy_from_slice(&head[10..16]);
        let mut oem_table_id = [0u8; 8];
        oem_table_id.copy_from_slice(&head[16..24]);
        Ok(Self {
            signature,
            length,
            revision: head[8],
            oem_id,
            oem_table_id,
        })
    }
}

/// A validated table in guest memory.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    /// Physical address.
    pub addr: u64,
    /// Parsed header.
    pub header: SdtHeader,
    /// The whole table (`header.length` bytes).
    pub bytes: &'static [u8],
}

impl Table {
    /// Reads the table at `addr`, checking that its length is sane, that it is readable and that
    /// its checksum is right. `expected` (if any) must match its signature.
    pub fn at(addr: u64, expected: Option<[u8; 4]>) -> Result<Self, AcpiError> {
        let head = phys::bytes(addr, SDT_HEADER_LEN).ok_or(AcpiError::Unreadable(addr))?;
        let header = SdtHeader::parse(head)?;
        if let Some(sig) = expected
            && header.signature != sig
        {
            let mut got = [b' '; 8];
            got[..4].copy_from_slice(&header.signature);
            return Err(AcpiError::BadSignature(got));
        }
        if (header.length as usize) < SDT_HEADER_LEN || header.length > MAX_TABLE_LEN {
            return Err(AcpiError::BadLength(header.length));
        }
        let bytes = phys::bytes(addr, header.length as usize).ok_or(AcpiError::Unreadable(addr))?;
        if !checksum_ok(bytes) {
            return Err(AcpiError::BadChecksum);
        }
        Ok(Self {
            addr,
            header,
            bytes,
        })
    }

    /// The bytes after the header.
    pub fn body(&self) -> &'static [u8] {
        self.bytes.get(SDT_HEADER_LEN..).unwrap_or(&[])
    }
}

/// The ACPI tables reachable from the RSDP.
#[derive(Debug, Clone, Copy)]
pub struct Acpi {
    /// Where the RSDP is.
    pub rsdp_addr: u64,
    /// The RSDP.
    pub rsdp: Rsdp,
    /// The XSDT.
    pub xsdt: Table,
}

/// FADT signature.
pub const FADT: [u8; 4] = *b"FACP";
/// MADT signature.
pub const MADT: [u8; 4] = *b"APIC";
/// DSDT signature.
pub const DSDT: [u8; 4] = *b"DSDT";
/// XSDT signature.
pub const XSDT: [u8; 4] = *b"XSDT";

/// FADT field offsets (ACPI 6.5 Table 5.9).
mod fadt {
    pub const DSDT: usize = 40;
    pub const FLAGS: usize = 112;
    pub const X_DSDT: usize = 140;
    /// "HW_REDUCED_ACPI": bit 20 of the fixed feature flags.
    pub const HW_REDUCED_ACPI: u32 = 1 << 20;
}

impl Acpi {
    /// Finds and validates the RSDP at `rsdp_addr` (or, if 0, by scanning the BIOS areas) and the
    /// XSDT it points to.
    pub fn new(rsdp_addr: u64) -> Result<Self, AcpiError> {
        let rsdp_addr = if rsdp_addr == 0 {
            scan_for_rsdp().ok_or(AcpiError::NoRsdp)?
        } else {
            rsdp_addr
        };
        let head = phys::bytes(rsdp_addr, RSDP_V2_LEN).ok_or(AcpiError::Unreadable(rsdp_addr))?;
        let rsdp = Rsdp::parse(head)?;
        if rsdp.revision < 2 || rsdp.xsdt_addr == 0 {
            return Err(AcpiError::NoXsdt);
        }
        let xsdt = Table::at(rsdp.xsdt_addr, Some(XSDT))?;
        Ok(Self {
            rsdp_addr,
            rsdp,
            xsdt,
        })
    }

    /// The table addresses listed in the XSDT.
    pub fn entries(&self) -> impl Iterator<Item = u64> + '_ {
        self.xsdt
            .body()
            .chunks_exact(8)
            .map(|c| read_u64(c, 0).unwrap_or(0))
    }

    /// The first listed table with `signature`, validated.
    pub fn find(&self, signature: [u8; 4]) -> Result<Table, AcpiError> {
        for addr in self.entries() {
            let Some(head) = phys::bytes(addr, SDT_HEADER_LEN) else {
                continue;
            };
            if head[..4] == signature {
                return Table::at(addr, Some(signature));
            }
        }
        Err(AcpiError::NotFound(signature))
    }

    /// The DSDT, through the FADT's X_DSDT (or DSDT when X_DSDT is 0).
    pub fn dsdt(&self) -> Result<Table, AcpiError> {
        let fadt = self.find(FADT)?;
        let x_dsdt = read_u64(fadt.bytes, fadt::X_DSDT).unwrap_or(0);
        let addr = if x_dsdt != 0 {
            x_dsdt
        } else {
            u64::from(read_u32(fadt.bytes, fadt::DSDT).unwrap_or(0))
        };
        Table::at(addr, Some(DSDT))
    }
}

/// Whether a FADT declares a hardware-reduced ACPI platform.
pub fn fadt_is_hw_reduced(fadt: &Table) -> bool {
    read_u32(fadt.bytes, fadt::FLAGS).unwrap_or(0) & fadt::HW_REDUCED_ACPI != 0
}

/// Scans the first KiB of the EBDA and 0xE0000..0x100000 for the RSDP on 16-byte boundaries
/// (ACPI 6.5 §5.2.5.1), for boot structures that give no address.
pub fn scan_for_rsdp() -> Option<u64> {
    let ebda = phys::bytes(0x40e, 2)
        .and_then(|b| phys::read_u16(b, 0))
        .map(|seg| u64::from(seg) << 4);
    let areas = [
        ebda.map(|base| (base, 1024)),
        Some((0xe0000u64, 0x20000usize)),
    ];
    areas.into_iter().flatten().find_map(|(base, len)| {
        let area = phys::bytes(base, len)?;
        (0..len.saturating_sub(RSDP_V2_LEN))
            .step_by(16)
            .find(|&off| Rsdp::parse(&area[off..]).is_ok())
            .map(|off| base + off as u64)
    })
}

/// What the MADT says about interrupt controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MadtSummary {
    /// Local APIC address from the MADT header.
    pub lapic_addr: u32,
    /// Processor Local APIC entries (type 0) with Enabled or Online Capable set.
    pub lapics: u32,
    /// Processor Local x2APIC entries (type 9) with Enabled or Online Capable set.
    pub x2apics: u32,
    /// I/O APIC entries (type 1).
    pub ioapics: u32,
    /// The address of the first I/O APIC.
    pub first_ioapic_addr: u32,
    /// Interrupt Source Override entries (type 2).
    pub overrides: u32,
    /// Entries whose length was < 2 or ran past the table (parsing stopped there).
    pub malformed: bool,
    /// APIC IDs of the enabled processors, in table order (the first [`MADT_MAX_IDS`]).
    pub apic_ids: [u32; MADT_MAX_IDS],
}

/// How many processor APIC IDs [`MadtSummary`] keeps.
pub const MADT_MAX_IDS: usize = 64;

impl MadtSummary {
    /// Parses a whole MADT (header included).
    pub fn parse(madt: &[u8]) -> Self {
        const ENABLED_OR_ONLINE_CAPABLE: u32 = 0b11;
        let mut summary = Self {
            lapic_addr: read_u32(madt, SDT_HEADER_LEN).unwrap_or(0),
            lapics: 0,
            x2apics: 0,
            ioapics: 0,
            first_ioapic_addr: 0,
            overrides: 0,
            malformed: false,
            apic_ids: [0; MADT_MAX_IDS],
        };
        // Interrupt controller structures start after the 4-byte LAPIC address and 4-byte flags.
        let mut offset = SDT_HEADER_LEN + 8;
        while offset < madt.len() {
            let (Some(kind), Some(len)) = (read_u8(madt, offset), read_u8(madt, offset + 1)) else {
                summary.malformed = true;
                break;
            };
            let len = usize::from(len);
            let Some(entry) = madt.get(offset..offset + len).filter(|_| len >= 2) else {
                summary.malformed = true;
                break;
            };
            match kind {
                0 if read_u32(entry, 4).unwrap_or(0) & ENABLED_OR_ONLINE_CAPABLE != 0 => {
                    summary.push_id(u32::from(read_u8(entry, 3).unwrap_or(0)));
                    summary.lapics += 1;
                }
                1 => {
                    if summary.ioapics == 0 {
                        summary.first_ioapic_addr = read_u32(entry, 4).unwrap_or(0);
                    }
                    summary.ioapics += 1;
                }
                2 => summary.overrides += 1,
                9 if read_u32(entry, 8).unwrap_or(0) & ENABLED_OR_ONLINE_CAPABLE != 0 => {
                    summary.push_id(read_u32(entry, 4).unwrap_or(0));
                    summary.x2apics += 1;
                }
                _ => {}
            }
            offset += len;
        }
        summary
    }

    fn push_id(&mut self, id: u32) {
        let index = self.cpus() as usize;
        if let Some(slot) = self.apic_ids.get_mut(index) {
            *slot = id;
        }
    }

    /// The APIC IDs of the enabled processors (at most [`MADT_MAX_IDS`]).
    pub fn ids(&self) -> &[u32] {
        &self.apic_ids[..(self.cpus() as usize).min(MADT_MAX_IDS)]
    }

    /// Processors the MADT describes (LAPIC + x2APIC entries).
    pub fn cpus(&self) -> u32 {
        self.lapics + self.x2apics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fix_checksum(bytes: &mut [u8], at: usize) {
        bytes[at] = 0;
        let sum = bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b));
        bytes[at] = 0u8.wrapping_sub(sum);
    }

    fn rsdp_v2(xsdt: u64) -> [u8; 36] {
        let mut r = [0u8; 36];
        r[..8].copy_from_slice(b"RSD PTR ");
        r[9..15].copy_from_slice(b"GTESTS");
        r[15] = 2;
        r[20..24].copy_from_slice(&36u32.to_le_bytes());
        r[24..32].copy_from_slice(&xsdt.to_le_bytes());
        fix_checksum(&mut r[..20], 8);
        fix_checksum(&mut r, 32);
        r
    }

    #[test]
    fn valid_rsdp_v2_parses() {
        let rsdp = Rsdp::parse(&rsdp_v2(0x1234_5000)).unwrap();
        assert_eq!(rsdp.revision, 2);
        assert_eq!(rsdp.xsdt_addr, 0x1234_5000);
        assert_eq!(&rsdp.oem_id, b"GTESTS");
    }

    #[test]
    fn rsdp_with_bad_extended_checksum_is_rejected() {
        let mut r = rsdp_v2(0x1000);
        r[32] = r[32].wrapping_add(1);
        assert_eq!(Rsdp::parse(&r), Err(AcpiError::BadChecksum));
    }

    #[test]
    fn rsdp_with_bad_signature_is_rejected() {
        let mut r = rsdp_v2(0x1000);
        r[0] = b'X';
        assert!(matches!(Rsdp::parse(&r), Err(AcpiError::BadSignature(_))));
    }

    fn madt(entries: &[&[u8]]) -> Vec<u8> {
        let mut t = vec![0u8; SDT_HEADER_LEN + 8];
        t[..4].copy_from_slice(b"APIC");
        t[36..40].copy_from_slice(&0xfee0_0000u32.to_le_bytes());
        for e in entries {
            t.extend_from_slice(e);
        }
        let len = t.len() as u32;
        t[4..8].copy_from_slice(&len.to_le_bytes());
        t
    }

    #[test]
    fn madt_counts_enabled_lapics_and_ioapics() {
        let t = madt(&[
            &[0, 8, 0, 0, 1, 0, 0, 0],
            &[0, 8, 1, 1, 1, 0, 0, 0],
            &[0, 8, 2, 2, 0, 0, 0, 0],
            &[1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0],
            &[2, 10, 0, 0, 2, 0, 0, 0, 0, 0],
        ]);
        let s = MadtSummary::parse(&t);
        assert_eq!(s.lapics, 2);
        assert_eq!(s.cpus(), 2);
        assert_eq!(s.ids(), &[0, 1]);
        assert_eq!(s.ioapics, 1);
        assert_eq!(s.first_ioapic_addr, 0xfec0_0000);
        assert_eq!(s.overrides, 1);
        assert_eq!(s.lapic_addr, 0xfee0_0000);
        assert!(!s.malformed);
    }

    #[test]
    fn madt_entry_with_zero_length_stops_parsing() {
        let t = madt(&[&[0, 8, 0, 0, 1, 0, 0, 0], &[0, 0, 0, 0]]);
        let s = MadtSummary::parse(&t);
        assert_eq!(s.lapics, 1);
        assert!(s.malformed);
    }

    #[test]
    fn madt_entry_running_past_the_end_is_malformed() {
        let t = madt(&[&[0, 200, 0, 0, 1, 0, 0, 0]]);
        assert!(MadtSummary::parse(&t).malformed);
    }
}
