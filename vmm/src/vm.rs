//! The KVM VM: in-kernel irqchip and PIT, PC interrupt routing, memory slots.

use kvm_bindings::{
    CpuId, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_IOAPIC, KVM_IRQCHIP_PIC_MASTER,
    KVM_IRQCHIP_PIC_SLAVE, KVM_MAX_CPUID_ENTRIES, KVM_PIT_SPEAKER_DUMMY, KvmIrqRouting,
    kvm_irq_routing_entry, kvm_pit_config, kvm_userspace_memory_region,
};
use kvm_ioctls::{Kvm, VmFd};
use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};

use crate::host::HostKind;
use crate::layout;
use crate::memory::GuestMemory;

/// Number of IOAPIC pins of KVM's in-kernel IOAPIC.
pub const IOAPIC_PINS: u32 = 24;

/// Why the VM could not be created.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// /dev/kvm cannot be opened.
    #[error("cannot open /dev/kvm (is KVM available and accessible?)")]
    OpenKvm(#[source] kvm_ioctls::Error),
    /// A KVM ioctl failed.
    #[error("{0} failed")]
    Ioctl(&'static str, #[source] kvm_ioctls::Error),
    /// More vCPUs than KVM or the platform supports.
    #[error("{requested} vCPUs requested, but at most {max} are supported")]
    TooManyVcpus {
        /// Requested.
        requested: u8,
        /// Limit.
        max: usize,
    },
}

/// A KVM VM with its platform devices created and RAM mapped.
#[derive(Debug)]
pub struct Vm {
    /// The /dev/kvm handle.
    pub kvm: Kvm,
    /// The VM.
    pub fd: VmFd,
    /// What kind of KVM this is.
    pub host: HostKind,
    /// KVM_GET_SUPPORTED_CPUID.
    pub supported_cpuid: CpuId,
}

fn irqchip_route(gsi: u32, irqchip: u32, pin: u32) -> kvm_irq_routing_entry {
    let mut entry = kvm_irq_routing_entry {
        gsi,
        type_: KVM_IRQ_ROUTING_IRQCHIP,
        ..Default::default()
    };
    entry.u.irqchip.irqchip = irqchip;
    entry.u.irqchip.pin = pin;
    entry
}

/// GSI routing of a PC: GSIs 0–15 drive the 8259 pair (except 2, the cascade), GSI 0 drives
/// IOAPIC pin 2 (the PIT's ISA IRQ 0 is wired to pin 2; the MADT says so with an interrupt source
/// override) and every other GSI `n` drives IOAPIC pin `n`.
pub fn pc_gsi_routing() -> Vec<kvm_irq_routing_entry> {
    let mut routes = Vec::new();
    for gsi in 0..16 {
        if gsi == 2 {
            continue;
        }
        let (chip, pin) = if gsi < 8 {
            (KVM_IRQCHIP_PIC_MASTER, gsi)
        } else {
            (KVM_IRQCHIP_PIC_SLAVE, gsi - 8)
        };
        routes.push(irqchip_route(gsi, chip, pin));
    }
    for gsi in 0..IOAPIC_PINS {
        match gsi {
            0 => routes.push(irqchip_route(0, KVM_IRQCHIP_IOAPIC, 2)),
            2 => {}
            _ => routes.push(irqchip_route(gsi, KVM_IRQCHIP_IOAPIC, gsi)),
        }
    }
    routes
}

impl Vm {
    /// Opens KVM and creates a VM for `cpus` vCPUs with `mem` as its RAM.
    pub fn new(mem: &GuestMemory, cpus: u8) -> Result<Self, VmError> {
        let kvm = Kvm::new().map_err(VmError::OpenKvm)?;
        let max = kvm.get_max_vcpus().min(254);
        if usize::from(cpus) > max || cpus == 0 {
            return Err(VmError::TooManyVcpus {
                requested: cpus,
                max,
            });
        }
        let supported_cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|e| VmError::Ioctl("KVM_GET_SUPPORTED_CPUID", e))?;
        let fd = kvm
            .create_vm()
            .map_err(|e| VmError::Ioctl("KVM_CREATE_VM", e))?;
        // Needed by VMX for real-mode and vm86 emulation; harmless elsewhere.
        fd.set_tss_address(layout::KVM_TSS_START as usize)
            .map_err(|e| VmError::Ioctl("KVM_SET_TSS_ADDR", e))?;
        fd.set_identity_map_address(layout::KVM_IDENTITY_MAP_START)
            .map_err(|e| VmError::Ioctl("KVM_SET_IDENTITY_MAP_ADDR", e))?;
        fd.create_irq_chip()
            .map_err(|e| VmError::Ioctl("KVM_CREATE_IRQCHIP", e))?;
        let routing = KvmIrqRouting::from_entries(&pc_gsi_routing()).map_err(|_| {
            VmError::Ioctl("KVM_SET_GSI_ROUTING", kvm_ioctls::Error::new(libc::E2BIG))
        })?;
        fd.set_gsi_routing(&routing)
            .map_err(|e| VmError::Ioctl("KVM_SET_GSI_ROUTING", e))?;
        let pit = kvm_pit_config {
            flags: KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        fd.create_pit2(pit)
            .map_err(|e| VmError::Ioctl("KVM_CREATE_PIT2", e))?;

        for (slot, region) in mem.iter().enumerate() {
            let host_addr = region
                .get_host_address(vm_memory::MemoryRegionAddress(0))
                .map_err(|_| {
                    VmError::Ioctl(
                        "KVM_SET_USER_MEMORY_REGION",
                        kvm_ioctls::Error::new(libc::EFAULT),
                    )
                })?;
            let region = kvm_userspace_memory_region {
                slot: slot as u32,
                flags: 0,
                guest_phys_addr: region.start_addr().0,
                memory_size: region.len(),
                userspace_addr: host_addr as u64,
            };
            // SAFETY: the region is a live mapping of `memory_size` bytes owned by `mem`, which
            // outlives the VM (the Vmm owns both and drops the VM first); slots do not overlap
            // because the guest memory regions do not.
            unsafe { fd.set_user_memory_region(region) }
                .map_err(|e| VmError::Ioctl("KVM_SET_USER_MEMORY_REGION", e))?;
        }
        Ok(Self {
            kvm,
            fd,
            host: HostKind::detect(),
            supported_cpuid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes_of(gsi: u32) -> Vec<(u32, u32)> {
        pc_gsi_routing()
            .into_iter()
            .filter(|r| r.gsi == gsi)
            // SAFETY: every entry is KVM_IRQ_ROUTING_IRQCHIP, so `irqchip` is the active field.
            .map(|r| unsafe { (r.u.irqchip.irqchip, r.u.irqchip.pin) })
            .collect()
    }

    #[test]
    fn the_timer_gsi_reaches_pic_pin_0_and_ioapic_pin_2() {
        assert_eq!(
            routes_of(0),
            vec![(KVM_IRQCHIP_PIC_MASTER, 0), (KVM_IRQCHIP_IOAPIC, 2)]
        );
        assert!(routes_of(2).is_empty());
    }

    #[test]
    fn com1_and_virtio_gsis_reach_their_ioapic_pins() {
        assert_eq!(
            routes_of(4),
            vec![(KVM_IRQCHIP_PIC_MASTER, 4), (KVM_IRQCHIP_IOAPIC, 4)]
        );
        assert_eq!(
            routes_of(10),
            vec![(KVM_IRQCHIP_PIC_SLAVE, 2), (KVM_IRQCHIP_IOAPIC, 10)]
        );
        assert_eq!(routes_of(23), vec![(KVM_IRQCHIP_IOAPIC, 23)]);
    }
}
