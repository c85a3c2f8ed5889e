//! What /init does, as selected by the kernel command line (`/proc/cmdline`).
//!
//! Parameters (all optional; the kernel ignores unknown dotted parameters and
//! does not pass them to /init's argv/envp, so they are read from /proc):
//! - `init.mode=M[,M...]`: `topology` (default), `disk-write`, `disk-verify`,
//!   `disk-bench`; run in order after the topology report.
//! - `init.seed=N`: pattern seed for `disk-write`/`disk-verify` (default 1).
//! - `init.disk=PATH`: block device (default `/dev/vda`).
//! - `init.bytes=N`: size of the pattern region at offset 0 (default 4 MiB).
//! - `init.bench-bytes=N`: bytes per benchmark case (default 16 MiB).
//! - `init.wait-ms=N`: how long to wait for the disk to appear (default 10000).
//!
//! Numbers are decimal or `0x` hexadecimal, with an optional `K`/`M`/`G`
//! (binary) suffix.

use std::fmt;

/// One action /init can run after reporting the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the topology report.
    Topology,
    /// Write the seeded pattern, read it back through the device, checksum.
    DiskWrite,
    /// Read the region and compare it with the seeded pattern, checksum.
    DiskVerify,
    /// Sequential O_DIRECT throughput, 1 MiB and 4 KiB blocks.
    DiskBench,
}

impl Mode {
    fn parse(word: &str) -> Option<Mode> {
        match word {
            "topology" => Some(Mode::Topology),
            "disk-write" => Some(Mode::DiskWrite),
            "disk-verify" => Some(Mode::DiskVerify),
            "disk-bench" => Some(Mode::DiskBench),
            _ => None,
        }
    }

    /// The name used on the command line and in report lines.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Topology => "topology",
            Mode::DiskWrite => "disk-write",
            Mode::DiskVerify => "disk-verify",
            Mode::DiskBench => "disk-bench",
        }
    }
}

/// Everything /init takes from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub modes: Vec<Mode>,
    pub seed: u64,
    pub disk: String,
    pub pattern_bytes: u64,
    pub bench_bytes: u64,
    pub wait_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            modes: vec![Mode::Topology],
            seed: 1,
            disk: "/dev/vda".to_string(),
            pattern_bytes: 4 << 20,
            bench_bytes: 16 << 20,
            wait_ms: 10_000,
        }
    }
}

/// A command-line parameter /init could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdlineError {
    pub parameter: String,
    pub reason: &'static str,
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad kernel parameter {}: {}",
            self.parameter, self.reason
        )
    }
}

/// Parses the `init.*` parameters out of a kernel command line.
pub fn parse(cmdline: &str) -> Result<Settings, CmdlineError> {
    let mut settings = Settings::default();
    for parameter in cmdline.split_ascii_whitespace() {
        let Some((key, value)) = parameter.split_once('=') else {
            continue;
        };
        let bad = |reason| CmdlineError {
            parameter: parameter.to_string(),
            reason,
        };
        match key {
            "init.mode" => {
                settings.modes = value
                    .split(',')
                    .map(|word| Mode::parse(word).ok_or_else(|| bad("unknown mode")))
                    .collect::<Result<_, _>>()?;
            }
            "init.seed" => {
                settings.seed = parse_number(value).ok_or_else(|| bad("not a number"))?
            }
            "init.disk" if !value.is_empty() => settings.disk = value.to_string(),
            "init.disk" => return Err(bad("empty path")),
            "init.bytes" => {
                settings.pattern_bytes = parse_size(value).ok_or_else(|| bad("not a size"))?
            }
            "init.bench-bytes" => {
                settings.bench_bytes = parse_size(value).ok_or_else(|| bad("not a size"))?
            }
            "init.wait-ms" => {
                settings.wait_ms = parse_number(value).ok_or_else(|| bad("not a number"))?
            }
            _ => {}
        }
    }
    Ok(settings)
}

/// A non-zero number of bytes.
fn parse_size(text: &str) -> Option<u64> {
    parse_number(text).filter(|&bytes| bytes > 0)
}

fn parse_number(text: &str) -> Option<u64> {
    let (digits, multiplier) = match text.as_bytes().last()? {
        b'K' | b'k' => (&text[..text.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&text[..text.len() - 1], 1 << 20),
        b'G' | b'g' => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok()?,
        None => digits.parse().ok()?,
    };
    value.checked_mul(multiplier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_init_parameters() {
        let settings = parse("console=ttyS0 nokaslr iommu.strict=1").unwrap();
        assert_eq!(settings, Settings::default());
    }

    #[test]
    fn parses_modes_in_order_and_numbers() {
        let settings = parse(
            "console=ttyS0 init.mode=disk-write,disk-bench init.seed=0x2a init.bytes=8M \
             init.bench-bytes=64k init.disk=/dev/vdb init.wait-ms=500",
        )
        .unwrap();
        assert_eq!(settings.modes, vec![Mode::DiskWrite, Mode::DiskBench]);
        assert_eq!(settings.seed, 42);
        assert_eq!(settings.pattern_bytes, 8 << 20);
        assert_eq!(settings.bench_bytes, 64 << 10);
        assert_eq!(settings.disk, "/dev/vdb");
        assert_eq!(settings.wait_ms, 500);
    }

    #[test]
    fn rejects_unknown_mode_and_bad_numbers() {
        assert_eq!(
            parse("init.mode=reboot").unwrap_err().reason,
            "unknown mode"
        );
        assert!(parse("init.seed=x").is_err());
        assert!(parse("init.bytes=0").is_err());
        assert!(parse("init.bytes=99999999999G").is_err());
        assert!(parse("init.disk=").is_err());
    }
}
