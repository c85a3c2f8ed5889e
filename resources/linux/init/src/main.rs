//! /init of the Linux test guest: one static program, no shell, no exec.
//!
//! It prints `INIT: started`, mounts proc, sysfs and devtmpfs, reports the
//! IOMMU topology from sysfs, runs the modes the kernel command line selects
//! (`init.mode=`, see `cmdline`), prints `INIT: done status=N` (0 = every
//! step succeeded) and powers the machine off. Output format: `report`.

mod cmdline;
mod disk;
mod pattern;
mod report;
mod system;
mod topology;

use std::time::Duration;

use cmdline::{Mode, Settings};
use disk::Disk;
use report::Report;

fn main() {
    let mut report = Report::default();
    report.now(format_args!("started"));

    let mut ok = true;
    for (fstype, target) in [("proc", "/proc"), ("sysfs", "/sys"), ("devtmpfs", "/dev")] {
        if let Err(error) = system::mount_pseudo(fstype, target) {
            report.line(format_args!("mount {target} FAILED error={error}"));
            ok = false;
        }
    }

    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let settings = cmdline::parse(&cmdline).unwrap_or_else(|error| {
        report.line(format_args!("cmdline FAILED error={error}"));
        ok = false;
        Settings::default()
    });
    let modes: Vec<&str> = settings.modes.iter().map(|mode| mode.name()).collect();
    report.line(format_args!("modes={}", modes.join(",")));

    topology::report(&mut report);
    report.flush();

    let mut disk = None;
    for &mode in &settings.modes {
        ok &= run(mode, &settings, &mut disk, &mut report);
        report.flush();
    }

    system::sync();
    report.now(format_args!(
        "done status={} uptime={}",
        if ok { 0 } else { 1 },
        uptime().as_deref().unwrap_or("unknown")
    ));
    let error = system::power_off();
    report.now(format_args!("poweroff FAILED error={error}"));
    // Returning would make the kernel panic ("Attempted to kill init").
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Runs one mode; false if it failed (its lines say why).
fn run(mode: Mode, settings: &Settings, disk: &mut Option<Disk>, report: &mut Report) -> bool {
    let name = mode.name();
    if mode == Mode::Topology {
        return true;
    }
    if disk.is_none() {
        match Disk::open(&settings.disk, Duration::from_millis(settings.wait_ms)) {
            Ok(opened) => {
                report.line(format_args!(
                    "disk path={} bytes={}",
                    settings.disk,
                    opened.size()
                ));
                *disk = Some(opened);
            }
            Err(error) => {
                report.line(format_args!(
                    "{name} FAILED error=open {}: {error}",
                    settings.disk
                ));
                return false;
            }
        }
    }
    let Some(disk) = disk.as_ref() else {
        return false;
    };
    let outcome = match mode {
        Mode::Topology => Ok(true),
        Mode::DiskWrite => disk
            .write_pattern(settings.seed, settings.pattern_bytes)
            .and_then(|()| disk.verify_pattern(settings.seed, settings.pattern_bytes))
            .map(|verification| report_verification(name, settings, &verification, report)),
        Mode::DiskVerify => disk
            .verify_pattern(settings.seed, settings.pattern_bytes)
            .map(|verification| report_verification(name, settings, &verification, report)),
        Mode::DiskBench => bench(disk, settings.bench_bytes, report).map(|()| true),
    };
    outcome.unwrap_or_else(|error| {
        report.line(format_args!("{name} FAILED error={error}"));
        false
    })
}

fn report_verification(
    name: &str,
    settings: &Settings,
    verification: &disk::Verification,
    report: &mut Report,
) -> bool {
    let checksum = verification.checksum.value();
    match verification.first_mismatch {
        None => {
            report.line(format_args!(
                "{name} ok checksum={checksum:#018x} seed={} bytes={}",
                settings.seed, settings.pattern_bytes
            ));
            true
        }
        Some(first) => {
            report.line(format_args!(
                "{name} FAILED checksum={checksum:#018x} seed={} bytes={} mismatched-words={} first-mismatch={first:#x}",
                settings.seed, settings.pattern_bytes, verification.mismatched_words
            ));
            false
        }
    }
}

/// Sequential O_DIRECT writes then reads of `bytes`, with 1 MiB and 4 KiB blocks.
fn bench(disk: &Disk, bytes: u64, report: &mut Report) -> std::io::Result<()> {
    for block in [1usize << 20, 4 << 10] {
        let write = disk.timed_write(disk::BENCH_OFFSET, bytes, block)?;
        bench_line("write", block, bytes, write, report);
        let read = disk.timed_read(disk::BENCH_OFFSET, bytes, block)?;
        bench_line("read", block, bytes, read, report);
    }
    Ok(())
}

fn bench_line(op: &str, block: usize, bytes: u64, elapsed: Duration, report: &mut Report) {
    let secs = elapsed.as_secs_f64();
    let mb_per_s = if secs > 0.0 {
        bytes as f64 / secs / 1e6
    } else {
        0.0
    };
    report.now(format_args!(
        "disk-bench op={op} block={block} bytes={bytes} usecs={} mb-per-s={mb_per_s:.1}",
        elapsed.as_micros()
    ));
}

/// Seconds since boot, from /proc/uptime.
fn uptime() -> Option<String> {
    let text = std::fs::read_to_string("/proc/uptime").ok()?;
    text.split_whitespace().next().map(str::to_string)
}
