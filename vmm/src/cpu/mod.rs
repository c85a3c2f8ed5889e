//! vCPUs: their CPUID, their state at entry, and the thread that runs each.

pub mod cpuid;
pub mod dump;
pub mod gdt;
pub mod regs;
pub mod vcpu;

/// Why a vCPU could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    /// A KVM vCPU ioctl failed.
    #[error("{what} failed on vCPU {id}")]
    Ioctl {
        /// The ioctl.
        what: &'static str,
        /// vCPU index.
        id: u8,
        /// Cause.
        #[source]
        source: kvm_ioctls::Error,
    },
    /// A vCPU thread could not be spawned.
    #[error("failed to spawn the thread of vCPU {id}")]
    Spawn {
        /// vCPU index.
        id: u8,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
}
