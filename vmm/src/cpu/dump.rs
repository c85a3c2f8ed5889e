//! Register dumps for crash reports.

use std::fmt::Write;

use kvm_bindings::{kvm_regs, kvm_segment, kvm_sregs};

fn seg(name: &str, s: &kvm_segment) -> String {
    format!(
        "{name}={:#06x} base={:#x} limit={:#x} type={:#x} dpl={} p={} l={} db={}",
        s.selector, s.base, s.limit, s.type_, s.dpl, s.present, s.l, s.db
    )
}

/// Formats general and special registers, and optionally the code bytes at RIP.
pub fn format_registers(
    regs: Option<&kvm_regs>,
    sregs: Option<&kvm_sregs>,
    code_at_rip: Option<&[u8]>,
) -> String {
    let mut out = String::new();
    if let Some(r) = regs {
        let _ = writeln!(
            out,
            "  rip={:#018x} rsp={:#018x} rflags={:#010x}",
            r.rip, r.rsp, r.rflags
        );
        let _ = writeln!(
            out,
            "  rax={:#018x} rbx={:#018x} rcx={:#018x} rdx={:#018x}",
            r.rax, r.rbx, r.rcx, r.rdx
        );
        let _ = writeln!(
            out,
            "  rsi={:#018x} rdi={:#018x} rbp={:#018x} r8 ={:#018x}",
            r.rsi, r.rdi, r.rbp, r.r8
        );
        let _ = writeln!(
            out,
            "  r9 ={:#018x} r10={:#018x} r11={:#018x} r12={:#018x}",
            r.r9, r.r10, r.r11, r.r12
        );
        let _ = writeln!(
            out,
            "  r13={:#018x} r14={:#018x} r15={:#018x}",
            r.r13, r.r14, r.r15
        );
    } else {
        out.push_str("  (general registers unavailable)\n");
    }
    if let Some(s) = sregs {
        let _ = writeln!(
            out,
            "  cr0={:#x} cr2={:#x} cr3={:#x} cr4={:#x} efer={:#x}",
            s.cr0, s.cr2, s.cr3, s.cr4, s.efer
        );
        let _ = writeln!(out, "  {}", seg("cs", &s.cs));
        let _ = writeln!(out, "  {}", seg("ss", &s.ss));
        let _ = writeln!(out, "  {}", seg("tr", &s.tr));
        let _ = writeln!(
            out,
            "  gdt base={:#x} limit={:#x}  idt base={:#x} limit={:#x}",
            s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit
        );
    } else {
        out.push_str("  (special registers unavailable)\n");
    }
    if let Some(code) = code_at_rip {
        let bytes: Vec<String> = code.iter().map(|b| format!("{b:02x}")).collect();
        let _ = writeln!(out, "  code at rip: {}", bytes.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_names_rip_and_control_registers() {
        let regs = kvm_regs {
            rip: 0x10_0005,
            ..Default::default()
        };
        let sregs = kvm_sregs {
            cr3: 0x9000,
            ..Default::default()
        };
        let dump = format_registers(Some(&regs), Some(&sregs), Some(&[0x0f, 0x0b]));
        assert!(dump.contains("rip=0x0000000000100005"));
        assert!(dump.contains("cr3=0x9000"));
        assert!(dump.contains("code at rip: 0f 0b"));
    }
}
