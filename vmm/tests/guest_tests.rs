//! Boots every guest program of `guest-tests/` (built by the `resources` crate) through the vmm
//! library API, one `#[test]` per program, and judges the run from three signals that must agree
//! (guest-programs.md §4.3): the exit-port value, the `SUMMARY:` line with the PASS/FAIL/SKIP
//! lines it counts, and the `EXIT: STATUS=<n> NONCE=<nonce>` line carrying this run's nonce. Any
//! disagreement fails the test, whatever the exit status says.
//!
//! KVM gating (DEVELOPERS.md): without a usable /dev/kvm each test prints
//! `skipped: /dev/kvm unavailable` and returns, unless `REQUIRE_KVM=1`, which makes it fail.
//!
//! Adding a program: `guest-tests/src/bin/<name>.rs`, then one line in `guest_tests!` below;
//! `every_guest_program_has_a_runner_test` fails until both exist. A program that needs virtio
//! devices names them after a `;` (`name => Expect::…; Devices { iommu: Some(false), .. },`): the
//! runner gives the VM those devices, writes the disk images, and tells the guest what to expect
//! through `gtest.*` hints on the command line.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vmm::{ExitReason, KernelImage, SerialOutput, Vmm, VmmConfig};

/// gtest_rt::exit statuses (guest-tests/rt/src/exit.rs).
const STATUS_PASS: u32 = 0;
const STATUS_FAILURE: u32 = 3;
const STATUS_ALL_SKIPPED: u32 = 77;
const STATUS_EXCEPTION_BASE: u32 = 64;
const STATUS_NESTED_FAULT: u32 = 63;

/// Generous: under PVM these programs finish in well under a second.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How a program is expected to end.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exit port 0, a summary with no failures.
    Pass { cpus: u8 },
    /// Exit port 3 with a summary of `tests` checks of which `failures` failed; some `FAIL:` line
    /// must contain every fragment.
    Fail {
        tests: u32,
        failures: u32,
        fragments: &'static [&'static str],
    },
    /// The VMM reports a triple fault.
    TripleFault,
    /// The runtime reports an unexpected exception and exits with 64 + vector; the `ABORT:`
    /// line must contain every fragment.
    Exception {
        vector: u32,
        fragments: &'static [&'static str],
    },
}

/// The virtio devices a program's VM gets (the vmm's `--iommu[=bypass=on|off]`, `--dma-test`,
/// `--rng`, `--disk PATH[,readonly]`).
#[derive(Debug, Clone, Copy)]
struct Devices {
    /// `--iommu`, with the start value of `bypass`.
    iommu: Option<bool>,
    /// `--dma-test`.
    dma_test: bool,
    /// `--rng`.
    rng: bool,
    /// Disk images the runner writes (see [`disk_byte`]), in order.
    disks: &'static [Disk],
}

impl Devices {
    /// No virtio devices.
    const NONE: Devices = Devices {
        iommu: None,
        dma_test: false,
        rng: false,
        disks: &[],
    };

    /// The IOMMU (bypass off) with the DMA test device and virtio-rng behind it.
    const IOMMU: Devices = Devices {
        iommu: Some(false),
        dma_test: true,
        rng: true,
        disks: &[],
    };
}

/// A disk image of `sectors` 512-byte sectors.
#[derive(Debug, Clone, Copy)]
struct Disk {
    sectors: u64,
    // Passed as `--disk PATH,readonly` once the VMM can attach disks from its config.
    #[allow(dead_code)]
    read_only: bool,
}

/// Byte `offset` of every disk image (guest-tests/src/bin/viommu_dma.rs checks it).
fn disk_byte(offset: u64) -> u8 {
    ((offset >> 9) as u8).wrapping_mul(31) ^ (offset as u8)
}

/// Disk images that are deleted when the run is over.
struct DiskImages(Vec<PathBuf>);

impl DiskImages {
    fn write(name: &str, nonce: &str, disks: &[Disk]) -> Self {
        let images = disks
            .iter()
            .enumerate()
            .map(|(i, disk)| {
                let path = std::env::temp_dir().join(format!("gtest-{name}-{nonce}-{i}.img"));
                let bytes: Vec<u8> = (0..disk.sectors * 512).map(disk_byte).collect();
                std::fs::write(&path, bytes)
                    .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
                path
            })
            .collect();
        DiskImages(images)
    }
}

impl Drop for DiskImages {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The `gtest.*` hints that tell the guest what the VM was given.
fn device_hints(devices: &Devices) -> String {
    let mut hints = String::new();
    if let Some(bypass) = devices.iommu {
        hints.push_str(&format!(" gtest.bypass={}", u8::from(bypass)));
    }
    if let Some(disk) = devices.disks.first() {
        hints.push_str(&format!(" gtest.disk_sectors={}", disk.sectors));
    }
    hints
}

/// Whether the VMM can give a program the virtio devices it needs.
///
/// `VmmConfig` has no virtio device options yet (issue 4 §1 wiring is open): until it has, a
/// program that needs devices is skipped with a message naming them. The programs themselves
/// were run against the real devices attached through `Vmm::with_devices` (see docs/TESTING.md).
fn devices_supported(devices: &Devices) -> bool {
    let wanted =
        devices.iommu.is_some() || devices.dma_test || !devices.disks.is_empty() || devices.rng;
    if wanted {
        eprintln!(
            "skipped: the vmm cannot attach virtio devices from its config yet (wanted iommu {:?}, \
             dma-test {}, rng {}, {} disk(s))",
            devices.iommu,
            devices.dma_test,
            devices.rng,
            devices.disks.len()
        );
    }
    !wanted
}

macro_rules! guest_tests {
    ($($name:ident => $expect:expr $(; $devices:expr)?,)*) => {
        /// The programs that have a test here.
        const COVERED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                #[allow(unused_mut, unused_assignments)]
                let mut devices = Devices::NONE;
                $(devices = $devices;)?
                run_guest(stringify!($name), $expect, devices);
            }
        )*
    };
}

guest_tests! {
    boot_smoke => Expect::Pass { cpus: 2 },
    demo => Expect::Pass { cpus: 1 },
    exception_report => Expect::Exception {
        vector: 14,
        fragments: &["#PF (vector 14)", "error_code=0x4 ", "cs=0x23 ", "cr2=0x4000000000"],
    },
    panic_report => Expect::Fail {
        tests: 2,
        failures: 1,
        fragments: &["FAIL: panic at src/bin/panic_report.rs:", "deliberate panic from panic_report"],
    },
    smp => Expect::Pass { cpus: 4 },
    triple_fault => Expect::TripleFault,
    viommu_config => Expect::Pass { cpus: 1 }; Devices::IOMMU,
    viommu_attach => Expect::Pass { cpus: 1 }; Devices::IOMMU,
    viommu_map_unmap => Expect::Pass { cpus: 1 }; Devices::IOMMU,
    viommu_perms => Expect::Pass { cpus: 1 }; Devices::IOMMU,
    viommu_dma => Expect::Pass { cpus: 1 }; Devices {
        disks: &[Disk { sectors: 128, read_only: false }, Disk { sectors: 128, read_only: true }],
        ..Devices::IOMMU
    },
    viommu_fault => Expect::Pass { cpus: 1 }; Devices::IOMMU,
    viommu_bypass => Expect::Pass { cpus: 1 }; Devices::IOMMU,
    viommu_probe => Expect::Pass { cpus: 1 }; Devices::IOMMU,
    viommu_reset => Expect::Pass { cpus: 1 }; Devices::IOMMU,
    dma_bench => Expect::Pass { cpus: 1 }; Devices { rng: false, ..Devices::IOMMU },
}

/// `viommu_bypass` again, in a VM started with `--iommu=bypass=on`.
#[test]
fn viommu_bypass_starting_on() {
    run_guest(
        "viommu_bypass",
        Expect::Pass { cpus: 1 },
        Devices {
            iommu: Some(true),
            ..Devices::IOMMU
        },
    );
}

/// `dma_bench` again, without the IOMMU: the DMA test device uses guest-physical addresses.
#[test]
fn dma_bench_without_iommu() {
    run_guest(
        "dma_bench",
        Expect::Pass { cpus: 1 },
        Devices {
            dma_test: true,
            ..Devices::NONE
        },
    );
}

#[test]
fn every_guest_program_has_a_runner_test() {
    let mut built: Vec<&str> = resources::GUEST_PROGRAMS.to_vec();
    let mut covered: Vec<&str> = COVERED.to_vec();
    built.sort_unstable();
    covered.sort_unstable();
    assert_eq!(
        built, covered,
        "guest-tests/src/bin/*.rs and guest_tests! must list the same programs"
    );
}

/// Whether KVM tests may run; panics when they must (REQUIRE_KVM=1) but cannot.
fn kvm_available() -> bool {
    match OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        Ok(_) => true,
        Err(e) if std::env::var("REQUIRE_KVM").as_deref() == Ok("1") => {
            panic!("REQUIRE_KVM=1 but /dev/kvm cannot be opened: {e}")
        }
        Err(_) => {
            eprintln!("skipped: /dev/kvm unavailable");
            false
        }
    }
}

/// A per-run token the guest echoes on its EXIT line, so a stale or foreign log cannot pass.
fn nonce() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:x}",
        (nanos as u64) ^ (u64::from(std::process::id()) << 40)
    )
}

fn run_guest(name: &str, expect: Expect, devices: Devices) {
    if !kvm_available() || !devices_supported(&devices) {
        return;
    }
    let image = resources::guest_image(name).unwrap_or_else(|| panic!("no guest image {name}"));
    let nonce = nonce();
    let cpus = match expect {
        Expect::Pass { cpus } => cpus,
        _ => 1,
    };
    let images = DiskImages::write(name, &nonce, devices.disks);
    let config = VmmConfig {
        kernel: KernelImage::Path(image),
        cmdline: format!(
            "gtest.nonce={nonce} gtest.cpus={cpus}{}",
            device_hints(&devices)
        ),
        cpus,
        serial: SerialOutput::Capture,
        timeout: Some(TIMEOUT),
        ..VmmConfig::default()
    };
    let outcome = Vmm::new(config)
        .unwrap_or_else(|e| panic!("{name}: building the VM failed: {e}"))
        .run()
        .unwrap_or_else(|e| panic!("{name}: running the VM failed: {e}"));
    drop(images);
    let serial = String::from_utf8_lossy(&outcome.serial).into_owned();
    // Benchmark lines go to the test output (`cargo test -- --nocapture` shows them).
    for line in serial.lines().filter(|l| l.starts_with("BENCH: ")) {
        eprintln!("{name}: {line}");
    }
    let log = GuestLog::parse(&serial);
    let verdict = judge(&outcome.exit, &log, &nonce, expect);
    if let Err(problem) = verdict {
        panic!(
            "{name}: {problem}\nexit: {} (status {})\n{}--- serial ---\n{serial}--- end ---",
            outcome.exit,
            outcome.exit.status(),
            outcome
                .exit
                .crash_dump()
                .map(|d| format!("--- dump ---\n{d}\n"))
                .unwrap_or_default(),
        );
    }
    eprintln!("{name}: ok ({})", outcome.exit);
}

/// What the guest printed, in the runtime's line vocabulary.
#[derive(Debug, Default)]
struct GuestLog<'a> {
    passes: u32,
    failures: u32,
    skips: u32,
    /// (tests, unexpected failures, skipped) from the last `SUMMARY:` line.
    summary: Option<(u32, u32, u32)>,
    /// (status, nonce) from the last `EXIT:` line.
    exit: Option<(u32, Option<&'a str>)>,
    aborts: Vec<&'a str>,
    lines: Vec<&'a str>,
}

impl<'a> GuestLog<'a> {
    fn parse(serial: &'a str) -> Self {
        let mut log = Self::default();
        for line in serial.lines() {
            let line = line.trim_end_matches('\r');
            log.lines.push(line);
            if line.starts_with("PASS: ") {
                log.passes += 1;
            } else if line.starts_with("FAIL: ") {
                log.failures += 1;
            } else if line.starts_with("SKIP: ") {
                log.skips += 1;
            } else if line.starts_with("ABORT: ") {
                log.aborts.push(line);
            } else if let Some(rest) = line.strip_prefix("SUMMARY: ") {
                log.summary = parse_summary(rest);
            } else if let Some(rest) = line.strip_prefix("EXIT: ") {
                log.exit = parse_exit(rest);
            }
        }
        log
    }
}

/// `N tests, F unexpected failures, S skipped`.
fn parse_summary(rest: &str) -> Option<(u32, u32, u32)> {
    let mut numbers = rest
        .split(", ")
        .map(|part| part.split(' ').next()?.parse().ok());
    Some((numbers.next()??, numbers.next()??, numbers.next()??))
}

/// `STATUS=<n>[ NONCE=<nonce>]`.
fn parse_exit(rest: &str) -> Option<(u32, Option<&str>)> {
    let mut status = None;
    let mut nonce = None;
    for field in rest.split_whitespace() {
        if let Some(v) = field.strip_prefix("STATUS=") {
            status = v.parse().ok();
        } else if let Some(v) = field.strip_prefix("NONCE=") {
            nonce = Some(v);
        }
    }
    Some((status?, nonce))
}

/// The status a summary implies (gtest_rt::report::status_of).
fn implied_status(tests: u32, failures: u32, skipped: u32) -> u32 {
    if failures > 0 {
        STATUS_FAILURE
    } else if skipped == tests {
        STATUS_ALL_SKIPPED
    } else {
        STATUS_PASS
    }
}

/// Cross-checks an exit-port ending: EXIT line (status, nonce), summary, counted lines.
fn check_exit_port_consistency(value: u32, log: &GuestLog<'_>, nonce: &str) -> Result<(), String> {
    match log.exit {
        Some((status, Some(n))) if status == value && n == nonce => {}
        Some((status, n)) => {
            return Err(format!(
                "EXIT line says STATUS={status} NONCE={n:?}, port says {value}, nonce is {nonce}"
            ));
        }
        None => return Err(format!("exit port {value} but no EXIT line")),
    }
    match log.summary {
        Some((tests, failures, skipped)) => {
            let counted = (
                log.passes + log.failures + log.skips,
                log.failures,
                log.skips,
            );
            if (tests, failures, skipped) != counted {
                return Err(format!(
                    "SUMMARY says {:?}, the PASS/FAIL/SKIP lines say {counted:?}",
                    (tests, failures, skipped)
                ));
            }
            let implied = implied_status(tests, failures, skipped);
            if implied != value {
                return Err(format!(
                    "SUMMARY implies status {implied}, exit port says {value}"
                ));
            }
        }
        None if (STATUS_EXCEPTION_BASE..STATUS_EXCEPTION_BASE + 32).contains(&value)
            || value == STATUS_NESTED_FAULT =>
        {
            if log.aborts.is_empty() {
                return Err(format!("exception status {value} without an ABORT line"));
            }
        }
        None => return Err(format!("exit port {value} without a SUMMARY line")),
    }
    Ok(())
}

fn judge(exit: &ExitReason, log: &GuestLog<'_>, nonce: &str, expect: Expect) -> Result<(), String> {
    if let ExitReason::ExitPort(value) = *exit {
        check_exit_port_consistency(value, log, nonce)?;
    }
    match expect {
        Expect::Pass { .. } => {
            if *exit != ExitReason::ExitPort(STATUS_PASS) {
                return Err(format!("expected exit port {STATUS_PASS}"));
            }
            match log.summary {
                Some((tests, 0, skipped)) if tests > skipped => Ok(()),
                other => Err(format!("expected a passing summary, got {other:?}")),
            }
        }
        Expect::Fail {
            tests,
            failures,
            fragments,
        } => {
            if *exit != ExitReason::ExitPort(STATUS_FAILURE) {
                return Err(format!("expected exit port {STATUS_FAILURE}"));
            }
            if log.summary != Some((tests, failures, 0)) {
                return Err(format!(
                    "expected {tests} tests with {failures} failures, got {:?}",
                    log.summary
                ));
            }
            let fails: Vec<&&str> = log
                .lines
                .iter()
                .filter(|l| l.starts_with("FAIL: "))
                .collect();
            match fails
                .iter()
                .find(|l| fragments.iter().all(|f| l.contains(f)))
            {
                Some(_) => Ok(()),
                None => Err(format!(
                    "no FAIL line contains all of {fragments:?}: {fails:?}"
                )),
            }
        }
        Expect::TripleFault => {
            if !matches!(exit, ExitReason::TripleFault(_)) {
                return Err("expected a triple fault".into());
            }
            if !log.lines.iter().any(|l| l.contains("clearing the IDT")) {
                return Err("the guest did not get as far as clearing its IDT".into());
            }
            if log.exit.is_some() {
                return Err("the guest printed an EXIT line before the triple fault".into());
            }
            Ok(())
        }
        Expect::Exception { vector, fragments } => {
            let status = STATUS_EXCEPTION_BASE + vector;
            if *exit != ExitReason::ExitPort(status) {
                return Err(format!(
                    "expected exit port {status} (exception vector {vector})"
                ));
            }
            let [abort] = log.aborts.as_slice() else {
                return Err(format!("expected one ABORT line, got {:?}", log.aborts));
            };
            if let Some(missing) = fragments.iter().find(|f| !abort.contains(*f)) {
                return Err(format!("ABORT line lacks {missing:?}"));
            }
            let rip = abort
                .split_whitespace()
                .find_map(|f| f.strip_prefix("rip=0x"))
                .and_then(|hex| u64::from_str_radix(hex, 16).ok());
            match rip {
                Some(rip) if (0x20_0000..0x40_0000).contains(&rip) => Ok(()),
                other => Err(format!(
                    "ABORT line's rip {other:x?} is not inside the program image"
                )),
            }
        }
    }
}

#[cfg(test)]
mod judge_tests {
    use super::*;

    const GOOD: &str = "INFO: x\nPASS: a\nSKIP: b\nSUMMARY: 2 tests, 0 unexpected failures, 1 skipped\nEXIT: STATUS=0 NONCE=ab\n";

    #[test]
    fn consistent_passing_log_passes() {
        let log = GuestLog::parse(GOOD);
        assert_eq!(
            judge(
                &ExitReason::ExitPort(0),
                &log,
                "ab",
                Expect::Pass { cpus: 1 }
            ),
            Ok(())
        );
    }

    #[test]
    fn wrong_nonce_fails() {
        let log = GuestLog::parse(GOOD);
        assert!(
            judge(
                &ExitReason::ExitPort(0),
                &log,
                "cd",
                Expect::Pass { cpus: 1 }
            )
            .is_err()
        );
    }

    #[test]
    fn summary_disagreeing_with_lines_fails() {
        let serial = "PASS: a\nFAIL: b\nSUMMARY: 2 tests, 0 unexpected failures, 0 skipped\nEXIT: STATUS=0 NONCE=ab\n";
        let log = GuestLog::parse(serial);
        assert!(
            judge(
                &ExitReason::ExitPort(0),
                &log,
                "ab",
                Expect::Pass { cpus: 1 }
            )
            .is_err()
        );
    }

    #[test]
    fn failing_summary_with_port_zero_fails() {
        let serial = "FAIL: b\nSUMMARY: 1 tests, 1 unexpected failures, 0 skipped\nEXIT: STATUS=0 NONCE=ab\n";
        let log = GuestLog::parse(serial);
        assert!(
            judge(
                &ExitReason::ExitPort(0),
                &log,
                "ab",
                Expect::Pass { cpus: 1 }
            )
            .is_err()
        );
    }

    #[test]
    fn port_pass_without_summary_fails() {
        let log = GuestLog::parse("EXIT: STATUS=0 NONCE=ab\n");
        assert!(
            judge(
                &ExitReason::ExitPort(0),
                &log,
                "ab",
                Expect::Pass { cpus: 1 }
            )
            .is_err()
        );
    }

    #[test]
    fn exception_report_is_recognised() {
        let serial = "ABORT: unhandled exception #PF (vector 14) error_code=0x4 rip=0x200123 cs=0x23 cr2=0x4000000000\nEXIT: STATUS=78 NONCE=ab\n";
        let log = GuestLog::parse(serial);
        let expect = Expect::Exception {
            vector: 14,
            fragments: &["#PF (vector 14)", "cr2=0x4000000000"],
        };
        assert_eq!(judge(&ExitReason::ExitPort(78), &log, "ab", expect), Ok(()));
        assert!(judge(&ExitReason::ExitPort(3), &log, "ab", expect).is_err());
    }
}
