//! How a device asks the VMM to end the VM.

/// A guest action that ends the VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopRequest {
    /// The guest wrote `value` to the exit port.
    ExitPort(u32),
    /// The guest asked for a reset (i8042 0xFE or the ACPI reset register).
    Reset,
    /// The guest entered ACPI S5 (soft off) through the sleep control register.
    Poweroff,
}

/// Implemented by the VMM: ends the VM. Called on a vCPU thread, in the middle of an exit.
///
/// Implementations must be quick and must not block on the vCPU that calls them; the first
/// request wins and later ones are ignored.
pub trait StopRequester: Send + Sync {
    /// Ends the VM for `request`.
    fn request_stop(&self, request: StopRequest);
}
