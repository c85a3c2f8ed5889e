//! Reporting an unexpected CPU exception. `entry.s` records the exception in `gtest_fault_info`
//! and `iretq`s here, at CPL3 on a stack of its own, so the report is ordinary Rust.

/// Exception names by vector (Intel SDM Vol. 3A, Table 6-1).
const NAMES: [&str; 32] = [
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS",
    "#GP", "#PF", "RSV", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "RSV", "RSV", "RSV", "RSV",
    "RSV", "RSV", "#HV", "#VC", "#SX", "RSV",
];

/// The name of exception `vector` ("#PF" for 14).
pub fn exception_name(vector: u64) -> &'static str {
    usize::try_from(vector)
        .ok()
        .and_then(|v| NAMES.get(v))
        .copied()
        .unwrap_or("?")
}

/// Layout of `gtest_fault_info` in entry.s.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct FaultInfo {
    active: u64,
    vector: u64,
    error_code: u64,
    rip: u64,
    cs: u64,
    rflags: u64,
    rsp: u64,
    cr2: u64,
}

/// Prints `ABORT: unhandled exception ...` and exits with `EXCEPTION_BASE + vector`.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn gtest_rt_fault_entry() -> ! {
    unsafe extern "C" {
        static gtest_fault_info: FaultInfo;
    }
    // SAFETY: entry.s wrote the record before switching here and, while `active` is set, never
    // writes it again (a nested fault takes another path).
    let f = unsafe { core::ptr::read_volatile(&raw const gtest_fault_info) };
    crate::serial::finish_line();
    crate::println!(
        "ABORT: unhandled exception {} (vector {}) error_code={:#x} rip={:#x} cs={:#x} rflags={:#x} rsp={:#x}{}",
        exception_name(f.vector),
        f.vector,
        f.error_code,
        f.rip,
        f.cs,
        f.rflags,
        f.rsp,
        Cr2(f.vector, f.cr2),
    );
    let vector = u32::try_from(f.vector.min(31)).unwrap_or(31);
    crate::exit::exit(crate::exit::EXCEPTION_BASE + vector)
}

/// Formats ` cr2=<addr>` for page faults only.
struct Cr2(u64, u64);

impl core::fmt::Display for Cr2 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == 14 {
            write!(f, " cr2={:#x}", self.1)
        } else {
            Ok(())
        }
    }
}
