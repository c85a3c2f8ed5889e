//! The DSDT: `\_S5_` (so OSPM knows the SLP_TYP of soft-off) and one device object per device
//! that has no other discovery mechanism: COM1 and every virtio-mmio slot.

use acpi_tables::Aml;
use acpi_tables::aml::{
    self, Device, EISAName, IO, Interrupt, Memory32Fixed, Name, Package, Path, ResourceTemplate,
    Scope,
};
use acpi_tables::sdt::Sdt;
use devices::legacy::acpi_pm::S5_SLEEP_TYPE;

use super::{OEM_ID, OEM_REVISION, OEM_TABLE_ID};

/// DSDT revision 2: AML integers are 64-bit.
const DSDT_REVISION: u8 = 2;

/// A device described in the DSDT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DsdtDevice {
    /// A 16550-compatible UART (`PNP0501`).
    Serial {
        /// Four-character ACPI name, e.g. "COM1".
        name: &'static str,
        /// `_UID`.
        uid: u32,
        /// First I/O port.
        port: u16,
        /// Number of ports.
        len: u8,
        /// Interrupt (GSI).
        gsi: u32,
    },
    /// A virtio-mmio transport (`LNRO0005`, the ID Linux's virtio_mmio driver matches).
    VirtioMmio {
        /// Slot index; names the device `VRxx` (hex).
        index: u8,
        /// MMIO base.
        base: u32,
        /// MMIO size.
        size: u32,
        /// Interrupt (GSI), edge-triggered, active high.
        gsi: u32,
    },
}

impl DsdtDevice {
    /// COM1 at 0x3f8, GSI 4.
    pub fn com1() -> Self {
        Self::Serial {
            name: "COM1",
            uid: 0,
            port: devices::legacy::serial::COM1_BASE,
            len: devices::legacy::serial::SERIAL_LEN as u8,
            gsi: devices::legacy::serial::COM1_GSI,
        }
    }

    fn to_aml(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        match self {
            Self::Serial {
                name,
                uid,
                port,
                len,
                gsi,
            } => {
                let io = IO::new(*port, *port, 1, *len);
                let irq = Interrupt::new(true, true, false, false, *gsi);
                let crs = ResourceTemplate::new(vec![&io, &irq]);
                let hid = EISAName::new("PNP0501");
                Device::new(
                    Path::new(name),
                    vec![
                        &Name::new("_HID".into(), &hid),
                        &Name::new("_UID".into(), uid),
                        &Name::new("_CRS".into(), &crs),
                    ],
                )
                .to_aml_bytes(&mut bytes);
            }
            Self::VirtioMmio {
                index,
                base,
                size,
                gsi,
            } => {
                let mem = Memory32Fixed::new(true, *base, *size);
                let irq = Interrupt::new(true, true, false, false, *gsi);
                let crs = ResourceTemplate::new(vec![&mem, &irq]);
                let name = format!("VR{index:02X}");
                let uid = u32::from(*index);
                Device::new(
                    Path::new(&name),
                    vec![
                        &Name::new("_HID".into(), &"LNRO0005"),
                        &Name::new("_UID".into(), &uid),
                        &Name::new("_CCA".into(), &aml::ONE),
                        &Name::new("_CRS".into(), &crs),
                    ],
                )
                .to_aml_bytes(&mut bytes);
            }
        }
        bytes
    }
}

/// The DSDT bytes.
pub fn build(devices: &[DsdtDevice]) -> Vec<u8> {
    let mut body = Vec::new();
    // \_S5_: Package { SLP_TYPa, SLP_TYPb }.
    let s5_type = S5_SLEEP_TYPE;
    Name::new("_S5_".into(), &Package::new(vec![&s5_type, &aml::ZERO])).to_aml_bytes(&mut body);

    let device_aml: Vec<Vec<u8>> = devices.iter().map(DsdtDevice::to_aml).collect();
    let raw: Vec<RawAml> = device_aml.iter().map(|b| RawAml(b)).collect();
    let children: Vec<&dyn Aml> = raw.iter().map(|r| r as &dyn Aml).collect();
    Scope::new("\\_SB_".into(), children).to_aml_bytes(&mut body);

    let mut dsdt = Sdt::new(
        *b"DSDT",
        36,
        DSDT_REVISION,
        OEM_ID,
        OEM_TABLE_ID,
        OEM_REVISION,
    );
    dsdt.append_slice(&body);
    dsdt.as_slice().to_vec()
}

/// Already-encoded AML.
struct RawAml<'a>(&'a [u8]);

impl Aml for RawAml<'_> {
    fn to_aml_bytes(&self, sink: &mut dyn acpi_tables::AmlSink) {
        sink.vec(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn dsdt_declares_s5_and_com1_with_its_resources() {
        let dsdt = build(&[DsdtDevice::com1()]);

        assert!(contains(&dsdt, b"_S5_"));
        assert!(contains(&dsdt, b"COM1"));
        // IO descriptor: 0x47, decode16, min 0x3f8, max 0x3f8, align 1, len 8.
        assert!(contains(
            &dsdt,
            &[0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08]
        ));
        // Extended interrupt descriptor for GSI 4: consumer, edge, active high, exclusive.
        assert!(contains(
            &dsdt,
            &[0x89, 0x06, 0x00, 0x03, 0x01, 0x04, 0, 0, 0]
        ));
        // EISAID("PNP0501") = 0x0105d041.
        assert!(contains(&dsdt, &0x0105_d041u32.to_le_bytes()));
    }

    #[test]
    fn virtio_mmio_slots_become_lnro0005_devices() {
        let dsdt = build(&[DsdtDevice::VirtioMmio {
            index: 0x1a,
            base: 0xd000_0000,
            size: 0x1000,
            gsi: 5,
        }]);

        assert!(contains(&dsdt, b"VR1A"));
        assert!(contains(&dsdt, b"LNRO0005\0"));
        // Memory32Fixed: 0x86, len 9, rw, base, size.
        let mut mem = vec![0x86, 0x09, 0x00, 0x01];
        mem.extend_from_slice(&0xd000_0000u32.to_le_bytes());
        mem.extend_from_slice(&0x1000u32.to_le_bytes());
        assert!(contains(&dsdt, &mem));
    }
}
