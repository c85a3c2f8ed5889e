//! COM1: a 16550 UART (vm-superio's `Serial`) on the port I/O bus.
//!
//! Output goes to any `Write` the VMM picks (stdout, a file, a capture buffer). Input is pushed in
//! by the VMM's event loop with [`Serial::enqueue_input`]. The interrupt line is an `EventFd`
//! the VMM registers as an irqfd for the UART's GSI.

use std::io::{self, Write};

use parking_lot::Mutex;
use vm_superio::Trigger;
use vm_superio::serial::NoEvents;
use vmm_sys_util::eventfd::EventFd;

use crate::bus::BusDevice;

/// I/O port base of COM1.
pub const COM1_BASE: u16 = 0x3f8;
/// GSI (ISA IRQ) of COM1.
pub const COM1_GSI: u32 = 4;
/// Number of registers (ports) of a 16550.
pub const SERIAL_LEN: u64 = 8;

/// An `EventFd` used as an interrupt line: triggering it writes 1.
#[derive(Debug)]
pub struct EventFdTrigger(EventFd);

impl EventFdTrigger {
    /// Wraps `evt`.
    pub fn new(evt: EventFd) -> Self {
        Self(evt)
    }

    /// The wrapped `EventFd`.
    pub fn eventfd(&self) -> &EventFd {
        &self.0
    }
}

impl Trigger for EventFdTrigger {
    type E = io::Error;
    fn trigger(&self) -> io::Result<()> {
        self.0.write(1)
    }
}

/// A 16550 UART whose output goes to `W`.
pub struct Serial<W: Write + Send> {
    uart: Mutex<vm_superio::Serial<EventFdTrigger, NoEvents, W>>,
}

impl<W: Write + Send> std::fmt::Debug for Serial<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serial").finish_non_exhaustive()
    }
}

impl<W: Write + Send> Serial<W> {
    /// A UART that raises `irq` and writes its output to `out`.
    pub fn new(irq: EventFd, out: W) -> Self {
        Self {
            uart: Mutex::new(vm_superio::Serial::new(EventFdTrigger(irq), out)),
        }
    }

    /// Queues host input for the guest to read. Returns how many bytes fit in the receive FIFO;
    /// the rest are dropped (the caller can retry later).
    pub fn enqueue_input(&self, input: &[u8]) -> usize {
        match self.uart.lock().enqueue_raw_bytes(input) {
            Ok(n) => n,
            Err(vm_superio::serial::Error::FullFifo) => 0,
            Err(e) => {
                log::warn!("serial: failed to queue input: {e}");
                0
            }
        }
    }

    /// Runs `f` on the output writer (e.g. to flush it or take a capture).
    pub fn with_writer<R>(&self, f: impl FnOnce(&mut W) -> R) -> R {
        f(self.uart.lock().writer_mut())
    }
}

impl<W: Write + Send> BusDevice for Serial<W> {
    /// A wider access is a sequence of byte accesses to consecutive registers, as on an ISA bus.
    fn read(&self, offset: u64, data: &mut [u8]) {
        let mut uart = self.uart.lock();
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = match u8::try_from(offset + i as u64) {
                Ok(reg) if u64::from(reg) < SERIAL_LEN => uart.read(reg),
                _ => 0xff,
            };
        }
    }

    fn write(&self, offset: u64, data: &[u8]) {
        let mut uart = self.uart.lock();
        for (i, byte) in data.iter().enumerate() {
            let Ok(reg) = u8::try_from(offset + i as u64) else {
                continue;
            };
            if u64::from(reg) >= SERIAL_LEN {
                continue;
            }
            if let Err(e) = uart.write(reg, *byte) {
                // A closed stdout must not stop the guest.
                log::debug!("serial: write to register {reg} failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Register offsets (16550).
    const DATA: u64 = 0;
    const IER: u64 = 1;
    const LSR: u64 = 5;
    const LSR_DATA_READY: u8 = 0x01;

    fn serial() -> (Serial<Vec<u8>>, EventFd) {
        let irq = EventFd::new(libc::EFD_NONBLOCK).unwrap();
        (Serial::new(irq.try_clone().unwrap(), Vec::new()), irq)
    }

    #[test]
    fn bytes_written_to_the_data_register_reach_the_output() {
        let (com1, _irq) = serial();

        com1.write(DATA, b"h");
        com1.write(DATA, b"i");

        assert_eq!(com1.with_writer(|w| w.clone()), b"hi".to_vec());
    }

    #[test]
    fn queued_input_is_read_from_the_data_register_and_raises_the_irq() {
        let (com1, irq) = serial();
        com1.write(IER, &[0x01]); // enable the received-data interrupt
        let _ = irq.read();

        assert_eq!(com1.enqueue_input(b"x"), 1);
        let mut lsr = [0u8];
        com1.read(LSR, &mut lsr);
        let mut data = [0u8];
        com1.read(DATA, &mut data);

        assert_eq!(irq.read().unwrap(), 1);
        assert_eq!(lsr[0] & LSR_DATA_READY, LSR_DATA_READY);
        assert_eq!(data, *b"x");
    }

    #[test]
    fn wide_access_is_split_into_byte_accesses() {
        let (com1, _irq) = serial();

        com1.write(DATA, b"ab");
        let mut past_end = [0u8; 2];
        com1.read(7, &mut past_end);

        // "a" goes to DATA, "b" to IER (not output); reading across the end gives 0xff.
        assert_eq!(com1.with_writer(|w| w.clone()), b"a".to_vec());
        assert_eq!(past_end[1], 0xff);
    }
}
