//! The report lines /init prints on the console: `INIT: <event> [key=value]...`.
//!
//! Values never contain spaces, except an `error=` field, which is always the
//! last one on its line. Lines are collected and written with one write(2),
//! because every guest system call is expensive on PVM hosts.

use std::fmt::{self, Write as _};
use std::io::{self, Write as _};

/// Prefix of every line /init prints.
pub const PREFIX: &str = "INIT: ";

/// Report lines not yet written to the console.
#[derive(Debug, Default)]
pub struct Report {
    pending: String,
}

impl Report {
    /// Adds one line (the prefix and newline are added here).
    pub fn line(&mut self, args: fmt::Arguments<'_>) {
        // Writing into a String cannot fail.
        let _ = writeln!(self.pending, "{PREFIX}{args}");
    }

    /// Writes the pending lines to stdout (the console) at once.
    pub fn flush(&mut self) {
        let mut stdout = io::stdout().lock();
        // Nothing useful can be done if the console is gone.
        let _ = stdout.write_all(self.pending.as_bytes());
        let _ = stdout.flush();
        self.pending.clear();
    }

    /// Adds one line and writes everything pending.
    pub fn now(&mut self, args: fmt::Arguments<'_>) {
        self.line(args);
        self.flush();
    }

    #[cfg(test)]
    fn pending(&self) -> &str {
        &self.pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_prefixed_and_terminated() {
        let mut report = Report::default();
        report.line(format_args!("disk-write ok checksum={:#018x}", 0xabu64));
        report.line(format_args!("done status={}", 0));
        assert_eq!(
            report.pending(),
            "INIT: disk-write ok checksum=0x00000000000000ab\nINIT: done status=0\n"
        );
    }
}
