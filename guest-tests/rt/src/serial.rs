//! COM1, a 16550 UART at I/O port 0x3f8, and the `print!`/`println!` macros.
//!
//! Output is line-buffered and sent in bursts of up to 16 bytes (the transmit FIFO) with one
//! `rep outsb` after each "transmitter holding register empty" poll: under PVM every port access
//! from CPL3 is a `#GP` round trip through the emulated CPL0 handler, so fewer accesses means a
//! faster guest.

use core::fmt::{self, Write};

use crate::io;
use crate::sync::Global;

/// I/O base of COM1.
pub const COM1: u16 = 0x3f8;
const REG_FCR: u16 = 2;
const REG_LSR: u16 = 5;
const FCR_ENABLE_AND_CLEAR_FIFOS: u8 = 0x07;
const LSR_THR_EMPTY: u8 = 0x20;
const TX_FIFO_SIZE: usize = 16;
const LINE_CAPACITY: usize = 256;

struct LineBuffer {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
}

static LINE: Global<LineBuffer> = Global::new(LineBuffer {
    bytes: [0; LINE_CAPACITY],
    len: 0,
});

/// Enables the UART FIFOs. The VMM's UART needs no baud-rate setup.
pub fn init() {
    // SAFETY: COM1 is the platform's serial port (docs/PLATFORM.md).
    unsafe { io::outb(COM1 + REG_FCR, FCR_ENABLE_AND_CLEAR_FIFOS) };
}

fn transmit(bytes: &[u8]) {
    for burst in bytes.chunks(TX_FIFO_SIZE) {
        // "THRE ... indicates that the UART is ready to accept a new character for
        // transmission"; with FIFOs enabled it is set when the transmit FIFO is empty.
        // SAFETY: COM1 is the platform's serial port (docs/PLATFORM.md).
        while unsafe { io::inb(COM1 + REG_LSR) } & LSR_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
        // SAFETY: as above; THR is register 0.
        unsafe { io::outsb(COM1, burst) };
    }
}

/// Appends `bytes` to the line buffer, sending it at each newline and when it is full.
pub fn write_bytes(bytes: &[u8]) {
    LINE.with(|line| {
        for &byte in bytes {
            line.bytes[line.len] = byte;
            line.len += 1;
            if byte == b'\n' || line.len == LINE_CAPACITY {
                transmit(&line.bytes[..line.len]);
                line.len = 0;
            }
        }
    });
}

/// Sends whatever is buffered (a partial line).
pub fn flush() {
    LINE.with(|line| {
        transmit(&line.bytes[..line.len]);
        line.len = 0;
    });
}

/// Ends a partially written line (if any) with a newline and sends it, so that what follows
/// starts on a line of its own.
pub fn finish_line() {
    LINE.with(|line| {
        if line.len > 0 {
            if line.len == LINE_CAPACITY {
                transmit(&line.bytes[..line.len]);
                line.len = 0;
            }
            line.bytes[line.len] = b'\n';
            line.len += 1;
            transmit(&line.bytes[..line.len]);
            line.len = 0;
        }
    });
}

/// A `core::fmt::Write` sink for the serial port.
#[derive(Debug, Clone, Copy, Default)]
pub struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_bytes(s.as_bytes());
        Ok(())
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    // Serial::write_str never fails; an Err could only come from a Display impl.
    let _ = Serial.write_fmt(args);
}

/// Prints to COM1.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::serial::_print(format_args!($($arg)*)) };
}

/// Prints a line to COM1.
#[macro_export]
macro_rules! println {
    () => { $crate::serial::write_bytes(b"\n") };
    ($($arg:tt)*) => {{
        $crate::serial::_print(format_args!($($arg)*));
        $crate::serial::write_bytes(b"\n");
    }};
}
