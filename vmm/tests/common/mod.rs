//! Shared by the integration tests: the KVM gate, a minimal ELF64 builder and tiny hand-made
//! guests (machine code assembled with GNU as, source in the comments).

#![allow(dead_code)]

use vmm::{KernelImage, RunOutcome, SerialOutput, Vmm, VmmConfig};

/// Returns from the test when /dev/kvm cannot be opened, unless REQUIRE_KVM=1, in which case the
/// test fails.
#[macro_export]
macro_rules! require_kvm {
    () => {
        if let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/kvm")
        {
            if std::env::var("REQUIRE_KVM").as_deref() == Ok("1") {
                panic!("REQUIRE_KVM=1 but /dev/kvm cannot be opened: {e}");
            }
            eprintln!("skipped: /dev/kvm unavailable ({e})");
            return;
        }
    };
}

/// Where the test guests are linked and loaded.
pub const LOAD_ADDR: u64 = 0x10_0000;

/// An ELF64 x86-64 executable with one RWX PT_LOAD of `code` at `paddr` (+ `bss` zero bytes),
/// entered at `paddr`.
pub fn elf_at(paddr: u64, code: &[u8], bss: u64) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    let ehdr: [(u64, usize); 13] = [
        (2, 2),     // e_type: ET_EXEC
        (62, 2),    // e_machine: EM_X86_64
        (1, 4),     // e_version
        (paddr, 8), // e_entry
        (64, 8),    // e_phoff
        (0, 8),     // e_shoff
        (0, 4),     // e_flags
        (64, 2),    // e_ehsize
        (56, 2),    // e_phentsize
        (1, 2),     // e_phnum
        (0, 2),     // e_shentsize
        (0, 2),     // e_shnum
        (0, 2),     // e_shstrndx
    ];
    for (val, size) in ehdr {
        v.extend_from_slice(&val.to_le_bytes()[..size]);
    }
    let phdr: [(u64, usize); 8] = [
        (1, 4),                       // PT_LOAD
        (7, 4),                       // RWX
        (120, 8),                     // p_offset
        (paddr, 8),                   // p_vaddr
        (paddr, 8),                   // p_paddr
        (code.len() as u64, 8),       // p_filesz
        (code.len() as u64 + bss, 8), // p_memsz
        (0x1000, 8),                  // p_align
    ];
    for (val, size) in phdr {
        v.extend_from_slice(&val.to_le_bytes()[..size]);
    }
    v.extend_from_slice(code);
    v
}

/// [`elf_at`] at [`LOAD_ADDR`].
pub fn elf(code: &[u8]) -> Vec<u8> {
    elf_at(LOAD_ADDR, code, 0)
}

/// Decodes a hex string.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// ```text
/// mov dx, 0x3f8; mov al, 'h'; out dx, al; mov al, 'i'; out dx, al
/// mov al, 42; out 0xf4, al; hlt
/// ```
pub const HELLO: &str = "66baf803b068eeb069eeb02ae6f4f4";
/// `mov ax, 0x1234; out 0xf4, ax; hlt`
pub const EXIT16: &str = "66b8341266e7f4f4";
/// `mov eax, 0xdeadbeef; out 0xf4, eax; hlt`
pub const EXIT32: &str = "b8efbeaddee7f4f4";
/// `1: jmp 1b`
pub const SPIN: &str = "ebfe";
/// `ud2` (no IDT at entry, so the #UD becomes a triple fault)
pub const UD2: &str = "0f0b";
/// `mov al, 0xfe; out 0x64, al; hlt`
pub const I8042_RESET: &str = "b0fee664f4";
/// Follows the zero page's acpi_rsdp_addr to the RSDP, the XSDT, its first entry (the FADT)
/// and the FADT's SLEEP_CONTROL_REG, and writes SLP_EN | SLP_TYP=5 there:
/// ```text
/// mov rax, [rsi + 0x70]; mov rax, [rax + 24]; mov rax, [rax + 36]
/// mov edx, [rax + 244 + 4]; mov al, 0x34; out dx, al; hlt
/// ```
pub const ACPI_POWEROFF: &str = "488b4670488b4018488b40248b90f8000000b034eef4";
/// Checks the entry state and exits with a bit mask of failed checks (0 = all pass):
/// ```text
/// 0x001 CR0 & (PG|NE|EM|MP|PE) == PG|NE|MP|PE     0x002 CR4 has PAE|OSFXSR|OSXMMEXCPT
/// 0x004 EFER has LME|LMA                          0x008 RFLAGS.IF == 0
/// 0x010 RSI == 0x7000                             0x020 zero page has "HdrS" at 0x202
/// 0x040 cmd_line_ptr -> "check-me\0"              0x080 e820_entries >= 3
/// 0x100 acpi_rsdp_addr -> "RSD PTR "              0x200 CS == 0x10
/// 0x400 SS == 0x18                                0x800 LAPIC version (MMIO 0xfee00030) != 0
/// mov eax, r15d; out 0xf4, eax
/// ```
pub const ENTRY_STATE: &str = "4531ff0f20c025270000803d2300008074044183cf010f20e025200600003d2006000074044183cf02b9800000c00f3225000500003d0005000074044183cf049c58a90002000074044183cf084881fe0070000074044183cf1081be020200004864725374044183cf208b8628020000813863686563750f8178046b2d6d6575068078080074044183cf4080bee80100000373074181cf80000000488b467048bb525344205054522048391874074181cf00010000668cc86683f81074074181cf00020000668cd06683f81874074181cf00040000a13000e0fe0000000084c075074181cf000800004489f8e7f4f4";
/// BSP copies a real-mode trampoline to 0x10000, software-enables its LAPIC, sends INIT and
/// SIPI (vector 0x10) to APIC ID 1 through the ICR, waits (up to 6e9 TSC cycles, 2–3 s) for the
/// AP to set byte 0x10100, prints "A" and exits 0 (exits 1 if the AP never runs).
/// AP (16-bit, CS=0x1000): `mov ax, 0x1000; mov ds, ax; mov byte [0x100], 1; cli; 1: hlt; jmp 1b`.
pub const SMP_START_AP: &str = "488d359500000048c7c70000010048c7c10e000000f3a4c60425000101000048bf0000e0fe00000000c787f0000000ff010000c7871003000000000001c7870003000000450000c7871003000000000001c78700030000104600000f3148c1e2204809d04989c149ba00bca06501000000803c25000101000174150f3148c1e2204809d04c29c84c39d072e5b001e6f466baf803b041ee31c0e6f4f4b800108ed8c606000101faf4ebfd";
/// Polls COM1's LSR for data ready, reads the byte and exits with it:
/// `mov dx, 0x3fd; 1: in al, dx; test al, 1; jz 1b; mov dx, 0x3f8; in al, dx; out 0xf4, al`
pub const ECHO_INPUT: &str = "66bafd03eca80174fb66baf803ece6f4f4";
/// `in al, 0x80` must read 0xff (nobody owns the port); then `rep outsb` of "rep\n" to COM1;
/// exit 0 (exit 2 if the IN did not read 0xff).
pub const PIO: &str = "e4803cff7516488d351400000066baf803b904000000f36e31c0e6f4b002e6f4f47265700a";

/// Talks to a virtio-mmio slot 0 at 0xd0000000: reads offset 0, writes queue index 0 to
/// QueueNotify (0x50) and 0xf to Status (0x70), exits with the value read:
/// ```text
/// mov rdi, 0xd0000000; mov r8d, [rdi]; mov dword [rdi + 0x50], 0
/// mov dword [rdi + 0x70], 0xf; mov eax, r8d; out 0xf4, eax
/// ```
pub const VIRTIO_SLOT0: &str = "48bf000000d000000000448b07c7475000000000c747700f0000004489c0e7f4f4";
/// `pxor xmm0, xmm0; xor eax, eax; out 0xf4, al` — SSE arithmetic at CPL0.
pub const PXOR_AT_CPL0: &str = "660fefc031c0e6f4f4";

/// A config for `code`, capturing serial output, with a 10 s safety timeout.
pub fn config(code: &str) -> VmmConfig {
    VmmConfig {
        kernel: KernelImage::from_vec(elf(&hex(code))),
        serial: SerialOutput::Capture,
        memory_mib: 64,
        timeout: Some(std::time::Duration::from_secs(10)),
        ..Default::default()
    }
}

/// Builds and runs a VM.
pub fn run(config: VmmConfig) -> RunOutcome {
    Vmm::new(config).expect("VM setup").run().expect("VM run")
}
