//! Legacy (non-virtio) devices of the PC platform the VMM emulates.
//!
//! - [`serial`]: COM1, a 16550 UART (vm-superio) at I/O port 0x3f8, IRQ 4.
//! - [`i8042`]: the keyboard controller's CPU-reset line (0x64 ← 0xFE).
//! - [`exit_port`]: I/O port 0xf4; an OUT ends the VM with the value written.
//! - [`acpi_pm`]: the ACPI hardware-reduced sleep control/status and reset registers, so a guest
//!   poweroff or ACPI reset ends the VM.
//!
//! Devices that end the VM report it through a [`StopRequester`] supplied by the VMM.

pub mod acpi_pm;
pub mod exit_port;
pub mod i8042;
pub mod serial;
mod stop;

pub use acpi_pm::AcpiPmDevice;
pub use exit_port::ExitPort;
pub use i8042::I8042;
pub use serial::{EventFdTrigger, Serial};
pub use stop::{StopRequest, StopRequester};
