//! kvm-unit-tests-style reporting (`lib/report.c`): one line per check, then a summary.
//!
//! Lines: `PASS: <prefixes><message>`, `FAIL: ...`, `SKIP: ...`, `INFO: ...`, and finally
//! `SUMMARY: N tests, F unexpected failures, S skipped`. Prefixes pushed with [`prefix_push`] are
//! printed as `name: ` before the message. With `gtest.quiet` on the command line PASS and INFO
//! lines are left out ([`quiet`]).

use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::exit;
use crate::sync::Global;

static TESTS: AtomicU32 = AtomicU32::new(0);
static FAILURES: AtomicU32 = AtomicU32::new(0);
static SKIPPED: AtomicU32 = AtomicU32::new(0);

const PREFIX_CAPACITY: usize = 128;
const PREFIX_DEPTH: usize = 8;

struct Prefixes {
    text: [u8; PREFIX_CAPACITY],
    len: usize,
    marks: [usize; PREFIX_DEPTH],
    depth: usize,
}

static PREFIXES: Global<Prefixes> = Global::new(Prefixes {
    text: [0; PREFIX_CAPACITY],
    len: 0,
    marks: [0; PREFIX_DEPTH],
    depth: 0,
});

/// Adds `name` to the prefix of every following line, until [`prefix_pop`]. Prefixes that do not
/// fit (more than 8 levels or 128 bytes) are truncated.
pub fn prefix_push(name: &str) {
    PREFIXES.with(|p| {
        if p.depth < PREFIX_DEPTH {
            p.marks[p.depth] = p.len;
        }
        p.depth += 1;
        for &b in name.as_bytes().iter().chain(b": ") {
            if p.len < PREFIX_CAPACITY {
                p.text[p.len] = b;
                p.len += 1;
            }
        }
    });
}

/// Removes the last prefix pushed.
pub fn prefix_pop() {
    PREFIXES.with(|p| {
        if p.depth == 0 {
            return;
        }
        p.depth -= 1;
        if p.depth < PREFIX_DEPTH {
            p.len = p.marks[p.depth];
        }
    });
}

/// Whether `gtest.quiet` is on the command line: PASS and INFO lines are then not printed
/// (FAIL, SKIP, SUMMARY, ABORT and EXIT always are). Serial output costs one VM exit per byte, so
/// boot-time measurements use it; a runner that cross-checks line counts must not.
pub fn quiet() -> bool {
    crate::cmdline::has(crate::boot::cmdline_str(), "gtest.quiet")
}

fn line(tag: &str, args: fmt::Arguments<'_>) {
    crate::serial::write_bytes(tag.as_bytes());
    let mut prefix = [0u8; PREFIX_CAPACITY];
    let len = PREFIXES.with(|p| {
        prefix[..p.len].copy_from_slice(&p.text[..p.len]);
        p.len
    });
    crate::serial::write_bytes(&prefix[..len]);
    crate::serial::_print(args);
    crate::serial::write_bytes(b"\n");
}

/// Records one check: `PASS` if `pass`, else `FAIL` (an unexpected failure). Returns `pass`.
pub fn report(pass: bool, args: fmt::Arguments<'_>) -> bool {
    TESTS.fetch_add(1, Ordering::Relaxed);
    if pass {
        if !quiet() {
            line("PASS: ", args);
        }
    } else {
        FAILURES.fetch_add(1, Ordering::Relaxed);
        line("FAIL: ", args);
    }
    pass
}

/// Records a check that could not run.
pub fn report_skip(args: fmt::Arguments<'_>) {
    TESTS.fetch_add(1, Ordering::Relaxed);
    SKIPPED.fetch_add(1, Ordering::Relaxed);
    line("SKIP: ", args);
}

/// Prints information; not a check.
pub fn report_info(args: fmt::Arguments<'_>) {
    if !quiet() {
        line("INFO: ", args);
    }
}

/// Counts so far: (tests, unexpected failures, skipped).
pub fn counts() -> (u32, u32, u32) {
    (
        TESTS.load(Ordering::Relaxed),
        FAILURES.load(Ordering::Relaxed),
        SKIPPED.load(Ordering::Relaxed),
    )
}

/// The exit status the counts imply: [`exit::FAILURE`] if anything failed, else
/// [`exit::ALL_SKIPPED`] if every check (or no check at all) was skipped, else [`exit::PASS`].
pub fn status_of(tests: u32, failures: u32, skipped: u32) -> u32 {
    if failures > 0 {
        exit::FAILURE
    } else if skipped == tests {
        exit::ALL_SKIPPED
    } else {
        exit::PASS
    }
}

/// Prints `SUMMARY: N tests, F unexpected failures, S skipped` and returns the exit status.
pub fn summary() -> u32 {
    let (tests, failures, skipped) = counts();
    crate::println!("SUMMARY: {tests} tests, {failures} unexpected failures, {skipped} skipped");
    status_of(tests, failures, skipped)
}

/// `report!(cond, "fmt", args..)`: one PASS/FAIL check; evaluates to `cond`.
#[macro_export]
macro_rules! report {
    ($cond:expr, $($arg:tt)*) => { $crate::report::report($cond, format_args!($($arg)*)) };
}

/// `report_skip!("fmt", args..)`: a check that could not run.
#[macro_export]
macro_rules! report_skip {
    ($($arg:tt)*) => { $crate::report::report_skip(format_args!($($arg)*)) };
}

/// `report_info!("fmt", args..)`: an `INFO:` line.
#[macro_export]
macro_rules! report_info {
    ($($arg:tt)*) => { $crate::report::report_info(format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_kvm_unit_tests_rules() {
        assert_eq!(status_of(5, 0, 1), exit::PASS);
        assert_eq!(status_of(5, 1, 0), exit::FAILURE);
        assert_eq!(status_of(2, 0, 2), exit::ALL_SKIPPED);
        assert_eq!(status_of(0, 0, 0), exit::ALL_SKIPPED);
    }
}
