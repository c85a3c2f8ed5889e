//! The `vmm` binary: exit statuses, messages on stderr, serial on stdout, stdin forwarding.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::*;

const VMM: &str = env!("CARGO_BIN_EXE_vmm");

/// Writes a guest image to a fresh temporary file.
fn image_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmm-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn vmm(args: &[&str]) -> Output {
    Command::new(VMM)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run vmm")
}

fn guest(name: &str, code: &str) -> String {
    image_file(name, &elf(&hex(code)))
        .to_string_lossy()
        .into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn exit_port_value_is_the_status_and_serial_goes_to_stdout() {
    require_kvm!();
    let out = vmm(&["--kernel", &guest("hello", HELLO), "--timeout", "10"]);
    assert_eq!(out.status.code(), Some(42), "{}", stderr(&out));
    assert_eq!(out.stdout, b"hi");
}

#[test]
fn a_wide_exit_value_is_reported_in_full_on_stderr() {
    require_kvm!();
    let out = vmm(&["--kernel", &guest("exit32", EXIT32), "--timeout", "10"]);
    assert_eq!(out.status.code(), Some(0xef));
    assert!(stderr(&out).contains("0xdeadbeef"), "{}", stderr(&out));
}

#[test]
fn a_crash_exits_121_with_a_register_dump() {
    require_kvm!();
    let out = vmm(&["--kernel", &guest("ud2", UD2), "--timeout", "10"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(121), "{err}");
    assert!(
        err.contains("triple fault") && err.contains("rip=0x0000000000100000"),
        "{err}"
    );
}

#[test]
fn timeout_exits_124() {
    require_kvm!();
    let out = vmm(&["--kernel", &guest("spin", SPIN), "--timeout", "0.3"]);
    assert_eq!(out.status.code(), Some(124));
}

#[test]
fn poweroff_and_reset_exit_0() {
    require_kvm!();
    let off = vmm(&["--kernel", &guest("off", ACPI_POWEROFF), "--timeout", "10"]);
    let reset = vmm(&["--kernel", &guest("reset", I8042_RESET), "--timeout", "10"]);
    assert_eq!(off.status.code(), Some(0), "{}", stderr(&off));
    assert_eq!(reset.status.code(), Some(0), "{}", stderr(&reset));
}

#[test]
fn stdin_reaches_com1() {
    require_kvm!();
    let mut child = Command::new(VMM)
        .args(["--kernel", &guest("echo", ECHO_INPUT), "--timeout", "10"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"Z").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(i32::from(b'Z')), "{}", stderr(&out));
}

#[test]
fn verbose_names_the_host_kind_and_timings() {
    require_kvm!();
    let out = vmm(&[
        "--kernel",
        &guest("hello-v", HELLO),
        "--verbose",
        "--serial",
        "none",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(42));
    assert!(out.stdout.is_empty());
    assert!(err.contains("vmm: host: "), "{err}");
    assert!(err.contains("first serial byte after"), "{err}");
}

#[test]
fn no_kernel_boots_the_embedded_default_guest() {
    require_kvm!();
    let out = vmm(&["--timeout", "30"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUMMARY:"));
}

#[test]
fn a_bad_image_exits_1_with_a_clear_message() {
    let path = image_file("text", b"not a kernel at all\n");
    let out = vmm(&["--kernel", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("neither an ELF64 executable nor a bzImage"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_missing_kernel_exits_1() {
    let out = vmm(&["--kernel", "/nonexistent/kernel"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/kernel"));
}

#[test]
fn bad_flags_exit_2() {
    for args in [
        &["--cpus", "0"][..],
        &["--cpus", "300"],
        &["--serial", "tcp:1234"],
        &["--timeout", "-1"],
        &["--memory", "lots"],
        &["--no-such-flag"],
    ] {
        let out = vmm(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn too_little_memory_exits_1() {
    let out = vmm(&["--kernel", &guest("hello-m", HELLO), "--memory", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("guest memory"), "{}", stderr(&out));
}
