//! The CPUID each vCPU sees: KVM_GET_SUPPORTED_CPUID, with the topology filled in per vCPU, our
//! hypervisor leaf in front of KVM's, and (on PVM) the features hidden whose instructions the
//! PVM CPL0 emulator cannot execute.
//!
//! Topology: one package, `cpus` cores, one thread per core; APIC ID = vCPU index.
//!
//! Measured on PVM (docs/PLATFORM.md "CPUID"): the guest's CPUID instruction returns this table
//! for the topology fields (leaf 1 EBX, leaves 4, 0xB, 0x1F), the hypervisor leaves and the
//! extended leaves, but PVM ORs the host's user-mode ISA extensions (SSE3..SSE4.2, AVX*, BMI,
//! XSAVE, POPCNT, AES, ...) into leaves 1 and 7 regardless of the table. So on PVM the table
//! can hide system features (CX16, PCID, INVPCID, RDPID, RDTSCP, LA57, ...) but not ISA
//! extensions; KVM's emulator still follows the table (e.g. MOVBE and RDPID raise #UD when the
//! table lacks them). Kernels have to be told the rest on their command line (`noxsave`,
//! `clearcpuid=`), which is the Linux guest's business.

use kvm_bindings::{KVM_CPUID_FLAG_SIGNIFCANT_INDEX, kvm_cpuid_entry2};

use crate::host::HostKind;

/// Our hypervisor signature in leaf 0x4000_0000 (EBX, ECX, EDX).
pub const HYPERVISOR_SIGNATURE: [u8; 12] = *b"RustIommuVmm";
/// First hypervisor leaf.
pub const HYPERVISOR_BASE: u32 = 0x4000_0000;
/// Where KVM's own leaves ("KVMKVMKVM\0\0\0" and the KVM feature leaf) move to. Linux and KVM
/// both scan 0x4000_0000..0x4001_0000 in steps of 0x100 for the KVM signature.
pub const KVM_LEAVES_BASE: u32 = 0x4000_0100;

/// Registers of a CPUID entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// EAX
    Eax,
    /// EBX
    Ebx,
    /// ECX
    Ecx,
    /// EDX
    Edx,
}

/// A feature bit hidden from guests on PVM, and why.
#[derive(Clone, Copy, Debug)]
pub struct HiddenFeature {
    /// Leaf.
    pub leaf: u32,
    /// Subleaf.
    pub subleaf: u32,
    /// Register.
    pub reg: Reg,
    /// Bit.
    pub bit: u32,
    /// Name as in /proc/cpuinfo.
    pub name: &'static str,
    /// Why it is hidden.
    pub why: &'static str,
}

const LACKS: &str = "measured: the PVM CPL0 emulator lacks it (KVM_EXIT_INTERNAL_ERROR)";
const VEX: &str =
    "VEX/EVEX-encoded: the PVM CPL0 emulator lacks them (measured: vpxor, andn, shlx)";
const SSE: &str = "SSE-encoded arithmetic: the PVM CPL0 emulator lacks it (measured: pxor, aesenc, \
                   pclmulqdq, sha1rnds4, gf2p8mulb)";
const XSAVE: &str = "measured: xgetbv/xsave/xrstor lack emulation; without XSAVE kernels use fxsave, \
                     which the emulator runs";
const TSX: &str = "measured: xbegin raises #UD and xtest lacks emulation";

macro_rules! hidden {
    ($leaf:expr, $sub:expr, $reg:ident, $bit:expr, $name:expr, $why:expr) => {
        HiddenFeature {
            leaf: $leaf,
            subleaf: $sub,
            reg: Reg::$reg,
            bit: $bit,
            name: $name,
            why: $why,
        }
    };
}

/// Features cleared from the CPUID table on PVM (measured with `examples/cpl0_probe.rs`, see
/// docs/PLATFORM.md). KVM's emulator checks this table (an instruction whose feature is absent
/// raises #UD instead of failing the VM), and so does a guest that reads CPUID where PVM honours
/// the table. Instructions the emulator *does* run (fsgsbase, clflushopt, lzcnt, rdrand, rep
/// movs, fxsave, serialize, ...) stay visible.
pub const PVM_HIDDEN: &[HiddenFeature] = &[
    hidden!(1, 0, Ecx, 1, "pclmulqdq", SSE),
    hidden!(1, 0, Ecx, 12, "fma", VEX),
    hidden!(1, 0, Ecx, 13, "cx16", LACKS),
    hidden!(
        1,
        0,
        Ecx,
        17,
        "pcid",
        "measured: invpcid lacks emulation; without PCID kernels never use it"
    ),
    hidden!(
        1,
        0,
        Ecx,
        20,
        "sse4_2",
        "measured: crc32 (a GPR instruction kernels use for crc32c) lacks emulation"
    ),
    hidden!(1, 0, Ecx, 23, "popcnt", LACKS),
    hidden!(1, 0, Ecx, 25, "aes", SSE),
    hidden!(1, 0, Ecx, 26, "xsave", XSAVE),
    hidden!(1, 0, Ecx, 27, "osxsave", XSAVE),
    hidden!(1, 0, Ecx, 28, "avx", VEX),
    hidden!(1, 0, Ecx, 29, "f16c", VEX),
    hidden!(7, 0, Ebx, 3, "bmi1", VEX),
    hidden!(7, 0, Ebx, 4, "hle", TSX),
    hidden!(7, 0, Ebx, 5, "avx2", VEX),
    hidden!(7, 0, Ebx, 8, "bmi2", VEX),
    hidden!(
        7,
        0,
        Ebx,
        9,
        "erms",
        "measured: the emulator runs `rep movsb` byte by byte, 7x slower \
                                    than `rep movsq` (4 MiB: 2.9 s vs 0.41 s); kernels pick \
                                    `rep movsb` memcpy when ERMS is set"
    ),
    hidden!(7, 0, Ebx, 10, "invpcid", LACKS),
    hidden!(7, 0, Ebx, 11, "rtm", TSX),
    hidden!(7, 0, Ebx, 16, "avx512f", VEX),
    hidden!(7, 0, Ebx, 17, "avx512dq", VEX),
    hidden!(7, 0, Ebx, 19, "adx", LACKS),
    hidden!(7, 0, Ebx, 20, "smap", "measured: stac/clac lack emulation"),
    hidden!(7, 0, Ebx, 21, "avx512ifma", VEX),
    hidden!(7, 0, Ebx, 24, "clwb", LACKS),
    hidden!(7, 0, Ebx, 28, "avx512cd", VEX),
    hidden!(7, 0, Ebx, 29, "sha_ni", SSE),
    hidden!(7, 0, Ebx, 30, "avx512bw", VEX),
    hidden!(7, 0, Ebx, 31, "avx512vl", VEX),
    hidden!(7, 0, Ecx, 1, "avx512vbmi", VEX),
    hidden!(7, 0, Ecx, 6, "avx512_vbmi2", VEX),
    hidden!(7, 0, Ecx, 8, "gfni", SSE),
    hidden!(7, 0, Ecx, 9, "vaes", VEX),
    hidden!(7, 0, Ecx, 10, "vpclmulqdq", VEX),
    hidden!(7, 0, Ecx, 11, "avx512_vnni", VEX),
    hidden!(7, 0, Ecx, 12, "avx512_bitalg", VEX),
    hidden!(7, 0, Ecx, 14, "avx512_vpopcntdq", VEX),
    hidden!(
        7,
        0,
        Ecx,
        16,
        "la57",
        "5-level paging: not needed for guest RAM below 64 GiB and not \
                                    exercised under PVM's shadow paging; the identity map is 4-level"
    ),
    hidden!(
        7,
        0,
        Ecx,
        22,
        "rdpid",
        "the emulator raises #UD for it unless advertised; rdtscp, its \
                                     sibling, lacks emulation"
    ),
    hidden!(7, 0, Ecx, 27, "movdiri", LACKS),
    hidden!(7, 0, Ecx, 28, "movdir64b", LACKS),
    hidden!(7, 0, Edx, 4, "fsrm", "as erms"),
    hidden!(7, 0, Edx, 16, "tsxldtrk", TSX),
    hidden!(7, 0, Edx, 23, "avx512_fp16", VEX),
    hidden!(7, 1, Eax, 4, "avx_vnni", VEX),
    hidden!(7, 1, Eax, 5, "avx512_bf16", VEX),
    hidden!(0x8000_0001, 0, Edx, 27, "rdtscp", LACKS),
];

/// What varies per vCPU.
#[derive(Clone, Copy, Debug)]
pub struct CpuidSpec {
    /// This vCPU's APIC ID (= its index).
    pub apic_id: u8,
    /// Number of vCPUs.
    pub cpu_count: u8,
    /// Host kind; PVM hides [`PVM_HIDDEN`].
    pub host: HostKind,
}

/// The CPUID for one vCPU, from KVM's supported entries.
pub fn vcpu_cpuid(supported: &[kvm_cpuid_entry2], spec: &CpuidSpec) -> Vec<kvm_cpuid_entry2> {
    let mut entries = supported.to_vec();
    set_topology(&mut entries, spec);
    set_hypervisor_leaves(&mut entries);
    if spec.host == HostKind::Pvm {
        hide(&mut entries, PVM_HIDDEN);
        // With XSAVE hidden, the XSAVE state leaf must not advertise anything either.
        entries.retain(|e| e.function != 0xd);
    }
    entries
}

fn reg_mut(entry: &mut kvm_cpuid_entry2, reg: Reg) -> &mut u32 {
    match reg {
        Reg::Eax => &mut entry.eax,
        Reg::Ebx => &mut entry.ebx,
        Reg::Ecx => &mut entry.ecx,
        Reg::Edx => &mut entry.edx,
    }
}

/// Clears the listed feature bits.
pub fn hide(entries: &mut [kvm_cpuid_entry2], features: &[HiddenFeature]) {
    for f in features {
        for e in entries
            .iter_mut()
            .filter(|e| e.function == f.leaf && e.index == f.subleaf)
        {
            *reg_mut(e, f.reg) &= !(1 << f.bit);
        }
    }
}

/// Smallest `n` with `1 << n >= count`.
fn id_bits(count: u8) -> u32 {
    u32::from(count.max(1)).next_power_of_two().trailing_zeros()
}

fn leaf(function: u32, index: u32, eax: u32, ebx: u32, ecx: u32, edx: u32) -> kvm_cpuid_entry2 {
    kvm_cpuid_entry2 {
        function,
        index,
        flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
        eax,
        ebx,
        ecx,
        edx,
        padding: [0; 3],
    }
}

/// Extended topology subleaves (0xB / 0x1F): SMT level with 1 thread, core level with
/// `cpu_count` cores, then the invalid level that ends enumeration.
fn topology_subleaves(function: u32, spec: &CpuidSpec) -> [kvm_cpuid_entry2; 3] {
    const LEVEL_SMT: u32 = 1;
    const LEVEL_CORE: u32 = 2;
    let x2apic_id = u32::from(spec.apic_id);
    let core_shift = id_bits(spec.cpu_count);
    [
        leaf(function, 0, 0, 1, LEVEL_SMT << 8, x2apic_id),
        leaf(
            function,
            1,
            core_shift,
            u32::from(spec.cpu_count),
            (LEVEL_CORE << 8) | 1,
            x2apic_id,
        ),
        leaf(function, 2, 0, 0, 2, x2apic_id),
    ]
}

fn set_topology(entries: &mut Vec<kvm_cpuid_entry2>, spec: &CpuidSpec) {
    let count = u32::from(spec.cpu_count.max(1));
    let pow2 = 1u32 << id_bits(spec.cpu_count);
    for e in entries.iter_mut() {
        match e.function {
            1 => {
                // EBX[31:24] initial APIC ID, EBX[23:16] addressable logical processor IDs.
                e.ebx = (e.ebx & 0x0000_ffff) | (u32::from(spec.apic_id) << 24) | (pow2 << 16);
                // EDX[28] HTT: the EBX[23:16] field is valid.
                if count > 1 {
                    e.edx |= 1 << 28;
                } else {
                    e.edx &= !(1 << 28);
                }
                // ECX[31]: running under a hypervisor.
                e.ecx |= 1 << 31;
            }
            4 => {
                // EAX[31:26]: addressable core IDs - 1; EAX[25:14]: threads sharing the cache
                // - 1 (all cores share the last level, nothing else is shared).
                let cache_level = (e.eax >> 5) & 0x7;
                let sharing = if cache_level == 3 { pow2 - 1 } else { 0 };
                e.eax = (e.eax & 0x3fff) | ((pow2 - 1) << 26) | (sharing << 14);
            }
            _ => {}
        }
    }
    for function in [0xb, 0x1f] {
        if entries.iter().any(|e| e.function == function) {
            entries.retain(|e| e.function != function);
            entries.extend(topology_subleaves(function, spec));
        }
    }
}

fn signature_regs(sig: &[u8; 12]) -> (u32, u32, u32) {
    let word = |i: usize| u32::from_le_bytes([sig[i], sig[i + 1], sig[i + 2], sig[i + 3]]);
    (word(0), word(4), word(8))
}

/// Puts our signature at 0x4000_0000 and moves KVM's leaves to 0x4000_0100.
fn set_hypervisor_leaves(entries: &mut Vec<kvm_cpuid_entry2>) {
    let mut kvm_leaves: Vec<kvm_cpuid_entry2> = entries
        .iter()
        .filter(|e| (HYPERVISOR_BASE..HYPERVISOR_BASE + 0x100).contains(&e.function))
        .copied()
        .collect();
    entries.retain(|e| !(HYPERVISOR_BASE..0x4001_0000).contains(&e.function));
    for e in &mut kvm_leaves {
        e.function = e.function - HYPERVISOR_BASE + KVM_LEAVES_BASE;
        if e.function == KVM_LEAVES_BASE {
            // EAX: the highest leaf of this range.
            e.eax = e
                .eax
                .saturating_sub(HYPERVISOR_BASE)
                .saturating_add(KVM_LEAVES_BASE);
        }
    }
    let (ebx, ecx, edx) = signature_regs(&HYPERVISOR_SIGNATURE);
    let mut ours = leaf(HYPERVISOR_BASE, 0, HYPERVISOR_BASE, ebx, ecx, edx);
    ours.flags = 0;
    entries.push(ours);
    entries.extend(kvm_leaves);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(function: u32, index: u32, regs: [u32; 4]) -> kvm_cpuid_entry2 {
        kvm_cpuid_entry2 {
            function,
            index,
            flags: 0,
            eax: regs[0],
            ebx: regs[1],
            ecx: regs[2],
            edx: regs[3],
            padding: [0; 3],
        }
    }

    fn supported() -> Vec<kvm_cpuid_entry2> {
        let (b, c, d) = signature_regs(b"KVMKVMKVM\0\0\0");
        vec![
            entry(0, 0, [0x1f, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]),
            entry(1, 0, [0x806f8, 0x0000_0800, 0xffff_ffff, 0x0fff_ffff]),
            entry(4, 0, [0x121, 0, 0, 0]),
            entry(4, 3, [0x163, 0, 0, 0]),
            entry(7, 0, [0, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff]),
            entry(0xb, 0, [1, 1, 0x100, 0]),
            entry(0xd, 0, [0x2e7, 0, 0, 0]),
            entry(0x4000_0000, 0, [0x4000_0001, b, c, d]),
            entry(0x4000_0001, 0, [0x0100_7afb, 0, 0, 0]),
            entry(0x8000_0001, 0, [0, 0, 0xffff_ffff, 0xffff_ffff]),
        ]
    }

    fn find(entries: &[kvm_cpuid_entry2], f: u32, i: u32) -> kvm_cpuid_entry2 {
        *entries
            .iter()
            .find(|e| e.function == f && e.index == i)
            .unwrap_or_else(|| panic!("leaf {f:#x}.{i}"))
    }

    fn spec(apic_id: u8, cpu_count: u8, host: HostKind) -> CpuidSpec {
        CpuidSpec {
            apic_id,
            cpu_count,
            host,
        }
    }

    #[test]
    fn leaf_1_carries_the_apic_id_count_and_hypervisor_bit() {
        let cpuid = vcpu_cpuid(&supported(), &spec(3, 4, HostKind::Vmx));
        let l1 = find(&cpuid, 1, 0);
        assert_eq!(l1.ebx >> 24, 3);
        assert_eq!((l1.ebx >> 16) & 0xff, 4);
        assert_eq!(l1.ebx & 0xffff, 0x0800); // CLFLUSH size kept
        assert_ne!(l1.edx & (1 << 28), 0);
        assert_ne!(l1.ecx & (1 << 31), 0);
    }

    #[test]
    fn a_single_vcpu_has_no_htt() {
        let cpuid = vcpu_cpuid(&supported(), &spec(0, 1, HostKind::Vmx));
        assert_eq!(find(&cpuid, 1, 0).edx & (1 << 28), 0);
    }

    #[test]
    fn leaf_b_describes_one_package_of_single_thread_cores() {
        let cpuid = vcpu_cpuid(&supported(), &spec(2, 3, HostKind::Vmx));
        let smt = find(&cpuid, 0xb, 0);
        let core = find(&cpuid, 0xb, 1);
        let end = find(&cpuid, 0xb, 2);
        assert_eq!(
            (smt.eax, smt.ebx, (smt.ecx >> 8) & 0xff, smt.edx),
            (0, 1, 1, 2)
        );
        assert_eq!(
            (core.eax, core.ebx, (core.ecx >> 8) & 0xff, core.edx),
            (2, 3, 2, 2)
        );
        assert_eq!(((end.ecx >> 8) & 0xff, end.edx), (0, 2));
        assert_eq!(core.flags, KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    }

    #[test]
    fn leaf_4_core_count_and_llc_sharing() {
        let cpuid = vcpu_cpuid(&supported(), &spec(0, 2, HostKind::Vmx));
        let l1d = find(&cpuid, 4, 0);
        let l3 = find(&cpuid, 4, 3);
        assert_eq!(l1d.eax >> 26, 1);
        assert_eq!((l1d.eax >> 14) & 0xfff, 0);
        assert_eq!((l3.eax >> 14) & 0xfff, 1);
        assert_eq!(l3.eax & 0x3fff, 0x163);
    }

    #[test]
    fn our_signature_comes_first_and_kvm_moves_to_0x40000100() {
        let cpuid = vcpu_cpuid(&supported(), &spec(0, 1, HostKind::Vmx));
        let ours = find(&cpuid, 0x4000_0000, 0);
        let kvm = find(&cpuid, 0x4000_0100, 0);
        let kvm_features = find(&cpuid, 0x4000_0101, 0);
        let sig: Vec<u8> = [ours.ebx, ours.ecx, ours.edx]
            .iter()
            .flat_map(|r| r.to_le_bytes())
            .collect();
        assert_eq!(sig, HYPERVISOR_SIGNATURE);
        assert_eq!(kvm.eax, 0x4000_0101);
        assert_eq!(kvm.ebx, signature_regs(b"KVMKVMKVM\0\0\0").0);
        assert_eq!(kvm_features.eax, 0x0100_7afb);
        assert!(!cpuid.iter().any(|e| e.function == 0x4000_0001));
    }

    #[test]
    fn pvm_hides_the_listed_features_and_the_xsave_leaf() {
        let cpuid = vcpu_cpuid(&supported(), &spec(0, 1, HostKind::Pvm));
        let l1 = find(&cpuid, 1, 0);
        let l7 = find(&cpuid, 7, 0);
        let ext = find(&cpuid, 0x8000_0001, 0);
        assert_eq!(l1.ecx & (1 << 26), 0, "xsave");
        assert_eq!(l1.ecx & (1 << 23), 0, "popcnt");
        assert_ne!(l1.ecx & (1 << 0), 0, "sse3 stays");
        assert_eq!(l7.ebx & (1 << 8), 0, "bmi2");
        assert_eq!(l7.ecx & (1 << 22), 0, "rdpid");
        assert_ne!(l7.ebx & (1 << 7), 0, "smep stays");
        assert_eq!(ext.edx & (1 << 27), 0, "rdtscp");
        assert!(!cpuid.iter().any(|e| e.function == 0xd));
    }

    #[test]
    fn hardware_kvm_keeps_every_feature() {
        let cpuid = vcpu_cpuid(&supported(), &spec(0, 1, HostKind::Vmx));
        assert_eq!(find(&cpuid, 7, 0).ebx, 0xffff_ffff);
        assert!(cpuid.iter().any(|e| e.function == 0xd));
    }
}
