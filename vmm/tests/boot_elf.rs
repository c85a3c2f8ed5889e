//! Booting hand-made bare-metal ELF guests on KVM: every way a run can end, the entry state of
//! the platform contract, serial output and input, port I/O dispatch and SMP start-up.

mod common;

use std::time::Duration;

use common::*;
use vmm::{ExitReason, HostKind};

#[test]
fn serial_output_and_exit_port_value_reach_the_host() {
    require_kvm!();
    let outcome = run(config(HELLO));

    assert_eq!(outcome.exit, ExitReason::ExitPort(42));
    assert_eq!(outcome.exit.status(), 42);
    assert_eq!(outcome.serial, b"hi");
    let first = outcome
        .first_serial_byte
        .expect("a serial byte was written");
    assert!(first <= outcome.elapsed);
}

#[test]
fn exit_port_takes_16_and_32_bit_writes() {
    require_kvm!();
    assert_eq!(run(config(EXIT16)).exit, ExitReason::ExitPort(0x1234));
    let wide = run(config(EXIT32)).exit;
    assert_eq!(wide, ExitReason::ExitPort(0xdead_beef));
    assert_eq!(wide.status(), 0xef);
}

#[test]
fn entry_state_matches_the_platform_contract() {
    require_kvm!();
    let mut cfg = config(ENTRY_STATE);
    cfg.cmdline = "check-me".into();
    let outcome = run(cfg);
    assert_eq!(outcome.exit, ExitReason::ExitPort(0), "failed-check mask");
}

#[test]
fn entry_state_check_notices_a_wrong_cmdline() {
    require_kvm!();
    let mut cfg = config(ENTRY_STATE);
    cfg.cmdline = "check-mX".into();
    assert_eq!(run(cfg).exit, ExitReason::ExitPort(0x40));
}

#[test]
fn an_endless_guest_ends_with_timeout() {
    require_kvm!();
    let mut cfg = config(SPIN);
    cfg.timeout = Some(Duration::from_millis(300));
    let outcome = run(cfg);
    assert_eq!(outcome.exit, ExitReason::Timeout);
    assert_eq!(outcome.exit.status(), 124);
    assert!(outcome.elapsed >= Duration::from_millis(300));
}

#[test]
fn a_timeout_also_stops_every_application_processor() {
    require_kvm!();
    let mut cfg = config(SPIN);
    cfg.cpus = 4;
    cfg.timeout = Some(Duration::from_millis(200));
    assert_eq!(run(cfg).exit, ExitReason::Timeout);
}

#[test]
fn triple_fault_is_a_crash_with_a_register_dump() {
    require_kvm!();
    let outcome = run(config(UD2));
    let ExitReason::TripleFault(dump) = &outcome.exit else {
        panic!("expected a triple fault, got {:?}", outcome.exit);
    };
    assert_eq!(outcome.exit.status(), 121);
    assert!(dump.contains("rip=0x0000000000100000"), "{dump}");
    assert!(dump.contains("cr3=0x9000"), "{dump}");
}

#[test]
fn i8042_reset_ends_the_run_cleanly() {
    require_kvm!();
    let outcome = run(config(I8042_RESET));
    assert_eq!(outcome.exit, ExitReason::Reset);
    assert_eq!(outcome.exit.status(), 0);
}

#[test]
fn acpi_poweroff_through_the_fadt_sleep_register_ends_the_run() {
    require_kvm!();
    let outcome = run(config(ACPI_POWEROFF));
    assert_eq!(outcome.exit, ExitReason::Poweroff);
    assert_eq!(outcome.exit.status(), 0);
}

#[test]
fn unowned_ports_read_all_ones_and_string_io_reaches_com1() {
    require_kvm!();
    let outcome = run(config(PIO));
    assert_eq!(outcome.exit, ExitReason::ExitPort(0));
    assert_eq!(outcome.serial, b"rep\n");
}

#[test]
fn application_processors_start_through_init_sipi() {
    require_kvm!();
    let mut cfg = config(SMP_START_AP);
    cfg.cpus = 2;
    let outcome = run(cfg);
    assert_eq!(outcome.exit, ExitReason::ExitPort(0), "AP never ran");
    assert_eq!(outcome.serial, b"A");
}

#[test]
fn without_a_second_vcpu_the_sipi_reaches_nobody() {
    require_kvm!();
    let outcome = run(config(SMP_START_AP));
    assert_eq!(outcome.exit, ExitReason::ExitPort(1));
}

#[test]
fn guest_larger_than_one_region_boots_with_memory_above_4_gib() {
    require_kvm!();
    let mut cfg = config(HELLO);
    cfg.memory_mib = 4096 + 512;
    assert_eq!(run(cfg).exit, ExitReason::ExitPort(42));
}

#[test]
fn the_host_kind_is_reported() {
    require_kvm!();
    let outcome = run(config(HELLO));
    assert_eq!(outcome.host, HostKind::detect());
    assert_ne!(outcome.host, HostKind::Unknown);
}

#[test]
fn serial_output_can_go_to_a_file() {
    require_kvm!();
    let dir = std::env::temp_dir().join(format!("vmm-serial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("com1.txt");
    let mut cfg = config(HELLO);
    cfg.serial = vmm::SerialOutput::File(path.clone());
    let outcome = run(cfg);
    assert_eq!(outcome.exit, ExitReason::ExitPort(42));
    assert_eq!(std::fs::read(&path).unwrap(), b"hi");
    assert!(outcome.serial.is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sse_at_cpl0_is_an_internal_error_on_pvm_and_runs_on_hardware_kvm() {
    require_kvm!();
    let outcome = run(config(PXOR_AT_CPL0));
    if outcome.host == HostKind::Pvm {
        let ExitReason::InternalError(dump) = &outcome.exit else {
            panic!("expected an internal error on PVM, got {:?}", outcome.exit);
        };
        assert_eq!(outcome.exit.status(), 122);
        assert!(dump.contains("emulation failure"), "{dump}");
        assert!(dump.contains("code at rip: 66 0f ef c0"), "{dump}");
    } else {
        assert_eq!(outcome.exit, ExitReason::ExitPort(0));
    }
}
