//! How a run ends, and the process exit status for each ending.
//!
//! | ending                                   | status                     |
//! |------------------------------------------|----------------------------|
//! | OUT of value `v` to the exit port 0xf4   | `v & 0xff`                 |
//! | ACPI poweroff (S5)                       | 0                          |
//! | reset (i8042 0xFE, ACPI reset register)  | 0                          |
//! | triple fault (`KVM_EXIT_SHUTDOWN`)       | 121                        |
//! | KVM internal error / failed VM entry     | 122                        |
//! | any other exit the VMM cannot handle     | 123                        |
//! | `--timeout` expired                      | 124                        |
//! | VMM error (bad image, bad config, no KVM)| 1 (set by the binary)      |
//! | bad command-line flags                   | 2 (set by clap)            |
//!
//! Crash endings (121–123) carry a register dump, which the binary prints on stderr.

use std::fmt;

/// Status for a triple fault.
pub const STATUS_TRIPLE_FAULT: u8 = 121;
/// Status for a KVM internal error or failed VM entry.
pub const STATUS_INTERNAL_ERROR: u8 = 122;
/// Status for an exit the VMM cannot handle.
pub const STATUS_UNHANDLED: u8 = 123;
/// Status for a timeout (as coreutils' `timeout`).
pub const STATUS_TIMEOUT: u8 = 124;
/// Status for an error of the VMM itself.
pub const STATUS_VMM_ERROR: u8 = 1;

/// Why the VM stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// The guest wrote this value to the exit port.
    ExitPort(u32),
    /// The guest powered off through ACPI.
    Poweroff,
    /// The guest reset the machine.
    Reset,
    /// A triple fault (`KVM_EXIT_SHUTDOWN`); carries a register dump.
    TripleFault(String),
    /// `KVM_EXIT_INTERNAL_ERROR` or `KVM_EXIT_FAIL_ENTRY` (under PVM: an instruction the
    /// emulator cannot run at CPL0); carries a register dump.
    InternalError(String),
    /// Any other exit the VMM does not handle; carries its description and a register dump.
    Unhandled(String),
    /// The configured timeout expired.
    Timeout,
}

impl ExitReason {
    /// The process exit status for this ending (see the module table).
    pub fn status(&self) -> i32 {
        i32::from(self.status_byte())
    }

    /// [`Self::status`] as the byte a process can return.
    pub fn status_byte(&self) -> u8 {
        match self {
            Self::ExitPort(value) => value.to_le_bytes()[0],
            Self::Poweroff | Self::Reset => 0,
            Self::TripleFault(_) => STATUS_TRIPLE_FAULT,
            Self::InternalError(_) => STATUS_INTERNAL_ERROR,
            Self::Unhandled(_) => STATUS_UNHANDLED,
            Self::Timeout => STATUS_TIMEOUT,
        }
    }

    /// Whether the guest crashed (the ending carries a register dump).
    pub fn is_crash(&self) -> bool {
        self.crash_dump().is_some()
    }

    /// The register dump of a crash ending.
    pub fn crash_dump(&self) -> Option<&str> {
        match self {
            Self::TripleFault(d) | Self::InternalError(d) | Self::Unhandled(d) => Some(d),
            _ => None,
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ExitPort(v) => write!(f, "exit port value {v:#x} ({v})"),
            Self::Poweroff => write!(f, "poweroff"),
            Self::Reset => write!(f, "reset"),
            Self::TripleFault(_) => write!(f, "triple fault"),
            Self::InternalError(_) => write!(f, "KVM internal error"),
            Self::Unhandled(_) => write!(f, "unhandled exit"),
            Self::Timeout => write!(f, "timeout"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_port_status_is_the_low_byte_of_the_value() {
        assert_eq!(ExitReason::ExitPort(42).status(), 42);
        assert_eq!(ExitReason::ExitPort(0x1234).status(), 0x34);
        assert_eq!(ExitReason::ExitPort(0x100).status(), 0);
    }

    #[test]
    fn clean_endings_are_zero_and_crashes_are_not() {
        assert_eq!(ExitReason::Poweroff.status(), 0);
        assert_eq!(ExitReason::Reset.status(), 0);
        assert_eq!(ExitReason::TripleFault(String::new()).status(), 121);
        assert_eq!(ExitReason::InternalError(String::new()).status(), 122);
        assert_eq!(ExitReason::Unhandled(String::new()).status(), 123);
        assert_eq!(ExitReason::Timeout.status(), 124);
    }

    #[test]
    fn only_crashes_carry_a_dump() {
        assert!(ExitReason::TripleFault("rip".into()).is_crash());
        assert!(!ExitReason::Timeout.is_crash());
        assert!(!ExitReason::ExitPort(1).is_crash());
    }
}
