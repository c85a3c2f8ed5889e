//! vCPU state at entry (docs/PLATFORM.md "Entry state"): long mode, flat segments, the
//! identity map, IF = 0, RSI = zero page; FPU/SSE in their reset state; MSRs; LAPIC LINTs.

use kvm_bindings::{KVM_MP_STATE_RUNNABLE, KVM_MP_STATE_UNINITIALIZED};
use kvm_bindings::{
    Msrs, kvm_fpu, kvm_lapic_state, kvm_mp_state, kvm_msr_entry, kvm_regs, kvm_sregs,
};
use kvm_ioctls::VcpuFd;

use super::VcpuError;
use super::gdt::{BOOT_GDT, boot_code_segment, boot_data_segment, boot_tss_segment};
use crate::layout;

/// CR0.PE: protected mode.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.MP: monitor coprocessor (WAIT/FWAIT honour TS).
pub const CR0_MP: u64 = 1 << 1;
/// CR0.EM: x87 emulation — must be clear for SSE.
pub const CR0_EM: u64 = 1 << 2;
/// CR0.ET: extension type (hard-wired 1).
pub const CR0_ET: u64 = 1 << 4;
/// CR0.NE: native x87 error reporting.
pub const CR0_NE: u64 = 1 << 5;
/// CR0.PG: paging.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PAE.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.OSFXSR: FXSAVE/FXRSTOR and SSE enabled.
pub const CR4_OSFXSR: u64 = 1 << 9;
/// CR4.OSXMMEXCPT: unmasked SSE exceptions raise #XM.
pub const CR4_OSXMMEXCPT: u64 = 1 << 10;
/// EFER.LME.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA.
pub const EFER_LMA: u64 = 1 << 10;
/// RFLAGS bit 1 is always set; IF (bit 9) is clear.
pub const RFLAGS_RESERVED: u64 = 1 << 1;

/// x87 control word after FNINIT.
pub const FCW_INIT: u16 = 0x37f;
/// MXCSR after reset: all exceptions masked.
pub const MXCSR_INIT: u32 = 0x1f80;

const MSR_IA32_TSC: u32 = 0x10;
const MSR_IA32_SYSENTER_CS: u32 = 0x174;
const MSR_IA32_SYSENTER_ESP: u32 = 0x175;
const MSR_IA32_SYSENTER_EIP: u32 = 0x176;
const MSR_IA32_MISC_ENABLE: u32 = 0x1a0;
const MSR_MTRR_DEF_TYPE: u32 = 0x2ff;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
/// IA32_MISC_ENABLE.FAST_STRING.
const MISC_ENABLE_FAST_STRING: u64 = 1;
/// MTRRdefType: MTRRs enabled (bit 11), default type write-back (6).
const MTRR_DEF_TYPE_WB_ENABLED: u64 = (1 << 11) | 6;

/// Special registers of the boot vCPU, starting from KVM's reset state `sregs`.
pub fn boot_sregs(mut sregs: kvm_sregs) -> kvm_sregs {
    sregs.gdt.base = layout::BOOT_GDT_START;
    sregs.gdt.limit = (std::mem::size_of_val(&BOOT_GDT) - 1) as u16;
    // No IDT: an exception before the guest loads its own triple-faults.
    sregs.idt.base = 0;
    sregs.idt.limit = 0;

    sregs.cs = boot_code_segment();
    let data = boot_data_segment();
    sregs.ds = data;
    sregs.es = data;
    sregs.fs = data;
    sregs.gs = data;
    sregs.ss = data;
    sregs.tr = boot_tss_segment();

    sregs.cr3 = layout::PML4_START;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.cr0 = (CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_PG) & !CR0_EM;
    sregs.efer = EFER_LME | EFER_LMA;
    sregs
}

/// General registers of the boot vCPU.
pub fn boot_regs(entry: u64) -> kvm_regs {
    kvm_regs {
        rip: entry,
        rsi: layout::ZERO_PAGE_START,
        rsp: layout::BOOT_STACK_TOP,
        rbp: layout::BOOT_STACK_TOP,
        rflags: RFLAGS_RESERVED,
        ..Default::default()
    }
}

/// x87/SSE state after reset.
pub fn boot_fpu() -> kvm_fpu {
    kvm_fpu {
        fcw: FCW_INIT,
        mxcsr: MXCSR_INIT,
        ..Default::default()
    }
}

/// MSRs every vCPU starts with.
pub fn boot_msrs() -> Vec<kvm_msr_entry> {
    let msr = |index, data| kvm_msr_entry {
        index,
        data,
        ..Default::default()
    };
    vec![
        msr(MSR_IA32_SYSENTER_CS, 0),
        msr(MSR_IA32_SYSENTER_ESP, 0),
        msr(MSR_IA32_SYSENTER_EIP, 0),
        msr(MSR_STAR, 0),
        msr(MSR_CSTAR, 0),
        msr(MSR_KERNEL_GS_BASE, 0),
        msr(MSR_SYSCALL_MASK, 0),
        msr(MSR_LSTAR, 0),
        msr(MSR_IA32_TSC, 0),
        msr(MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING),
        msr(MSR_MTRR_DEF_TYPE, MTRR_DEF_TYPE_WB_ENABLED),
    ]
}

const APIC_LVT0: usize = 0x350;
const APIC_LVT1: usize = 0x360;
const APIC_MODE_NMI: u32 = 0b100;
const APIC_MODE_EXTINT: u32 = 0b111;

fn lapic_reg(state: &kvm_lapic_state, offset: usize) -> u32 {
    let b = &state.regs[offset..offset + 4];
    u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
}

fn set_lapic_reg(state: &mut kvm_lapic_state, offset: usize, value: u32) {
    for (i, byte) in value.to_le_bytes().iter().enumerate() {
        state.regs[offset + i] = *byte as std::os::raw::c_char;
    }
}

/// LINT0 = ExtINT (the 8259 feeds the BSP's LAPIC, "virtual wire" mode) and LINT1 = NMI, as
/// firmware leaves them on a PC.
pub fn configure_lints(state: &mut kvm_lapic_state) {
    let with_mode = |reg: u32, mode: u32| (reg & !0x700) | (mode << 8);
    let lvt0 = lapic_reg(state, APIC_LVT0);
    let lvt1 = lapic_reg(state, APIC_LVT1);
    set_lapic_reg(state, APIC_LVT0, with_mode(lvt0, APIC_MODE_EXTINT));
    set_lapic_reg(state, APIC_LVT1, with_mode(lvt1, APIC_MODE_NMI));
}

fn ioctl(id: u8, what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VcpuError {
    move |source| VcpuError::Ioctl { what, id, source }
}

/// State every vCPU gets: FPU, MSRs, LAPIC LINTs.
pub fn setup_common(fd: &VcpuFd, id: u8) -> Result<(), VcpuError> {
    fd.set_fpu(&boot_fpu()).map_err(ioctl(id, "KVM_SET_FPU"))?;

    let entries = boot_msrs();
    let msrs = Msrs::from_entries(&entries)
        .map_err(|_| ioctl(id, "KVM_SET_MSRS")(kvm_ioctls::Error::new(libc::E2BIG)))?;
    let written = fd.set_msrs(&msrs).map_err(ioctl(id, "KVM_SET_MSRS"))?;
    if written < entries.len() {
        // KVM stops at the first MSR it rejects; say which, and carry on without it.
        log::warn!(
            "vCPU {id}: KVM rejected MSR {:#x}; {} of {} MSRs set",
            entries[written].index,
            written,
            entries.len()
        );
    }

    let mut lapic = fd.get_lapic().map_err(ioctl(id, "KVM_GET_LAPIC"))?;
    configure_lints(&mut lapic);
    fd.set_lapic(&lapic).map_err(ioctl(id, "KVM_SET_LAPIC"))?;
    Ok(())
}

/// The boot vCPU: registers per the platform contract, runnable.
pub fn setup_boot_vcpu(fd: &VcpuFd, entry: u64) -> Result<(), VcpuError> {
    let sregs = fd.get_sregs().map_err(ioctl(0, "KVM_GET_SREGS"))?;
    fd.set_sregs(&boot_sregs(sregs))
        .map_err(ioctl(0, "KVM_SET_SREGS"))?;
    fd.set_regs(&boot_regs(entry))
        .map_err(ioctl(0, "KVM_SET_REGS"))?;
    fd.set_mp_state(kvm_mp_state {
        mp_state: KVM_MP_STATE_RUNNABLE,
    })
    .map_err(ioctl(0, "KVM_SET_MP_STATE"))
}

/// An application processor: waits for INIT/SIPI from the guest through the in-kernel LAPIC.
pub fn setup_application_vcpu(fd: &VcpuFd, id: u8) -> Result<(), VcpuError> {
    fd.set_mp_state(kvm_mp_state {
        mp_state: KVM_MP_STATE_UNINITIALIZED,
    })
    .map_err(ioctl(id, "KVM_SET_MP_STATE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_sregs_follow_the_contract() {
        let s = boot_sregs(kvm_sregs::default());
        assert_eq!(
            s.cr0 & (CR0_PE | CR0_PG | CR0_MP | CR0_NE),
            CR0_PE | CR0_PG | CR0_MP | CR0_NE
        );
        assert_eq!(s.cr0 & CR0_EM, 0);
        assert_eq!(s.cr4, CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT);
        assert_eq!(s.efer, EFER_LME | EFER_LMA);
        assert_eq!(s.cr3, layout::PML4_START);
        assert_eq!((s.cs.selector, s.cs.l), (0x10, 1));
        assert_eq!((s.ss.selector, s.ds.selector), (0x18, 0x18));
        assert_eq!((s.gdt.base, s.gdt.limit), (0x500, 39));
    }

    #[test]
    fn boot_regs_enter_with_if_clear_and_rsi_at_the_zero_page() {
        let r = boot_regs(0x10_0000);
        assert_eq!((r.rip, r.rsi, r.rflags), (0x10_0000, 0x7000, 0x2));
    }

    #[test]
    fn fpu_is_in_its_reset_state() {
        let f = boot_fpu();
        assert_eq!((f.fcw, f.mxcsr), (0x37f, 0x1f80));
    }

    #[test]
    fn lints_become_extint_and_nmi() {
        let mut state = kvm_lapic_state::default();
        set_lapic_reg(&mut state, APIC_LVT0, 0x0001_0000); // masked, fixed
        configure_lints(&mut state);
        assert_eq!(lapic_reg(&state, APIC_LVT0), 0x0001_0700);
        assert_eq!(lapic_reg(&state, APIC_LVT1), 0x0000_0400);
    }
}
