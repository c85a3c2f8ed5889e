// gtest-rt CPL0 prologue, descriptor tables, exception handlers (Intel syntax, global_asm!).
//
// Everything here runs at CPL0, which PVM executes with KVM's instruction emulator (~1.6 M
// instructions/s, no SSE/x87/VEX): integer instructions only, and as few as possible. The
// program's Rust code runs at CPL3 (native under PVM); port I/O it does there faults with #GP and
// is carried out by the #GP handler below (guest-programs.md §5).
//
// Entry points:
//   _start            64-bit Linux boot protocol (docs/PLATFORM.md): long mode, RSI = boot_params.
//   gtest_pvh_start   PVH (XEN_ELFNOTE_PHYS32_ENTRY): 32-bit protected mode, paging off,
//                     EBX = hvm_start_info. Used by `qemu-system-x86_64 -kernel`.
// Both record the entry state in gtest_entry_state, switch to the runtime's own page tables, GDT,
// TSS and IDT, and iretq to gtest_rt_user_entry (Rust, CPL3) with IF=0 and IOPL=3.

.set KERNEL_CS,        0x08
.set KERNEL_DS,        0x10
.set USER_DS,          0x18 + 3
.set USER_CS,          0x20 + 3
.set TSS_SEL,          0x28
.set USER_RFLAGS,      0x3002          // IOPL=3 (in/out run directly on hardware KVM), IF=0
.set EXC_STUB_SIZE,    16
.set EXC_VECTORS,      32
.set MSR_EFER,         0xC0000080
.set COM1,             0x3f8
.set EXIT_PORT,        0xf4
.set NESTED_FAULT_EXIT, 63             // gtest_rt::exit::NESTED_FAULT
.set BOOT_LINUX64,     1               // gtest_rt::boot::BootProtocol
.set BOOT_PVH,         2
.set AP_ENTRY,         3               // not a boot protocol: an AP leaving the trampoline
.set LAPIC_ID_REG,     0xFEE00020
.set AP_ID_SLOTS,      64              // gtest_rt::smp::MAX_APS

// -------------------------------------------------------------------------------------------
// Entry
// -------------------------------------------------------------------------------------------
.section .text.gtest_entry, "ax"
.code64
.global _start
_start:
    mov edi, BOOT_LINUX64
    jmp gtest_record_entry

// PVH entry: 32-bit flat protected mode, paging off, EBX = hvm_start_info (Xen PVH ABI).
.code32
.global gtest_pvh_start
gtest_pvh_start:
    mov esi, ebx
    mov edi, BOOT_PVH
    jmp .Lenter_long_mode

// Application processors arrive here from gtest_ap_trampoline (below 1 MiB) in 32-bit flat
// protected mode with the trampoline's GDT (0x08 code, 0x10 data).
gtest_ap_start32:
    mov eax, 0x10
    mov ds, eax
    mov es, eax
    mov ss, eax
    mov edi, AP_ENTRY

// 32-bit flat protected mode, paging off -> 64-bit mode on the runtime's page tables and GDT.
.Lenter_long_mode:
    mov eax, cr4
    or eax, (1 << 5) + (1 << 9) + (1 << 10)         // PAE, OSFXSR, OSXMMEXCPT
    mov cr4, eax
    mov eax, offset gtest_pml4
    mov cr3, eax
    mov ecx, MSR_EFER
    rdmsr
    or eax, (1 << 8)                                // LME
    wrmsr
    mov eax, cr0
    and eax, 0xFFFFFFFB                             // clear EM
    or eax, 0x80000023                              // PG, NE, MP, PE
    mov cr0, eax
    lgdt [gtest_gdtr]                               // 32-bit lgdt reads the low 4 base bytes
    .byte 0xEA                                      // ljmp KERNEL_CS:.Llong_mode
    .long .Llong_mode
    .word KERNEL_CS
.code64
.Llong_mode:
    cmp edi, AP_ENTRY
    je .Lap_park
    mov esi, esi                                    // zero-extend the start_info address
    jmp gtest_record_entry

// An AP takes a slot, records its local APIC ID there, then counts itself as arrived (so the
// BSP never reads a slot before it is written) and halts at CPL0 for good (gtest_rt::smp).
.Lap_park:
    mov eax, LAPIC_ID_REG
    mov eax, [rax]
    shr eax, 24
    mov ecx, 1
    lock xadd dword ptr [rip + gtest_ap_slots], ecx
    cmp ecx, AP_ID_SLOTS
    jae 5f
    lea rdx, [rip + gtest_ap_ids]
    mov [rdx + rcx * 4], eax
5:
    lock inc dword ptr [rip + gtest_ap_count]
4:
    cli
    hlt
    jmp 4b

// edi = boot protocol, rsi = boot_params / hvm_start_info
gtest_record_entry:
    lea rsp, [rip + gtest_kernel_stack_top]
    lea rbx, [rip + gtest_entry_state]
    mov [rbx], rdi
    mov [rbx + 8], rsi
    mov rax, cr0
    mov [rbx + 16], rax
    mov rax, cr4
    mov [rbx + 24], rax
    mov ecx, MSR_EFER
    rdmsr
    shl rdx, 32
    or rax, rdx
    mov [rbx + 32], rax
    pushfq
    pop rax
    mov [rbx + 40], rax

    // Identity map of the low 4 GiB, user-accessible (static tables, nothing to build).
    lea rax, [rip + gtest_pml4]
    mov cr3, rax

    // Our GDT; reload CS with a far return, then the data segments.
    lgdt [rip + gtest_gdtr]
    lea rax, [rip + 1f]
    push KERNEL_CS
    push rax
    .byte 0x48, 0xCB                                // retfq
1:
    mov eax, KERNEL_DS
    mov ds, eax
    mov es, eax
    mov ss, eax
    xor eax, eax
    mov fs, eax
    mov gs, eax

    // The TSS descriptor's base is split into fields: patch it in, then load TR.
    lea rax, [rip + gtest_tss]
    lea rdi, [rip + gtest_gdt + TSS_SEL]
    mov [rdi + 2], ax
    shr rax, 16
    mov [rdi + 4], al
    mov [rdi + 7], ah
    shr rax, 16
    mov [rdi + 8], eax
    mov eax, TSS_SEL
    ltr ax

    // IDT: 32 interrupt gates (DPL 0, IST 1) to the 16-byte stubs; #DF, NMI and #MC on IST 2.
    lea rsi, [rip + gtest_exception_stubs]
    lea rdi, [rip + gtest_idt]
    mov ecx, EXC_VECTORS
2:
    mov rax, rsi
    mov [rdi], ax
    mov dword ptr [rdi + 2], 0x8E010000 + KERNEL_CS  // selector, IST 1, type 0xE, P
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    add rsi, EXC_STUB_SIZE
    add rdi, 16
    dec ecx
    jnz 2b
    mov byte ptr [rip + gtest_idt + 2 * 16 + 4], 2
    mov byte ptr [rip + gtest_idt + 8 * 16 + 4], 2
    mov byte ptr [rip + gtest_idt + 18 * 16 + 4], 2
    lidt [rip + gtest_idtr]

    // Drop to CPL3 with IF=0. RSP is 8 below a 16-byte boundary, as after a call.
    push USER_DS
    lea rax, [rip + gtest_user_stack_top - 8]
    push rax
    push USER_RFLAGS
    push USER_CS
    lea rax, [rip + gtest_rt_user_entry]
    push rax
    iretq

// -------------------------------------------------------------------------------------------
// Exceptions
// -------------------------------------------------------------------------------------------
// One 16-byte stub per vector: push a zero error code where the CPU pushes none, push the
// vector, go to the common handler.
.macro EXC_STUB vec, has_err
    .balign EXC_STUB_SIZE
    .if \has_err == 0
    push 0
    .endif
    push \vec
    jmp gtest_exception_common
.endm

.balign EXC_STUB_SIZE
gtest_exception_stubs:
    EXC_STUB 0, 0
    EXC_STUB 1, 0
    EXC_STUB 2, 0
    EXC_STUB 3, 0
    EXC_STUB 4, 0
    EXC_STUB 5, 0
    EXC_STUB 6, 0
    EXC_STUB 7, 0
    EXC_STUB 8, 1
    EXC_STUB 9, 0
    EXC_STUB 10, 1
    EXC_STUB 11, 1
    EXC_STUB 12, 1
    EXC_STUB 13, 1
    EXC_STUB 14, 1
    EXC_STUB 15, 0
    EXC_STUB 16, 0
    EXC_STUB 17, 1
    EXC_STUB 18, 0
    EXC_STUB 19, 0
    EXC_STUB 20, 0
    EXC_STUB 21, 1
    EXC_STUB 22, 0
    EXC_STUB 23, 0
    EXC_STUB 24, 0
    EXC_STUB 25, 0
    EXC_STUB 26, 0
    EXC_STUB 27, 0
    EXC_STUB 28, 0
    EXC_STUB 29, 1
    EXC_STUB 30, 1
    EXC_STUB 31, 0

// Stack: vector, error code, RIP, CS, RFLAGS, RSP, SS.
gtest_exception_common:
    cmp qword ptr [rsp], 13
    jne gtest_fault_fatal
    test byte ptr [rsp + 24], 3
    jz gtest_fault_fatal

    // #GP at CPL3: if it was port I/O, do it here and resume after the instruction. Handled:
    // in/out with an imm8 or dx port, 8/16/32-bit (0x66 prefix), and `rep outsb`.
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    // rdi@0 rsi@8 rdx@16 rcx@24 rbx@32 rax@40 vector@48 error@56 rip@64 cs@72 rflags@80
    mov rsi, [rsp + 64]
    xor ebx, ebx                        // ebx = 1: operand-size prefix (16-bit)
    movzx ecx, byte ptr [rsi]
    cmp ecx, 0x66
    jne 1f
    mov ebx, 1
    inc rsi
    movzx ecx, byte ptr [rsi]
1:
    cmp ecx, 0xF3
    je .Lgp_rep
    mov eax, ecx                        // E4-E7, EC-EF: bit 0 wide, bit 1 out, bit 3 dx port
    and eax, 0xF4
    cmp eax, 0xE4
    jne .Lgp_not_io
    test ecx, 8
    jnz 2f
    movzx edx, byte ptr [rsi + 1]
    add rsi, 2
    jmp 3f
2:
    movzx edx, word ptr [rsp + 16]
    inc rsi
3:
    mov [rsp + 64], rsi
    mov rax, [rsp + 40]
    test ecx, 2
    jnz .Lgp_out
    test ecx, 1
    jz .Lgp_in8
    test ebx, ebx
    jnz .Lgp_in16
    in eax, dx
    jmp .Lgp_in_done
.Lgp_in16:
    in ax, dx
    jmp .Lgp_in_done
.Lgp_in8:
    in al, dx
.Lgp_in_done:
    mov [rsp + 40], rax
    jmp .Lgp_return
.Lgp_out:
    test ecx, 1
    jz .Lgp_out8
    test ebx, ebx
    jnz .Lgp_out16
    out dx, eax
    jmp .Lgp_return
.Lgp_out16:
    out dx, ax
    jmp .Lgp_return
.Lgp_out8:
    out dx, al
.Lgp_return:
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq

.Lgp_rep:                               // F3 6E: rep outsb (the serial driver's burst write)
    test ebx, ebx
    jnz .Lgp_not_io
    cmp byte ptr [rsi + 1], 0x6E
    jne .Lgp_not_io
    add rsi, 2
    mov [rsp + 64], rsi
    mov rsi, [rsp + 8]
    mov rcx, [rsp + 24]
    mov rdx, [rsp + 16]
    rep outsb
    mov [rsp + 8], rsi
    mov [rsp + 24], rcx
    jmp .Lgp_return

.Lgp_not_io:
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    // fall through

// Any other exception: record it, then report it from CPL3 (gtest_rt_fault_entry, Rust) on the
// fault stack. A fault while a report is in progress only prints a fixed line and exits.
gtest_fault_fatal:
    lea rdi, [rip + gtest_fault_info]
    cmp qword ptr [rdi], 0
    jne .Lnested_fault
    mov qword ptr [rdi], 1
    mov rax, [rsp]
    mov [rdi + 8], rax                  // vector
    mov rax, [rsp + 8]
    mov [rdi + 16], rax                 // error code
    mov rax, [rsp + 16]
    mov [rdi + 24], rax                 // RIP
    mov rax, [rsp + 24]
    mov [rdi + 32], rax                 // CS
    mov rax, [rsp + 32]
    mov [rdi + 40], rax                 // RFLAGS
    mov rax, [rsp + 40]
    mov [rdi + 48], rax                 // RSP
    mov rax, cr2
    mov [rdi + 56], rax                 // CR2
    push USER_DS
    lea rax, [rip + gtest_fault_stack_top - 8]
    push rax
    push USER_RFLAGS
    push USER_CS
    lea rax, [rip + gtest_rt_fault_entry]
    push rax
    iretq

.Lnested_fault:
    lea rsi, [rip + .Lnested_msg]
    lea rcx, [rip + .Lnested_msg_end]
    sub rcx, rsi
    mov edx, COM1
    cld
    rep outsb
    mov eax, NESTED_FAULT_EXIT
    out EXIT_PORT, eax
3:
    cli
    hlt
    jmp 3b

// -------------------------------------------------------------------------------------------
// Data
// -------------------------------------------------------------------------------------------
.section .rodata.gtest_entry, "a"
.Lnested_msg:
    .ascii "ABORT: fault while reporting a fault\n"
.Lnested_msg_end:

// Real-mode start-up code for application processors, copied by gtest_rt::smp to a page below
// 1 MiB (SIPI vector = page >> 12); it starts at CS = page >> 4, IP = 0. Layout: a jump, the GDT
// at offset 8 (null, 32-bit flat code 0x08, data 0x10), the GDTR at offset 32 whose base the copier
// sets to page + 8, the code at offset 40.
.balign 16
.global gtest_ap_trampoline
gtest_ap_trampoline:
.code16
    .byte 0xEB, 38                                  // jmp short to offset 40
    .balign 8
    .quad 0
    .quad 0x00CF9A000000FFFF
    .quad 0x00CF92000000FFFF
.Lap_gdtr:
    .word 23
    .long 0
    .balign 8
.Lap_real_mode:
    cli
    mov ax, cs
    mov ds, ax
    .byte 0x0F, 0x01, 0x16                          // lgdt [32] (DS-relative: the copy's GDTR)
    .word 32
    mov eax, cr0
    or al, 1                                        // PE
    mov cr0, eax
    .byte 0x66, 0xEA                                // ljmp 0x08:gtest_ap_start32 (32-bit offset)
    .long gtest_ap_start32
    .word 0x08
.code64
.global gtest_ap_trampoline_end
gtest_ap_trampoline_end:

// Identity map of [0, 4 GiB) with 2 MiB pages, P|RW|US on every level so CPL3 reaches RAM, ACPI
// tables and MMIO; [3 GiB, 4 GiB) (the MMIO gap) also PCD|PWT.
.section .data.gtest_paging, "aw"
.balign 4096
.global gtest_pml4
gtest_pml4:
    .quad gtest_pdpt + 0x7
    .fill 511, 8, 0
gtest_pdpt:
    .quad gtest_pd + 0x7
    .quad gtest_pd + 0x1000 + 0x7
    .quad gtest_pd + 0x2000 + 0x7
    .quad gtest_pd + 0x3000 + 0x7
    .fill 508, 8, 0
gtest_pd:
    .set gtest_pd_addr, 0
    .rept 1536
    .quad gtest_pd_addr + 0x87          // P, RW, US, PS
    .set gtest_pd_addr, gtest_pd_addr + 0x200000
    .endr
    .rept 512
    .quad gtest_pd_addr + 0x9F          // P, RW, US, PWT, PCD, PS
    .set gtest_pd_addr, gtest_pd_addr + 0x200000
    .endr

.section .data.gtest_tables, "aw"
.balign 16
gtest_gdt:
    .quad 0
    .quad 0x00AF9B000000FFFF            // 0x08 kernel code, 64-bit
    .quad 0x00CF93000000FFFF            // 0x10 kernel data
    .quad 0x00CFF3000000FFFF            // 0x18 user data
    .quad 0x00AFFB000000FFFF            // 0x20 user code, 64-bit
    .quad 0x0000890000000067            // 0x28 64-bit TSS, limit 0x67 (base patched at boot)
    .quad 0
gtest_gdt_end:

.balign 16
    .word 0, 0, 0
gtest_gdtr:
    .word gtest_gdt_end - gtest_gdt - 1
    .quad gtest_gdt

.balign 16
    .word 0, 0, 0
gtest_idtr:
    .word EXC_VECTORS * 16 - 1
    .quad gtest_idt

// 64-bit TSS: RSP0, IST1 (exceptions), IST2 (#DF, NMI, #MC); no I/O bitmap.
.balign 16
gtest_tss:
    .long 0
    .quad gtest_kernel_stack_top        // RSP0
    .quad 0, 0                          // RSP1, RSP2
    .quad 0
    .quad gtest_ist1_top                // IST1
    .quad gtest_ist2_top                // IST2
    .quad 0, 0, 0, 0, 0                 // IST3-7
    .quad 0
    .word 0
    .word 104                           // I/O map base beyond the limit: no bitmap

.section .bss.gtest_stacks, "aw", @nobits
.balign 4096
    .skip 16384
gtest_kernel_stack_top:
    .skip 16384
gtest_ist1_top:
    .skip 8192
gtest_ist2_top:
    .skip 262144
.global gtest_user_stack_top
gtest_user_stack_top:
    .skip 65536
gtest_fault_stack_top:

.balign 16
.global gtest_idt
gtest_idt:
    .skip EXC_VECTORS * 16
.global gtest_entry_state
gtest_entry_state:                      // gtest_rt::cpu::EntryState
    .skip 48
.global gtest_fault_info
gtest_fault_info:                       // gtest_rt::fault::FaultInfo
    .skip 64
.global gtest_ap_count
gtest_ap_count:                         // APs that reached 64-bit mode (gtest_rt::smp)
    .skip 4
gtest_ap_slots:                         // next free slot of gtest_ap_ids
    .skip 4
.global gtest_ap_ids
gtest_ap_ids:                           // their local APIC IDs, in arrival order
    .skip 64 * 4

// PVH entry point for QEMU -kernel (and any PVH loader).
.section .note.Xen, "a", @note
.balign 4
    .long 4                             // name size ("Xen\0")
    .long 4                             // descriptor size
    .long 18                            // XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .long gtest_pvh_start
