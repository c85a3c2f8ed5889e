//! ACPI hardware-reduced power management registers: the sleep control, sleep status and reset
//! registers the FADT points at (ACPI 6.5 §4.8.3.7 "Sleep Control and Status Registers",
//! §4.8.3.6 "Reset Register").
//!
//! Three consecutive 8-bit I/O ports:
//!
//! | port            | register        | behaviour                                                  |
//! |-----------------|-----------------|------------------------------------------------------------|
//! | `base + 0`      | SLEEP_CONTROL   | SLP_EN with SLP_TYP = 5 (the `\_S5_` value) powers off     |
//! | `base + 1`      | SLEEP_STATUS    | reads 0 (WAK_STS never set: nothing wakes a powered-off VM)|
//! | `base + 2`      | RESET_REG       | writing [`RESET_VALUE`] resets (ends) the VM               |

use std::sync::Arc;

use crate::bus::BusDevice;
use crate::legacy::{StopRequest, StopRequester};

/// First I/O port of the registers.
pub const ACPI_PM_BASE: u16 = 0x3c0;
/// Number of ports claimed.
pub const ACPI_PM_LEN: u64 = 3;
/// Offset of the sleep control register.
pub const SLEEP_CONTROL_OFFSET: u64 = 0;
/// Offset of the sleep status register.
pub const SLEEP_STATUS_OFFSET: u64 = 1;
/// Offset of the reset register.
pub const RESET_OFFSET: u64 = 2;
/// The value the FADT tells OSPM to write to the reset register.
pub const RESET_VALUE: u8 = 0x01;
/// The SLP_TYP value of the S5 (soft-off) state: the first element of the DSDT's `\_S5_`.
pub const S5_SLEEP_TYPE: u8 = 5;

/// "SLP_EN: Setting this bit causes the system to sequence into the sleeping state associated
/// with the SLP_TYPx fields programmed with the values from the \_Sx object." (bit 5)
const SLP_EN: u8 = 1 << 5;
/// "SLP_TYPx: Defines the type of hardware sleep state the system enters when SLP_EN is set."
/// (bits 4:2)
const SLP_TYP_SHIFT: u8 = 2;
const SLP_TYP_MASK: u8 = 0b111;

/// The value a guest writes to the sleep control register to power off: 0x34.
pub const POWEROFF_VALUE: u8 = SLP_EN | (S5_SLEEP_TYPE << SLP_TYP_SHIFT);

/// The sleep control/status and reset registers.
pub struct AcpiPmDevice {
    stop: Arc<dyn StopRequester>,
}

impl std::fmt::Debug for AcpiPmDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcpiPmDevice").finish_non_exhaustive()
    }
}

impl AcpiPmDevice {
    /// Registers that report poweroff and reset to `stop`.
    pub fn new(stop: Arc<dyn StopRequester>) -> Self {
        Self { stop }
    }

    /// What a byte written at `offset` asks for.
    pub fn decode(offset: u64, value: u8) -> Option<StopRequest> {
        match offset {
            SLEEP_CONTROL_OFFSET
                if value & SLP_EN != 0
                    && (value >> SLP_TYP_SHIFT) & SLP_TYP_MASK == S5_SLEEP_TYPE =>
            {
                Some(StopRequest::Poweroff)
            }
            RESET_OFFSET if value == RESET_VALUE => Some(StopRequest::Reset),
            _ => None,
        }
    }
}

impl BusDevice for AcpiPmDevice {
    fn read(&self, _offset: u64, data: &mut [u8]) {
        // SLP_EN is write-only and reads as zero; WAK_STS is never set; the reset register is
        // write-only.
        data.fill(0);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        let [value] = *data else {
            log::debug!(
                "acpi pm: ignored {}-byte write at offset {offset}",
                data.len()
            );
            return;
        };
        match Self::decode(offset, value) {
            Some(request) => self.stop.request_stop(request),
            None => log::debug!("acpi pm: ignored write {value:#x} at offset {offset}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    #[derive(Default)]
    struct Requests(Mutex<Vec<StopRequest>>);
    impl StopRequester for Requests {
        fn request_stop(&self, request: StopRequest) {
            self.0.lock().push(request);
        }
    }

    #[test]
    fn slp_en_with_s5_type_powers_off() {
        let requests = Arc::new(Requests::default());
        let dev = AcpiPmDevice::new(requests.clone());

        dev.write(SLEEP_CONTROL_OFFSET, &[POWEROFF_VALUE]);

        assert_eq!(POWEROFF_VALUE, 0x34);
        assert_eq!(*requests.0.lock(), vec![StopRequest::Poweroff]);
    }

    #[test]
    fn other_sleep_types_or_no_slp_en_do_nothing() {
        let requests = Arc::new(Requests::default());
        let dev = AcpiPmDevice::new(requests.clone());

        dev.write(SLEEP_CONTROL_OFFSET, &[5 << 2]); // S5 without SLP_EN
        dev.write(SLEEP_CONTROL_OFFSET, &[0x20 | (3 << 2)]); // S3
        dev.write(SLEEP_STATUS_OFFSET, &[POWEROFF_VALUE]);
        dev.write(SLEEP_CONTROL_OFFSET, &[POWEROFF_VALUE, 0]);

        assert!(requests.0.lock().is_empty());
    }

    #[test]
    fn reset_value_to_the_reset_register_resets() {
        let requests = Arc::new(Requests::default());
        let dev = AcpiPmDevice::new(requests.clone());

        dev.write(RESET_OFFSET, &[0x02]);
        dev.write(RESET_OFFSET, &[RESET_VALUE]);

        assert_eq!(*requests.0.lock(), vec![StopRequest::Reset]);
    }
}
