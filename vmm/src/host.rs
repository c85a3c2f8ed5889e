//! Which KVM this is: PVM (`kvm_pvm`, no VT-x/SVM underneath) or hardware KVM.
//!
//! The vendor module KVM runs on shows in `/sys/module/<name>`: `kvm_pvm`, `kvm_intel` or
//! `kvm_amd` (only one vendor module can own `/dev/kvm` at a time). `/proc/modules` is no help:
//! it does not exist when KVM is built in. The CPUID KVM offers its guests reads
//! "KVMKVMKVM" on both, so it cannot tell them apart.

use std::fmt;
use std::path::Path;

/// The kind of KVM the VMM runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// PVM: guest CPL0 code is emulated, CPL3 runs natively.
    Pvm,
    /// Hardware KVM on Intel VT-x.
    Vmx,
    /// Hardware KVM on AMD SVM.
    Svm,
    /// No known vendor module found.
    Unknown,
}

impl HostKind {
    /// Detects the host kind from `/sys/module`.
    pub fn detect() -> Self {
        Self::detect_in(Path::new("/sys/module"))
    }

    /// Detects the host kind from a `/sys/module`-like directory.
    pub fn detect_in(sys_module: &Path) -> Self {
        if sys_module.join("kvm_pvm").exists() {
            Self::Pvm
        } else if sys_module.join("kvm_intel").exists() {
            Self::Vmx
        } else if sys_module.join("kvm_amd").exists() {
            Self::Svm
        } else {
            Self::Unknown
        }
    }

    /// Short name for logs and measurement records.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pvm => "PVM (kvm_pvm)",
            Self::Vmx => "hardware KVM (kvm_intel, VMX)",
            Self::Svm => "hardware KVM (kvm_amd, SVM)",
            Self::Unknown => "unknown KVM",
        }
    }
}

impl fmt::Display for HostKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys_module_with(modules: &[&str]) -> vmm_sys_util::tempdir::TempDir {
        let dir = vmm_sys_util::tempdir::TempDir::new_with_prefix("/tmp/sysmod").unwrap();
        for m in modules {
            std::fs::create_dir(dir.as_path().join(m)).unwrap();
        }
        dir
    }

    #[test]
    fn kvm_pvm_module_means_pvm() {
        let dir = sys_module_with(&["kvm", "kvm_pvm"]);
        assert_eq!(HostKind::detect_in(dir.as_path()), HostKind::Pvm);
    }

    #[test]
    fn vendor_modules_mean_hardware_kvm() {
        let intel = sys_module_with(&["kvm", "kvm_intel"]);
        let amd = sys_module_with(&["kvm", "kvm_amd"]);
        let none = sys_module_with(&["kvm"]);
        assert_eq!(HostKind::detect_in(intel.as_path()), HostKind::Vmx);
        assert_eq!(HostKind::detect_in(amd.as_path()), HostKind::Svm);
        assert_eq!(HostKind::detect_in(none.as_path()), HostKind::Unknown);
    }
}
