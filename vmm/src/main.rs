//! `vmm`: boots a guest image on KVM and exits with the status the guest asked for.
//!
//! Exit status: see the table in `vmm::exit` (and docs/PLATFORM.md): the exit-port value's low
//! byte, 0 for poweroff/reset, 121–123 for crashes (register dump on stderr), 124 for a timeout,
//! 1 for VMM errors, 2 for bad flags.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use vmm::exit::STATUS_VMM_ERROR;
use vmm::{ExitReason, KernelImage, SerialOutput, Vmm, VmmConfig};

/// Boot a guest image (ELF64 program, vmlinux or bzImage) on KVM.
///
/// With no --kernel, boots the guest embedded in the binary.
#[derive(Debug, Parser)]
#[command(name = "vmm", version, about, long_about = None)]
struct Cli {
    /// Guest image: an ELF64 executable (bare-metal program or vmlinux) or a bzImage.
    #[arg(long, value_name = "PATH")]
    kernel: Option<PathBuf>,
    /// Initramfs (cpio archive) handed to the kernel through boot_params.
    #[arg(long, value_name = "PATH")]
    initramfs: Option<PathBuf>,
    /// Kernel command line.
    #[arg(long, value_name = "STR", default_value = "")]
    cmdline: String,
    /// Guest RAM in MiB.
    #[arg(long, value_name = "MiB", default_value_t = 256)]
    memory: u64,
    /// Number of vCPUs.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u8).range(1..=254))]
    cpus: u8,
    /// Where COM1 output goes: stdio, none or file:PATH.
    #[arg(long, value_name = "stdio|file:PATH|none", default_value = "stdio",
          value_parser = SerialOutput::parse)]
    serial: SerialOutput,
    /// End the run (status 124) after this many seconds (fractions allowed).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    timeout: Option<Duration>,
    /// Print what the VMM does, the host kind and timings to stderr.
    #[arg(long)]
    verbose: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("invalid timeout {s:?}: expected seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 1e9) {
        return Err(format!("invalid timeout {s:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// The guest booted when no --kernel is given: the resources crate's `demo` program, embedded
/// in the binary.
fn default_guest() -> KernelImage {
    KernelImage::from_static(resources::default_guest())
}

fn print_error_chain(err: &dyn std::error::Error) {
    let mut msg = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    eprintln!("vmm: error: {msg}");
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(if cli.verbose { "info" } else { "warn" }),
    )
    .init();

    let kernel = match cli.kernel {
        Some(path) => KernelImage::Path(path),
        None => default_guest(),
    };
    // Host stdin feeds COM1 whenever COM1 is on the terminal side (a terminal or a pipe).
    let interactive = cli.serial == SerialOutput::Stdio;
    let config = VmmConfig {
        kernel,
        initramfs: cli.initramfs,
        cmdline: cli.cmdline,
        memory_mib: cli.memory,
        cpus: cli.cpus,
        serial: cli.serial,
        interactive,
        timeout: cli.timeout,
        verbose: cli.verbose,
    };
    let outcome = match Vmm::new(config).and_then(Vmm::run) {
        Ok(outcome) => outcome,
        Err(e) => {
            print_error_chain(&e);
            return ExitCode::from(STATUS_VMM_ERROR);
        }
    };
    match &outcome.exit {
        ExitReason::ExitPort(value) if *value > 0xff => {
            eprintln!("vmm: exit port value {value:#x} ({value}); status is its low byte");
        }
        reason => {
            if let Some(dump) = reason.crash_dump() {
                eprintln!("vmm: guest crashed: {reason}\n{dump}");
            } else if *reason == ExitReason::Timeout {
                eprintln!("vmm: timeout");
            }
        }
    }
    ExitCode::from(outcome.exit.status_byte())
}
