//! The exit port: I/O port 0xf4. An OUT of 1, 2 or 4 bytes ends the VM, and the value written
//! (zero-extended, little-endian) becomes the VM's exit value.

use std::sync::Arc;

use crate::bus::BusDevice;
use crate::legacy::{StopRequest, StopRequester};

/// The I/O port of the exit device.
pub const EXIT_PORT: u16 = 0xf4;
/// The bus range the device claims: one 32-bit register.
pub const EXIT_PORT_LEN: u64 = 4;

/// The exit-port device.
pub struct ExitPort {
    stop: Arc<dyn StopRequester>,
}

impl std::fmt::Debug for ExitPort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExitPort").finish_non_exhaustive()
    }
}

impl ExitPort {
    /// An exit port that reports to `stop`.
    pub fn new(stop: Arc<dyn StopRequester>) -> Self {
        Self { stop }
    }

    /// The exit value of an OUT of `data` to the port, if it is one that ends the VM.
    pub fn decode(offset: u64, data: &[u8]) -> Option<u32> {
        if offset != 0 {
            return None;
        }
        match *data {
            [b0] => Some(u32::from(b0)),
            [b0, b1] => Some(u32::from(u16::from_le_bytes([b0, b1]))),
            [b0, b1, b2, b3] => Some(u32::from_le_bytes([b0, b1, b2, b3])),
            _ => None,
        }
    }
}

impl BusDevice for ExitPort {
    fn read(&self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        match Self::decode(offset, data) {
            Some(value) => self.stop.request_stop(StopRequest::ExitPort(value)),
            None => log::debug!(
                "exit port: ignored write of {} bytes at offset {offset}",
                data.len()
            ),
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
    fn out_of_1_2_or_4_bytes_stops_with_the_value() {
        let requests = Arc::new(Requests::default());
        let port = ExitPort::new(requests.clone());

        port.write(0, &[42]);
        port.write(0, &[0x34, 0x12]);
        port.write(0, &[0x78, 0x56, 0x34, 0x12]);

        assert_eq!(
            *requests.0.lock(),
            vec![
                StopRequest::ExitPort(42),
                StopRequest::ExitPort(0x1234),
                StopRequest::ExitPort(0x1234_5678)
            ]
        );
    }

    #[test]
    fn writes_at_other_offsets_or_widths_are_ignored() {
        let requests = Arc::new(Requests::default());
        let port = ExitPort::new(requests.clone());

        port.write(1, &[1]);
        port.write(0, &[1, 2, 3]);
        port.write(0, &[]);

        assert!(requests.0.lock().is_empty());
    }
}
