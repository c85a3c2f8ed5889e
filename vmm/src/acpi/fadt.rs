//! The FADT: a hardware-reduced ACPI platform whose sleep control/status registers and reset
//! register are the VMM's [`devices::legacy::acpi_pm`] ports.
//!
//! "HW_REDUCED_ACPI: A one indicates that the Hardware-Reduced ACPI is implemented, therefore
//! software-only alternatives are used for supported fixed-features." (ACPI 6.5 Table 5.10)
//! "SLEEP_CONTROL_REG / SLEEP_STATUS_REG: The address of the Sleep register ... for HW-reduced
//! ACPI systems." Linux (ACPICA `acpi_hw_extended_sleep`) writes
//! `((SLP_TYP << 2) & 0x1c) | SLP_EN(0x20)` there to enter S5.

use acpi_tables::fadt::{FADTBuilder, Flags};
use acpi_tables::gas::{AccessSize, AddressSpace, GAS};
use devices::legacy::acpi_pm::{
    ACPI_PM_BASE, RESET_OFFSET, RESET_VALUE, SLEEP_CONTROL_OFFSET, SLEEP_STATUS_OFFSET,
};

use super::{OEM_ID, OEM_REVISION, OEM_TABLE_ID, to_bytes};

/// IA-PC boot architecture flags (ACPI 6.5 Table 5.11): "VGA Not Present" (bit 2), "MSI Not
/// Supported" (bit 3), "CMOS RTC Not Present" (bit 5). No "8042" bit (1): the i8042 here only
/// implements the reset line, and with the bit clear Linux does not probe for a keyboard.
pub const IAPC_BOOT_ARCH: u16 = (1 << 2) | (1 << 3) | (1 << 5);

/// "Hypervisor Vendor Identity": 8 bytes that name the hypervisor.
pub const HYPERVISOR_VENDOR: u64 = u64::from_le_bytes(*b"RustVMM\0");

fn io_register(port: u16) -> GAS {
    GAS::new(
        AddressSpace::SystemIo,
        8,
        0,
        AccessSize::ByteAccess,
        u64::from(port),
    )
}

/// The FADT bytes for a DSDT at `dsdt_addr`.
pub fn build(dsdt_addr: u64) -> Vec<u8> {
    let base = ACPI_PM_BASE;
    let mut fadt = FADTBuilder::new(OEM_ID, OEM_TABLE_ID, OEM_REVISION)
        .dsdt_64(dsdt_addr)
        .flag(Flags::HwReducedAcpi)
        .flag(Flags::ResetRegSup)
        // No fixed-feature power/sleep buttons.
        .flag(Flags::PwrButton)
        .flag(Flags::SlpButton)
        .flag(Flags::Headless);
    fadt.iapc_boot_arch = IAPC_BOOT_ARCH.into();
    fadt.reset_reg = io_register(base + RESET_OFFSET as u16);
    fadt.reset_value = RESET_VALUE;
    fadt.sleep_control_reg = io_register(base + SLEEP_CONTROL_OFFSET as u16);
    fadt.sleep_status_reg = io_register(base + SLEEP_STATUS_OFFSET as u16);
    fadt.hypervisor_vendor_identity = HYPERVISOR_VENDOR.into();
    to_bytes(&fadt.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gas_port(fadt: &[u8], off: usize) -> (u8, u8, u64) {
        let addr = u64::from_le_bytes(fadt[off + 4..off + 12].try_into().unwrap());
        (fadt[off], fadt[off + 1], addr)
    }

    #[test]
    fn fadt_is_hardware_reduced_with_sleep_and_reset_registers() {
        let fadt = build(0xe0100);
        let flags = u32::from_le_bytes(fadt[112..116].try_into().unwrap());

        assert_eq!(fadt.len(), 276);
        assert_ne!(flags & (1 << 20), 0, "HW_REDUCED_ACPI");
        assert_ne!(flags & (1 << 10), 0, "RESET_REG_SUP");
        // (address space 1 = system I/O, 8-bit register, port)
        assert_eq!(gas_port(&fadt, 116), (1, 8, 0x3c2)); // RESET_REG
        assert_eq!(fadt[128], RESET_VALUE);
        assert_eq!(gas_port(&fadt, 244), (1, 8, 0x3c0)); // SLEEP_CONTROL_REG
        assert_eq!(gas_port(&fadt, 256), (1, 8, 0x3c1)); // SLEEP_STATUS_REG
        assert_eq!(u16::from_le_bytes([fadt[109], fadt[110]]), IAPC_BOOT_ARCH);
    }
}
