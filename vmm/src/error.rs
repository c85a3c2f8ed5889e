//! The VMM's top-level error: which step of building or running the VM failed. Each variant's
//! source says why.

use std::path::PathBuf;

use crate::acpi::AcpiError;
use crate::boot::LoadError;
use crate::cpu::VcpuError;
use crate::device_manager::DeviceError;
use crate::event_loop::EventLoopError;
use crate::memory::MemoryError;
use crate::vm::VmError;

/// Why a VM could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The vCPU count is out of range.
    #[error("invalid vCPU count {0}: must be between 1 and 254")]
    BadCpuCount(u8),
    /// The kernel image file cannot be read.
    #[error("cannot read the kernel image {}", path.display())]
    ReadKernel {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The initramfs file cannot be read.
    #[error("cannot read the initramfs {}", path.display())]
    ReadInitramfs {
        /// The file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Guest RAM.
    #[error("failed to set up guest memory")]
    Memory(#[from] MemoryError),
    /// The image.
    #[error("failed to load the guest image")]
    Load(#[from] LoadError),
    /// KVM VM creation.
    #[error("failed to set up the VM")]
    Vm(#[from] VmError),
    /// A vCPU.
    #[error("failed to set up the vCPUs")]
    Vcpu(#[from] VcpuError),
    /// A device.
    #[error("failed to set up the devices")]
    Devices(#[from] DeviceError),
    /// ACPI tables.
    #[error("failed to build the ACPI tables")]
    Acpi(#[from] AcpiError),
    /// The serial output file.
    #[error("cannot open the serial output")]
    SerialOutput(#[source] std::io::Error),
    /// An eventfd.
    #[error("failed to create the VM's exit event")]
    EventFd(#[source] std::io::Error),
    /// The event loop.
    #[error("the event loop failed")]
    EventLoop(#[from] EventLoopError),
}
