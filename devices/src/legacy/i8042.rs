//! The i8042 keyboard controller, reduced to what a VMM needs: writing 0xFE (pulse the CPU
//! reset line) to the command port 0x64 resets the machine, which ends the VM. Everything else
//! reads as 0 and is ignored (vm-superio's `I8042Device`).

use std::sync::Arc;

use parking_lot::Mutex;
use vm_superio::{I8042Device, Trigger};

use crate::bus::BusDevice;
use crate::legacy::{StopRequest, StopRequester};

/// First I/O port of the controller (data port); the command/status port is `base + 4`.
pub const I8042_BASE: u16 = 0x60;
/// The bus range the device claims: ports 0x60..=0x64.
pub const I8042_LEN: u64 = 5;

/// Turns vm-superio's reset trigger into a stop request.
struct ResetTrigger(Arc<dyn StopRequester>);

impl Trigger for ResetTrigger {
    type E = std::convert::Infallible;
    fn trigger(&self) -> Result<(), Self::E> {
        self.0.request_stop(StopRequest::Reset);
        Ok(())
    }
}

/// The i8042 device on the port I/O bus.
pub struct I8042 {
    inner: Mutex<I8042Device<ResetTrigger>>,
}

impl std::fmt::Debug for I8042 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I8042").finish_non_exhaustive()
    }
}

impl I8042 {
    /// An i8042 whose reset line reports to `stop`.
    pub fn new(stop: Arc<dyn StopRequester>) -> Self {
        Self {
            inner: Mutex::new(I8042Device::new(ResetTrigger(stop))),
        }
    }
}

impl BusDevice for I8042 {
    fn read(&self, offset: u64, data: &mut [u8]) {
        let value = match (u8::try_from(offset), data.len()) {
            (Ok(offset), 1) => self.inner.lock().read(offset),
            _ => 0,
        };
        data.fill(value);
    }

    fn write(&self, offset: u64, data: &[u8]) {
        if let (Ok(offset), [value]) = (u8::try_from(offset), data) {
            // The trigger is infallible.
            let _ = self.inner.lock().write(offset, *value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Requests(Mutex<Vec<StopRequest>>);
    impl StopRequester for Requests {
        fn request_stop(&self, request: StopRequest) {
            self.0.lock().push(request);
        }
    }

    #[test]
    fn fe_to_the_command_port_requests_a_reset() {
        let requests = Arc::new(Requests::default());
        let dev = I8042::new(requests.clone());

        dev.write(4, &[0xfe]);

        assert_eq!(*requests.0.lock(), vec![StopRequest::Reset]);
    }

    #[test]
    fn other_commands_and_the_data_port_do_nothing() {
        let requests = Arc::new(Requests::default());
        let dev = I8042::new(requests.clone());

        dev.write(4, &[0xad]);
        dev.write(0, &[0xfe]);
        dev.write(4, &[0xfe, 0x00]);
        let mut status = [0xffu8];
        dev.read(4, &mut status);

        assert!(requests.0.lock().is_empty());
        assert_eq!(status, [0]);
    }
}
