//! ACPI tables (acpi_tables crate): RSDP → XSDT → FADT (→ DSDT), MADT.
//!
//! All tables live in [`layout::ACPI_START`]..[`layout::ACPI_END`] (reserved in the e820 map);
//! the RSDP is first, at [`layout::ACPI_START`], so it is also found by a scan of the BIOS area.

pub mod dsdt;
pub mod fadt;
pub mod madt;

use acpi_tables::Aml;
use acpi_tables::rsdp::Rsdp;
use acpi_tables::xsdt::XSDT;
use vm_memory::{Bytes, GuestAddress};

pub use dsdt::DsdtDevice;

use crate::layout;
use crate::memory::GuestMemory;

/// OEM ID in every table header.
pub const OEM_ID: [u8; 6] = *b"RVMMIO";
/// OEM table ID in every table header.
pub const OEM_TABLE_ID: [u8; 8] = *b"IOMMUVMM";
/// OEM revision in every table header.
pub const OEM_REVISION: u32 = 1;

/// Why the ACPI tables could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AcpiError {
    /// The tables outgrew their area.
    #[error("the ACPI tables ({size} bytes) do not fit in their {room}-byte area")]
    TooLarge {
        /// Bytes needed.
        size: u64,
        /// Bytes available.
        room: u64,
    },
    /// Writing to guest memory failed.
    #[error("failed to write the ACPI tables to guest memory")]
    Write(#[source] vm_memory::GuestMemoryError),
}

/// What the tables describe.
#[derive(Clone, Debug)]
pub struct AcpiConfig {
    /// Number of vCPUs (APIC IDs 0..cpus).
    pub cpus: u8,
    /// Devices in the DSDT.
    pub devices: Vec<DsdtDevice>,
}

/// The tables, each with the guest address it is built for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcpiTables {
    /// `(address, bytes)` in address order; the RSDP is first.
    pub tables: Vec<(u64, Vec<u8>)>,
}

impl AcpiTables {
    /// Address of the RSDP.
    pub fn rsdp_addr(&self) -> u64 {
        layout::ACPI_START
    }

    /// The table with this signature (the RSDP's is "RSD PTR ").
    pub fn find(&self, signature: &[u8]) -> Option<&(u64, Vec<u8>)> {
        self.tables.iter().find(|(_, t)| t.starts_with(signature))
    }
}

fn to_bytes(table: &dyn Aml) -> Vec<u8> {
    let mut bytes = Vec::new();
    table.to_aml_bytes(&mut bytes);
    bytes
}

/// Lays the tables out from [`layout::ACPI_START`].
pub fn build(config: &AcpiConfig) -> Result<AcpiTables, AcpiError> {
    const ALIGN: u64 = 16;
    let align = |a: u64| (a + ALIGN - 1) & !(ALIGN - 1);
    let rsdp_addr = layout::ACPI_START;
    let mut next = align(rsdp_addr + Rsdp::len() as u64);

    let dsdt_addr = next;
    let dsdt = dsdt::build(&config.devices);
    next = align(next + dsdt.len() as u64);

    let fadt_addr = next;
    let fadt = fadt::build(dsdt_addr);
    next = align(next + fadt.len() as u64);

    let madt_addr = next;
    let madt = madt::build(config.cpus);
    next = align(next + madt.len() as u64);

    let xsdt_addr = next;
    let mut xsdt = XSDT::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION);
    xsdt.add_entry(fadt_addr);
    xsdt.add_entry(madt_addr);
    let xsdt = to_bytes(&xsdt);
    next += xsdt.len() as u64;

    if next > layout::ACPI_END {
        return Err(AcpiError::TooLarge {
            size: next - layout::ACPI_START,
            room: layout::ACPI_END - layout::ACPI_START,
        });
    }
    let rsdp = to_bytes(&Rsdp::new(OEM_ID, xsdt_addr));
    Ok(AcpiTables {
        tables: vec![
            (rsdp_addr, rsdp),
            (dsdt_addr, dsdt),
            (fadt_addr, fadt),
            (madt_addr, madt),
            (xsdt_addr, xsdt),
        ],
    })
}

/// Writes the tables to guest memory; returns the RSDP address.
pub fn write(mem: &GuestMemory, tables: &AcpiTables) -> Result<u64, AcpiError> {
    for (addr, bytes) in &tables.tables {
        mem.write_slice(bytes, GuestAddress(*addr))
            .map_err(AcpiError::Write)?;
    }
    Ok(tables.rsdp_addr())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], off: usize) -> u64 {
        u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
    }
    fn sums_to_zero(b: &[u8]) -> bool {
        b.iter().fold(0u8, |a, x| a.wrapping_add(*x)) == 0
    }

    fn tables(cpus: u8) -> AcpiTables {
        build(&AcpiConfig {
            cpus,
            devices: vec![DsdtDevice::com1()],
        })
        .unwrap()
    }

    #[test]
    fn rsdp_points_at_the_xsdt_which_lists_fadt_and_madt() {
        let t = tables(2);
        let (rsdp_addr, rsdp) = t.find(b"RSD PTR ").unwrap();
        let (xsdt_addr, xsdt) = t.find(b"XSDT").unwrap();
        let (fadt_addr, _) = t.find(b"FACP").unwrap();
        let (madt_addr, _) = t.find(b"APIC").unwrap();

        assert_eq!(*rsdp_addr, layout::ACPI_START);
        assert_eq!(rsdp[15], 2); // revision 2: XSDT present
        assert_eq!(u64_at(rsdp, 24), *xsdt_addr);
        assert_eq!(u32_at(xsdt, 4), 36 + 16);
        assert_eq!(u64_at(xsdt, 36), *fadt_addr);
        assert_eq!(u64_at(xsdt, 44), *madt_addr);
    }

    #[test]
    fn every_table_checksums_to_zero() {
        let t = tables(4);
        let (_, rsdp) = t.find(b"RSD PTR ").unwrap();
        assert!(sums_to_zero(&rsdp[..20]));
        assert!(sums_to_zero(rsdp));
        for sig in [b"XSDT", b"FACP", b"APIC", b"DSDT"] {
            let (_, table) = t.find(sig).unwrap();
            assert_eq!(u32_at(table, 4) as usize, table.len());
            assert!(sums_to_zero(table), "{}", String::from_utf8_lossy(sig));
        }
    }

    #[test]
    fn tables_are_inside_the_acpi_area_and_do_not_overlap() {
        let t = tables(254);
        for pair in t.tables.windows(2) {
            assert!(pair[0].0 + pair[0].1.len() as u64 <= pair[1].0);
        }
        let (last, bytes) = t.tables.last().unwrap();
        assert!(last + bytes.len() as u64 <= layout::ACPI_END);
    }

    #[test]
    fn fadt_points_at_the_dsdt() {
        let t = tables(1);
        let (dsdt_addr, _) = t.find(b"DSDT").unwrap();
        let (_, fadt) = t.find(b"FACP").unwrap();
        assert_eq!(u64_at(fadt, 140), *dsdt_addr); // X_DSDT
    }
}
