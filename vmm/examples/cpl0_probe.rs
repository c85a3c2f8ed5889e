//! Measures which instructions KVM can run at CPL0 on this host (on PVM: which ones its
//! instruction emulator lacks). Each probe boots a one-instruction guest at CPL0 and reports
//! whether it reached the exit port ("ok"), ended in KVM_EXIT_INTERNAL_ERROR ("EMULATOR
//! LACKS"), or faulted ("fault": #UD/#GP with no IDT = triple fault).
//!
//! `cargo run -p vmm --example cpl0_probe [-- --filtered]`: by default the guest gets KVM's
//! unfiltered supported CPUID (so feature-gated instructions are allowed); `--filtered` gives
//! it the CPUID the VMM really uses; `--cpuid` prints KVM_GET_SUPPORTED_CPUID instead. The results are recorded in docs/PLATFORM.md.

use std::io::Cursor;

use kvm_bindings::CpuId;
use kvm_ioctls::VcpuExit;
use vmm::cpu::cpuid::{CpuidSpec, vcpu_cpuid};
use vmm::{acpi, boot, cpu, layout, memory, vm::Vm};

/// (name, assembly, encoding); each is followed by `xor eax, eax; out 0xf4, al`.
const PROBES: &[(&str, &str, &str)] = &[
    ("nop", "nop", "90"),
    ("cpuid", "mov eax, 1; cpuid", "b8010000000fa2"),
    ("rdtsc", "rdtsc", "0f31"),
    ("rdtscp", "rdtscp", "0f01f9"),
    ("rdpid", "rdpid rax", "f30fc7f8"),
    ("rdrand", "rdrand rax", "480fc7f0"),
    ("rdseed", "rdseed rax", "480fc7f8"),
    ("popcnt", "popcnt rax, rbx", "f3480fb8c3"),
    ("lzcnt", "lzcnt rax, rbx", "f3480fbdc3"),
    ("tzcnt", "tzcnt rax, rbx", "f3480fbcc3"),
    ("bsf", "bsf rax, rbx", "480fbcc3"),
    ("andn (bmi1)", "andn rax, rbx, rcx", "c4e2e0f2c1"),
    ("shlx (bmi2)", "shlx rax, rbx, rcx", "c4e2f1f7c3"),
    ("adcx (adx)", "adcx rax, rbx", "66480f38f6c3"),
    (
        "movbe",
        "mov rbx, 0x200000; movbe rax, [rbx]",
        "48c7c300002000480f38f003",
    ),
    ("crc32", "crc32 rax, rbx", "f2480f38f1c3"),
    (
        "cmpxchg16b",
        "mov rdi, 0x200000; lock cmpxchg16b [rdi]",
        "48c7c700002000f0480fc70f",
    ),
    (
        "lock cmpxchg",
        "mov rdi, 0x200000; lock cmpxchg [rdi], rbx",
        "48c7c700002000f0480fb11f",
    ),
    (
        "lock xadd",
        "mov rdi, 0x200000; lock xadd [rdi], rbx",
        "48c7c700002000f0480fc11f",
    ),
    (
        "rep movsb",
        "mov rsi, 0x200000; mov rdi, 0x210000; mov rcx, 64; rep movsb",
        "48c7c60000200048c7c70000210048c7c140000000f3a4",
    ),
    (
        "rep stosb",
        "mov rdi, 0x210000; mov rcx, 64; rep stosb",
        "48c7c70000210048c7c140000000f3aa",
    ),
    (
        "rep movsq",
        "mov rsi, 0x200000; mov rdi, 0x210000; mov rcx, 8; rep movsq",
        "48c7c60000200048c7c70000210048c7c108000000f348a5",
    ),
    (
        "fxsave",
        "mov rdi, 0x200000; fxsave [rdi]",
        "48c7c7000020000fae07",
    ),
    (
        "fxrstor",
        "mov rdi, 0x200000; fxsave [rdi]; fxrstor [rdi]",
        "48c7c7000020000fae070fae0f",
    ),
    (
        "xgetbv",
        "mov rax, cr4; or rax, 0x40000; mov cr4, rax; xor ecx, ecx; xgetbv",
        "0f20e0480d000004000f22e031c90f01d0",
    ),
    (
        "xsave",
        "mov rax, cr4; or rax, 0x40000; mov cr4, rax; mov rdi, 0x200000; mov eax, 3; xor edx, edx; xsave [rdi]",
        "0f20e0480d000004000f22e048c7c700002000b80300000031d20fae27",
    ),
    (
        "xrstor",
        "mov rax, cr4; or rax, 0x40000; mov cr4, rax; mov rdi, 0x200000; mov eax, 3; xor edx, edx; xsave [rdi]; xrstor [rdi]",
        "0f20e0480d000004000f22e048c7c700002000b80300000031d20fae270fae2f",
    ),
    ("pxor", "pxor xmm0, xmm0", "660fefc0"),
    (
        "movdqa load",
        "mov rdi, 0x200000; movdqa xmm0, [rdi]",
        "48c7c700002000660f6f07",
    ),
    (
        "movaps store",
        "mov rdi, 0x200000; movaps [rdi], xmm0",
        "48c7c7000020000f2907",
    ),
    ("movq xmm", "movq xmm0, rax", "66480f6ec0"),
    ("addps", "addps xmm0, xmm1", "0f58c1"),
    ("cvtsi2sd", "cvtsi2sd xmm0, rax", "f2480f2ac0"),
    (
        "ldmxcsr",
        "mov rdi, 0x200000; mov dword ptr [rdi], 0x1f80; ldmxcsr [rdi]",
        "48c7c700002000c707801f00000fae17",
    ),
    ("fninit", "fninit", "dbe3"),
    ("fld1", "fld1", "d9e8"),
    ("fwait", "fwait", "9b"),
    ("emms", "emms", "0f77"),
    (
        "vpxor (avx)",
        "mov rax, cr4; or rax, 0x40000; mov cr4, rax; xor ecx, ecx; mov eax, 7; xor edx, edx; xsetbv; vpxor xmm0, xmm0, xmm0",
        "0f20e0480d000004000f22e031c9b80700000031d20f01d1c5f9efc0",
    ),
    ("aesenc", "aesenc xmm0, xmm1", "660f38dcc1"),
    ("pclmulqdq", "pclmulqdq xmm0, xmm1, 0", "660f3a44c100"),
    ("sha1rnds4", "sha1rnds4 xmm0, xmm1, 0", "0f3accc100"),
    ("gf2p8mulb", "gf2p8mulb xmm0, xmm1", "660f38cfc1"),
    (
        "xbegin (rtm)",
        "xbegin 1f; xend; 1: nop",
        "c7f8030000000f01d590",
    ),
    ("xtest", "xtest", "0f01d6"),
    (
        "cldemote",
        "mov rdi, 0x200000; cldemote [rdi]",
        "48c7c7000020000f1c07",
    ),
    ("stac", "stac", "0f01cb"),
    ("clac", "clac", "0f01ca"),
    (
        "clflush",
        "mov rdi, 0x200000; clflush [rdi]",
        "48c7c7000020000fae3f",
    ),
    (
        "clflushopt",
        "mov rdi, 0x200000; clflushopt [rdi]",
        "48c7c700002000660fae3f",
    ),
    (
        "clwb",
        "mov rdi, 0x200000; clwb [rdi]",
        "48c7c700002000660fae37",
    ),
    (
        "invpcid",
        "mov rdi, 0x200000; mov qword ptr [rdi], 0; mov qword ptr [rdi+8], 0; mov eax, 2; invpcid rax, [rdi]",
        "48c7c70000200048c7070000000048c7470800000000b802000000660f388207",
    ),
    (
        "pcid cr3 noflush",
        "mov rax, cr4; or rax, 0x20000; mov cr4, rax; mov rax, cr3; bts rax, 63; mov cr3, rax",
        "0f20e0480d000002000f22e00f20d8480fbae83f0f22d8",
    ),
    (
        "invlpg",
        "mov rdi, 0x200000; invlpg [rdi]",
        "48c7c7000020000f013f",
    ),
    (
        "rdfsbase",
        "mov rax, cr4; or rax, 0x10000; mov cr4, rax; rdfsbase rax",
        "0f20e0480d000001000f22e0f3480faec0",
    ),
    (
        "wrfsbase",
        "mov rax, cr4; or rax, 0x10000; mov cr4, rax; wrfsbase rax",
        "0f20e0480d000001000f22e0f3480faed0",
    ),
    ("swapgs", "swapgs", "0f01f8"),
    ("lsl", "mov eax, 0x18; lsl ebx, eax", "b8180000000f03d8"),
    ("int3 (no IDT)", "int3", "cc"),
    ("wbinvd", "wbinvd", "0f09"),
    ("mfence", "mfence", "0faef0"),
    ("lfence", "lfence", "0faee8"),
    ("pause", "pause", "f390"),
    (
        "movnti",
        "mov rdi, 0x200000; movnti [rdi], rax",
        "48c7c700002000480fc307",
    ),
    (
        "prefetcht0",
        "mov rdi, 0x200000; prefetcht0 [rdi]",
        "48c7c7000020000f180f",
    ),
    (
        "movdir64b",
        "mov rdi, 0x200000; mov rsi, 0x210000; movdir64b rdi, [rsi]",
        "48c7c70000200048c7c600002100660f38f83e",
    ),
    (
        "movdiri",
        "mov rdi, 0x200000; movdiri [rdi], rax",
        "48c7c700002000480f38f907",
    ),
    ("serialize", "serialize", "0f01e8"),
    ("rdmsr efer", "mov ecx, 0xc0000080; rdmsr", "b9800000c00f32"),
    (
        "wrmsr lstar",
        "mov ecx, 0xc0000082; xor eax, eax; xor edx, edx; wrmsr",
        "b9820000c031c031d20f30",
    ),
    ("mov cr0", "mov rax, cr0; mov cr0, rax", "0f20c00f22c0"),
    ("bswap", "bswap rax", "480fc8"),
    (
        "xchg",
        "mov rdi, 0x200000; xchg [rdi], rax",
        "48c7c700002000488707",
    ),
    (
        "bt mem",
        "mov rdi, 0x200000; bt qword ptr [rdi], 3",
        "48c7c700002000480fba2703",
    ),
    ("imul", "imul rax, rbx, 7", "486bc307"),
    (
        "div",
        "mov rax, 100; mov rbx, 7; xor edx, edx; div rbx",
        "48c7c06400000048c7c30700000031d248f7f3",
    ),
    ("cmov", "cmovz rax, rbx", "480f44c3"),
    ("setcc", "sete al", "0f94c0"),
];

/// `xor eax, eax; out 0xf4, al`.
const EPILOGUE: [u8; 4] = [0x31, 0xc0, 0xe6, 0xf4];

fn elf(code: &[u8]) -> Vec<u8> {
    let paddr: u64 = 0x10_0000;
    let mut v = Vec::new();
    v.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    for (val, size) in [
        (2u64, 2),
        (62, 2),
        (1, 4),
        (paddr, 8),
        (64, 8),
        (0, 8),
        (0, 4),
        (64, 2),
        (56, 2),
        (1, 2),
        (0, 2),
        (0, 2),
        (0, 2),
    ] {
        v.extend_from_slice(&val.to_le_bytes()[..size]);
    }
    for (val, size) in [
        (1u64, 4),
        (7, 4),
        (120, 8),
        (paddr, 8),
        (paddr, 8),
        (code.len() as u64, 8),
        (code.len() as u64, 8),
        (0x1000, 8),
    ] {
        v.extend_from_slice(&val.to_le_bytes()[..size]);
    }
    v.extend_from_slice(code);
    v
}

fn probe(code: &[u8], filtered: bool) -> Result<String, Box<dyn std::error::Error>> {
    let mem = memory::create_guest_memory(64)?;
    let size = 64 * layout::MIB;
    let image = elf(code);
    let _ = Cursor::new(&image);
    let (_, kernel) = boot::load_kernel(&mem, &image, size)?;
    boot::write_cmdline(&mem, "")?;
    let vm = Vm::new(&mem, 1)?;
    let tables = acpi::build(&acpi::AcpiConfig {
        cpus: 1,
        devices: vec![],
    })?;
    let rsdp = acpi::write(&mem, &tables)?;
    boot::write_boot_structures(&mem, &kernel, 0, None, &layout::e820_map(size), rsdp)?;
    let mut fd = vm.fd.create_vcpu(0)?;
    let supported = vm.supported_cpuid.as_slice();
    let entries = if filtered {
        vcpu_cpuid(
            supported,
            &CpuidSpec {
                apic_id: 0,
                cpu_count: 1,
                host: vm.host,
            },
        )
    } else {
        supported.to_vec()
    };
    fd.set_cpuid2(&CpuId::from_entries(&entries).map_err(|e| format!("{e:?}"))?)?;
    cpu::regs::setup_common(&fd, 0)?;
    cpu::regs::setup_boot_vcpu(&fd, kernel.entry)?;
    for _ in 0..1000 {
        match fd.run()? {
            VcpuExit::IoOut(0xf4, _) => return Ok("ok".into()),
            VcpuExit::IoOut(..) | VcpuExit::IoIn(..) => {}
            VcpuExit::InternalError => return Ok("EMULATOR LACKS (internal error)".into()),
            VcpuExit::Shutdown => {
                let rip = fd.get_regs()?.rip;
                return Ok(format!("fault (triple fault at rip {rip:#x})"));
            }
            other => return Ok(format!("{other:?}")),
        }
    }
    Ok("no exit".into())
}

fn dump_cpuid() -> Result<(), Box<dyn std::error::Error>> {
    let kvm = kvm_ioctls::Kvm::new()?;
    let cpuid = kvm.get_supported_cpuid(kvm_bindings::KVM_MAX_CPUID_ENTRIES)?;
    for e in cpuid.as_slice() {
        println!(
            "{:#010x}.{:<2} eax={:08x} ebx={:08x} ecx={:08x} edx={:08x}",
            e.function, e.index, e.eax, e.ebx, e.ecx, e.edx
        );
    }
    Ok(())
}

fn main() {
    if std::env::args().any(|a| a == "--cpuid") {
        if let Err(e) = dump_cpuid() {
            eprintln!("error: {e}");
        }
        return;
    }
    let filtered = std::env::args().any(|a| a == "--filtered");
    println!(
        "host: {}; CPUID: {}",
        vmm::HostKind::detect(),
        if filtered { "filtered" } else { "unfiltered" }
    );
    for (name, asm, hex) in PROBES {
        let mut code: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0x90))
            .collect();
        code.extend_from_slice(&EPILOGUE);
        let result = probe(&code, filtered).unwrap_or_else(|e| format!("error: {e}"));
        println!("{name:16} {result:40} {asm}");
    }
}
