//! The MADT (ACPI 6.5 §5.2.12): one local APIC per vCPU, the IOAPIC, the ISA interrupt source
//! override for the timer, and the LINT1 NMI.
//!
//! acpi_tables builds the local APIC and IOAPIC structures; it has no interrupt source override
//! or local APIC NMI structure and its MADT header cannot set PCAT_COMPAT, so the table is
//! assembled with its generic `Sdt` builder and those two structures are encoded here.

use acpi_tables::madt::{EnabledStatus, IoApic, ProcessorLocalApic};
use acpi_tables::sdt::Sdt;

use super::{OEM_ID, OEM_REVISION, OEM_TABLE_ID, to_bytes};
use crate::layout;

/// MADT revision (ACPI 6.3+).
const MADT_REVISION: u8 = 5;
/// Header (36) + Local Interrupt Controller Address (4) + Flags (4).
const MADT_FIXED_LEN: u32 = 44;
/// "PCAT_COMPAT: A one indicates that the system also has a PC-AT-compatible dual-8259 setup.
/// The 8259 vectors must be disabled (that is, masked) when enabling the ACPI APIC operation."
/// KVM's in-kernel irqchip does emulate the 8259 pair.
const PCAT_COMPAT: u32 = 1;
/// The IOAPIC's ID (KVM's in-kernel IOAPIC resets its ID register to 0).
pub const IOAPIC_ID: u8 = 0;

/// ISA IRQ → GSI overrides: the PIT's IRQ 0 is wired to IOAPIC pin 2, as on a PC (and as
/// [`crate::vm`] programs KVM's GSI routing). Flags 0 = conforming polarity and trigger.
pub const INTERRUPT_SOURCE_OVERRIDES: [(u8, u32, u16); 1] = [(0, 2, 0)];

/// Interrupt Source Override structure (type 2, length 10).
fn interrupt_source_override(source: u8, gsi: u32, flags: u16) -> [u8; 10] {
    let mut s = [0u8; 10];
    s[0] = 2; // type
    s[1] = 10; // length
    s[2] = 0; // bus: ISA
    s[3] = source;
    s[4..8].copy_from_slice(&gsi.to_le_bytes());
    s[8..10].copy_from_slice(&flags.to_le_bytes());
    s
}

/// Local APIC NMI structure (type 4, length 6): "ACPI Processor UID ... 0xFF means all
/// processors"; LINT1 is the NMI input, as on a PC.
fn local_apic_nmi_all_lint1() -> [u8; 6] {
    [4, 6, 0xff, 0, 0, 1]
}

/// The MADT bytes for `cpus` vCPUs with APIC IDs 0..cpus.
pub fn build(cpus: u8) -> Vec<u8> {
    let mut madt = Sdt::new(
        *b"APIC",
        MADT_FIXED_LEN,
        MADT_REVISION,
        OEM_ID,
        OEM_TABLE_ID,
        OEM_REVISION,
    );
    madt.write_u32(36, layout::LAPIC_START as u32);
    madt.write_u32(40, PCAT_COMPAT);
    for id in 0..cpus {
        madt.append_slice(&to_bytes(&ProcessorLocalApic::new(
            id,
            id,
            EnabledStatus::Enabled,
        )));
    }
    madt.append_slice(&to_bytes(&IoApic::new(
        IOAPIC_ID,
        layout::IOAPIC_START as u32,
        0,
    )));
    for (source, gsi, flags) in INTERRUPT_SOURCE_OVERRIDES {
        madt.append_slice(&interrupt_source_override(source, gsi, flags));
    }
    madt.append_slice(&local_apic_nmi_all_lint1());
    madt.as_slice().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (type, bytes) of each structure after the fixed part.
    fn structures(madt: &[u8]) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        let mut off = MADT_FIXED_LEN as usize;
        while off < madt.len() {
            let len = madt[off + 1] as usize;
            out.push((madt[off], madt[off..off + len].to_vec()));
            off += len;
        }
        out
    }

    #[test]
    fn one_enabled_local_apic_per_vcpu_with_matching_ids() {
        let madt = build(3);
        let lapics: Vec<Vec<u8>> = structures(&madt)
            .into_iter()
            .filter(|(t, _)| *t == 0)
            .map(|(_, s)| s)
            .collect();
        assert_eq!(lapics.len(), 3);
        for (i, s) in lapics.iter().enumerate() {
            assert_eq!((s[2], s[3]), (i as u8, i as u8)); // UID, APIC ID
            assert_eq!(u32::from_le_bytes(s[4..8].try_into().unwrap()), 1);
        }
    }

    #[test]
    fn header_has_the_lapic_address_and_pcat_compat() {
        let madt = build(1);
        assert_eq!(
            u32::from_le_bytes(madt[36..40].try_into().unwrap()),
            0xfee0_0000
        );
        assert_eq!(u32::from_le_bytes(madt[40..44].try_into().unwrap()), 1);
    }

    #[test]
    fn ioapic_override_and_nmi_are_present() {
        let madt = build(1);
        let s = structures(&madt);
        let ioapic = &s.iter().find(|(t, _)| *t == 1).unwrap().1;
        let iso = &s.iter().find(|(t, _)| *t == 2).unwrap().1;
        let nmi = &s.iter().find(|(t, _)| *t == 4).unwrap().1;
        assert_eq!(
            u32::from_le_bytes(ioapic[4..8].try_into().unwrap()),
            0xfec0_0000
        );
        assert_eq!(u32::from_le_bytes(ioapic[8..12].try_into().unwrap()), 0);
        assert_eq!(
            (iso[3], u32::from_le_bytes(iso[4..8].try_into().unwrap())),
            (0, 2)
        );
        assert_eq!((nmi[2], nmi[5]), (0xff, 1));
    }
}
