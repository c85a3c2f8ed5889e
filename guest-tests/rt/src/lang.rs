//! What a freestanding binary must provide itself: the panic handler, `rust_eh_personality`
//! (referenced by the precompiled, unwinding `core`), and the C memory functions the compiler
//! emits calls to (the gnu target's `compiler_builtins` does not export them).

use core::arch::asm;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

/// A panic is a failed check: `FAIL: panic at <file:line:col>: <message>`, the summary, and exit status 3.
#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::Relaxed) {
        crate::exit::exit(crate::exit::FAILURE);
    }
    crate::serial::finish_line();
    // One line: PanicInfo's own Display puts the message on a line of its own.
    match info.location() {
        Some(at) => crate::report::report(false, format_args!("panic at {at}: {}", info.message())),
        None => crate::report::report(false, format_args!("panic: {}", info.message())),
    };
    let _ = crate::report::summary();
    crate::exit::exit(crate::exit::FAILURE)
}

/// Never called: programs are built with `panic = "abort"`.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

/// # Safety
/// The C `memcpy` contract: `n` bytes readable at `src`, writable at `dest`, no overlap.
#[unsafe(no_mangle)]
unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller upholds memcpy's contract; rep movsb copies exactly n bytes forward
    // (DF is clear per the ABI).
    unsafe {
        asm!("rep movsb", inout("rdi") dest => _, inout("rsi") src => _, inout("rcx") n => _,
             options(nostack, preserves_flags))
    };
    dest
}

/// # Safety
/// The C `memmove` contract: `n` bytes readable at `src`, writable at `dest`.
#[unsafe(no_mangle)]
unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize).wrapping_sub(src as usize) >= n {
        // dest is below src or past its end: a forward copy never reads a byte it overwrote.
        // SAFETY: as for memcpy; the order makes the overlap harmless.
        unsafe {
            asm!("rep movsb", inout("rdi") dest => _, inout("rsi") src => _, inout("rcx") n => _,
                 options(nostack, preserves_flags))
        };
    } else {
        // dest overlaps the end of src: copy backwards from the last byte.
        // SAFETY: as above; std/cld bracket the copy so DF is clear again afterwards.
        unsafe {
            asm!("std", "rep movsb", "cld",
                 inout("rdi") dest.add(n - 1) => _, inout("rsi") src.add(n - 1) => _,
                 inout("rcx") n => _, options(nostack))
        };
    }
    dest
}

/// # Safety
/// The C `memset` contract: `n` bytes writable at `dest`.
#[unsafe(no_mangle)]
unsafe extern "C" fn memset(dest: *mut u8, value: i32, n: usize) -> *mut u8 {
    // SAFETY: the caller upholds memset's contract; rep stosb writes exactly n bytes.
    unsafe {
        asm!("rep stosb", inout("rdi") dest => _, inout("rcx") n => _, in("al") value as u8,
             options(nostack, preserves_flags))
    };
    dest
}

/// # Safety
/// The C `memcmp` contract: `n` bytes readable at `a` and `b`.
#[unsafe(no_mangle)]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: i < n, inside both buffers by the caller's contract.
        let (x, y) = unsafe { (a.add(i).read_volatile(), b.add(i).read_volatile()) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// # Safety
/// The C `bcmp` contract: `n` bytes readable at `a` and `b`.
#[unsafe(no_mangle)]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: same contract as memcmp.
    unsafe { memcmp(a, b, n) }
}
